"""Body of ``geoviz evaluate`` (usage and the parser: :mod:`geoviz.commands.evaluate`).

This module holds the command's body (:func:`run`); the parser is in the light module
:mod:`geoviz.commands.evaluate`, so that ``geoviz --help`` does not import torch.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from geoviz.commands.evaluate import DEFAULT_ENCODERS, parse_cells, register

__all__ = ["DEFAULT_ENCODERS", "register", "run"]


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", Path(spec).stem if spec.endswith((".ckpt", ".pt", ".pth")) else spec)


def _resolution(args: argparse.Namespace, say) -> int:
    from .encoders import EmbeddingCache
    from .harness import parse_list
    from .resolution import plot_resolution, plot_resolution_comparison, resolution_diagnostics

    cells = parse_cells(args.cells)
    cache = EmbeddingCache(args.cache_dir)
    out = Path(args.out or "evaluation-resolution")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in parse_list(args.encoders, None, "encoder"):
        t0 = time.perf_counter()
        r = resolution_diagnostics(spec, cells=cells, n=args.n or 1500, cache=cache, siren_epochs=args.siren_epochs)
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


def run(args: argparse.Namespace) -> int:
    """Run ``geoviz evaluate`` with parsed arguments; returns the exit code."""
    import torch

    from .encoders import EmbeddingCache
    from .harness import evaluate

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
    res = evaluate(args.encoders, args.tasks, args.probes, args.splits, seeds=args.seeds, block_deg=args.block_deg,
                   folds=args.folds, cache=EmbeddingCache(args.cache_dir), progress=say, **kw)
    for p in res.probes():
        for s in res.splits():
            tab = res.table(p, s)
            if tab.count("\n") >= 2:
                print(f"\n== {p} probe, split {s} (R² or accuracy %, mean ± std; * best) ==")
                print(tab)
    print("\ntime (s): " + ", ".join(f"{k} {v:.1f}" for k, v in res.timings.items()))
    if args.out or args.json:
        paths = res.write(args.out or Path(args.json).parent, json_path=args.json)
        say("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
