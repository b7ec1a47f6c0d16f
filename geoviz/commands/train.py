"""``geoviz train TASK``: fit a location encoder to a benchmark task and write its map.

Example::

    geoviz train landocean --encoder "sh:10+siren(64x2)" --out out/ --gif
    geoviz train checkerboard --pe spherec+ --nn fcnet --epochs 100

Writes ``<task>_<encoder>.png`` (the final map), ``.json`` (settings and test metrics) and,
with ``--gif``, an animation of the per-epoch fit to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from geoviz._names import TRAIN_TASKS

from ._options import add_compute_options, add_encoder_options, encoder_spec

__all__ = ["register", "run_train", "DEFAULT_ENCODER"]

DEFAULT_ENCODER = "sh:10+siren(64x2)"
"""Default ``--encoder`` of ``geoviz train`` (the paper's Siren(SH) land–ocean setup)."""


def _map_rgb(values: Any, shape: tuple[int, int], kind: str) -> Any:
    """(H, W, 3) uint8: P(land) on the land–ocean ramp, class ids on the class palette."""
    from geoviz.render import LANDOCEAN_CMAP, grid_rgb

    if kind == "binary":
        return grid_rgb(values, shape, "continuous", cmap=LANDOCEAN_CMAP, clim=(0.0, 1.0))
    return grid_rgb(values, shape, "categorical")


def run_train(args: argparse.Namespace) -> int:
    """Body of ``geoviz train``; returns the exit code."""
    from tqdm import tqdm

    from geoviz.data import get_task, regular_grid
    from geoviz.render import gif_bytes, png_bytes
    from geoviz.training import Trainer, TrainConfig

    spec = encoder_spec(args)
    cfg = TrainConfig.from_spec(spec, lr=args.lr, weight_decay=args.weight_decay, max_epochs=args.epochs,
                                patience=args.patience, seed=args.seed, dtype=args.dtype, device=args.device)
    task = get_task(args.task)
    grid = regular_grid(args.resolution)
    trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=1 if args.gif else cfg.max_epochs)
    frames = []
    bar = tqdm(trainer.run(), total=cfg.max_epochs, desc=str(spec), unit="epoch")
    for rec in bar:
        bar.set_postfix(val_loss=f"{rec.val_loss:.4f}", val_acc=f"{rec.val_metrics['accuracy']:.4f}")
        if rec.prediction is not None and args.gif:
            frames.append(_map_rgb(rec.prediction, grid.shape, task.kind))
    bar.close()
    final = trainer.predict()
    test = trainer.evaluate("test")
    print(f"test accuracy: {100 * test['accuracy']:.2f} %" + (f"  IoU: {100 * test['iou']:.2f} %" if "iou" in test else "")
          + f"  (epochs: {rec.epoch}, {rec.stopped}, {rec.elapsed:.1f} s, device: {trainer.device})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.task}_{re.sub(r'[^A-Za-z0-9.+-]+', '_', str(spec)).strip('_')}"
    (out / f"{stem}.png").write_bytes(png_bytes(_map_rgb(final, grid.shape, task.kind)))
    if args.gif and frames:
        (out / f"{stem}.gif").write_bytes(gif_bytes(frames, fps=1000 / 60))  # 60 ms a frame
    (out / f"{stem}.json").write_text(json.dumps({"encoder": str(spec), "config": cfg.__dict__, "test": test,
                                                  "epochs": rec.epoch}, indent=2))
    print(f"wrote {out / (stem + '.png')}" + (f" and {stem}.gif" if args.gif else ""))
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz train``."""
    t = sub.add_parser("train", help="fit a location encoder to a benchmark task and write its map",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("task", choices=TRAIN_TASKS)
    add_encoder_options(t, DEFAULT_ENCODER)
    t.add_argument("--lr", type=float, default=1.42e-4, help="Adam learning rate (default 1.42e-4)")
    t.add_argument("--weight-decay", type=float, default=3.67e-3, help="L2 weight decay (default 3.67e-3)")
    t.add_argument("--epochs", type=int, default=500, help="maximum epochs (default 500)")
    t.add_argument("--patience", type=int, default=30, help="early-stopping patience in epochs (default 30)")
    t.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="default float64")
    add_compute_options(t)
    t.add_argument("--resolution", type=float, default=1.0, help="map grid spacing in degrees (default 1)")
    t.add_argument("--out", default="out", metavar="DIR", help="folder for the map, JSON and GIF (default out)")
    t.add_argument("--gif", action="store_true", help="also write an animation of the per-epoch fit")
    t.set_defaults(func=run_train)
