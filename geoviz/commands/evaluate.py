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
import json
import re
import sys
import time
from pathlib import Path

from geoviz._names import EVAL_PROBES, EVAL_SPLITS, EVAL_TASKS
from geoviz.spec import resolve_encoder_ref

from . import comma_list

__all__ = ["DEFAULT_ENCODERS", "register", "run", "check_encoder_spec", "parse_cells"]

DEFAULT_ENCODERS = "geoviz-bluemarble-l10,geoclip,sh:10,wrap"
"""Default of ``--encoders``."""

def check_encoder_spec(spec: str) -> None:
    """Refuse an encoder spec that :func:`geoviz.evaluation.get_encoder` would refuse, before torch is imported.

    Raises:
        ValueError: unrecognised spec, or a checkpoint path that does not exist.
    """
    resolve_encoder_ref(spec)


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
    """Body of ``geoviz evaluate``: check the lists and specs before torch is imported, then run.

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
    return _run(args)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", Path(spec).stem if spec.endswith((".ckpt", ".pt", ".pth")) else spec)


def _resolution(args: argparse.Namespace, say) -> int:
    from geoviz.evaluation.encoders import EmbeddingCache
    from geoviz.evaluation.harness import parse_list
    from geoviz.evaluation.resolution import plot_resolution, plot_resolution_comparison, resolution_diagnostics

    cells = parse_cells(args.cells)
    cache = EmbeddingCache(args.cache_dir)
    out = Path(args.out or "evaluation-resolution")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in parse_list(args.encoders, None, "encoder"):
        t0 = time.perf_counter()
        r = resolution_diagnostics(spec, cells=cells, n=args.n or 1500, cache=cache, siren_epochs=args.siren_epochs,
                                   siren_L=0 if args.siren_epochs == 0 else None)
        results.append(r)
        plot_resolution(r, out / f"resolution_{_slug(spec)}.png")
        acc = "  ".join(f"{c:g}°:{100 * a:.0f}%" for c, a in zip(r.cells, r.accuracy))
        print(f"{spec:<26} resolved scale {r.resolved_scale:6.1f}°   {acc}   ({time.perf_counter() - t0:.0f} s)".replace("   nan°", "    n/a"))
    plot_resolution_comparison(results, out / "resolution_comparison.png")
    doc = [r.as_json() for r in results]
    (out / "resolution.json").write_text(json.dumps(doc, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1))
    say(f"wrote {out}/resolution_*.png and resolution.json")
    return 0


def _run(args: argparse.Namespace) -> int:
    """Run ``geoviz evaluate`` with checked arguments; returns the exit code."""
    import torch

    from geoviz.evaluation.encoders import EmbeddingCache
    from geoviz.evaluation.harness import REGION_LABELS, evaluate, split_label
    from geoviz.evaluation.probes import MLP_GRID

    if args.threads:
        torch.set_num_threads(args.threads)
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.resolution:
        return _resolution(args, say)
    kw = {}
    if args.n is not None:
        kw["n"] = args.n
    if args.epochs is not None:
        kw["epochs"] = args.epochs
    if args.n_train is not None:
        kw["n_train"] = args.n_train if args.n_train > 0 else None
    res = evaluate(args.encoders, args.tasks, args.probes, args.splits, seeds=args.seeds, block_deg=args.block_deg,
                   folds=args.folds, cache=EmbeddingCache(args.cache_dir), progress=say,
                   mlp_grid=None if args.no_tune else MLP_GRID, **kw)
    for p in res.probes():
        for s in res.splits():
            for reg in res.settings["regions"]:
                tab = res.table(p, s, region=reg)
                if tab.count("\n") >= 2:
                    where = "" if reg == "all" else f", {REGION_LABELS[reg]}"
                    print(f"\n== {p} probe, split {split_label(s)}{where} "
                          "(R² or accuracy %, mean [95 % t-interval over seeds]; * best) ==")
                    print(tab)
    print("\ntime (s): " + ", ".join(f"{k} {v:.1f}" for k, v in res.timings.items()))
    if args.out or args.json:
        paths = res.write(args.out or Path(args.json).parent, json_path=args.json)
        say("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz evaluate`` to the CLI."""
    p = sub.add_parser("evaluate", help="probe frozen location encoders on downstream tasks (or --resolution)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoders", default=DEFAULT_ENCODERS,
                   help="comma-separated specs: pretrained name, checkpoint path, sh:L, positional-encoding name, raw")
    p.add_argument("--tasks", default="all", help="comma-separated task names or 'all': " + ",".join(EVAL_TASKS))
    p.add_argument("--probes", default="linear,mlp", help="comma-separated: " + ",".join(EVAL_PROBES))
    p.add_argument("--splits", default="random,blocks,continents", help="comma-separated: " + ",".join(EVAL_SPLITS))
    p.add_argument("--n", type=int, default=None, help="points per task sample (default 2000)")
    p.add_argument("--seeds", type=int, default=5,
                   help="repetitions: each seed draws its own task sample and one repetition of every split")
    p.add_argument("--n-train", type=int, default=None,
                   help="training points of every repetition (default: the smallest training side over the splits; "
                        "0: no cut)")
    p.add_argument("--no-tune", action="store_true",
                   help="MLP probe with the fixed recipe (lr 1e-3, no weight decay) instead of inner-CV tuning")
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
