"""Input validation at the public boundary.

Every public function or module that takes coordinates calls :func:`as_lonlat_tensor`
(or :func:`check_lonlat`) first, so that bad input fails early with a message that
names the problem and the first offending row instead of crashing deep inside torch.

Conventions (see ``docs/architecture.md``): coordinates are ``(lon, lat)`` in degrees,
shape ``(N, 2)``, lon in [-180, 180], lat in [-90, 90], float32 or float64.
"""

from __future__ import annotations

import warnings

from typing import Any

import numpy as np
import torch

__all__ = ["as_lonlat_tensor", "check_lonlat", "FLOAT_DTYPES"]

FLOAT_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64)


def _first_row(mask: torch.Tensor) -> int:
    """Index of the first row where ``mask`` (shape ``(N,)`` bool) is True."""
    return int(torch.nonzero(mask, as_tuple=False)[0, 0])


def check_lonlat(lonlat: torch.Tensor, name: str = "lonlat") -> None:
    """Validate a ``(N, 2)`` tensor of ``(lon, lat)`` degrees in place (no copy).

    Args:
        lonlat: tensor of shape ``(N, 2)``, dtype float32 or float64, any device.
        name: argument name used in error messages.

    Raises:
        TypeError: if ``lonlat`` is not a float32/float64 tensor.
        ValueError: wrong shape, NaN/inf, ``|lat| > 90`` or ``|lon| > 180``; the message
            names the first offending row and its values.
    """
    if not isinstance(lonlat, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(lonlat).__name__}")
    if lonlat.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {lonlat.dtype}; "
            f"convert with .double() or .float() (coordinates are (lon, lat) in degrees)"
        )
    if lonlat.ndim != 2 or lonlat.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) holding (lon, lat) in degrees, got shape {tuple(lonlat.shape)}")
    if lonlat.shape[0] == 0:
        return
    x = lonlat.detach()
    bad = ~torch.isfinite(x).all(dim=1)
    if bool(bad.any()):
        i = _first_row(bad)
        raise ValueError(f"{name} contains NaN or inf: first at row {i}, value {x[i].tolist()}")
    bad = x[:, 1].abs() > 90
    if bool(bad.any()):
        i = _first_row(bad)
        raise ValueError(
            f"{name} latitude out of range [-90, 90] at row {i}: (lon, lat) = {x[i].tolist()}; "
            f"is the input in (lat, lon) order or in radians?"
        )
    bad = x[:, 0].abs() > 180
    if bool(bad.any()):
        i = _first_row(bad)
        raise ValueError(
            f"{name} longitude out of range [-180, 180] at row {i}: (lon, lat) = {x[i].tolist()}; "
            f"wrap longitudes first, e.g. with geoviz.wrap_longitude"
        )


def as_lonlat_tensor(lonlat: Any, name: str = "lonlat") -> tuple[torch.Tensor, bool]:
    """Validate ``lonlat`` and return it as a tensor, plus whether it came in as numpy.

    Args:
        lonlat: ``(N, 2)`` torch tensor or numpy array of ``(lon, lat)`` in degrees,
            float32 or float64.
        name: argument name used in error messages.

    Returns:
        ``(tensor, was_numpy)``: the same data as a tensor (no copy for numpy input when
        possible), and ``True`` if the input was a numpy array so that callers can return
        numpy output.
    """
    was_numpy = isinstance(lonlat, np.ndarray)
    if was_numpy:
        if lonlat.dtype.kind != "f" or lonlat.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{name} must have dtype float32 or float64, got numpy {lonlat.dtype}; "
                f"convert with .astype(np.float64) (coordinates are (lon, lat) in degrees)"
            )
        arr = np.ascontiguousarray(lonlat)
        if arr.flags.writeable:
            lonlat = torch.from_numpy(arr)
        else:  # a memory map or a read-only view: shared, never written (torch would warn on every call)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                lonlat = torch.from_numpy(arr)
    check_lonlat(lonlat, name)
    return lonlat, was_numpy


def wrap_longitude(lon: Any) -> Any:
    """Wrap longitudes (degrees) into [-180, 180); works for numpy arrays, tensors and floats."""
    return (lon + 180.0) % 360.0 - 180.0
