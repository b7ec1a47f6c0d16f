"""Point sets on the sphere: random training samples, lattices and evaluation grids.

All functions return ``(N, 2)`` float64 numpy arrays of ``(lon, lat)`` in degrees, with lon
in [-180, 180] and lat in [-90, 90] (the package-wide convention, see
``geoviz._validation``). They reproduce the reference (locationencoder, ICLR 2024) recipes
exactly where one exists:

* :func:`uniform_sphere` - the land-ocean / checkerboard train and validation samples;
* :func:`fibonacci_lattice` - the checkerboard support points and test set;
* :func:`equal_area_test_grid` - the land-ocean test grid (EPSG:6933, 100 km spacing);
* :func:`regular_grid` - a plain lon/lat raster of cell centres for rendering maps.

EPSG:6933 ("WGS 84 / NSIDC EASE-Grid 2.0 Global") is the Lambert cylindrical equal-area
projection on the WGS84 ellipsoid with standard parallel 30 deg; :func:`ease2_to_lonlat` and
:func:`lonlat_to_ease2` implement it in numpy, so pyproj is not needed at run time.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np

__all__ = [
    "uniform_sphere",
    "fibonacci_lattice",
    "regular_grid",
    "RegularGrid",
    "equal_area_test_grid",
    "ease2_to_lonlat",
    "lonlat_to_ease2",
    "lonlat_to_unit",
    "EASE2_X_RANGE",
    "EASE2_Y_RANGE",
    "EASE2_TEST_STEP_M",
]

# --------------------------------------------------------------------------------------
# helpers


def _check_count(n: int, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return int(n)


EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG, km): the sphere geoviz measures great-circle distances on."""


def great_circle_km(a: Any, b: Any) -> np.ndarray:
    """Great-circle distance (km) between (lon, lat) degree points, by the haversine formula on
    a sphere of radius :data:`EARTH_RADIUS_KM` (the error against WGS84 is below 0.6 %).

    Args:
        a, b: ``(..., 2)`` (lon, lat) degree arrays that broadcast against each other
            (``(N, 2)`` with ``(N, 2)`` row by row, ``(2,)`` with ``(N, 2)`` one to many,
            ``(N, 1, 2)`` with ``(1, M, 2)`` all pairs).

    Returns:
        float64 distances in km, in ``[0, π R]``, of the broadcast shape without the last axis.
    """
    a = np.radians(np.asarray(a, dtype=np.float64))
    b = np.radians(np.asarray(b, dtype=np.float64))
    dlon, dlat = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    h = np.sin(dlat / 2) ** 2 + np.cos(a[..., 1]) * np.cos(b[..., 1]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def lonlat_to_unit(lonlat: np.ndarray) -> np.ndarray:
    """Unit vectors on the sphere for ``(lon, lat)`` degrees.

    Args:
        lonlat: ``(N, 2)`` array of ``(lon, lat)`` in degrees.

    Returns:
        ``(N, 3)`` float64 array ``(x, y, z)`` with x towards (0E, 0N), z towards the north pole.
    """
    lon = np.radians(np.asarray(lonlat, dtype=np.float64)[:, 0])
    lat = np.radians(np.asarray(lonlat, dtype=np.float64)[:, 1])
    c = np.cos(lat)
    return np.stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)], axis=1)


# --------------------------------------------------------------------------------------
# random and lattice samples


def uniform_sphere(n: int, seed: int = 0) -> np.ndarray:
    """``n`` points uniformly distributed on the sphere (the reference recipe, bit-exact).

    Draws ``np.random.RandomState(seed).normal(size=(3, n))`` as ``(x, y, z)`` and returns
    ``lon = atan2(y, x)``, ``lat = atan2(z, hypot(x, y))`` in degrees.

    Args:
        n: number of points (>= 1).
        seed: seed of the legacy ``np.random.RandomState`` generator (0 = land-ocean and
            checkerboard train set, 1 = validation set).

    Returns:
        ``(n, 2)`` float64 array of ``(lon, lat)`` in degrees, lon in [-180, 180].
    """
    n = _check_count(n)
    x, y, z = np.random.RandomState(seed).normal(size=(3, n))
    lon = np.rad2deg(np.arctan2(y, x))
    lat = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return np.stack([lon, lat], axis=1)


_GOLDEN = (1.0 + math.sqrt(5.0)) / 2.0


def fibonacci_lattice(n: int) -> np.ndarray:
    """Fibonacci lattice of ``n`` nearly evenly spaced points (Gonzalez 2010).

    With ``h = n // 2`` and ``i = -h, ..., n - h - 1`` (ascending; this is the point order)::

        lat_i = asin(2 i / (2 h + 1))             (degrees)
        lon_i = (i mod phi) * 360 / phi            (phi = golden ratio, Python modulo >= 0)
        lon_i -= 360 where lon_i > 180            (so lon in (-180, 180])

    For even ``n`` this is exactly the reference ``generate_fibonaccilattice(n)``
    (e.g. ``n = 200``: i = -100..99, lat = asin(2i/201)). For odd ``n = 2h + 1`` the
    reference silently returns ``n - 1`` points; here ``i`` runs to ``+h`` instead, which is
    Gonzalez's original odd-``N`` lattice (denominator ``N``), so exactly ``n`` points come back.

    Args:
        n: number of points (>= 1).

    Returns:
        ``(n, 2)`` float64 array of ``(lon, lat)`` in degrees.
    """
    n = _check_count(n)
    h = n // 2
    i = np.arange(-h, n - h, dtype=np.int64)
    lat = np.arcsin((2 * i) / (2 * h + 1)) * 180 / np.pi
    lon = np.mod(i, _GOLDEN) * (360 / _GOLDEN)
    lon = np.where(lon > 180, lon - 360, lon)
    return np.stack([lon, lat], axis=1)


# --------------------------------------------------------------------------------------
# regular raster


class RegularGrid(NamedTuple):
    """Cell centres of a regular lon/lat raster.

    Attributes:
        lonlat: ``(H * W, 2)`` float64 ``(lon, lat)`` degrees, row-major: row 0 is the
            northernmost row, columns run west to east, so ``values.reshape(shape)`` gives
            an image with north up.
        shape: ``(H, W)`` = (number of latitude rows, number of longitude columns).
    """

    lonlat: np.ndarray
    shape: tuple[int, int]

    @property
    def lons(self) -> np.ndarray:
        """``(W,)`` cell-centre longitudes in degrees, ascending (west to east)."""
        return self.lonlat[: self.shape[1], 0].copy()

    @property
    def lats(self) -> np.ndarray:
        """``(H,)`` cell-centre latitudes in degrees, descending (north to south)."""
        return self.lonlat[:: self.shape[1], 1].copy()


def regular_grid(resolution_deg: float | None = 1.0, shape: tuple[int, int] | None = None) -> RegularGrid:
    """Cell centres of a global regular lon/lat raster, for rendering predictions as images.

    Cells tile [-180, 180] x [-90, 90]; the centre of row ``r``, column ``c`` is
    ``lat = 90 - (r + 0.5) * 180 / H`` and ``lon = -180 + (c + 0.5) * 360 / W``.

    Args:
        resolution_deg: cell size in degrees (used when ``shape`` is None); ``180 /
            resolution_deg`` must be an integer (e.g. 2, 1, 0.5, 0.25, 0.1).
        shape: ``(H, W)`` = (number of latitude rows, number of longitude columns);
            overrides ``resolution_deg``.

    Returns:
        :class:`RegularGrid` ``(lonlat, shape)``; ``lonlat`` is ``(H * W, 2)`` float64,
        rows north to south, columns west to east.

    Raises:
        ValueError: non-positive sizes, or a resolution that does not divide 180 deg.
    """
    if shape is not None:
        if len(shape) != 2:
            raise ValueError(f"shape must be (nlat, nlon), got {shape!r}")
        H, W = _check_count(shape[0], "shape[0]"), _check_count(shape[1], "shape[1]")
    else:
        if resolution_deg is None or not np.isfinite(resolution_deg) or resolution_deg <= 0:
            raise ValueError(f"resolution_deg must be a positive number, got {resolution_deg!r}")
        h = 180.0 / float(resolution_deg)
        H = int(round(h))
        if H < 1 or abs(h - H) > 1e-9 * max(1.0, h):
            raise ValueError(
                f"resolution_deg={resolution_deg} does not divide 180 deg evenly; "
                f"pass shape=(nlat, nlon) instead"
            )
        W = 2 * H
    lat = 90.0 - (np.arange(H) + 0.5) * (180.0 / H)
    lon = -180.0 + (np.arange(W) + 0.5) * (360.0 / W)
    lon2, lat2 = np.meshgrid(lon, lat)  # (H, W), row 0 = north
    return RegularGrid(np.stack([lon2.ravel(), lat2.ravel()], axis=1), (H, W))


# --------------------------------------------------------------------------------------
# EPSG:6933 (EASE-Grid 2.0 global): Lambert cylindrical equal-area on WGS84, lat_ts = 30

_A = 6378137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)
_E = math.sqrt(_E2)
_SIN_TS = math.sin(math.radians(30.0))
_K0 = math.cos(math.radians(30.0)) / math.sqrt(1.0 - _E2 * _SIN_TS * _SIN_TS)
# authalic -> geodetic latitude series coefficients (Snyder 1987, eq. 3-18; as in PROJ <= 9.5)
_APA = (
    _E2 / 3.0 + 31.0 * _E2**2 / 180.0 + 517.0 * _E2**3 / 5040.0,
    23.0 * _E2**2 / 360.0 + 251.0 * _E2**3 / 3780.0,
    761.0 * _E2**3 / 45360.0,
)


def _q(sin_phi: np.ndarray) -> np.ndarray:
    """Snyder's q(phi) (eq. 3-12) from sin(phi)."""
    es = _E * sin_phi
    return (1.0 - _E2) * (sin_phi / (1.0 - es * es) - np.log((1.0 - es) / (1.0 + es)) / (2.0 * _E))


_QP = float(_q(np.float64(1.0)))

EASE2_TEST_STEP_M: float = 1e5
"""Spacing of the reference land-ocean test grid, metres."""
EASE2_X_RANGE: tuple[float, float] = (-17367530.45, 17367530.45)
"""EPSG:6933 easting extent used by the reference test grid (metres; arange excludes the end)."""
EASE2_Y_RANGE: tuple[float, float] = (-7324184.56, 7324184.56)
"""EPSG:6933 northing extent used by the reference test grid (metres; arange excludes the end)."""


def lonlat_to_ease2(lonlat: np.ndarray) -> np.ndarray:
    """Forward EPSG:6933 projection (closed form).

    Args:
        lonlat: ``(N, 2)`` ``(lon, lat)`` degrees, WGS84.

    Returns:
        ``(N, 2)`` float64 ``(x, y)`` in metres.
    """
    ll = np.asarray(lonlat, dtype=np.float64)
    x = _A * _K0 * np.radians(ll[:, 0])
    y = _A * 0.5 * _q(np.sin(np.radians(ll[:, 1]))) / _K0
    return np.stack([x, y], axis=1)


def ease2_to_lonlat(xy: np.ndarray, method: Literal["proj", "exact"] = "proj") -> np.ndarray:
    """Inverse EPSG:6933 projection: EASE-Grid 2.0 metres to WGS84 ``(lon, lat)`` degrees.

    ``lon = x / (a k0)`` with ``k0 = cos 30 / sqrt(1 - e^2 sin^2 30)``, the authalic latitude
    ``beta = asin(2 y k0 / (a q_p))``, and the geodetic latitude from ``beta``:

    * ``method="proj"`` (default): the 3-term series of Snyder eq. 3-18, which is what PROJ
      (through 9.5, i.e. pyproj/geopandas as used by the reference) evaluates. It agrees
      with pyproj 3.7 / PROJ 9.5.1 to ~2e-13 deg, but is itself off the exact inverse by up
      to ~1.5e-8 deg (~1.6 mm), the series truncation error O(e^8).
    * ``method="exact"``: the series value refined by Newton iterations on ``q(phi) = q``;
      accurate to ~1e-13 deg (round-trips through :func:`lonlat_to_ease2`).

    Longitudes that overshoot +-180 deg by rounding (the reference grid's first column lands
    at -180.00000005) are wrapped into [-180, 180] as PROJ does (to +179.99999995).

    Args:
        xy: ``(N, 2)`` ``(x, y)`` metres; ``|y| <= a q_p / (2 k0)`` (~7.31e6 m).
        method: ``"proj"`` or ``"exact"``, see above.

    Returns:
        ``(N, 2)`` float64 ``(lon, lat)`` in degrees.

    Raises:
        ValueError: unknown ``method``, bad shape, or ``|y|`` beyond the pole.
    """
    if method not in ("proj", "exact"):
        raise ValueError(f"method must be 'proj' or 'exact', got {method!r}")
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must have shape (N, 2), got {xy.shape}")
    lam = xy[:, 0] / (_A * _K0)
    qt = 2.0 * xy[:, 1] * _K0 / _A
    ratio = qt / _QP
    if np.any(np.abs(ratio) > 1.0 + 1e-10):
        raise ValueError("y beyond the pole of EPSG:6933 (|y| > 7.314e6 m)")
    beta = np.arcsin(np.clip(ratio, -1.0, 1.0))
    t = 2.0 * beta
    phi = beta + _APA[0] * np.sin(t) + _APA[1] * np.sin(2.0 * t) + _APA[2] * np.sin(3.0 * t)
    if method == "exact":
        for _ in range(3):
            s, c = np.sin(phi), np.cos(phi)
            w = 1.0 - _E2 * s * s
            ok = c > 1e-12
            step = (qt - _q(s)) * w * w / (2.0 * (1.0 - _E2) * np.where(ok, c, 1.0))
            phi = np.where(ok, phi + step, phi)
    lat = np.clip(np.degrees(phi), -90.0, 90.0)
    # PROJ's adjlon: keep |lam| < pi + 1e-12, otherwise wrap into [-pi, pi).
    big = np.abs(lam) >= math.pi + 1e-12
    lam = np.where(big, lam - 2.0 * math.pi * np.floor((lam + math.pi) / (2.0 * math.pi)), lam)
    lon = np.clip(np.degrees(lam), -180.0, 180.0)
    return np.stack([lon, lat], axis=1)


def equal_area_test_grid(method: Literal["proj", "exact"] = "proj") -> np.ndarray:
    """The reference land-ocean test grid: 100 km spacing in EPSG:6933, 51,156 points.

    ``x = arange(-17367530.45, 17367530.45, 1e5)`` (348 values) and
    ``y = arange(-7324184.56, 7324184.56, 1e5)`` (147 values), combined with
    ``np.meshgrid(x, y)`` (default "xy" indexing) and flattened, exactly as the reference:
    **y-major order** - point ``k`` has ``y = y[k // 348]`` and ``x = x[k % 348]``, i.e. the
    first 348 points are the southernmost row from west to east, and rows go south to north.
    ``arange`` drops the end value, so latitudes run from -86.0 to +82.3 deg (asymmetric).
    About 29.0% of the points (14,839) are land on the Natural Earth 110m mask.

    Args:
        method: latitude inversion, see :func:`ease2_to_lonlat` (``"proj"`` reproduces the
            reference's pyproj output; both give identical land labels).

    Returns:
        ``(51156, 2)`` float64 array of ``(lon, lat)`` in degrees.
    """
    x = np.arange(EASE2_X_RANGE[0], EASE2_X_RANGE[1], EASE2_TEST_STEP_M)
    y = np.arange(EASE2_Y_RANGE[0], EASE2_Y_RANGE[1], EASE2_TEST_STEP_M)
    X, Y = np.meshgrid(x, y)
    return ease2_to_lonlat(np.stack([X.ravel(), Y.ravel()], axis=1), method=method)
