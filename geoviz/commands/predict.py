"""``geoviz predict MODEL POINTS -o OUT`` or ``geoviz predict MODEL --grid DEG -o OUT``: a fitted model's predictions.

MODEL is a file written by ``geoviz fit`` / :func:`geoviz.model_io.save_model`. With POINTS
(a CSV or Parquet file with longitude/latitude columns, detected as ``geoviz fit`` does, or
named with ``--lon``/``--lat``), OUT (CSV or Parquet, by extension) holds every input row and
column, plus ``prediction`` (values in the target's units for regression, the class name for
classification; one ``prediction_<target>`` column per output of a multi-output model) and,
for classification, ``p_<class>`` probability columns; rows with missing coordinates are
kept with empty predictions (their count is printed). With ``--grid DEG`` instead, OUT is the
prediction on a global lon/lat grid of DEG-degree cells (:func:`geoviz.grids.predict_grid`,
rows north to south, EPSG:4326) as GeoTIFF (.tif: float32, one band per output or class
probability, NaN nodata), NetCDF (.nc) or Zarr (.zarr) (:func:`geoviz.grids.write_grid`;
the grids extra: pip install geoviz[grids]).

Example::

    geoviz predict temp.gvz stations.csv -o stations_pred.parquet
    geoviz predict temp.gvz --grid 0.25 -o temp.tif
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["register", "run_predict", "predict_frame"]


def predict_frame(model: Any, meta: dict[str, Any], frame: Any, lon: str | None = None, lat: str | None = None,
                  where: str = "input", batch_size: int = 65536) -> tuple[Any, int]:
    """``(frame with prediction columns added, number of rows without coordinates)``."""
    import numpy as np
    import pandas as pd

    from geoviz.model_io import predict_with

    from ._tables import lonlat_of

    lonlat, ok, _, _ = lonlat_of(frame, lon, lat, where)
    res = predict_with(model, meta, lonlat[ok], batch_size=batch_size) if ok.any() else None
    out = frame.copy()
    task = meta.get("task") or {}
    kind = task.get("kind")
    n = len(frame)
    if kind in ("binary", "multiclass"):
        names = task.get("class_names") or []
        pred = np.full(n, None, dtype=object)
        if res is not None:
            pred[ok] = res["prediction"]
        out["prediction"] = pd.array(pred, dtype="string") if not ok.all() else pred.astype(str)
        probs = np.full((n, len(names)), np.nan)
        if res is not None:
            probs[ok] = res["probabilities"]
        for j, c in enumerate(names):
            out[f"p_{c}"] = probs[:, j]
    else:
        vals = None if res is None else np.asarray(res["prediction"], dtype=np.float64)
        k = 1 if vals is None or vals.ndim == 1 else vals.shape[1]
        if vals is None:
            k = int(meta.get("output_dim", 1))
        full = np.full((n, k), np.nan)
        if vals is not None:
            full[ok] = vals.reshape(len(vals), k)
        if k == 1:
            out["prediction"] = full[:, 0]
        else:
            names = task.get("target_names") or [str(j) for j in range(k)]
            for j in range(k):
                out[f"prediction_{names[j]}"] = full[:, j]
    return out, int((~ok).sum())


def _check_grid_spacing(deg: float) -> tuple[int, int]:
    """``(H, W)`` of the global grid of ``deg``-degree cells (ValueError unless ``deg`` divides 180)."""
    import math

    if not math.isfinite(deg) or deg <= 0:
        raise ValueError(f"--grid must be a positive cell size in degrees, got {deg!r}")
    h = 180.0 / deg
    H = int(round(h))
    if H < 1 or abs(h - H) > 1e-9 * max(1.0, h):
        raise ValueError(f"--grid {deg:g}: the cell size must divide 180 degrees (e.g. 2, 1, 0.5, 0.25, 0.1)")
    return H, 2 * H


def _run_grid(args: argparse.Namespace) -> int:
    """``geoviz predict MODEL --grid DEG -o OUT.tif|.nc|.zarr``."""
    import sys
    from pathlib import Path

    from geoviz.grids import require_grid_format

    H, W = _check_grid_spacing(float(args.grid))
    try:
        require_grid_format(args.output)  # fail early: unknown suffix (ValueError) or a missing package
    except ImportError as exc:
        print(f"geoviz: error: {exc}", file=sys.stderr)
        return 2
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"model file not found: {args.model}")
    from geoviz.grids import predict_grid, write_grid

    da = predict_grid(args.model, float(args.grid), batch_size=args.batch_size)
    path = write_grid(da, args.output, nodata=args.nodata)
    units = da.attrs.get("units") or ""
    what = str(da.name)
    if da.ndim == 3:
        dim = da.dims[0]
        what += f" ({dim}: {', '.join(str(v) for v in da[dim].values[:6])}"
        what += ", ...)" if da.sizes[dim] > 6 else ")"
    print(f"wrote {H} × {W} grid of {args.grid:g}° cells, {what}{f' [{units}]' if units and units != '1' else ''}, "
          f"to {path}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Body of ``geoviz predict`` (bad file names are refused before torch is imported)."""
    from pathlib import Path

    from ._tables import read_table, table_kind, write_table

    if args.grid is not None:
        if args.points is not None:
            raise ValueError(f"give POINTS ({args.points}) or --grid DEG, not both")
        return _run_grid(args)
    if args.points is None:
        raise ValueError("give POINTS (a CSV/Parquet file of locations) or --grid DEG (a global grid)")
    if args.nodata is not None:
        raise ValueError("--nodata applies to a --grid GeoTIFF only")
    table_kind(args.output)  # fail early on a bad output name
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"model file not found: {args.model}")
    if not Path(args.points).is_file():
        raise FileNotFoundError(f"no such file: {args.points}")
    from geoviz.model_io import load_model

    model, meta = load_model(args.model)
    frame = read_table(args.points)
    if len(frame) == 0:
        raise ValueError(f"{args.points} has no rows")
    out, missing = predict_frame(model, meta, frame, args.lon, args.lat, str(args.points), args.batch_size)
    path = write_table(out, args.output)
    units = ((meta.get("task") or {}).get("units") or "")
    print(f"wrote {len(out)} rows with predictions{f' [{units}]' if units else ''} to {path}"
          + (f" ({missing} row(s) without coordinates left empty)" if missing else ""))
    return 0


def register(sub: Any) -> None:
    """Add ``geoviz predict`` to the sub-parsers."""
    p = sub.add_parser("predict", help="predict with a fitted model at the points of a CSV/Parquet file or on a "
                                       "global grid (GeoTIFF, NetCDF, Zarr)",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="model file written by `geoviz fit --save`")
    p.add_argument("points", nargs="?", default=None,
                   help="CSV or Parquet file with longitude/latitude columns (or --grid instead)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output: .csv or .parquet (input rows + predictions); with --grid .tif, .nc or .zarr")
    p.add_argument("--grid", type=float, default=None, metavar="DEG",
                   help="predict on a global lon/lat grid of DEG-degree cells (DEG divides 180, e.g. 0.25)")
    p.add_argument("--nodata", type=float, default=None,
                   help="--grid GeoTIFF: value written for cells without data (default NaN)")
    p.add_argument("--lon", help="longitude column (default: detected)")
    p.add_argument("--lat", help="latitude column (default: detected)")
    p.add_argument("--batch-size", type=int, default=65536, help="points per forward pass")
    p.set_defaults(func=run_predict)
