"""Reading and writing point tables for ``geoviz predict`` / ``geoviz embed`` (CSV or Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def table_kind(path: str | Path) -> str:
    """``"parquet"`` or ``"csv"`` from a file name (``.csv.gz`` counts as CSV)."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last == ".gz" and len(suffixes) > 1:
        last = suffixes[-2]
    if last in (".parquet", ".pq"):
        return "parquet"
    if last in (".csv", ".tsv", ".txt"):
        return "csv"
    raise ValueError(f"{p}: expected a .csv or .parquet file, got {p.suffix!r}")


def read_table(path: str | Path) -> Any:
    """The whole file as a pandas DataFrame (clear errors for missing/empty/unreadable files)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    kind = table_kind(p)
    try:
        if kind == "parquet":
            return pd.read_parquet(p)
        return pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",")
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{p} is empty (no header, no rows)") from exc
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{p} is not a readable {kind} file: {exc}") from exc


def write_table(frame: Any, path: str | Path) -> Path:
    """Write ``frame`` as CSV or Parquet (by extension); parent folders are created."""
    p = Path(path)
    kind = table_kind(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.to_parquet(p, index=False)
    else:
        frame.to_csv(p, index=False)
    return p


def lonlat_of(frame: Any, lon: str | None, lat: str | None, where: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """``(lonlat (N, 2) float64 with NaN rows kept, ok (N,) bool, lon_col, lat_col)``.

    Rows whose coordinates are missing are flagged in ``ok``; present coordinates must be
    valid degrees (swapped columns and out-of-range values raise ``ValueError``).
    """
    import numpy as np

    from geoviz.data.points import check_coordinates, detect_lonlat_columns

    lon_col, lat_col = detect_lonlat_columns(frame.columns, lon, lat)
    lonv = np.asarray(frame[lon_col], dtype=np.float64)
    latv = np.asarray(frame[lat_col], dtype=np.float64)
    ok = np.isfinite(lonv) & np.isfinite(latv)
    lonlat = np.full((len(frame), 2), np.nan)
    if ok.any():
        notes: list[str] = []
        lonlat[ok] = check_coordinates(lonv[ok], latv[ok], lon_col, lat_col, where, notes)
    return lonlat, ok, lon_col, lat_col
