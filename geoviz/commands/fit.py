"""``geoviz fit SOURCE --save MODEL``: fit a location encoder to a point file, a GeoTIFF or a built-in field.

SOURCE is a point file (CSV, Parquet, GeoJSON, GeoPackage; see
:func:`geoviz.data.load_points`), a GeoTIFF in any CRS (.tif/.tiff, the grids extra; sampled
at --samples N random points uniform by area over its valid cells, or at the points of
--points FILE; nodata cells are skipped and their count reported; see
:mod:`geoviz.data.raster`) or ``field:NAME`` (a built-in global field,
:func:`geoviz.data.get_field`). The command trains with early stopping (best validation
weights kept), prints the held-out (test) metrics, writes the model
(:func:`geoviz.model_io.save_model`) and, to ``--out DIR``, ``<stem>_metrics.json`` and a map
``<stem>_map.png`` with a colourbar in the target's units (truth beside prediction for
fields and rasters).

Example::

    geoviz fit field:temperature --save temp.gvz --out out/
    geoviz fit stations.csv --target tmean --units "°C" --split blocks:10 --save st.gvz
    geoviz fit dem_utm33.tif --samples 20000 --units m --save dem.gvz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoviz._names import FIELDS

from ._options import add_compute_options, add_encoder_options, add_lonlat_options, encoder_spec

if TYPE_CHECKING:
    import numpy as np

__all__ = ["register", "run_fit", "FIT_DEFAULTS", "build_task", "check_source", "render_map"]

FIT_DEFAULTS: dict[str, Any] = {
    "encoder": "sh:10+siren(64x2)", "lr": 1e-3, "weight_decay": 0.0, "epochs": 200, "patience": 30, "batch_size": 1000, "dtype": "float32",
}
"""Defaults of ``geoviz fit`` (tuned on ``field:temperature`` with 10k points, see docs/benchmarks.md)."""


def build_task(args: argparse.Namespace) -> tuple[Any, Any, list[str]]:
    """``(task, field or None, notes)`` for the SOURCE of ``args``."""
    from geoviz.data.points import load_points, task_from_points

    src = str(args.source)
    if src.lower().startswith("field:"):
        from geoviz.data import get_field  # type: ignore[attr-defined]

        field = get_field(src.split(":", 1)[1].strip())
        kw: dict[str, Any] = {"n_train": args.n_train, "seed": args.seed}
        if args.n_test is not None:
            kw["n_test"] = args.n_test
        task = field.task(**kw)
        notes = [] if args.split == "random" else [f"--split {args.split} ignored: a field's held-out test points "
                                                    f"are its own uniform sample (field.task)"]
        return task, field, notes
    _refuse_raster_options(args, src)
    if _is_raster(src):
        return _raster_task(args, src)
    target = args.target
    pts = load_points(src, target=None, lon=args.lon, lat=args.lat, dropna=False) if target is None else None
    if target is None:
        others = [c for c in pts.frame.columns if c not in (pts.lon_col, pts.lat_col)]
        if len(others) != 1:
            raise ValueError(f"{src}: name the column to model with --target (columns besides the coordinates: {others})")
        target = others[0]
    if "," in target:  # several columns: a multi-output regression (e.g. 12 monthly values)
        target = [t.strip() for t in target.split(",") if t.strip()]
    pts = load_points(src, target=target, lon=args.lon, lat=args.lat, dropna=args.dropna,
                      crs=args.crs)
    kind = args.kind
    task = task_from_points(pts.lonlat, pts.y, kind=kind, split=args.split, name=Path(src).stem, seed=args.seed,
                            test_fraction=args.test_fraction, val_fraction=args.val_fraction, units=args.units,
                            target_names=[pts.target] if isinstance(pts.target, str) else pts.target)
    task.meta["source"] = src
    return task, None, list(pts.notes)


RASTER_SAMPLES = 10_000
"""Default ``--samples`` of a GeoTIFF SOURCE."""


def _is_raster(src: str) -> bool:
    return Path(src).suffix.lower() in (".tif", ".tiff")


def _bands(args: argparse.Namespace) -> int | list[int] | None:
    """``--band``: None, one band number, or a list (``1,2,3``: a multi-output target)."""
    spec = getattr(args, "band", None)
    if spec is None:
        return None
    try:
        bands = [int(b) for b in str(spec).split(",") if b.strip()]
    except ValueError:
        raise ValueError(f"--band must be a band number or a comma-separated list of them (1-based), "
                         f"got {spec!r}") from None
    if not bands:
        raise ValueError(f"--band: no band number in {spec!r}")
    return bands[0] if len(bands) == 1 else bands


def _refuse_raster_options(args: argparse.Namespace, src: str) -> None:
    """``--samples``/``--points``/``--band`` belong to a GeoTIFF SOURCE; ``--target`` does not."""
    raster = _is_raster(src)
    if not raster:
        used = [o for o, v in (("--samples", getattr(args, "samples", None)), ("--points", getattr(args, "points", None)),
                               ("--band", getattr(args, "band", None))) if v is not None]
        if used:
            raise ValueError(f"{', '.join(used)} appl{'ies' if len(used) == 1 else 'y'} to a GeoTIFF SOURCE "
                             f"(.tif/.tiff), not to {src}")
        return
    if getattr(args, "target", None) is not None:
        raise ValueError(f"--target names a column of a point file; for the raster {src} choose the band with --band")
    if getattr(args, "samples", None) is not None and getattr(args, "points", None) is not None:
        raise ValueError("give --samples N (random points) or --points FILE (given points) for a raster, not both")


def _raster_task(args: argparse.Namespace, src: str) -> tuple[Any, None, list[str]]:
    """A task from a GeoTIFF: random equal-area points over its valid cells, or a point file's points."""
    from geoviz.data.points import task_from_points
    from geoviz.data.raster import sample_raster

    points = getattr(args, "points", None)
    if points is not None and not Path(points).expanduser().is_file():
        raise FileNotFoundError(f"no such file: {points}")
    n = None if points is not None else (args.samples if args.samples is not None else RASTER_SAMPLES)
    rs = sample_raster(src, n, points=points, band=_bands(args), seed=args.seed, lon=args.lon, lat=args.lat,
                       crs=args.crs, dropna=args.dropna)
    units = args.units if args.units is not None else rs.units
    task = task_from_points(rs.lonlat, rs.y, kind=args.kind, split=args.split, name=Path(src).stem, seed=args.seed,
                            test_fraction=args.test_fraction, val_fraction=args.val_fraction, units=units,
                            target_names=[rs.target] if isinstance(rs.target, str) else rs.target)
    task.meta["source"] = src
    task.meta["raster"] = {"crs": rs.crs, "band": _bands(args) or 1, "points": None if points is None else str(points),
                           "samples": None if points is not None else int(n), "skipped": int(rs.n_skipped)}
    return task, None, list(rs.notes)


def _raster_truth(source: str, band: Any, task: Any, resolution: float) -> np.ndarray | None:
    """The raster on the map grid, in ``render_map``'s terms (NaN off the raster), or None."""
    import numpy as np

    from geoviz.data.raster import read_raster

    r = read_raster(source, band if isinstance(band, int) else band[0])
    img = r.on_grid(resolution)
    if task.kind == "regression":
        return img
    code = {n: i for i, n in enumerate(task.class_names or [])}
    out = np.full(img.shape, np.nan)
    for u in np.unique(img[np.isfinite(img)]):  # class names are the raster values as text (task_from_points)
        lab = str(int(u)) if float(u).is_integer() else str(u)
        if lab in code:
            out[img == u] = code[lab]
    return out


def _config(args: argparse.Namespace) -> Any:
    from geoviz.training import TrainConfig

    return TrainConfig.from_spec(encoder_spec(args), lr=args.lr, weight_decay=args.weight_decay,
                                 batch_size=args.batch_size, max_epochs=args.epochs,
                                 patience=args.patience if args.patience > 0 else None, seed=args.seed,
                                 dtype=args.dtype, device=args.device, restore_best=True, loss=args.loss)


def _grid(field: Any, resolution: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(lons (W,), lats (H,) north→south, truth (H, W) or None)."""
    import numpy as np

    if field is not None:
        values, lons, lats = field.grid(resolution)
        return np.asarray(lons, np.float64), np.asarray(lats, np.float64), np.asarray(values, np.float64)
    from geoviz.data import regular_grid

    g = regular_grid(resolution)
    lonlat = g.lonlat.reshape(g.shape[0], g.shape[1], 2)
    return lonlat[0, :, 0], lonlat[:, 0, 1], None


def render_map(path: Path, task: Any, pred: np.ndarray, lons: np.ndarray, lats: np.ndarray,
               truth: np.ndarray | None = None, title: str = "") -> Path:
    """Write a PNG map of a prediction grid (and the truth beside it, and their difference).

    Drawn with :mod:`geoviz.render` (2:1 map panels with coastlines, colour bars with both ends
    labelled; the user's matplotlib backend is left alone).

    Args:
        path: output PNG.
        task: the task (kind, class names, units in ``meta``).
        pred: ``(H, W)`` prediction, rows north → south: values in units (regression, first
            output), probabilities of the positive class (binary) or class indices (multiclass).
        lons, lats: grid centres in degrees, ``(W,)`` and ``(H,)`` (lats north→south).
        truth: optional ``(H, W)`` truth in the same units (NaN where undefined).
        title: figure title.

    Returns:
        ``path``.
    """
    import numpy as np

    from geoviz import render

    dlon = (lons[1] - lons[0]) if len(lons) > 1 else 360.0
    dlat = abs(lats[0] - lats[1]) if len(lats) > 1 else 180.0
    extent = (lons[0] - dlon / 2, lons[-1] + dlon / 2, lats[-1] - dlat / 2, lats[0] + dlat / 2)
    meta = task.meta or {}
    units = meta.get("units", "") if task.kind == "regression" else ""
    tname = (meta.get("target_names") or [task.name])[0] if task.kind == "regression" else task.name
    label = f"{tname} [{units}]" if units else tname
    if truth is not None:
        pred = np.where(np.isfinite(truth), pred, np.nan)
        panels = [("truth", truth), ("prediction", pred), ("prediction − truth", pred - truth)]
    else:
        panels = [("prediction", pred)]
    class_names = None
    if task.kind == "regression":  # the colours of every view of this task (the dashboard's too)
        style = render.regression_style(task)
        look: dict[str, Any] = {"cmap": style["cmap"], "clim": style["clim"]}
    elif task.kind == "binary":
        look = {"cmap": render.PROBABILITY_CMAP, "clim": (0.0, 1.0)}
        label = f"P({(task.class_names or ['0', '1'])[1]})"
    else:
        look = {"kind": "categorical", "n_classes": task.num_classes}
        class_names = [str(c) for c in (task.class_names or range(task.num_classes))]
        label = "class"
    fig, axes = render.map_figure(1, len(panels), panel_width=6.2, extent=extent, dpi=110, extra_height=0.5)
    for ax, (name, img) in zip(axes[0], panels):
        if name.startswith("prediction −"):
            im = render.show_raster(ax, img, extent=extent, cmap=render.DIVERGING_CMAP,
                                    clim=render.symmetric_clim(img, 99))
            render.add_colorbar(fig, im, ax, f"error [{units}]" if units else "error", center=0.0)
        else:
            im = render.show_raster(ax, img, extent=extent, **look)
            render.add_colorbar(fig, im, ax, label, class_names=class_names)
        if truth is None and name == "prediction" and "source" in meta:
            test = task.test
            yv = np.asarray(test.y, dtype=np.float64).reshape(len(test.y), -1)[:, 0]
            ax.scatter(test.lonlat[:, 0], test.lonlat[:, 1], c=yv, cmap=im.cmap, norm=im.norm, s=6,
                       edgecolors="k", linewidths=0.3)
            name = "prediction (dots: held-out points, same colours)"
        render.style_map_axes(ax, name, extent=extent, axis_labels=True, fontsize=12)
    if title:
        fig.suptitle(title)
    return render.save_figure(fig, path)


def _metrics_line(kind: str, m: dict[str, float], units: str) -> str:
    if kind == "regression":
        u = f" {units}" if units else ""
        return f"R² {m['r2']:.4f}  RMSE {m['rmse']:.4g}{u}  MAE {m['mae']:.4g}{u}"
    return f"accuracy {100 * m['accuracy']:.2f} %" + (f"  IoU {100 * m['iou']:.2f} %" if "iou" in m else "")


def check_source(source: str) -> None:
    """Refuse a SOURCE that cannot be read, before anything heavy is imported.

    Raises:
        KeyError: ``field:NAME`` with an unknown NAME (the message lists the built-in fields).
        FileNotFoundError: a point file that does not exist.
    """
    src = str(source)
    if src.lower().startswith("field:"):
        name = src.split(":", 1)[1].strip()
        if name.lower() not in FIELDS:
            raise KeyError(f"unknown field {name!r}; built-in fields: {list(FIELDS)}")
    elif not Path(src).expanduser().is_file():
        raise FileNotFoundError(f"no such file: {src}")


def run_fit(args: argparse.Namespace) -> int:
    """Body of ``geoviz fit`` (see the module docstring)."""
    check_source(args.source)
    import numpy as np
    import torch
    from tqdm import tqdm

    from geoviz.model_io import save_model
    from geoviz.training import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        task, field, notes = build_task(args)
    except ImportError as exc:  # an optional reader (the grids extra for a GeoTIFF, pyarrow for Parquet)
        import sys

        print(f"geoviz: error: {exc}", file=sys.stderr)
        return 2
    for n in notes:
        print(f"note: {n}")
    cfg = _config(args)
    lons, lats, truth = _grid(field, args.resolution)
    if truth is None and args.out and "raster" in (task.meta or {}):  # the raster beside the prediction
        truth = _raster_truth(str(args.source), task.meta["raster"]["band"], task, args.resolution)
    grid_lonlat = np.column_stack([np.tile(lons, len(lats)), np.repeat(lats, len(lons))])
    trainer = Trainer(task, cfg, predict_lonlat=grid_lonlat, predict_every=cfg.max_epochs + 1)
    print(f"{task.name}: {task.kind}, {len(task.train)} train / {len(task.val)} val / {len(task.test)} test points"
          f" ({cfg.pe}(L={cfg.pe_kwargs.get('legendre_polys', '-')}) + {cfg.nn}, device {trainer.device})")
    key = "r2" if task.kind == "regression" else "accuracy"
    bar = tqdm(trainer.run(), total=cfg.max_epochs, desc="fit", unit="epoch", disable=args.quiet)
    rec = None
    for rec in bar:
        bar.set_postfix(val_loss=f"{rec.val_loss:.4f}", **{f"val_{key}": f"{rec.val_metrics[key]:.4f}"})
        if args.time_limit and rec.elapsed >= args.time_limit and not rec.stopped:
            trainer.stop()
    bar.close()
    assert rec is not None
    test = trainer.evaluate("test")
    units = (task.meta or {}).get("units", "") or ""
    print(f"held-out test ({len(task.test)} points): {_metrics_line(task.kind, test, units)}"
          f"  [epochs {rec.epoch}, {rec.stopped}, training {rec.elapsed:.1f} s]")
    t0 = time.perf_counter()
    source = str(args.source)
    extra = {"test_metrics": test, "epochs": rec.epoch, "stopped": rec.stopped, "train_seconds": rec.elapsed,
             "source": source, "split": None if field is not None else args.split,
             "n_train": len(task.train), "n_val": len(task.val), "n_test": len(task.test)}
    saved = save_model(trainer, args.save, extra=extra)
    print(f"wrote model {saved}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = Path(args.save).stem
        pred = rec.prediction if rec.prediction is not None else trainer.predict()
        H, W = len(lats), len(lons)
        if task.kind == "regression":
            img = (pred if pred.ndim == 1 else pred[:, 0]).reshape(H, W)
        else:
            img = np.asarray(pred, dtype=np.float64).reshape(H, W)
        metrics = {"source": source, "kind": task.kind, "units": units, "test": test,
                   "val": {k: v for k, v in trainer.evaluate("val").items()}, **extra,
                   "config": {k: v for k, v in vars(cfg).items()}}
        (out / f"{stem}_metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        title = f"{source}: held-out {_metrics_line(task.kind, test, units)}"
        if field is not None:
            title = f"{getattr(field, 'long_name', field.name)}: held-out {_metrics_line(task.kind, test, units)}"
        render_map(out / f"{stem}_map.png", task, img, lons, lats, truth, title)
        print(f"wrote {out / (stem + '_metrics.json')} and {out / (stem + '_map.png')} "
              f"({time.perf_counter() - t0:.1f} s)")
    return 0


def register(sub: Any) -> None:
    """Add ``geoviz fit`` to the sub-parsers."""
    d = FIT_DEFAULTS
    p = sub.add_parser("fit", help="fit a location encoder to a point file, a GeoTIFF or a built-in field and save it",
                       description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("source", help="point file (.csv, .parquet, .geojson, .gpkg), GeoTIFF (.tif) or field:NAME "
                                  "(" + ", ".join(f"field:{f}" for f in FIELDS) + ")")
    p.add_argument("--save", required=True, metavar="MODEL", help="where to write the fitted model (e.g. model.gvz)")
    p.add_argument("--target", help="column to model (default: the only non-coordinate column); "
                                    "COL1,COL2,... for a multi-output regression")
    add_lonlat_options(p)
    p.add_argument("--crs", help="CRS of the lon/lat (x/y) columns of a CSV/Parquet file if not degrees, e.g. EPSG:3857")
    p.add_argument("--kind", choices=["regression", "classification"], default=None,
                   help="task kind (default: inferred: many distinct float values = regression, labels = classification)")
    p.add_argument("--split", default="random",
                   help="held-out split of a point file: random, blocks:DEG (whole ~DEG° equal-area cells; "
                        "blocks:DEG:KMkm also drops training points within KM km of a test point), "
                        "region:NAME (a continent, e.g. region:Africa) or region:LON0,LAT0,LON1,LAT1")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of points held out for testing")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of points used for early stopping")
    p.add_argument("--dropna", action="store_true", help="drop rows with missing coordinates/target (count reported)")
    p.add_argument("--units", default=None, help="units of the target, for metrics and the colourbar (e.g. '°C')")
    p.add_argument("--n-train", type=int, default=10_000, help="fields: number of training points")
    p.add_argument("--n-test", type=int, default=None, help="fields: number of held-out test points (field default)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help=f"GeoTIFF SOURCE: random points, uniform by area over its valid cells "
                        f"(default {RASTER_SAMPLES:,})")
    p.add_argument("--points", default=None, metavar="FILE",
                   help="GeoTIFF SOURCE: sample it at the points of this file instead (CSV, Parquet, GeoJSON, "
                        "GeoPackage; --lon/--lat/--crs/--dropna apply to it)")
    p.add_argument("--band", default=None,
                   help="GeoTIFF SOURCE: band to model (1-based; default 1), or 1,2,3 for a multi-output target")
    add_encoder_options(p, d["encoder"])
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate")
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"], help="Adam (coupled) L2 weight decay")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="training batch size")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="most training epochs")
    p.add_argument("--patience", type=int, default=d["patience"],
                   help="stop after this many epochs without a better validation loss (0: never)")
    p.add_argument("--time-limit", type=float, default=None, help="stop training after this many seconds")
    p.add_argument("--loss", choices=["mse", "huber"], default="mse", help="regression loss (standardised targets)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=d["dtype"], help="training precision")
    add_compute_options(p)
    p.add_argument("--resolution", type=float, default=1.0, help="map grid spacing in degrees")
    p.add_argument("--out", default=None, metavar="DIR", help="folder for <model>_metrics.json and <model>_map.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fit)
