"""Orthographic projection (forward and inverse), pure numpy.

Screen coordinates ``(x, y)`` are in units of the sphere radius: the visible hemisphere
is the unit disk, ``x`` grows to the east (right) and ``y`` to the north (up) at the
centre of projection ``(lon0, lat0)``. All angles are degrees.

Formulas (Snyder 1987, p. 145-149, with sin c = rho for the orthographic case)::

    x = cos(lat) sin(lon - lon0)
    y = cos(lat0) sin(lat) - sin(lat0) cos(lat) cos(lon - lon0)
    cos c = sin(lat0) sin(lat) + cos(lat0) cos(lat) cos(lon - lon0)   (visible: cos c >= 0)

    lat = arcsin(cos c sin(lat0) + y cos(lat0)),  cos c = sqrt(1 - x^2 - y^2)
    lon = lon0 + atan2(x, cos c cos(lat0) - y sin(lat0))
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from geoviz._validation import as_lonlat_tensor

__all__ = [
    "orthographic_forward",
    "orthographic_inverse",
    "pixel_grid",
    "check_center",
]


def check_center(lon0: Any, lat0: Any) -> tuple[float, float]:
    """Validate a projection centre; return ``(lon0, lat0)`` as floats (lon0 wrapped to [-180, 180)).

    Raises:
        TypeError: non-numeric values.
        ValueError: NaN/inf, or ``|lat0| > 90``.
    """
    try:
        lo, la = float(lon0), float(lat0)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"lon0/lat0 must be numbers, got {lon0!r}, {lat0!r}") from exc
    if not (np.isfinite(lo) and np.isfinite(la)):
        raise ValueError(f"lon0/lat0 must be finite, got {lo!r}, {la!r}")
    if abs(la) > 90.0:
        raise ValueError(f"lat0 must be in [-90, 90] degrees, got {la!r}")
    return (lo + 180.0) % 360.0 - 180.0, la


def _lonlat_np(lonlat: Any) -> np.ndarray:
    t, _ = as_lonlat_tensor(lonlat, "lonlat")
    return t.detach().cpu().numpy().astype(np.float64, copy=False)


def _forward(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unvalidated forward projection of radian-free degree arrays (any equal shapes)."""
    lam = np.radians(lon - lon0)
    phi = np.radians(lat)
    p0 = np.radians(lat0)
    cphi = np.cos(phi)
    sphi = np.sin(phi)
    clam = np.cos(lam)
    x = cphi * np.sin(lam)
    y = np.cos(p0) * sphi - np.sin(p0) * cphi * clam
    cosc = np.sin(p0) * sphi + np.cos(p0) * cphi * clam
    return x, y, cosc >= 0.0


def _inverse(x: np.ndarray, y: np.ndarray, lon0: float, lat0: float, cosc: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unvalidated inverse projection for points inside the unit disk (degrees out)."""
    if cosc is None:
        cosc = np.sqrt(np.clip(1.0 - x * x - y * y, 0.0, None))
    p0 = np.radians(lat0)
    s0, c0 = np.sin(p0), np.cos(p0)
    lat = np.degrees(np.arcsin(np.clip(cosc * s0 + y * c0, -1.0, 1.0)))
    lon = lon0 + np.degrees(np.arctan2(x, cosc * c0 - y * s0))
    lon = (lon + 180.0) % 360.0 - 180.0
    return lon, lat


def orthographic_forward(lonlat: Any, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Project lon/lat onto the orthographic plane centred at ``(lon0, lat0)``.

    Args:
        lonlat: ``(N, 2)`` numpy array or torch tensor of ``(lon, lat)`` degrees (float32/64).
        lon0, lat0: centre of projection in degrees (the point facing the viewer).

    Returns:
        ``(xy, visible)``: ``xy`` ``(N, 2)`` float64 screen coordinates in sphere radii
        (x east/right, y north/up; the visible hemisphere is the unit disk), and
        ``visible`` ``(N,)`` bool, True for points on the near hemisphere (far-side points
        still get coordinates, mirrored into the disk).

    Raises:
        TypeError, ValueError: bad ``lonlat`` (see :func:`geoviz._validation.check_lonlat`)
            or bad centre.
    """
    lon0, lat0 = check_center(lon0, lat0)
    ll = _lonlat_np(lonlat)
    x, y, vis = _forward(ll[:, 0], ll[:, 1], lon0, lat0)
    return np.stack([x, y], axis=1), vis


def orthographic_inverse(xy: Any, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Invert the orthographic projection centred at ``(lon0, lat0)``.

    Args:
        xy: ``(N, 2)`` array-like of screen coordinates in sphere radii (x right, y up).
        lon0, lat0: centre of projection in degrees.

    Returns:
        ``(lonlat, inside)``: ``lonlat`` ``(N, 2)`` float64 degrees with lon in
        [-180, 180) (NaN where the point is outside the disk), and ``inside`` ``(N,)``
        bool, True where ``x^2 + y^2 <= 1``.

    Raises:
        ValueError: wrong shape or non-finite values.
    """
    lon0, lat0 = check_center(lon0, lat0)
    a = np.asarray(xy.detach().cpu().numpy() if hasattr(xy, "detach") else xy, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"xy must have shape (N, 2), got {a.shape}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
        raise ValueError(f"xy has non-finite values in row {bad}: {a[bad].tolist()}")
    r2 = (a * a).sum(axis=1)
    inside = r2 <= 1.0 + 1e-12
    out = np.full(a.shape, np.nan)
    lon, lat = _inverse(a[inside, 0], a[inside, 1], lon0, lat0)
    out[inside, 0], out[inside, 1] = lon, lat
    return out, inside


class PixelGrid:
    """Rotation-independent geometry of a square ``size × size`` globe image (cached per size).

    Attributes:
        size: image side in pixels.
        inside: ``(size, size)`` bool, pixel centre within the unit disk.
        idx: ``(M,)`` int64 flat indices of the inside pixels (row-major, row 0 = top).
        x, y, cosc: ``(M,)`` float64 screen coordinates and ``sqrt(1 - x^2 - y^2)`` of them.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        c = -1.0 + (np.arange(size) + 0.5) * (2.0 / size)
        X, Y = np.meshgrid(c, -c)  # row 0 = top = y near +1
        r2 = X * X + Y * Y
        self.inside = r2 <= 1.0
        self.idx = np.flatnonzero(self.inside.ravel())
        self.x = X.ravel()[self.idx]
        self.y = Y.ravel()[self.idx]
        self.cosc = np.sqrt(1.0 - r2.ravel()[self.idx])
        for a in (self.inside, self.idx, self.x, self.y, self.cosc):
            a.flags.writeable = False

    def lonlat(self, lon0: float, lat0: float) -> np.ndarray:
        """``(M, 2)`` float64 lon/lat degrees of the inside pixels for centre ``(lon0, lat0)``."""
        lon, lat = _inverse(self.x, self.y, lon0, lat0, self.cosc)
        return np.stack([lon, lat], axis=1)


@lru_cache(maxsize=8)
def pixel_grid(size: int) -> PixelGrid:
    """Cached :class:`PixelGrid` for a ``size × size`` globe (``size`` a positive int)."""
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 2 or size > 8192:
        raise ValueError(f"size must be an int in [2, 8192] pixels, got {size!r}")
    return PixelGrid(int(size))
