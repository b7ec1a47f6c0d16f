"""A user's own GeoTIFF as a target: points sampled from a raster in any CRS.

:func:`read_raster` reads the chosen band(s) of a GeoTIFF with rioxarray into memory
(:class:`Raster`: values, valid-cell mask, CRS, affine transform, band names, units).
:func:`sample_raster` turns it into points and targets for
:func:`geoviz.data.task_from_points`, in one of two ways:

* ``n`` random points **uniformly distributed by area on the sphere over the raster's
  valid cells**: points are drawn uniformly by area (longitude uniform, sine of latitude
  uniform) in the raster's lon/lat bounding box, projected into the raster's CRS with
  pyproj, and kept when they fall in a valid cell (inside the raster, not nodata, not NaN).
  The kept points are therefore uniform over the valid area whatever the projection: a
  lon/lat raster is not over-sampled near the poles, an equal-area or UTM raster is sampled
  as the ground it covers;
* at the points of a point file (:func:`geoviz.data.load_points`; its own CRS handled there).

Each point takes the value of the raster cell that contains it (no interpolation; integer
rasters keep integer values, so class rasters become classification tasks). Cells without
data are never sampled, and the counts are **reported** in :attr:`RasterSample.notes`
(nodata cells of the raster; draws or given points that fell on them or outside the raster),
never dropped silently.

Reading needs the ``grids`` extra (rioxarray, rasterio, pyproj): ``pip install geoviz[grids]``.

    >>> from geoviz.data.raster import sample_raster
    >>> from geoviz.data import task_from_points
    >>> s = sample_raster("dem_utm33.tif", 5000, seed=0)                  # doctest: +SKIP
    >>> task = task_from_points(s.lonlat, s.y, units=s.units or "m")      # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["RASTER_SUFFIXES", "Raster", "RasterSample", "is_raster_path", "read_raster", "sample_raster"]

RASTER_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")
"""File-name suffixes read as rasters (GeoTIFF) by ``geoviz fit``."""

_GRIDS_EXTRA = "pip install geoviz[grids]"
_MAX_DRAWS = 50_000_000  # random draws before sample_raster gives up on a tiny valid area


def is_raster_path(path: str | os.PathLike) -> bool:
    """True for a GeoTIFF file name (``.tif``/``.tiff``, any case)."""
    return Path(str(path)).suffix.lower() in RASTER_SUFFIXES


def _require() -> None:
    import importlib.util

    missing = [p for p in ("rioxarray", "rasterio", "pyproj") if importlib.util.find_spec(p) is None]
    if missing:
        from geoviz.grids import MissingDependencyError

        raise MissingDependencyError(f"reading a GeoTIFF needs {' and '.join(missing)}, not installed: {_GRIDS_EXTRA}")


@dataclass
class RasterSample:
    """Points and targets taken from a raster.

    Attributes:
        lonlat: ``(N, 2)`` float64 (lon, lat) degrees, lon in [-180, 180).
        y: ``(N,)`` values of one band (the raster's dtype; float64 when scaled) or
            ``(N, K)`` for ``K`` bands.
        target: the band name (``str``) or names (list), for ``target_names``.
        units: the band's ``units`` metadata (``""`` if none).
        crs: the raster's CRS as a string (e.g. ``"EPSG:32633"``).
        n_skipped: draws (random sampling) or given points (point file) that fell on
            nodata cells or outside the raster and were skipped.
        notes: human-readable report (what was sampled, nodata counts, reprojection).
    """

    lonlat: np.ndarray
    y: np.ndarray
    target: str | list[str]
    units: str
    crs: str
    n_skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.lonlat.shape[0])


class Raster:
    """Chosen bands of a raster, in memory, with their valid-cell mask and georeferencing.

    Attributes:
        path: the file.
        values: ``(K, H, W)`` cell values of the chosen bands (the file's dtype, or float64
            when the band has a scale/offset, which is applied).
        valid: ``(H, W)`` bool, True where every chosen band has data (not nodata, not NaN).
        bands: the chosen 1-based band numbers.
        band_names: their names (band description, else the file stem for one band, else
            ``band_<i>``).
        units: the first chosen band's ``units`` metadata (``""`` if none).
        nodata: the nodata value (None if the file declares none).
        crs: ``pyproj.CRS`` of the raster.
        transform: ``affine.Affine`` mapping (col, row) to the CRS's (x, y) of cell corners.
        count: bands in the file.
    """

    def __init__(self, path: str | os.PathLike, band: int | Sequence[int] | None = None) -> None:
        _require()
        import rioxarray
        from pyproj import CRS

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such file: {self.path}")
        try:
            da = rioxarray.open_rasterio(self.path, mask_and_scale=False)
        except Exception as exc:  # rasterio's errors name the GDAL problem
            raise ValueError(f"{self.path} is not a readable raster: {exc}") from exc
        if isinstance(da, list) or not hasattr(da, "rio"):
            raise ValueError(f"{self.path} holds several sub-datasets; geoviz reads a single GeoTIFF raster")
        if da.ndim == 2:
            da = da.expand_dims("band")
        self.count = int(da.sizes["band"])
        if band is None:
            bands = [1]
        else:
            bands = [int(band)] if isinstance(band, (int, np.integer)) else [int(b) for b in band]
        if not bands:
            raise ValueError("band: give at least one band number (1-based)")
        bad = [b for b in bands if not 1 <= b <= self.count]
        if bad:
            raise ValueError(f"{self.path}: band {bad[0]} does not exist; the raster has {self.count} band(s) "
                             f"(numbered 1..{self.count})")
        self.bands = bands
        if da.rio.crs is None:
            raise ValueError(f"{self.path} has no CRS (no georeferencing): geoviz cannot place its cells on the globe; "
                             f"assign one, e.g. `gdal_edit.py -a_srs EPSG:4326 {self.path.name}`")
        self.crs = CRS.from_user_input(da.rio.crs.to_wkt())
        self.transform = da.rio.transform()
        if self.transform.is_degenerate:
            raise ValueError(f"{self.path}: degenerate geotransform {tuple(self.transform)[:6]}")
        self.nodata = da.rio.nodata
        attrs = da.attrs

        def per_band(key: str, default: Any) -> list[Any]:
            v = attrs.get(key, default)
            if isinstance(v, (tuple, list)):
                return [v[b - 1] if b - 1 < len(v) else default for b in bands]
            return [v] * len(bands)

        raw = np.asarray(da.isel(band=[b - 1 for b in bands]).values)
        valid = np.ones(raw.shape[1:], dtype=bool)
        nd = self.nodata
        check_nd = nd is not None and not (isinstance(nd, float) and math.isnan(nd)) and _fits(nd, raw.dtype)
        for k in range(raw.shape[0]):
            if raw.dtype.kind in "fc":
                valid &= np.isfinite(raw[k])  # NaN cells (and NaN nodata) have no data
            if check_nd:
                valid &= raw[k] != raw.dtype.type(nd)
        scales = per_band("scales", attrs.get("scale_factor", 1.0))
        offsets = per_band("offsets", attrs.get("add_offset", 0.0))
        if any(float(s) != 1.0 for s in scales) or any(float(o) != 0.0 for o in offsets):
            sc = np.asarray(scales, float)[:, None, None]
            raw = raw.astype(np.float64) * sc + np.asarray(offsets, float)[:, None, None]
        self.values = raw
        self.valid = valid
        descr = per_band("long_name", None)
        names = []
        for b, d in zip(bands, descr):
            d = str(d).strip() if d is not None else ""
            names.append(d or (self.path.stem if len(bands) == 1 else f"band_{b}"))
        self.band_names = names
        units = [str(u) for u in per_band("units", "") if u is not None]
        self.units = units[0] if units else ""
        self._to_xy = None

    # ---- geometry
    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.values.shape[1]), int(self.values.shape[2])

    @property
    def crs_name(self) -> str:
        """The CRS as ``"EPSG:<code>"`` when it has one, else its name."""
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg is not None else str(self.crs.name)

    @property
    def is_lonlat(self) -> bool:
        """True when the raster's CRS is geographic (degrees)."""
        return bool(self.crs.is_geographic)

    def _xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._to_xy is None:
            from pyproj import CRS, Transformer

            self._to_xy = Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)
        x, y = self._to_xy.transform(lon, lat, errcheck=False)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if self.is_lonlat:  # longitudes into the raster's own 360° window (e.g. 0..360 rasters)
            west = min(self.transform.c, self.transform.c + self.transform.a * self.shape[1])
            x = west + np.mod(x - west, 360.0)
        return x, y

    def cells(self, lonlat: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, inside)``: the cell containing each (lon, lat) point, and whether
        the point lies inside the raster at all (rows/cols are 0 where not)."""
        p = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        x, y = self._xy(p[:, 0], p[:, 1])
        inv = ~self.transform  # (x, y) -> (col, row), written out (affine's operators vary by version)
        col = inv.a * x + inv.b * y + inv.c
        row = inv.d * x + inv.e * y + inv.f
        H, W = self.shape
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
        c = np.where(inside, np.floor(np.where(inside, col, 0)), 0).astype(np.int64)
        r = np.where(inside, np.floor(np.where(inside, row, 0)), 0).astype(np.int64)
        c = np.minimum(c, W - 1)
        r = np.minimum(r, H - 1)
        return r, c, inside

    def values_at(self, lonlat: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(values (N,) or (N, K), ok (N,) bool)``: the value of each point's cell, and
        whether it has one (inside the raster, on a valid cell)."""
        r, c, inside = self.cells(lonlat)
        ok = inside & self.valid[r, c]
        v = self.values[:, r, c].T
        return (v[:, 0] if v.shape[1] == 1 else v), ok

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """``(lon0, lat0, lon1, lat1)`` box holding the raster; ``lon1`` may exceed 180 when
        the raster crosses the antimeridian (``lon1 - lon0 <= 360``)."""
        H, W = self.shape
        t = self.transform
        xs = [t.c, t.c + t.a * W + t.b * H, t.c + t.a * W, t.c + t.b * H]
        ys = [t.f, t.f + t.d * W + t.e * H, t.f + t.d * W, t.f + t.e * H]
        left, right, bottom, top = min(xs), max(xs), min(ys), max(ys)
        if self.is_lonlat:
            lon0, lon1, lat0, lat1 = left, right, bottom, top
        else:
            from pyproj import CRS, Transformer

            tr = Transformer.from_crs(self.crs, CRS.from_epsg(4326), always_xy=True)
            try:
                lon0, lat0, lon1, lat1 = tr.transform_bounds(left, bottom, right, top, densify_pts=51)
            except Exception:  # pyproj.exceptions.ProjError: the box leaves the projection's domain
                lon0, lat0, lon1, lat1 = -180.0, -90.0, 180.0, 90.0
            if not all(np.isfinite([lon0, lat0, lon1, lat1])):
                lon0, lat0, lon1, lat1 = -180.0, -90.0, 180.0, 90.0
            if lon1 < lon0:  # crosses the antimeridian
                lon1 += 360.0
            # a margin: the densified edges may cut slightly inside curved raster borders
            mlon, mlat = 0.01 * (lon1 - lon0) + 1e-6, 0.01 * (lat1 - lat0) + 1e-6
            lon0, lon1, lat0, lat1 = lon0 - mlon, lon1 + mlon, lat0 - mlat, lat1 + mlat
        if lon1 - lon0 >= 360.0:
            lon0, lon1 = -180.0, 180.0
        return float(lon0), float(max(lat0, -90.0)), float(lon1), float(min(lat1, 90.0))

    # ---- sampling
    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """``n`` points uniform by area over the valid cells: ``(lonlat, values, stats)``;
        ``stats`` counts the draws (``drawn``, ``outside``, ``nodata``)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"the number of samples must be a positive integer, got {n!r}")
        if not self.valid.any():
            raise ValueError(f"{self.path}: every cell of band(s) {self.bands} is nodata: nothing to sample")
        lon0, lat0, lon1, lat1 = self.lonlat_bounds()
        s0, s1 = math.sin(math.radians(lat0)), math.sin(math.radians(lat1))
        rng = np.random.default_rng(seed)
        keep_ll: list[np.ndarray] = []
        keep_v: list[np.ndarray] = []
        got = drawn = outside = nodata = 0
        rate = 0.5
        while got < n:
            if drawn >= _MAX_DRAWS:
                raise ValueError(f"{self.path}: only {got} of {n} points landed on valid cells in {drawn:,} random "
                                 f"draws over its lon/lat box ({lon0:.3f}, {lat0:.3f}, {lon1:.3f}, {lat1:.3f}): the "
                                 f"valid cells cover too little of it")
            m = int(min(max((n - got) / max(rate, 1e-4) * 1.2 + 256, 1024), 2_000_000))
            lon = rng.uniform(lon0, lon1, m)
            lat = np.degrees(np.arcsin(np.clip(rng.uniform(s0, s1, m), -1.0, 1.0)))
            lon = (lon + 180.0) % 360.0 - 180.0
            ll = np.column_stack([lon, lat])
            r, c, inside = self.cells(ll)
            ok = inside & self.valid[r, c]
            drawn += m
            outside += int((~inside).sum())
            nodata += int((inside & ~ok).sum())
            idx = np.flatnonzero(ok)[: n - got]
            keep_ll.append(ll[idx])
            keep_v.append(self.values[:, r[idx], c[idx]].T)
            got += len(idx)
            rate = max(got, 1) / drawn
        v = np.concatenate(keep_v)
        return np.concatenate(keep_ll), (v[:, 0] if v.shape[1] == 1 else v), {
            "drawn": drawn, "outside": outside, "nodata": nodata}

    def on_grid(self, resolution: float) -> np.ndarray:
        """The raster at the cell centres of ``geoviz.data.regular_grid(resolution)``:
        ``(H, W)`` (one band) or ``(K, H, W)`` float64, NaN outside the raster and on nodata."""
        from geoviz.data.sampling import regular_grid

        g = regular_grid(resolution)
        v, ok = self.values_at(g.lonlat)
        v = np.where(ok if v.ndim == 1 else ok[:, None], v.astype(np.float64), np.nan)
        H, W = g.shape
        return v.reshape(H, W) if v.ndim == 1 else np.moveaxis(v.reshape(H, W, -1), -1, 0)

    def nodata_report(self) -> str | None:
        """A sentence on the raster's nodata cells, or None when every cell has data."""
        H, W = self.shape
        bad = int((~self.valid).sum())
        if not bad:
            return None
        nd = self.nodata
        what = "NaN" if nd is None or (isinstance(nd, float) and math.isnan(nd)) else f"value {float(nd):g}"
        return (f"{self.path.name}: {bad:,} of {H * W:,} cells ({100 * bad / (H * W):.1f} %) are nodata ({what}) "
                f"and are never sampled")


def _fits(value: Any, dtype: np.dtype) -> bool:
    """Whether ``value`` is exactly representable in ``dtype`` (nodata vs the band's type)."""
    try:
        return bool(np.asarray(value).astype(dtype) == value)
    except (OverflowError, ValueError, TypeError):
        return False


def read_raster(path: str | os.PathLike, band: int | Sequence[int] | None = None) -> Raster:
    """Read band(s) of a GeoTIFF (default band 1) into a :class:`Raster`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a raster, no CRS, a band that does not exist.
        geoviz.grids.MissingDependencyError (an ImportError): rioxarray/rasterio/pyproj
            missing (``pip install geoviz[grids]``).
    """
    return Raster(path, band)


def sample_raster(path: str | os.PathLike | Raster, n: int | None = None, *, points: str | os.PathLike | None = None,
                  band: int | Sequence[int] | None = None, seed: int = 0, lon: str | None = None,
                  lat: str | None = None, crs: Any = None, dropna: bool = False) -> RasterSample:
    """Points and raster values for a task: ``n`` random points, or the rows of ``points``.

    Args:
        path: the GeoTIFF (any CRS), or a :class:`Raster` already read.
        n: number of random points, uniform by area over the valid cells (see the module
            docstring). Exactly one of ``n`` and ``points``.
        points: a point file (CSV, Parquet, GeoJSON, GeoPackage; :func:`~geoviz.data.load_points`)
            whose points are looked up in the raster; points outside the raster or on nodata
            cells are skipped (counted in ``n_skipped`` and the notes).
        band: 1-based band number, or several for a multi-output target (default 1).
        seed: seed of the random points.
        lon, lat, crs, dropna: passed to :func:`~geoviz.data.load_points` for ``points``.

    Returns:
        :class:`RasterSample`.

    Raises:
        ValueError: both or neither of ``n``/``points``; a non-positive ``n``; no valid cell
            (all nodata); no given point on a valid cell; see :func:`read_raster`.
    """
    if (n is None) == (points is None):
        raise ValueError("sample a raster either at n random points or at the rows of a point file (points=...), "
                         "not both and not neither")
    r = path if isinstance(path, Raster) else read_raster(path, band)
    notes: list[str] = []
    target: str | list[str] = r.band_names[0] if len(r.bands) == 1 else list(r.band_names)
    bands = ("bands " if len(r.bands) > 1 else "band ") + ", ".join(str(b) for b in r.bands)
    report = r.nodata_report()
    if n is not None:
        lonlat, y, st = r.sample(n, seed)
        notes.append(f"{r.path.name}: {n:,} points drawn uniformly by area over the valid cells of {bands} "
                     f"(each takes its cell's value)")
        skipped = st["nodata"]
        if report:
            notes.append(report + f"; {st['nodata']:,} random draws fell on them and were skipped")
    else:
        from geoviz.data.points import load_points

        pts = load_points(points, target=None, lon=lon, lat=lat, crs=crs, dropna=dropna)
        notes.extend(pts.notes)
        y, ok = r.values_at(pts.lonlat)
        rr, cc, inside = r.cells(pts.lonlat)
        n_out, n_nod = int((~inside).sum()), int((inside & ~ok).sum())
        skipped = n_out + n_nod
        if not ok.any():
            raise ValueError(f"none of the {len(pts)} points of {points} lies on a valid cell of {r.path.name} "
                             f"({n_out} outside the raster, {n_nod} on nodata cells); are the points and the raster "
                             f"of the same area (raster CRS {r.crs_name})?")
        lonlat, y = pts.lonlat[ok], y[ok]
        notes.append(f"{r.path.name} {bands} read at {int(ok.sum()):,} of the {len(pts):,} points of "
                     f"{Path(points).name} (each takes its cell's value)")
        if skipped:
            notes.append(f"{skipped:,} point(s) skipped: {n_out:,} outside the raster, {n_nod:,} on nodata cells")
        if report:
            notes.append(report)
    if not r.is_lonlat or r.crs_name != "EPSG:4326":
        notes.append(f"raster CRS {r.crs_name}: points reprojected between it and lon/lat (EPSG:4326) with pyproj")
    if r.count > len(r.bands) and band is None:
        notes.append(f"{r.path.name} has {r.count} bands; band 1 used (choose with --band / band=)")
    lonlat = np.column_stack([(lonlat[:, 0] + 180.0) % 360.0 - 180.0, lonlat[:, 1]])
    return RasterSample(lonlat=lonlat, y=y, target=target, units=r.units, crs=r.crs_name, n_skipped=skipped,
                        notes=notes)
