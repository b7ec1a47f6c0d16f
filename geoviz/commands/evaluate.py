"""``geoviz evaluate``: which location encoder for which task, and at what scale does it work?

    geoviz evaluate --encoders geoviz-bluemarble-l10,geoclip,sh:10,wrap --tasks all \\
        --probes linear,mlp --splits random,blocks,continents --json out/eval.json --out out/eval
    geoviz evaluate --resolution --encoders geoviz-bluemarble-l10,geoviz-bluemarble-l40,geoclip --out out/res

The first prints a tasks × encoders table per probe and split and writes ``evaluation.md`` and
``evaluation.png`` to ``--out`` (and the records to ``--json``); the second writes one
``resolution_<encoder>.png`` per encoder, ``resolution_comparison.png`` and
``resolution.json`` and prints each encoder's resolved scale.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from geoviz._names import EVAL_PROBES, EVAL_SPLITS, EVAL_TASKS, PE_ALIASES, POSITIONAL_ENCODINGS, PRETRAINED

from . import LazyCommand, comma_list

__all__ = ["DEFAULT_ENCODERS", "register", "run", "check_encoder_spec", "parse_cells"]

DEFAULT_ENCODERS = "geoviz-bluemarble-l10,geoclip,sh:10,wrap"
"""Default of ``--encoders``."""

_RUN = LazyCommand("geoviz.evaluation.cli:run")


def check_encoder_spec(spec: str) -> None:
    """Refuse an encoder spec that :func:`geoviz.evaluation.resolve_encoder_spec` would refuse.

    The same rules and message, without importing torch (``tests/test_cli.py`` compares the two).

    Raises:
        ValueError: unrecognised spec, or a checkpoint path that does not exist.
    """
    s = spec.strip()
    low = s.lower()
    head, sep, _ = low.partition(":")
    if (head in ("raw", "sh") and (sep or head == "raw")) or low == "sh":
        return
    if low in PRETRAINED or low in POSITIONAL_ENCODINGS or low in PE_ALIASES:
        return
    if s.endswith((".ckpt", ".pt", ".pth")) or os.sep in s or Path(s).exists():
        if not Path(s).expanduser().is_file():
            raise ValueError(f"encoder spec {spec!r} looks like a checkpoint path, but no such file exists")
        return
    raise ValueError(
        f"unknown encoder spec {spec!r}; use 'raw', 'sh:L' (e.g. 'sh:10'), a positional encoding "
        f"({', '.join(n for n in POSITIONAL_ENCODINGS if n != 'sphericalharmonics')}), a pretrained "
        f"model ({', '.join(PRETRAINED)}) or a path to a SatCLIP .ckpt file"
    )


def parse_cells(text: str) -> list[float]:
    """``--cells`` → checkerboard cell sizes in degrees, each in (0, 180].

    Raises:
        ValueError: empty, not numbers, or out of range.
    """
    try:
        cells = [float(c) for c in text.split(",") if c.strip()]
    except ValueError:
        cells = []
    if not cells or any(not 0 < c <= 180 for c in cells):
        raise ValueError(f"--cells must be sizes in (0, 180] degrees, got {text!r}")
    return cells


def run(args: argparse.Namespace) -> int:
    """Body of ``geoviz evaluate``: check the lists and specs, then run :func:`geoviz.evaluation.cli.run`.

    Raises:
        ValueError: an unknown encoder spec, task, probe or split, or bad ``--cells`` (before
            torch is imported).
    """
    specs = [s.strip() for s in args.encoders.split(",") if s.strip()]
    if not specs:
        raise ValueError("no encoder given")
    for spec in specs:
        check_encoder_spec(spec)
    if args.resolution:
        parse_cells(args.cells)
    else:
        comma_list(args.tasks, EVAL_TASKS, "task")
        comma_list(args.probes, EVAL_PROBES, "probe")
        comma_list(args.splits, EVAL_SPLITS, "split")
    return _RUN(args)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz evaluate`` to the CLI."""
    p = sub.add_parser("evaluate", help="probe frozen location encoders on downstream tasks (or --resolution)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoders", default=DEFAULT_ENCODERS,
                   help="comma-separated specs: pretrained name, checkpoint path, sh:L, positional-encoding name, raw")
    p.add_argument("--tasks", default="all", help="comma-separated task names or 'all': " + ",".join(EVAL_TASKS))
    p.add_argument("--probes", default="linear,mlp", help="comma-separated: " + ",".join(EVAL_PROBES))
    p.add_argument("--splits", default="random,blocks,continents", help="comma-separated: " + ",".join(EVAL_SPLITS))
    p.add_argument("--n", type=int, default=None, help="points per task (default 2000)")
    p.add_argument("--seeds", type=int, default=3, help="repetitions of the random and continent splits")
    p.add_argument("--block-deg", type=float, default=10.0, help="block size of the blocks split (degrees)")
    p.add_argument("--folds", type=int, default=5, help="K of the spatial-block K-fold")
    p.add_argument("--epochs", type=int, default=None, help="MLP probe epochs (default 200)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--cache-dir", default=None, help="keep embeddings on disk here (keyed by encoder fingerprint)")
    p.add_argument("--json", default=None, help="write the records here")
    p.add_argument("--out", default=None, help="folder for the markdown and figures")
    p.add_argument("--resolution", action="store_true", help="effective-resolution diagnostics instead of the suite")
    p.add_argument("--cells", default="90,45,22.5,10,5,2.5,1", help="--resolution: checkerboard cell sizes (degrees)")
    p.add_argument("--siren-epochs", type=int, default=300, help="--resolution: epochs of the from-scratch Siren(SH)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
