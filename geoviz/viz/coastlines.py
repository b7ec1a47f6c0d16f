"""Coastlines and graticule lines from the shipped Natural Earth land polygon (no downloads).

The coastline polylines themselves (:func:`coastline_paths`, :func:`nan_join`) come from
:mod:`geoviz.render`; this module adds the graticule, the orthographic projection of lines
for the globe and the HoloViews element of the flat maps.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from geoviz.render import coastline_paths, nan_join

from ._hv import hv as _hv
from .projection import _forward, check_center

__all__ = [
    "coastline_paths",
    "coastlines_element",
    "graticule_paths",
    "nan_join",
    "project_paths",
]


@lru_cache(maxsize=4)
def _graticule(step: float, res: float) -> np.ndarray:
    paths = []
    lat_line = np.arange(-90.0, 90.0 + res / 2, res)
    for lon in np.arange(-180.0, 180.0, step):
        paths.append(np.stack([np.full_like(lat_line, lon), lat_line], axis=1))
    lon_line = np.arange(-180.0, 180.0 + res / 2, res)
    for lat in np.arange(-90.0 + step, 90.0 - step / 2, step):
        paths.append(np.stack([lon_line, np.full_like(lon_line, lat)], axis=1))
    out = nan_join(paths)
    out.flags.writeable = False
    return out


def graticule_paths(step: float = 30.0, resolution: float = 1.0) -> np.ndarray:
    """Meridians and parallels every ``step`` degrees, sampled every ``resolution`` degrees.

    Returns:
        ``(K, 2)`` float64 lon/lat degrees, lines separated by NaN rows (read-only, cached).
    """
    if not (step > 0 and resolution > 0):
        raise ValueError(f"step and resolution must be positive, got {step!r}, {resolution!r}")
    return _graticule(float(step), float(resolution))


def project_paths(lonlat_nan: np.ndarray, lon0: float, lat0: float) -> np.ndarray:
    """Forward-project NaN-separated lon/lat polylines orthographically; far-side points become NaN.

    Args:
        lonlat_nan: ``(K, 2)`` lon/lat degrees with NaN rows as separators.
        lon0, lat0: centre of projection in degrees.

    Returns:
        ``(K, 2)`` float64 screen coordinates (sphere radii), NaN where hidden or separators.
    """
    lon0, lat0 = check_center(lon0, lat0)
    a = np.asarray(lonlat_nan, dtype=np.float64)
    x, y, vis = _forward(a[:, 0], a[:, 1], lon0, lat0)
    keep = vis & np.isfinite(x)
    return np.stack([np.where(keep, x, np.nan), np.where(keep, y, np.nan)], axis=1)


def coastlines_element(simplify: float | None = None, *, color: str = "black", line_width: float = 0.8) -> Any:
    """Coastlines on the flat lon/lat plane as a ``holoviews.Path`` (x = lon, y = lat, degrees)."""
    hv = _hv()

    return hv.Path([nan_join(coastline_paths(simplify))], kdims=["lon", "lat"]).opts(
        color=color, line_width=line_width
    )
