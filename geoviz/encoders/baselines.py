r"""Baseline positional encodings: direct, cartesian3d, wrap, grid, theory and Sphere2Vec.

These are the nine non-spherical-harmonic encodings that the ICLR'24 paper ("Geographic
location encoding with spherical harmonics and sinusoidal representation networks")
compares against. Each exists as a pure function (torch tensor or numpy array in, the same
kind out) and as a parameter-free ``nn.Module`` with an ``embedding_dim`` attribute:

===============  ====================  =====================  ========================
registry name    module                function               width (default / compat)
===============  ====================  =====================  ========================
``direct``       :class:`Direct`       :func:`direct`         2 / 2
``cartesian3d``  :class:`Cartesian3D`  :func:`cartesian3d`    3 / 3
``wrap``         :class:`Wrap`         :func:`wrap`           4 / 4
``grid``         :class:`Grid`         :func:`grid`           4S / 4S
``theory``       :class:`Theory`       :func:`theory`         6S / 6S
``spherec``      :class:`SphereC`      :func:`sphere_c`       3S / 6S
``spherec+``     :class:`SphereCPlus`  :func:`sphere_c_plus`  6S / 12S
``spherem``      :class:`SphereM`      :func:`sphere_m`       5S / 10S
``spherem+``     :class:`SphereMPlus`  :func:`sphere_m_plus`  8S / 16S
===============  ====================  =====================  ========================

(``S = frequency_num``.)

Conventions
-----------
Input is always ``lonlat`` of shape ``(N, 2)``: ``(lon, lat)`` in **degrees**, lon in
[-180, 180], lat in [-90, 90], float32 or float64; it is validated with
:func:`geoviz._validation.as_lonlat_tensor` / :func:`~geoviz._validation.check_lonlat`.
Output has shape ``(N, embedding_dim)`` and the input's dtype and device. Below,
:math:`\lambda` and :math:`\varphi` are longitude and latitude in **radians**.

Wavelength convention (multiscale encodings)
--------------------------------------------
``grid``, ``theory`` and the four Sphere2Vec encodings use ``S = frequency_num`` scales

.. math::  r_s = r_{min} \, (r_{max} / r_{min})^{s / (S - 1)}, \quad s = 0, \dots, S-1

(``r_s = r_min`` when ``S = 1``), computed as ``r_min * exp(s * log(r_max / r_min) / (S-1))``
like the reference. By default (``reference_compat=False``) the :math:`r_s` are
**wavelengths in degrees**: the feature of an angle ``a`` (degrees) at scale ``s`` is
:math:`\sin(2\pi a / r_s)` / :math:`\cos(2\pi a / r_s)`, i.e. the angular frequency is
:math:`\omega_s = 2\pi / r_s` per degree, equivalently :math:`\lambda \cdot 360 / r_s` for
``a = lon``. With the default ``max_radius = 360`` the coarsest scale has exactly one
period around the globe and ``min_radius = 10`` gives a 10° finest wavelength. Features are
360°-periodic in longitude only when every ``360 / r_s`` is an integer (e.g.
``min_radius=45, max_radius=360, frequency_num=4`` gives wavelengths 45°, 90°, 180°, 360°).

Reference compatibility
-----------------------
``reference_compat=True`` reproduces the reference code (``locationencoder/pe/*`` of
MarcCoru/locationencoder, identical in microsoft/satclip) feature for feature, quirks
included:

* the raw **degree** values are multiplied by :math:`\omega_s = 1/r_s` and fed to sin/cos
  as if they were radians, so the shortest wavelength is :math:`2\pi r_{min}` degrees;
* ``spherec``, ``spherec+``, ``spherem`` and ``spherem+`` emit every feature twice; the
  reference's ``np.repeat(..., 2, axis=-1)`` on a trailing axis of size 2 makes the two
  copies **adjacent** (per scale: ``[f1, f1, f2, f2, ...]``);
* ``spherem``/``spherem+`` take the unscaled cos/sin of the *degree* values as radians;
* ``direct`` returns ``[deg2rad(lon) - π, deg2rad(lat) - π]``;
* ``theory`` with odd ``S`` reproduces a reshape quirk (see :func:`theory`);
* the multiscale encodings compute in float64 (the reference multiplies by a float64
  numpy frequency matrix) and cast back to the input dtype; on devices without float64
  (MPS) they compute in the input dtype.

Unlike the reference (which round-trips through numpy on the CPU), both modes are pure,
vectorised torch, run on any device and are differentiable. The reference cannot build
``S = 1`` (a division by zero); here ``S = 1`` uses ``r_0 = min_radius`` in both modes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .._validation import as_lonlat_tensor, check_lonlat

__all__ = [
    "direct",
    "cartesian3d",
    "wrap",
    "grid",
    "theory",
    "sphere_c",
    "sphere_c_plus",
    "sphere_m",
    "sphere_m_plus",
    "scale_wavelengths",
    "Direct",
    "Cartesian3D",
    "Wrap",
    "Grid",
    "Theory",
    "SphereC",
    "SphereCPlus",
    "SphereM",
    "SphereMPlus",
    "BASELINE_ENCODINGS",
]

_DEFAULT_FREQUENCY_NUM = 16
_DEFAULT_MIN_RADIUS = 10.0
_DEFAULT_MAX_RADIUS = 360.0

# Unit vectors at 0°, 120° and 240° used by ``theory`` (rows), shape (3, 2).
_THEORY_UNIT_VECTORS: tuple[tuple[float, float], ...] = (
    (1.0, 0.0),
    (-0.5, math.sqrt(3.0) / 2.0),
    (-0.5, -math.sqrt(3.0) / 2.0),
)


# --------------------------------------------------------------------------- helpers
def _check_scale_args(frequency_num: Any, min_radius: Any, max_radius: Any) -> None:
    """Validate the multiscale hyperparameters.

    Raises:
        TypeError: ``frequency_num`` is not an int, or a radius is not a real number.
        ValueError: ``frequency_num < 1``, ``min_radius <= 0``, ``max_radius < min_radius``
            or a non-finite radius.
    """
    if isinstance(frequency_num, bool) or not isinstance(frequency_num, (int, np.integer)):
        raise TypeError(f"frequency_num must be an int, got {type(frequency_num).__name__}")
    if frequency_num < 1:
        raise ValueError(f"frequency_num must be >= 1 (number of scales), got {frequency_num}")
    for name, value in (("min_radius", min_radius), ("max_radius", max_radius)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a real number (degrees), got {type(value).__name__}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be finite, got {value}")
    if min_radius <= 0:
        raise ValueError(f"min_radius must be > 0 (smallest wavelength in degrees), got {min_radius}")
    if max_radius < min_radius:
        raise ValueError(
            f"max_radius must be >= min_radius, got max_radius={max_radius} < min_radius={min_radius}"
        )


def scale_wavelengths(
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
) -> np.ndarray:
    r"""The scales :math:`r_s` of the multiscale encodings, geometric from min to max radius.

    Args:
        frequency_num: number of scales ``S >= 1``.
        min_radius: first scale ``r_0 > 0`` (degrees).
        max_radius: last scale ``r_{S-1} >= min_radius`` (degrees).

    Returns:
        float64 array of shape ``(S,)``:
        ``r_s = min_radius * exp(s * log(max_radius / min_radius) / (S - 1))``, or
        ``[min_radius]`` for ``S = 1``. In default mode these are wavelengths in degrees;
        in reference-compat mode the angular frequency is ``1 / r_s`` rad per degree.

    Raises:
        TypeError, ValueError: invalid hyperparameters (see the module docstring).
    """
    _check_scale_args(frequency_num, min_radius, max_radius)
    s = int(frequency_num)
    if s == 1:
        return np.array([float(min_radius)], dtype=np.float64)
    increment = math.log(float(max_radius) / float(min_radius)) / (s * 1.0 - 1.0)
    return float(min_radius) * np.exp(np.arange(s, dtype=np.float64) * increment)


def _angular_frequencies(
    frequency_num: int, min_radius: float, max_radius: float, reference_compat: bool
) -> np.ndarray:
    """``omega_s`` per degree, float64 ``(S,)``: ``2π / r_s`` (default) or ``1 / r_s`` (compat)."""
    r = scale_wavelengths(frequency_num, min_radius, max_radius)
    return (1.0 / r) if reference_compat else (2.0 * math.pi / r)


def _compute_dtype(x: torch.Tensor, reference_compat: bool) -> torch.dtype:
    """float64 for reference-compat multiscale work (as the reference), else the input dtype."""
    if reference_compat and x.device.type != "mps":
        return torch.float64
    return x.dtype


def _finish(out: torch.Tensor, was_numpy: bool) -> Any:
    return out.numpy() if was_numpy else out


def _pair(features: list[torch.Tensor], reference_compat: bool) -> torch.Tensor:
    """Stack per-scale features ``(N, S)`` into ``(N, S*F)`` (scale-major, feature-minor).

    With ``reference_compat`` every feature is emitted twice, the copies adjacent:
    ``(N, S, F, 2) -> (N, S*F*2)``, as the reference's ``repeat(..., 2)`` trailing axis does.
    """
    stacked = torch.stack(features, dim=-1)  # (N, S, F)
    if reference_compat:
        stacked = stacked.unsqueeze(-1).expand(*stacked.shape, 2)  # (N, S, F, 2)
    return stacked.flatten(1)


# --------------------------------------------------------------------------- kernels
# Kernels take an already validated (N, 2) tensor and return a tensor of the same dtype.
def _direct(x: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    if reference_compat:
        return torch.deg2rad(x) - math.pi
    scale = torch.tensor([1.0 / 180.0, 1.0 / 90.0], dtype=x.dtype, device=x.device)
    return x * scale


def _cartesian3d(x: torch.Tensor) -> torch.Tensor:
    rad = torch.deg2rad(x)
    lon, lat = rad[:, 0], rad[:, 1]
    cos_lat = torch.cos(lat)
    return torch.stack([torch.cos(lon) * cos_lat, torch.sin(lon) * cos_lat, torch.sin(lat)], dim=1)


def _wrap(x: torch.Tensor) -> torch.Tensor:
    rad = torch.deg2rad(x)
    lon, lat = rad[:, 0], rad[:, 1]
    return torch.stack([torch.cos(lon), torch.sin(lon), torch.cos(lat), torch.sin(lat)], dim=1)


def _grid(x: torch.Tensor, omega: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    xc = x.to(_compute_dtype(x, reference_compat))
    omega = omega.to(device=xc.device, dtype=xc.dtype)
    ang = xc.unsqueeze(-1) * omega  # (N, 2, S): [lon block, lat block]
    out = torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1)  # (N, 2, S, 2)
    return out.flatten(1).to(x.dtype)


def _theory(x: torch.Tensor, omega: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    xc = x.to(_compute_dtype(x, reference_compat))
    omega = omega.to(device=xc.device, dtype=xc.dtype)
    units = torch.tensor(_THEORY_UNIT_VECTORS, dtype=xc.dtype, device=xc.device)  # (3, 2)
    proj = xc @ units.T  # (N, 3): a_k = u_k · (lon, lat), degrees
    ang = proj.unsqueeze(1) * omega.unsqueeze(-1)  # (N, S, 3)
    sin, cos = torch.sin(ang), torch.cos(ang)
    s = omega.shape[0]
    if reference_compat and s % 2 == 1:
        # Reference quirk: the (N, S*6) angle matrix is reshaped to (N, 2, 3S) and sin/cos
        # are applied to even/odd positions of the LAST axis. For odd S the second half
        # (flat positions 3S..6S-1) therefore has its parity flipped.
        sin_rep = sin.repeat_interleave(2, dim=-1).flatten(1)  # (N, 6S), angle per position
        cos_rep = cos.repeat_interleave(2, dim=-1).flatten(1)
        pos = torch.arange(6 * s, device=xc.device)
        use_sin = (pos % (3 * s)) % 2 == 0
        out = torch.where(use_sin, sin_rep, cos_rep)
    else:
        out = torch.stack([sin, cos], dim=-1).flatten(1)  # (N, S, 3, 2) -> (N, 6S)
    return out.to(x.dtype)


def _sphere_terms(
    x: torch.Tensor, omega: torch.Tensor, reference_compat: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scaled trig terms ``(N, S)``: sin ωφ, cos ωφ, sin ωλ, cos ωλ; plus the compute tensor."""
    xc = x.to(_compute_dtype(x, reference_compat))
    omega = omega.to(device=xc.device, dtype=xc.dtype)
    lon = xc[:, 0:1] * omega  # (N, S)
    lat = xc[:, 1:2] * omega
    return torch.sin(lat), torch.cos(lat), torch.sin(lon), torch.cos(lon), xc


def _single_terms(
    x: torch.Tensor, xc: torch.Tensor, reference_compat: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unscaled ``cos λ, sin λ, cos φ`` (each ``(N, 1)``, in ``xc``'s dtype) for Sphere-M.

    Default: true radians. Compat: sin/cos of the raw degree values read as radians,
    evaluated in the input dtype like the reference (numpy on the input array).
    """
    if reference_compat:
        lon, lat = x[:, 0:1], x[:, 1:2]
    else:
        rad = torch.deg2rad(xc)
        lon, lat = rad[:, 0:1], rad[:, 1:2]
    return (
        torch.cos(lon).to(xc.dtype),
        torch.sin(lon).to(xc.dtype),
        torch.cos(lat).to(xc.dtype),
    )


def _sphere_c(x: torch.Tensor, omega: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    sin_lat, cos_lat, sin_lon, cos_lon, _ = _sphere_terms(x, omega, reference_compat)
    feats = [sin_lat, cos_lat * cos_lon, cos_lat * sin_lon]
    return _pair(feats, reference_compat).to(x.dtype)


def _sphere_c_plus(x: torch.Tensor, omega: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    sin_lat, cos_lat, sin_lon, cos_lon, _ = _sphere_terms(x, omega, reference_compat)
    feats = [sin_lat, cos_lat, sin_lon, cos_lon, cos_lat * cos_lon, cos_lat * sin_lon]
    return _pair(feats, reference_compat).to(x.dtype)


def _sphere_m_cross(
    x: torch.Tensor, omega: torch.Tensor, reference_compat: bool
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    sin_lat, cos_lat, sin_lon, cos_lon, xc = _sphere_terms(x, omega, reference_compat)
    cos_l1, sin_l1, cos_p1 = _single_terms(x, xc, reference_compat)
    plus = [sin_lat, cos_lat, sin_lon, cos_lon]
    cross = [cos_lat * cos_l1, cos_p1 * cos_lon, cos_lat * sin_l1, cos_p1 * sin_lon]
    return plus, cross


def _sphere_m(x: torch.Tensor, omega: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    plus, cross = _sphere_m_cross(x, omega, reference_compat)
    return _pair([plus[0], *cross], reference_compat).to(x.dtype)


def _sphere_m_plus(x: torch.Tensor, omega: torch.Tensor, reference_compat: bool) -> torch.Tensor:
    plus, cross = _sphere_m_cross(x, omega, reference_compat)
    return _pair([*plus, *cross], reference_compat).to(x.dtype)


_Kernel = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]


def _run_multiscale(
    kernel: _Kernel,
    lonlat: Any,
    frequency_num: int,
    min_radius: float,
    max_radius: float,
    reference_compat: bool,
) -> Any:
    omega = torch.from_numpy(_angular_frequencies(frequency_num, min_radius, max_radius, bool(reference_compat)))
    x, was_numpy = as_lonlat_tensor(lonlat)
    return _finish(kernel(x, omega, bool(reference_compat)), was_numpy)


# --------------------------------------------------------------------------- functions
def direct(lonlat: Any, *, reference_compat: bool = False) -> Any:
    r"""Direct encoding: the coordinates themselves, rescaled.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        reference_compat: reproduce the reference's offset instead of the [-1, 1] scaling.

    Returns:
        ``(N, 2)``, same kind, dtype (and device) as the input.

        * default: :math:`[\lambda / \pi,\; \varphi / (\pi/2)] = [lon/180,\; lat/90]
          \in [-1, 1]^2`.
        * ``reference_compat=True``: :math:`[\mathrm{deg2rad}(lon) - \pi,\;
          \mathrm{deg2rad}(lat) - \pi]`, i.e. ranges :math:`[-2\pi, 0]` and
          :math:`[-1.5\pi, -0.5\pi]` (the reference comment claims :math:`[-\pi, \pi]`).

    Raises:
        TypeError, ValueError: invalid ``lonlat`` (dtype, shape, NaN/inf, out of range).
    """
    x, was_numpy = as_lonlat_tensor(lonlat)
    return _finish(_direct(x, bool(reference_compat)), was_numpy)


def cartesian3d(lonlat: Any, *, reference_compat: bool = False) -> Any:
    r"""3-D Cartesian coordinates of the point on the unit sphere.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        reference_compat: accepted for a uniform signature; the reference has no quirk here,
            so both modes are identical.

    Returns:
        ``(N, 3)``: :math:`[\cos\varphi\cos\lambda,\; \cos\varphi\sin\lambda,\; \sin\varphi]`
        (radians), same kind, dtype and device as the input.

    Raises:
        TypeError, ValueError: invalid ``lonlat``.
    """
    x, was_numpy = as_lonlat_tensor(lonlat)
    return _finish(_cartesian3d(x), was_numpy)


def wrap(lonlat: Any, *, reference_compat: bool = False) -> Any:
    r"""Wrap encoding (Mac Aodha et al.): cos/sin of longitude and latitude.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        reference_compat: accepted for a uniform signature; both modes are identical.

    Returns:
        ``(N, 4)``: :math:`[\cos\lambda,\; \sin\lambda,\; \cos\varphi,\; \sin\varphi]`
        (radians, the reference order), same kind, dtype and device as the input.

    Raises:
        TypeError, ValueError: invalid ``lonlat``.
    """
    x, was_numpy = as_lonlat_tensor(lonlat)
    return _finish(_wrap(x), was_numpy)


def grid(
    lonlat: Any,
    *,
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
    reference_compat: bool = False,
) -> Any:
    r"""Space2Vec "grid" encoding: multiscale sin/cos of longitude and latitude separately.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: reproduce the reference's degree-as-radian frequencies.

    Returns:
        ``(N, 4S)``, same kind, dtype and device as the input. Layout (both modes, the
        reference layout): a longitude block then a latitude block; within each block,
        per scale ``s``: ``[sin(ω_s c), cos(ω_s c)]`` with ``c`` = lon or lat in degrees.
        Column ``2s`` is ``sin(ω_s lon)``, ``2s+1`` ``cos(ω_s lon)``, ``2S+2s``
        ``sin(ω_s lat)``, ``2S+2s+1`` ``cos(ω_s lat)``.

        * default: :math:`\omega_s = 2\pi / r_s` per degree (``r_s`` is a wavelength).
        * ``reference_compat=True``: :math:`\omega_s = 1 / r_s`, i.e. ``sin(lon_deg / r_s)``
          (degrees read as radians), computed in float64 and cast back.

    Raises:
        TypeError, ValueError: invalid ``lonlat`` or hyperparameters.
    """
    return _run_multiscale(_grid, lonlat, frequency_num, min_radius, max_radius, reference_compat)


def theory(
    lonlat: Any,
    *,
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
    reference_compat: bool = False,
) -> Any:
    r"""Space2Vec "theory" encoding: projections on three unit vectors 120° apart.

    With :math:`u_1, u_2, u_3` the unit vectors at 0°, 120° and 240° in the (lon, lat)
    degree plane and :math:`a_k = u_k \cdot (lon, lat)` (degrees), each scale ``s`` emits
    ``[sin ω a1, cos ω a1, sin ω a2, cos ω a2, sin ω a3, cos ω a3]`` (scale-major).

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        frequency_num: number of scales ``S >= 1`` (odd or even).
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: reproduce the reference code exactly.

    Returns:
        ``(N, 6S)``, same kind, dtype and device as the input.

        * default: :math:`\omega_s = 2\pi / r_s` per degree; correct for any ``S``.
        * ``reference_compat=True``: :math:`\omega_s = 1 / r_s` (degrees read as radians),
          float64 internally. For **odd** ``S`` the reference's reshape quirk is reproduced:
          it reshapes the ``(N, 6S)`` angles to ``(N, 2, 3S)`` and applies sin to even and
          cos to odd positions of the last axis, so for flat column ``i >= 3S`` sin/cos is
          chosen by the parity of ``i - 3S`` instead of ``i`` (the second half has sin and
          cos swapped, and the pair straddling column ``3S`` becomes ``[sin, sin]``). For
          even ``S`` (every published configuration) there is no quirk.

    Raises:
        TypeError, ValueError: invalid ``lonlat`` or hyperparameters.
    """
    return _run_multiscale(_theory, lonlat, frequency_num, min_radius, max_radius, reference_compat)


def sphere_c(
    lonlat: Any,
    *,
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
    reference_compat: bool = False,
) -> Any:
    r"""Sphere2Vec "sphereC": multiscale 3-D position on the sphere.

    Per scale ``s`` (scale-major): :math:`[\sin\omega_s\varphi,\;
    \cos\omega_s\varphi\cos\omega_s\lambda,\; \cos\omega_s\varphi\sin\omega_s\lambda]`,
    with the angles in degrees multiplied by :math:`\omega_s`.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: reproduce the reference code exactly.

    Returns:
        Same kind, dtype and device as the input.

        * default: ``(N, 3S)``, :math:`\omega_s = 2\pi / r_s` per degree.
        * ``reference_compat=True``: ``(N, 6S)``, :math:`\omega_s = 1 / r_s` (degrees read
          as radians, float64 internally) and every feature emitted twice, adjacent:
          per scale ``[f1, f1, f2, f2, f3, f3]``.

    Raises:
        TypeError, ValueError: invalid ``lonlat`` or hyperparameters.
    """
    return _run_multiscale(_sphere_c, lonlat, frequency_num, min_radius, max_radius, reference_compat)


def sphere_c_plus(
    lonlat: Any,
    *,
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
    reference_compat: bool = False,
) -> Any:
    r"""Sphere2Vec "sphereC+": sphereC plus the grid terms.

    Per scale ``s`` (scale-major): :math:`[\sin\omega_s\varphi,\; \cos\omega_s\varphi,\;
    \sin\omega_s\lambda,\; \cos\omega_s\lambda,\; \cos\omega_s\varphi\cos\omega_s\lambda,\;
    \cos\omega_s\varphi\sin\omega_s\lambda]`.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: reproduce the reference code exactly.

    Returns:
        Same kind, dtype and device as the input.

        * default: ``(N, 6S)``, :math:`\omega_s = 2\pi / r_s` per degree.
        * ``reference_compat=True``: ``(N, 12S)``, :math:`\omega_s = 1 / r_s` (degrees read
          as radians, float64 internally), every feature twice, adjacent.

    Raises:
        TypeError, ValueError: invalid ``lonlat`` or hyperparameters.
    """
    return _run_multiscale(_sphere_c_plus, lonlat, frequency_num, min_radius, max_radius, reference_compat)


def sphere_m(
    lonlat: Any,
    *,
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
    reference_compat: bool = False,
) -> Any:
    r"""Sphere2Vec "sphereM": multiscale terms mixed with the unscaled position.

    Per scale ``s`` (scale-major): :math:`[\sin\omega_s\varphi,\;
    \cos\omega_s\varphi\cos\lambda,\; \cos\varphi\cos\omega_s\lambda,\;
    \cos\omega_s\varphi\sin\lambda,\; \cos\varphi\sin\omega_s\lambda]`.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: reproduce the reference code exactly.

    Returns:
        Same kind, dtype and device as the input.

        * default: ``(N, 5S)``, :math:`\omega_s = 2\pi / r_s` per degree and the unscaled
          :math:`\cos\lambda, \sin\lambda, \cos\varphi` in true radians.
        * ``reference_compat=True``: ``(N, 10S)``, :math:`\omega_s = 1 / r_s` (degrees read
          as radians, float64 internally), the unscaled terms are ``cos(lon_deg)``,
          ``sin(lon_deg)``, ``cos(lat_deg)`` with the degree values read as radians
          (evaluated in the input dtype, like the reference), and every feature twice,
          adjacent.

    Raises:
        TypeError, ValueError: invalid ``lonlat`` or hyperparameters.
    """
    return _run_multiscale(_sphere_m, lonlat, frequency_num, min_radius, max_radius, reference_compat)


def sphere_m_plus(
    lonlat: Any,
    *,
    frequency_num: int = _DEFAULT_FREQUENCY_NUM,
    min_radius: float = _DEFAULT_MIN_RADIUS,
    max_radius: float = _DEFAULT_MAX_RADIUS,
    reference_compat: bool = False,
) -> Any:
    r"""Sphere2Vec "sphereM+": sphereM plus the grid terms.

    Per scale ``s`` (scale-major): :math:`[\sin\omega_s\varphi,\; \cos\omega_s\varphi,\;
    \sin\omega_s\lambda,\; \cos\omega_s\lambda,\; \cos\omega_s\varphi\cos\lambda,\;
    \cos\varphi\cos\omega_s\lambda,\; \cos\omega_s\varphi\sin\lambda,\;
    \cos\varphi\sin\omega_s\lambda]`.

    Args:
        lonlat: ``(N, 2)`` tensor or numpy array of ``(lon, lat)`` in degrees, float32 or
            float64.
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: reproduce the reference code exactly.

    Returns:
        Same kind, dtype and device as the input.

        * default: ``(N, 8S)``, :math:`\omega_s = 2\pi / r_s` per degree, unscaled terms in
          true radians.
        * ``reference_compat=True``: ``(N, 16S)``, :math:`\omega_s = 1 / r_s`, unscaled
          terms are sin/cos of degree values read as radians, every feature twice, adjacent.

    Raises:
        TypeError, ValueError: invalid ``lonlat`` or hyperparameters.
    """
    return _run_multiscale(_sphere_m_plus, lonlat, frequency_num, min_radius, max_radius, reference_compat)


# --------------------------------------------------------------------------- modules
def _as_checked_tensor(lonlat: Any) -> torch.Tensor:
    if not isinstance(lonlat, torch.Tensor):
        lonlat, _ = as_lonlat_tensor(lonlat)
    check_lonlat(lonlat)
    return lonlat


class _SingleScaleEncoding(nn.Module):
    """Shared base of :class:`Direct`, :class:`Cartesian3D` and :class:`Wrap`."""

    _width: int = 0

    def __init__(self, *, reference_compat: bool = False) -> None:
        super().__init__()
        self.reference_compat: bool = bool(reference_compat)
        self.embedding_dim: int = int(self._width)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        """Encode ``(N, 2)`` (lon, lat) degrees into ``(N, embedding_dim)`` (same dtype/device)."""
        return self._encode(_as_checked_tensor(lonlat))

    def extra_repr(self) -> str:
        return f"reference_compat={self.reference_compat}"


class Direct(_SingleScaleEncoding):
    r"""Module form of :func:`direct` (no parameters, ``embedding_dim = 2``).

    Args:
        reference_compat: ``False``: :math:`[lon/180, lat/90] \in [-1, 1]^2`; ``True``:
            the reference's ``[deg2rad(lon) - π, deg2rad(lat) - π]``.

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output ``(N, 2)``, same dtype
        and device.
    """

    _width = 2

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return _direct(x, self.reference_compat)


class Cartesian3D(_SingleScaleEncoding):
    r"""Module form of :func:`cartesian3d` (``embedding_dim = 3``).

    Args:
        reference_compat: accepted for a uniform signature; no effect (no reference quirk).

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output ``(N, 3)``
        :math:`[\cos\varphi\cos\lambda, \cos\varphi\sin\lambda, \sin\varphi]`, same dtype
        and device.
    """

    _width = 3

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return _cartesian3d(x)


class Wrap(_SingleScaleEncoding):
    r"""Module form of :func:`wrap` (``embedding_dim = 4``).

    Args:
        reference_compat: accepted for a uniform signature; no effect (no reference quirk).

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output ``(N, 4)``
        :math:`[\cos\lambda, \sin\lambda, \cos\varphi, \sin\varphi]`, same dtype and device.
    """

    _width = 4

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return _wrap(x)


class _MultiScaleEncoding(nn.Module):
    """Shared base of the multiscale encodings.

    Holds the angular frequencies ``omega`` (float64, shape ``(S,)``, per degree) as a
    non-persistent buffer, so ``state_dict()`` is empty and ``.to(device)`` moves it. The
    buffer stays float64 under module dtype casts (``.float()``, ``.half()``); the kernels
    cast it to the compute dtype.
    """

    _kernel: _Kernel
    _features_per_scale: int = 0  # default mode; reference-compat mode doubles it

    def __init__(
        self,
        *,
        frequency_num: int = _DEFAULT_FREQUENCY_NUM,
        min_radius: float = _DEFAULT_MIN_RADIUS,
        max_radius: float = _DEFAULT_MAX_RADIUS,
        reference_compat: bool = False,
    ) -> None:
        super().__init__()
        _check_scale_args(frequency_num, min_radius, max_radius)
        self.frequency_num: int = int(frequency_num)
        self.min_radius: float = float(min_radius)
        self.max_radius: float = float(max_radius)
        self.reference_compat: bool = bool(reference_compat)
        omega = _angular_frequencies(self.frequency_num, self.min_radius, self.max_radius, self.reference_compat)
        self._omega_values: tuple[float, ...] = tuple(float(v) for v in omega)
        self.register_buffer("omega", torch.from_numpy(omega), persistent=False)
        self.embedding_dim: int = self._embedding_dim()

    def _embedding_dim(self) -> int:
        return self._features_per_scale * self.frequency_num * (2 if self.reference_compat else 1)

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "_MultiScaleEncoding":
        """Module casts/moves (``.to``, ``.float()``, ``.double()``, ``.cuda()``, ...).

        The frequency buffer is rebuilt exactly in float64 on its new device afterwards, so
        a lossy round trip such as ``.float().double()`` cannot change the features.
        """
        super()._apply(fn, *args, **kwargs)
        device = self.omega.device
        if device.type != "mps":  # MPS has no float64; the kernels then use the cast buffer
            self.omega = torch.tensor(self._omega_values, dtype=torch.float64, device=device)
        return self

    def _omega_for(self, x: torch.Tensor) -> torch.Tensor:
        """The frequencies on ``x``'s device (the kernels cast them to the compute dtype)."""
        return self.omega.to(device=x.device)

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        """Encode ``(N, 2)`` (lon, lat) degrees into ``(N, embedding_dim)`` (same dtype/device)."""
        x = _as_checked_tensor(lonlat)
        return type(self)._kernel(x, self._omega_for(x), self.reference_compat)

    def extra_repr(self) -> str:
        return (
            f"frequency_num={self.frequency_num}, min_radius={self.min_radius}, "
            f"max_radius={self.max_radius}, reference_compat={self.reference_compat}"
        )


class Grid(_MultiScaleEncoding):
    r"""Module form of :func:`grid`; ``embedding_dim = 4S`` in both modes.

    Args:
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: ``False``: :math:`\omega_s = 2\pi/r_s` per degree (wavelength
            ``r_s`` degrees); ``True``: :math:`\omega_s = 1/r_s` applied to degrees as in the
            reference.

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output ``(N, 4S)`` (lon block
        then lat block, per scale ``[sin, cos]``), same dtype and device.
    """

    _kernel = staticmethod(_grid)
    _features_per_scale = 4

    def _embedding_dim(self) -> int:
        return 4 * self.frequency_num  # no duplication in the reference either


class Theory(_MultiScaleEncoding):
    r"""Module form of :func:`theory`; ``embedding_dim = 6S`` in both modes.

    Args:
        frequency_num: number of scales ``S >= 1`` (odd allowed; in reference-compat mode
            the reference's odd-``S`` reshape quirk is reproduced, see :func:`theory`).
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: ``False``: :math:`\omega_s = 2\pi/r_s` per degree; ``True``:
            :math:`\omega_s = 1/r_s` applied to degrees as in the reference.

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output ``(N, 6S)``, same dtype
        and device.
    """

    _kernel = staticmethod(_theory)

    def _embedding_dim(self) -> int:
        return 6 * self.frequency_num  # no duplication in the reference either


class SphereC(_MultiScaleEncoding):
    r"""Module form of :func:`sphere_c`.

    Args:
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: ``False``: ``embedding_dim = 3S``, :math:`\omega_s = 2\pi/r_s`;
            ``True``: ``embedding_dim = 6S``, :math:`\omega_s = 1/r_s` on degrees, every
            feature twice (adjacent).

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output
        ``(N, embedding_dim)``, same dtype and device.
    """

    _kernel = staticmethod(_sphere_c)
    _features_per_scale = 3


class SphereCPlus(_MultiScaleEncoding):
    r"""Module form of :func:`sphere_c_plus`.

    Args:
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: ``False``: ``embedding_dim = 6S``, :math:`\omega_s = 2\pi/r_s`;
            ``True``: ``embedding_dim = 12S``, :math:`\omega_s = 1/r_s` on degrees, every
            feature twice (adjacent).

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output
        ``(N, embedding_dim)``, same dtype and device.
    """

    _kernel = staticmethod(_sphere_c_plus)
    _features_per_scale = 6


class SphereM(_MultiScaleEncoding):
    r"""Module form of :func:`sphere_m`.

    Args:
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: ``False``: ``embedding_dim = 5S``, :math:`\omega_s = 2\pi/r_s`,
            unscaled terms in radians; ``True``: ``embedding_dim = 10S``,
            :math:`\omega_s = 1/r_s` on degrees, unscaled terms are sin/cos of degrees read
            as radians, every feature twice (adjacent).

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output
        ``(N, embedding_dim)``, same dtype and device.
    """

    _kernel = staticmethod(_sphere_m)
    _features_per_scale = 5


class SphereMPlus(_MultiScaleEncoding):
    r"""Module form of :func:`sphere_m_plus`.

    Args:
        frequency_num: number of scales ``S >= 1``.
        min_radius: smallest scale ``r_0 > 0`` (degrees).
        max_radius: largest scale ``r_{S-1} >= min_radius`` (degrees).
        reference_compat: ``False``: ``embedding_dim = 8S``, :math:`\omega_s = 2\pi/r_s`,
            unscaled terms in radians; ``True``: ``embedding_dim = 16S``,
            :math:`\omega_s = 1/r_s` on degrees, unscaled terms are sin/cos of degrees read
            as radians, every feature twice (adjacent).

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output
        ``(N, embedding_dim)``, same dtype and device.
    """

    _kernel = staticmethod(_sphere_m_plus)
    _features_per_scale = 8


BASELINE_ENCODINGS: dict[str, type[nn.Module]] = {
    "direct": Direct,
    "cartesian3d": Cartesian3D,
    "wrap": Wrap,
    "grid": Grid,
    "theory": Theory,
    "spherec": SphereC,
    "spherec+": SphereCPlus,
    "spherem": SphereM,
    "spherem+": SphereMPlus,
}
