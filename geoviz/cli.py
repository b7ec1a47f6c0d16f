"""Command-line interface: ``geoviz train TASK ...``, ``geoviz reproduce TASK ...`` and the
subcommands registered in :data:`COMMANDS`.

Example::

    geoviz train landocean --pe sphericalharmonics --nn siren --legendre-polys 10 --out out/ --gif
    geoviz reproduce landocean --workers 2 --out out/reproduce     (see geoviz.reproduce)

Building the parser imports only the standard library and light geoviz modules (no torch,
numpy, pandas, ...): ``geoviz --help``, ``geoviz CMD --help`` and argument errors answer at
once; each command imports what it needs when it runs (``benchmarks/bench_cli_start.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ._names import NETWORKS, PE_ALIASES, POSITIONAL_ENCODINGS, TRAIN_TASKS, pe_choices
from .commands import name_choice

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["main", "build_parser", "probability_image", "COMMANDS", "PE_HELP"]

PE_HELP = ("positional encoding: " + ", ".join(POSITIONAL_ENCODINGS)
           + "".join(f" ({a} = {n})" for a, n in PE_ALIASES.items()))
"""Help text of the ``--pe`` options (the names of :func:`geoviz.list_positional_encodings`)."""


def probability_image(values: np.ndarray, shape: tuple[int, int], kind: str = "binary") -> Image.Image:
    """Render a field on a regular lon/lat grid as an RGB PIL image, one pixel per cell.

    Args:
        values: ``(H*W,)`` or ``(H, W)``, rows north → south: probabilities in [0, 1]
            (binary) or class indices (multiclass); NaN cells light grey.
        shape: ``(H, W)`` of the grid.
        kind: ``"binary"`` (the ``"landocean"`` ramp, ocean blue (0) → land green (1)) or
            ``"multiclass"`` (the class palette, :func:`geoviz.render.categorical_palette`).

    Returns:
        A ``W × H`` RGB ``PIL.Image`` (uint8; :func:`geoviz.render.grid_rgb`).
    """
    from PIL import Image

    from .render import LANDOCEAN_CMAP, grid_rgb

    if kind == "binary":
        rgb = grid_rgb(values, shape, "continuous", cmap=LANDOCEAN_CMAP, clim=(0.0, 1.0))
    else:
        rgb = grid_rgb(values, shape, "categorical")
    return Image.fromarray(rgb, mode="RGB")


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data import get_task, regular_grid
    from .training import Trainer, TrainConfig

    pe_kwargs: dict = {}
    if args.pe in ("sphericalharmonics", "sh"):
        pe_kwargs["legendre_polys"] = args.legendre_polys
    elif args.pe not in ("direct", "cartesian3d", "wrap"):
        pe_kwargs.update(frequency_num=args.frequency_num, min_radius=args.min_radius)
    if args.reference_compat and args.pe not in ("sphericalharmonics", "sh"):
        pe_kwargs["reference_compat"] = True
    nn_kwargs: dict = {}
    if args.nn != "linear":
        nn_kwargs["hidden_dim"] = args.hidden_dim
    if args.nn in ("siren", "fcnet"):
        nn_kwargs["num_layers"] = args.num_layers if args.nn == "siren" else 4
    cfg = TrainConfig(pe=args.pe, nn=args.nn, pe_kwargs=pe_kwargs, nn_kwargs=nn_kwargs, lr=args.lr,
                      weight_decay=args.weight_decay, max_epochs=args.epochs, patience=args.patience,
                      seed=args.seed, dtype=args.dtype, device=args.device)
    task = get_task(args.task)
    grid = regular_grid(args.resolution)
    trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=1 if args.gif else cfg.max_epochs)
    frames = []
    bar = tqdm(trainer.run(), total=cfg.max_epochs, desc=f"{cfg.pe}+{cfg.nn}", unit="epoch")
    for rec in bar:
        bar.set_postfix(val_loss=f"{rec.val_loss:.4f}", val_acc=f"{rec.val_metrics['accuracy']:.4f}")
        if rec.prediction is not None and args.gif:
            frames.append(probability_image(rec.prediction, grid.shape, task.kind))
    bar.close()
    final = trainer.predict()
    test = trainer.evaluate("test")
    print(f"test accuracy: {100 * test['accuracy']:.2f} %" + (f"  IoU: {100 * test['iou']:.2f} %" if "iou" in test else "")
          + f"  (epochs: {rec.epoch}, {rec.stopped}, {rec.elapsed:.1f} s, device: {trainer.device})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.task}_{cfg.pe}_{cfg.nn}"
    probability_image(final, grid.shape, task.kind).save(out / f"{stem}.png")
    if args.gif and frames:
        from .render import gif_bytes

        (out / f"{stem}.gif").write_bytes(gif_bytes(frames, fps=1000 / 60))  # 60 ms a frame
    (out / f"{stem}.json").write_text(json.dumps({"config": cfg.__dict__, "test": test, "epochs": rec.epoch}, indent=2))
    print(f"wrote {out / (stem + '.png')}" + (f" and {stem}.gif" if args.gif else ""))
    return 0


COMMANDS: dict[str, str] = {
    "train": "geoviz.cli:register_train",
    "reproduce": "geoviz.commands.reproduce:register",
    "download": "geoviz.commands.pretrained:register_download",
    "models": "geoviz.commands.pretrained:register_models",
    "pretrain": "geoviz.commands.pretrain:register",
    "fit": "geoviz.commands.fit:register",
    "predict": "geoviz.commands.predict:register",
    "embed": "geoviz.commands.embed:register",
    "species": "geoviz.commands.species:register",
    "evaluate": "geoviz.commands.evaluate:register",
}
"""Subcommands: name → ``"module:function"``. The function receives the argparse sub-parsers
object, adds its parser and sets ``func`` (a callable taking the parsed Namespace and returning
an exit code, e.g. a :class:`geoviz.commands.LazyCommand`). The modules must be light (no torch,
numpy, pandas, ... at import; ``tests/test_cli.py`` checks): heavy dependencies are imported
inside the command function, so ``geoviz --help`` stays fast."""


def _load(spec: str) -> Any:
    import importlib

    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_parser() -> argparse.ArgumentParser:
    """The ``geoviz`` parser with every subcommand of :data:`COMMANDS` (imports nothing heavy)."""
    ap = argparse.ArgumentParser(prog="geoviz", description="Implicit neural geo-representations.")
    sub = ap.add_subparsers(dest="command", required=True)
    for spec in COMMANDS.values():
        _load(spec)(sub)
    return ap


def register_train(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz train``."""
    t = sub.add_parser("train", help="fit a location encoder to a task and write its map")
    t.add_argument("task", choices=TRAIN_TASKS)
    t.add_argument("--pe", default="sphericalharmonics", type=name_choice(POSITIONAL_ENCODINGS, PE_ALIASES),
                   choices=pe_choices(), metavar="PE", help=PE_HELP + " (default sphericalharmonics)")
    t.add_argument("--nn", default="siren", choices=NETWORKS)
    t.add_argument("--legendre-polys", type=int, default=10)
    t.add_argument("--frequency-num", type=int, default=16)
    t.add_argument("--min-radius", type=float, default=10.0)
    t.add_argument("--reference-compat", action="store_true")
    t.add_argument("--hidden-dim", type=int, default=64)
    t.add_argument("--num-layers", type=int, default=2)
    t.add_argument("--lr", type=float, default=1.42e-4)
    t.add_argument("--weight-decay", type=float, default=3.67e-3)
    t.add_argument("--epochs", type=int, default=500)
    t.add_argument("--patience", type=int, default=30)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    t.add_argument("--device", default="auto")
    t.add_argument("--resolution", type=float, default=1.0, help="map grid spacing in degrees")
    t.add_argument("--out", default="out")
    t.add_argument("--gif", action="store_true", help="also write an animation of the per-epoch fit")
    t.set_defaults(func=_train)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``geoviz`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Argument errors exit through argparse (``SystemExit(2)``); a ``ValueError``, ``TypeError``,
    ``FileNotFoundError`` or ``KeyError`` from a command is printed as ``geoviz: error: ...``
    and returns 2.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"geoviz: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
