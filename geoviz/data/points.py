"""Your own geolocated data as geoviz tasks: point files in, :class:`~geoviz.data.Task` out.

:func:`load_points` reads CSV (also ``.csv.gz``, ``.tsv``, ``.txt``), Parquet, GeoJSON and
GeoPackage (any single point layer pyogrio can open, e.g. a shapefile) into a
:class:`PointData` with ``(N, 2)`` float64 (lon, lat) degrees in EPSG:4326 (files in another
CRS are reprojected with pyproj) and the target column(s). :func:`task_from_points` makes a
train/val/test :class:`~geoviz.data.Task` from points and targets: regression for
continuous targets, binary/multiclass classification for labels (class names kept), with a
random, spatial-block or held-out-region split (:mod:`geoviz.data.splits`).

    >>> from geoviz.data import load_points, task_from_points
    >>> pts = load_points("stations.csv", target="tmean")            # doctest: +SKIP
    >>> task = task_from_points(pts.lonlat, pts.y, split="blocks:10", units="°C")  # doctest: +SKIP

Bad input raises ``ValueError`` naming the problem: missing columns (the available ones are
listed), swapped lon/lat columns, NaN targets (or ``dropna=True`` drops those rows and
reports the count), non-point geometries, empty files, fewer than two classes, a class
with too few points for the split. Nothing is clamped or truncated silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from geoviz.data.sampling import lonlat_to_unit
from geoviz.data.splits import parse_split, train_val_test_split

__all__ = ["PointData", "load_points", "read_table", "check_coordinates", "task_from_points", "detect_lonlat_columns", "infer_kind",
           "NearestValue", "LON_NAMES", "LAT_NAMES", "POINT_FORMATS"]

LON_NAMES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "decimallongitude", "x")
"""Longitude column names recognised (case-insensitive), in order of preference."""
LAT_NAMES: tuple[str, ...] = ("lat", "latitude", "decimallatitude", "y")
"""Latitude column names recognised (case-insensitive), in order of preference."""

_TABULAR = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".gz": "csv"}
_GEO = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml"}
POINT_FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "geojson", "gpkg")
"""File kinds :func:`load_points` reads (by extension; other pyogrio vector formats too)."""

REGRESSION_MIN_DISTINCT_INT = 100
"""Integer targets with more distinct values than this are inferred as regression."""


@dataclass
class PointData:
    """Points read from a file.

    Attributes:
        lonlat: ``(N, 2)`` float64 (lon, lat) degrees, EPSG:4326, lon in [-180, 180].
        y: the target: ``(N,)`` (one column) or ``(N, K)`` (several), as read (numeric or
            object dtype), or None without a target.
        frame: ``pandas.DataFrame`` of the rows kept (all columns read; geometry files get
            ``lon``/``lat`` columns from the point geometry), index reset.
        target: target column name (or list of names), or None.
        lon_col, lat_col: the coordinate columns used.
        crs: the source CRS as a string (``"EPSG:4326"`` when no reprojection happened).
        n_dropped: rows dropped by ``dropna=True``.
        notes: human-readable remarks (rows dropped, reprojection, longitudes wrapped).
    """

    lonlat: np.ndarray
    y: np.ndarray | None
    frame: Any
    target: str | list[str] | None
    lon_col: str
    lat_col: str
    crs: str = "EPSG:4326"
    n_dropped: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.lonlat.shape[0])


# --------------------------------------------------------------------------------------
# reading


def _kind_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last == ".gz" and len(suffixes) >= 2:
        last = suffixes[-2]
    if last in _GEO:
        return "geo"
    if last in _TABULAR:
        return _TABULAR[last]
    raise ValueError(f"{path}: unknown file type {path.suffix!r}; geoviz reads CSV (.csv, .tsv, .txt), "
                     f"Parquet (.parquet) and point layers (.geojson, .gpkg, .shp)")


def _read_table(path: Path, kind: str, columns: Sequence[str] | None) -> Any:
    import pandas as pd

    if kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("reading Parquet needs pyarrow: pip install 'geoviz[embed]' (or pyarrow)") from exc
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise ValueError(f"{path} is not a readable Parquet file: {exc}") from exc
        cols = None if columns is None else [c for c in schema.names if c in set(columns)]
        return pd.read_parquet(path, columns=cols)
    try:
        return pd.read_csv(path, sep="\t" if kind == "tsv" else _sniff_separator(path),
                           usecols=(lambda c: c in set(columns)) if columns is not None else None)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path} is empty (no header, no rows)") from exc
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from exc


def read_table(path: str | os.PathLike) -> Any:
    """A CSV/TSV/TXT (separator sniffed, optionally ``.gz``) or Parquet file as a DataFrame.

    The reader behind :func:`load_points`, for callers that need the raw table (e.g.
    :func:`geoviz.species.read_observations`, which drops unlabelled rows first).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown or geometry file type, empty or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    kind = _kind_of(path)
    if kind == "geo":
        raise ValueError(f"{path}: a table is needed here (CSV, TSV or Parquet), not a point layer")
    return _read_table(path, kind, None)


def _sniff_separator(path: Path) -> str:
    """``","``, ``"\t"`` or ``";"``: the most frequent of them in the header line (GBIF's
    "simple CSV" downloads are tab-separated despite their ``.csv`` name)."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            header = f.readline()
    except OSError:
        return ","
    counts = {sep: header.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _read_geo(path: Path, layer: str | int | None) -> tuple[Any, np.ndarray, str | None]:
    """(frame of attributes, (N, 2) xy in the file's CRS, crs string) of a point layer."""
    import pandas as pd
    import pyogrio
    import shapely
    from pyogrio.raw import read

    try:
        layers = pyogrio.list_layers(str(path))
    except Exception as exc:
        raise ValueError(f"{path} is not a readable vector file: {exc}") from exc
    if layer is None and len(layers) > 1:
        point_layers = [str(n) for n, t in layers if t is not None and "point" in str(t).lower()]
        if len(point_layers) != 1:
            raise ValueError(f"{path} has {len(layers)} layers {[str(n) for n, _ in layers]}; pass layer=NAME")
        layer = point_layers[0]
    try:
        meta, _, wkb, fields = read(str(path), layer=layer)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read layer {layer!r}: {exc}") from exc
    frame = pd.DataFrame({str(n): f for n, f in zip(meta["fields"], fields)})
    if wkb is None:
        raise ValueError(f"{path} has no geometry column; a table with coordinates should be a CSV or Parquet file")
    geoms = shapely.from_wkb(wkb)
    if len(geoms) == 0:
        return frame, np.zeros((0, 2)), meta.get("crs")
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise ValueError(f"{path}: {int(missing.sum())} feature(s) have no geometry (first at row {int(np.argmax(missing))})")
    types = shapely.get_type_id(geoms)
    bad = types != shapely.GeometryType.POINT
    if bad.any():
        names = sorted({g.geom_type for g in geoms[bad][:1000]})
        raise ValueError(f"{path}: {int(bad.sum())} of {len(geoms)} geometries are not points ({', '.join(names)}; "
                         f"first at row {int(np.argmax(bad))}); geoviz fits point data only (use centroids if you mean them)")
    xy = shapely.get_coordinates(geoms)
    return frame, xy, meta.get("crs")


def detect_lonlat_columns(columns: Sequence[str], lon: str | None = None, lat: str | None = None) -> tuple[str, str]:
    """Pick the longitude and latitude columns.

    Args:
        columns: available column names.
        lon, lat: explicit names (must exist, exact or case-insensitive match).

    Returns:
        ``(lon_col, lat_col)`` as spelled in ``columns``. Recognised names
        (case-insensitive): :data:`LON_NAMES` / :data:`LAT_NAMES` (lon/lng/long/longitude/x,
        lat/latitude/y, GBIF's decimalLongitude/decimalLatitude).

    Raises:
        ValueError: a named column is missing, or none is recognised (lists the columns).
    """
    cols = [str(c) for c in columns]
    lower = {c.lower(): c for c in reversed(cols)}

    def find(explicit: str | None, names: Sequence[str], what: str) -> str:
        if explicit is not None:
            if explicit in cols:
                return explicit
            if explicit.lower() in lower:
                return lower[explicit.lower()]
            raise ValueError(f"{what} column {explicit!r} not found; available columns: {cols}")
        for n in names:
            if n in lower:
                return lower[n]
        raise ValueError(f"no {what} column found (looked for {list(names)}, any case); available columns: "
                         f"{cols}; name it with --{what[:3]} / {what[:3]}=")

    lon_col = find(lon, LON_NAMES, "longitude")
    lat_col = find(lat, LAT_NAMES, "latitude")
    if lon_col == lat_col:
        raise ValueError(f"longitude and latitude are the same column {lon_col!r}")
    return lon_col, lat_col


def check_coordinates(lonv: np.ndarray, latv: np.ndarray, lon_col: str, lat_col: str, where: str,
                      notes: list[str]) -> np.ndarray:
    """Validate degree columns: refuse swapped columns (latitude beyond ±90 while longitude stays
    within ±90) and values out of range, wrap longitudes in (180, 360] to (-180, 0] (noted in
    ``notes``).

    Args:
        lonv, latv: ``(N,)`` float64 column values; lon_col, lat_col: their names (for errors);
        where: the file or source named in errors; notes: list the remarks are appended to.

    Returns:
        ``(N, 2)`` float64 (lon, lat) degrees.
    """
    if (np.abs(latv) > 90).any() and (np.abs(lonv) <= 90).all():
        raise ValueError(f"{where}: column {lat_col!r} (read as latitude) has values beyond ±90 "
                         f"(e.g. {latv[np.argmax(np.abs(latv) > 90)]!r}) while {lon_col!r} (read as longitude) "
                         f"stays within ±90: the columns look swapped; pass lon={lat_col!r}, lat={lon_col!r} "
                         f"(--lon {lat_col} --lat {lon_col}) if so")
    bad = np.abs(latv) > 90
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{where}: latitude column {lat_col!r} has {int(bad.sum())} value(s) outside [-90, 90] "
                         f"(first at row {i}: {latv[i]!r}); is the file in degrees (EPSG:4326)?")
    bad = (lonv < -180) | (lonv > 360)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{where}: longitude column {lon_col!r} has {int(bad.sum())} value(s) outside [-180, 360] "
                         f"(first at row {i}: {lonv[i]!r}); is the file in degrees (EPSG:4326)?")
    east = lonv > 180
    if east.any():
        lonv = np.where(east, lonv - 360.0, lonv)
        notes.append(f"{int(east.sum())} longitude(s) in (180, 360] wrapped to (-180, 0]")
    return np.column_stack([lonv, latv]).astype(np.float64)


def _reproject(x: np.ndarray, y: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray, str, bool]:
    from pyproj import CRS, Transformer

    src = CRS.from_user_input(crs)
    if src.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return x, y, "EPSG:4326", False
    tr = Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True)
    lon, lat = tr.transform(x, y)
    name = src.to_string()
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), name, True


def load_points(path: str | os.PathLike, target: str | Sequence[str] | None = None, lon: str | None = None,
                lat: str | None = None, *, dropna: bool = False, columns: Sequence[str] | None = None,
                crs: Any = None, layer: str | int | None = None) -> PointData:
    """Read a point file.

    Args:
        path: ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.parquet``, ``.geojson``,
            ``.gpkg`` (or another pyogrio point format such as ``.shp``).
        target: the column to model (or a list of columns for a multi-output target), or
            None. Matched exactly, then case-insensitively.
        lon, lat: coordinate columns for tabular files (default: detected, see
            :func:`detect_lonlat_columns`); geometry files use the point geometry.
        dropna: drop rows whose coordinates or target are NaN/empty (the count is in
            ``n_dropped`` and ``notes``) instead of refusing them.
        columns: read only these columns (plus coordinates and target) from tabular files.
        crs: CRS of the ``lon``/``lat`` (x/y) columns of a tabular file when not degrees,
            anything pyproj accepts (``"EPSG:3857"``); geometry files carry their own CRS.
        layer: layer name/index of a multi-layer file (GeoPackage).

    Returns:
        :class:`PointData` (coordinates reprojected to EPSG:4326 when the source CRS differs;
        longitudes in (180, 360] wrapped to (-180, 0], noted).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown type, empty file, missing columns (lists the available ones),
            swapped lon/lat, coordinates out of range, NaN coordinates/targets without
            ``dropna``, non-point geometries.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    kind = _kind_of(path)
    notes: list[str] = []
    targets = None if target is None else ([target] if isinstance(target, str) else [str(t) for t in target])
    src_crs = "EPSG:4326"
    if kind == "geo":
        frame, xy, file_crs = _read_geo(path, layer)
        if len(frame) == 0 and len(xy) == 0:
            raise ValueError(f"{path} holds no features (empty layer)")
        lon_col, lat_col = "lon", "lat"
        while lon_col in frame.columns or lat_col in frame.columns:
            lon_col, lat_col = "_" + lon_col, "_" + lat_col
        x, yv = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
        if file_crs is not None:
            x, yv, src_crs, moved = _reproject(x, yv, file_crs)
            if moved:
                notes.append(f"reprojected from {src_crs} to EPSG:4326")
        frame[lon_col], frame[lat_col] = x, yv
    else:
        want = None
        if columns is not None:
            want = list(columns) + list(targets or []) + [c for c in (lon, lat) if c]
        frame = _read_table(path, kind, None)
        if want is not None:
            lon_c, lat_c = detect_lonlat_columns(frame.columns, lon, lat)
            keep = [c for c in frame.columns if c in set(want) or c in (lon_c, lat_c)]
            frame = frame[keep]
        if len(frame) == 0:
            raise ValueError(f"{path} has a header but no rows (columns: {[str(c) for c in frame.columns]})")
        lon_col, lat_col = detect_lonlat_columns(frame.columns, lon, lat)
        for c in (lon_col, lat_col):
            if not pd.api.types.is_numeric_dtype(frame[c]):
                conv = pd.to_numeric(frame[c], errors="coerce")
                bad = conv.isna() & frame[c].notna()
                if bad.any():
                    i = int(np.argmax(bad.to_numpy()))
                    raise ValueError(f"{path}: coordinate column {c!r} holds non-numbers (row {i}: {frame[c].iloc[i]!r})")
                frame[c] = conv
        if crs is not None:
            x, yv, src_crs, moved = _reproject(frame[lon_col].to_numpy(np.float64), frame[lat_col].to_numpy(np.float64), crs)
            if moved:
                frame[lon_col], frame[lat_col] = x, yv
                notes.append(f"reprojected from {src_crs} to EPSG:4326")
    if targets is not None:
        cols = [str(c) for c in frame.columns]
        lower = {c.lower(): c for c in reversed(cols)}
        resolved = []
        for t in targets:
            if t in cols:
                resolved.append(t)
            elif t.lower() in lower:
                resolved.append(lower[t.lower()])
            else:
                raise ValueError(f"{path}: target column {t!r} not found; available columns: {cols}")
        targets = resolved
    # missing values
    check = [lon_col, lat_col] + (targets or [])
    na = frame[check].isna()
    for t in targets or []:
        if frame[t].dtype == object:
            na[t] = na[t] | (frame[t].astype(str).str.strip() == "")
    rows_na = na.any(axis=1).to_numpy()
    if rows_na.any():
        counts = {c: int(na[c].sum()) for c in check if na[c].any()}
        if not dropna:
            raise ValueError(f"{path}: {int(rows_na.sum())} row(s) have missing values ({counts}; first at row "
                             f"{int(np.argmax(rows_na))}); fix the file or pass dropna=True (--dropna) to drop them")
        frame = frame.loc[~rows_na].reset_index(drop=True)
        notes.append(f"dropped {int(rows_na.sum())} row(s) with missing values {counts}")
    if len(frame) == 0:
        raise ValueError(f"{path}: no rows left after dropping missing values")
    lonv = frame[lon_col].to_numpy(np.float64)
    latv = frame[lat_col].to_numpy(np.float64)
    inf = ~np.isfinite(lonv) | ~np.isfinite(latv)
    if inf.any():
        raise ValueError(f"{path}: {int(inf.sum())} coordinate(s) are infinite (first at row {int(np.argmax(inf))})")
    lonlat = check_coordinates(lonv, latv, lon_col, lat_col, str(path), notes)
    if kind != "geo" and notes and any(n.startswith("reprojected") or "wrapped" in n for n in notes):
        frame[lon_col], frame[lat_col] = lonlat[:, 0], lonlat[:, 1]
    y = None
    if targets is not None:
        y = frame[targets[0]].to_numpy() if len(targets) == 1 else frame[targets].to_numpy()
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            bad = ~np.isfinite(y) if y.ndim == 1 else ~np.isfinite(y).all(axis=1)
            raise ValueError(f"{path}: target {targets} has {int(bad.sum())} infinite value(s) (first at row {int(np.argmax(bad))})")
    n_dropped = int(rows_na.sum()) if rows_na.any() else 0
    return PointData(lonlat=lonlat, y=y, frame=frame.reset_index(drop=True),
                     target=None if targets is None else (targets[0] if len(targets) == 1 else targets),
                     lon_col=lon_col, lat_col=lat_col, crs=src_crs, n_dropped=n_dropped, notes=notes)


# --------------------------------------------------------------------------------------
# tasks


def infer_kind(y: Any) -> str:
    """``"regression"`` or ``"classification"`` for a target array.

    Floats are regression, except when they take at most 10 distinct values that are all
    whole numbers (labels read as floats, e.g. ``0.0/1.0``); integers are classification
    unless they take more than :data:`REGRESSION_MIN_DISTINCT_INT` (100) distinct values
    (counts, heights in whole metres); bools and strings are classification.
    """
    y = np.asarray(y)
    if y.dtype.kind == "b" or y.dtype.kind in "OUS":
        if y.dtype.kind == "O":
            try:
                yf = y.astype(np.float64)
            except (TypeError, ValueError):
                return "classification"
            return infer_kind(yf)
        return "classification"
    if y.dtype.kind in "iu":
        return "regression" if len(np.unique(y)) > REGRESSION_MIN_DISTINCT_INT else "classification"
    if y.dtype.kind == "f":
        u = np.unique(y[np.isfinite(y)])
        if len(u) <= 10 and np.all(u == np.round(u)):
            return "classification"
        return "regression"
    raise TypeError(f"cannot model a target of dtype {y.dtype}")


class NearestValue:
    """Label function of a point task: the target of the nearest known point.

    Point data have no ground-truth function; maps of the "truth" show each location's
    nearest observation (great-circle distance). Picklable (no closures), so tasks built
    from points can be sent to a :class:`geoviz.training.process.TrainingProcess`.

    Args:
        lonlat: ``(N, 2)`` known points (degrees); values: ``(N,)`` or ``(N, K)`` targets.
    """

    def __init__(self, lonlat: np.ndarray, values: np.ndarray) -> None:
        self.lonlat = np.asarray(lonlat, dtype=np.float64)
        self.values = np.asarray(values)
        self._tree: Any = None

    def __getstate__(self) -> dict:
        return {"lonlat": self.lonlat, "values": self.values, "_tree": None}

    def __call__(self, lonlat: Any) -> np.ndarray:
        """``(M, 2)`` degrees → ``(M,)`` (or ``(M, K)``) values of the nearest known points."""
        from scipy.spatial import cKDTree

        from geoviz.data.land import _lonlat_numpy

        if self._tree is None:
            self._tree = cKDTree(lonlat_to_unit(self.lonlat))
        _, idx = self._tree.query(lonlat_to_unit(_lonlat_numpy(lonlat)))
        return self.values[idx]


def _encode_classes(y: np.ndarray, class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"a classification target must be one column, got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("the class labels contain NaN/inf")
    if y.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y):
            raise ValueError("the class labels contain missing values")
    if y.dtype.kind == "b":
        uniq, codes = np.array([False, True]), y.astype(np.int64)
        uniq = uniq[np.isin(uniq, y)]
        codes = np.searchsorted(uniq, y)
    else:
        try:
            uniq, codes = np.unique(y, return_inverse=True)
        except TypeError:  # mixed types
            uniq, codes = np.unique(y.astype(str), return_inverse=True)
    names = [str(v) for v in uniq]
    if y.dtype.kind == "f":
        names = [str(int(v)) if float(v).is_integer() else str(v) for v in uniq]
    if class_names is not None:
        if len(class_names) != len(uniq):
            raise ValueError(f"class_names has {len(class_names)} names for {len(uniq)} classes {names}")
        names = [str(n) for n in class_names]
    return codes.astype(np.int64), names


def task_from_points(lonlat: Any, y: Any, kind: str | None = None, split: Any = "random", *, name: str = "points",
                     seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.1,
                     class_names: Sequence[str] | None = None, units: str | None = None,
                     target_names: Sequence[str] | None = None) -> Any:
    """Build a train/val/test :class:`~geoviz.data.Task` from points and targets.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        y: ``(N,)`` target (numbers, bools or strings) or ``(N, K)`` numeric targets
            (multi-output regression).
        kind: ``None`` (inferred, :func:`infer_kind`), ``"regression"``,
            ``"classification"`` (binary for 2 classes, else multiclass), ``"binary"`` or
            ``"multiclass"``.
        split: ``"random"`` (seeded; stratified by class for classification),
            ``"blocks:DEG"`` (whole equal-area cells of DEG degrees on each side,
            :func:`~geoviz.data.splits.block_split`), ``"blocks:DEG:KMkm"`` (the same, and
            training/validation points within KM km of a test point are dropped), ``"region:NAME"`` (a continent held out,
            e.g. ``region:Africa``), ``"region:LON0,LAT0,LON1,LAT1"`` or a 4-tuple box.
        name: task name.
        seed: split seed.
        test_fraction: share of points for testing (random and block splits).
        val_fraction: share of all points for validation (early stopping), taken from the
            non-test points with the same method (random or blocks; random inside the
            training region for region splits).
        class_names: names for the sorted class values (default: the values as strings).
        units: units of a regression target (e.g. ``"°C"``), stored in ``meta["units"]``.
        target_names: names of the target columns (``meta["target_names"]``).

    Returns:
        A :class:`~geoviz.data.Task`. Regression: ``kind="regression"``, ``num_classes=0``,
        ``output_dim=K``, ``y`` float32 ``(n,)`` or ``(n, K)``. Binary: ``y`` float32 0/1,
        ``class_names`` ``[negative, positive]``. Multiclass: ``y`` int64 codes into
        ``class_names``. ``label_fn`` is :class:`NearestValue` (the nearest point's value);
        ``meta`` holds ``units``, ``target_names``, ``split``, ``n_points``.

    Raises:
        ValueError: fewer than 2 classes, a class with too few points for the split (named),
            a constant regression target, NaN targets, an empty side of the split.
    """
    from geoviz.data.land import _lonlat_numpy
    from geoviz.data.task import Split, Task

    p = _lonlat_numpy(lonlat)
    y = np.asarray(y)
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but lonlat has {p.shape[0]}")
    if p.shape[0] < 3:
        raise ValueError(f"need at least 3 points for train/val/test, got {p.shape[0]}")
    if kind is None:
        kind = infer_kind(y)
    kinds = ("regression", "classification", "binary", "multiclass")
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds} or None, got {kind!r}")
    how, _ = parse_split(split)
    meta: dict[str, Any] = {"split": split if isinstance(split, str) else list(split), "n_points": int(p.shape[0])}
    if kind == "regression":
        try:
            yv = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a regression target must be numeric, got dtype {y.dtype} ({exc}); "
                             f"use kind='classification' for labels") from None
        if not np.isfinite(yv).all():
            bad = ~np.isfinite(yv) if yv.ndim == 1 else ~np.isfinite(yv).all(axis=1)
            raise ValueError(f"the target has {int(bad.sum())} NaN/inf value(s) (first at row {int(np.argmax(bad))}); "
                             f"drop them first (load_points(..., dropna=True))")
        if yv.ndim not in (1, 2):
            raise ValueError(f"y must be (N,) or (N, K), got shape {y.shape}")
        if np.all(np.ptp(yv, axis=0) == 0):
            raise ValueError("the regression target is constant; there is nothing to fit")
        labels = None
        codes = yv.astype(np.float32)
        out_dim = 1 if yv.ndim == 1 else yv.shape[1]
        num_classes, names = 0, None
        meta["units"] = units or ""
        if target_names is not None:
            meta["target_names"] = [str(t) for t in target_names]
        else:
            meta["target_names"] = ["target"] if out_dim == 1 else [f"target_{k}" for k in range(out_dim)]
    else:
        codes, names = _encode_classes(y, class_names)
        counts = np.bincount(codes, minlength=len(names))
        if len(names) < 2:
            raise ValueError(f"classification needs at least two classes, the target has {len(names)} ({names})")
        if how == "random":
            few = [f"{names[c]!r} ({counts[c]} point)" for c in range(len(names)) if counts[c] < 2]
            if few:
                raise ValueError(f"class(es) {', '.join(few)} have too few points for a train/test split "
                                 f"(need at least 2 each); merge or drop them")
        labels = codes
        if kind == "classification":
            kind = "binary" if len(names) == 2 else "multiclass"
        if kind == "binary" and len(names) != 2:
            raise ValueError(f"kind='binary' needs exactly two classes, the target has {len(names)}: {names}")
        num_classes = len(names)
        out_dim = 1 if kind == "binary" else num_classes
        meta["class_counts"] = {n: int(c) for n, c in zip(names, counts)}
    train, val, test = train_val_test_split(p, split, labels=labels, test_fraction=test_fraction,
                                            val_fraction=val_fraction, seed=seed)
    if len(train) + len(val) + len(test) < len(p):
        meta["buffer_dropped"] = int(len(p) - len(train) - len(val) - len(test))
    for side, idx in (("train", train), ("val", val), ("test", test)):
        if len(idx) == 0:
            raise ValueError(f"the {split!r} split leaves no {side} points; change the split or its fractions")
    if labels is not None:
        missing = [names[c] for c in range(num_classes) if not np.any(labels[train] == c)]
        if missing:
            raise ValueError(f"class(es) {missing} have no points in the training part of the {split!r} split "
                             f"(class counts {meta['class_counts']}); they have too few points for this split")
    if kind == "binary":
        yarr = codes.astype(np.float32)
    elif kind == "multiclass":
        yarr = codes.astype(np.int64)
    else:
        yarr = codes
    label_fn = NearestValue(p, yarr)
    return Task(name=name, kind=kind, num_classes=num_classes, output_dim=int(out_dim),
                train=Split(p[train], yarr[train]), val=Split(p[val], yarr[val]), test=Split(p[test], yarr[test]),
                label_fn=label_fn, class_names=names, meta=meta)
