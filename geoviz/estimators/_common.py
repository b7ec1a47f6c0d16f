"""Helpers shared by geoviz's scikit-learn estimators: lon/lat validation, hyper-parameter
checks, devices, CPU pickling, raw outputs and the global random streams."""

from __future__ import annotations

import copy
import random
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any, Iterator

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

_FLOAT_DTYPES = (np.float64, np.float32)
_DTYPES = ("float32", "float64")


def _check_lonlat_columns(X: np.ndarray) -> None:
    """Raise unless ``X`` is ``(N, 2)`` finite (lon, lat) degrees in range.

    Args:
        X: 2-D float array, already through ``validate_data``.

    Raises:
        ValueError: the wrong number of columns (``"X has n_features=3; expected 2 (lon, lat)"``),
            NaN/inf, lat outside [-90, 90] or lon outside [-180, 180]; the message names the
            first offending row and its values.
    """
    if X.shape[1] != 2:
        raise ValueError(f"X has n_features={X.shape[1]}; expected 2 (lon, lat) in degrees")
    if X.shape[0] == 0:
        return
    nonfinite = ~np.isfinite(X).all(axis=1)
    if nonfinite.any():
        i = int(np.argmax(nonfinite))
        raise ValueError(f"X contains NaN or inf: first at row {i}, (lon, lat) = ({X[i, 0]!r}, {X[i, 1]!r}); "
                         f"drop or fill those rows first")
    bad_lat = np.abs(X[:, 1]) > 90
    bad_lon = np.abs(X[:, 0]) > 180
    bad = bad_lat | bad_lon
    if bad.any():
        i = int(np.argmax(bad))
        where = f"at row {i}: (lon, lat) = ({float(X[i, 0])!r}, {float(X[i, 1])!r})"
        if bad_lat[i]:
            raise ValueError(f"X latitude (column 1) out of range [-90, 90] {where}; "
                             f"are the columns in (lat, lon) order, or in radians?")
        raise ValueError(f"X longitude (column 0) out of range [-180, 180] {where}; "
                         f"wrap longitudes first, e.g. with geoviz.wrap_longitude")


def _validate_lonlat(est: BaseEstimator, X: Any, y: Any = "no_validation", *, reset: bool,
                     **check: Any) -> Any:
    """``validate_data`` for lon/lat input, then the column and range checks.

    Returns what ``validate_data`` returns (``X`` or ``(X, y)``); ``X`` is float64 or float32.
    ``check`` holds further ``validate_data`` keywords (``multi_output``, ``y_numeric``,
    ``ensure_min_samples``). NaN/inf in ``X`` are left to :func:`_check_lonlat_columns`,
    which names the first bad row.
    """
    out = validate_data(est, X, y, reset=reset, dtype=_FLOAT_DTYPES, ensure_all_finite=False,
                        accept_sparse=False, **check)
    _check_lonlat_columns(out[0] if isinstance(out, tuple) else out)
    return out


def _plain_int(value: Any, name: str, owner: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _plain_float(value: Any, name: str, owner: str, *, positive: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not np.isfinite(value) \
            or (value <= 0 if positive else value < 0):
        raise ValueError(f"{owner}: {name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _check_dtype(dtype: Any, owner: str) -> str:
    name = dtype if isinstance(dtype, str) else str(np.dtype(dtype)) if isinstance(dtype, type) else str(dtype)
    name = name.replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError(f"{owner}: dtype must be 'float32' or 'float64', got {dtype!r}")
    return name


def _check_device(device: Any, owner: str) -> torch.device:
    """``"auto"`` → CUDA if available else CPU; refuses CUDA when there is none."""
    from ..training import resolve_device

    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"{owner}: device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}")
    try:
        dev = resolve_device(device)
    except RuntimeError as exc:
        raise ValueError(f"{owner}: invalid device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{owner}: device={device!r} but CUDA is not available here; use device='auto' or 'cpu'")
    return dev


def _module_device(module: torch.nn.Module) -> torch.device:
    t = next(iter(module.parameters()), None)
    if t is None:
        t = next(iter(module.buffers()), None)
    return torch.device("cpu") if t is None else t.device


def _cpu_module(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` itself if it lives on the CPU, else a CPU copy (the original stays put)."""
    if _module_device(module).type == "cpu":
        return module
    return copy.deepcopy(module).to("cpu")


class _CPUPickle:
    """Mixin: a pickled estimator carries its fitted ``model_`` on the CPU (a CUDA-fitted
    estimator unpickles on a machine without a GPU); :meth:`_pickled_model` may prepare it."""

    def _pickled_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()  # type: ignore[misc]
        if "model_" in state:
            state = dict(state)
            state["model_"] = _cpu_module(self._pickled_model(state["model_"]))
        return state


def _trainable_spec(encoder: Any, owner: str) -> Any:
    """The :class:`~geoviz.spec.EncoderSpec` of an ``encoder`` hyper-parameter, which must name a network.

    Raises:
        TypeError / ValueError: a malformed spec, or one without a network (the message names
            ``owner`` and the value given).
    """
    from ..spec import EncoderSpec

    try:
        spec = EncoderSpec.parse(encoder)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{owner}: encoder={encoder!r}: {exc}") from None
    if spec.nn is None:
        raise ValueError(f"{owner}: encoder={str(spec)!r} has no network to fit; add one, e.g. '{spec}+siren(64x2)'")
    return spec


def _outputs(module: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """``(N, out)`` float64 raw outputs of ``module`` on ``(N, 2)`` lon/lat (eval mode, batched).

    A private copy of ``X`` goes to torch, so read-only inputs (memory maps) are fine.
    """
    from ..embed import embed_points

    out = embed_points(module, torch.tensor(X))
    return out.detach().to("cpu", torch.float64).numpy()


@contextmanager
def _global_rng_preserved(device: torch.device) -> Iterator[None]:
    """Run a block that seeds the global RNGs (the training engine does) and restore them after.

    torch's CPU generator (and the CUDA generators when training there), numpy's legacy
    global generator and Python's ``random`` are put back as they were, so that fitting an
    estimator does not reset a caller's random streams.
    """
    np_state, py_state = np.random.get_state(), random.getstate()
    cuda = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _uses_cuda(device: Any) -> bool:
    try:
        from ..training import resolve_device

        return resolve_device(device).type == "cuda"
    except (RuntimeError, TypeError, ValueError):
        return False
