"""``geoviz predict MODEL POINTS -o OUT``: a fitted model's predictions at the rows of a table.

MODEL is a file written by ``geoviz fit`` / :func:`geoviz.model_io.save_model`. POINTS is a
CSV or Parquet file with longitude/latitude columns (detected as ``geoviz fit`` does, or
named with ``--lon``/``--lat``). OUT (CSV or Parquet, by extension) holds every input row and
column, plus ``prediction`` (values in the target's units for regression, the class name for
classification; one ``prediction_<target>`` column per output of a multi-output model) and,
for classification, ``p_<class>`` probability columns. Rows with missing coordinates are
kept with empty predictions (their count is printed).

Example::

    geoviz predict temp.gvz stations.csv -o stations_pred.parquet
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


def run_predict(args: argparse.Namespace) -> int:
    """Body of ``geoviz predict`` (bad file names are refused before torch is imported)."""
    from pathlib import Path

    from ._tables import read_table, table_kind, write_table

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
    p = sub.add_parser("predict", help="predict with a fitted model at the points of a CSV/Parquet file",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="model file written by `geoviz fit --save`")
    p.add_argument("points", help="CSV or Parquet file with longitude/latitude columns")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .csv or .parquet (input rows + predictions)")
    p.add_argument("--lon", help="longitude column (default: detected)")
    p.add_argument("--lat", help="latitude column (default: detected)")
    p.add_argument("--batch-size", type=int, default=65536, help="points per forward pass")
    p.set_defaults(func=run_predict)
