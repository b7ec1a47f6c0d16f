"""``geoviz reproduce {landocean,checkerboard}``: the paper's land–ocean table and checkerboard analysis
(:mod:`geoviz.training.reproduce` holds the runs, tables and figures).
"""
# A light module: the body imports torch when it runs (tests/test_cli.py checks).

from __future__ import annotations

import argparse
import os

from geoviz._names import REPRODUCE_VARIANTS, TRAIN_TASKS

from typing import Any

__all__ = ["register", "run_reproduce"]


def _progress(rec: dict[str, Any], i: int, n: int) -> None:
    print(f"[{i}/{n}] {rec['task']} {rec['variant']} {rec['pe']}+{rec['nn']} seed {rec['seed']}: "
          f"{rec['test_accuracy']:.2f} % ({rec['epochs']} epochs, {rec['stopped']}, {rec['fit_seconds']:.1f} s)",
          flush=True)


def run_reproduce(args: argparse.Namespace) -> int:
    """Body of ``geoviz reproduce``; returns the exit code."""
    import json
    import time
    from pathlib import Path

    from geoviz.training.reproduce import (PAPER_LANDOCEAN, format_checkerboard_table, format_table, load_records,
                                  parse_subset, plot_latitude_accuracy, render_checkerboard_report,
                                  render_landocean_report, run_checkerboard, run_landocean, summarize, update_doc)

    if args.max_epochs < 1:
        raise ValueError(f"--epochs (--max-epochs) must be a positive int, got {args.max_epochs}")
    if args.workers < 1:
        raise ValueError(f"--workers must be a positive int, got {args.workers}")
    if args.seeds is not None and any(s < 0 for s in args.seeds):
        raise ValueError(f"--seeds must be non-negative ints, got {args.seeds}")
    cells = parse_subset(args.subset, args.task)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / f"{args.task}.jsonl"
    seeds = args.seeds if args.seeds is not None else ([0, 1, 2, 3, 4] if args.task == "landocean" else [0, 1, 2])
    t0 = time.perf_counter()
    if args.no_run:
        keys = {(pe, nn) for pe, nn in cells}
        recs = [r for r in load_records(results) if r.get("task") == args.task and (r["pe"], r["nn"]) in keys
                and r.get("variant", "reference") == args.variant]
    else:
        run = run_landocean if args.task == "landocean" else run_checkerboard
        recs = run(results, cells, seeds, args.variant, args.max_epochs, args.workers, _progress)
    wall = time.perf_counter() - t0
    summ = summarize(recs)
    (out / f"{args.task}_{args.variant}_summary.json").write_text(json.dumps(
        {"task": args.task, "variant": args.variant, "seeds": list(seeds), "max_epochs": args.max_epochs,
         "wall_seconds_this_invocation": wall, "n_runs": len(recs),
         "cells": [{"pe": pe, "nn": nn, **s, **({"paper_mean": PAPER_LANDOCEAN[(pe, nn)][0],
                                                  "paper_std": PAPER_LANDOCEAN[(pe, nn)][1]}
                                                 if args.task == "landocean" else {})}
                   for (v, pe, nn), s in summ.items()]}, indent=2))
    if args.task == "landocean":
        table = format_table(recs, args.variant)
    else:
        table = format_checkerboard_table(recs, args.variant)
        plot_latitude_accuracy(recs, out / f"checkerboard_{args.variant}_latitude.png")
    (out / f"{args.task}_{args.variant}.md").write_text(table)
    if args.doc:
        every = [r for r in load_records(results) if r.get("task") == args.task]
        if args.task == "landocean":
            update_doc(args.doc, render_landocean_report(every, args.variant), "landocean")
        else:
            png = Path(args.doc).with_name("checkerboard_latitude_accuracy.png")
            plot_latitude_accuracy(every, png, args.variant)
            update_doc(args.doc, render_checkerboard_report(every, args.variant), "checkerboard")
        print(f"updated {args.doc}")
    print(table)
    print(f"{len(recs)} runs ({wall:.0f} s this invocation); results in {results}")
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz reproduce {landocean,checkerboard}`` to the CLI."""
    p = sub.add_parser("reproduce", help="reproduce the paper's land-ocean table / checkerboard analysis")
    p.add_argument("task", choices=list(TRAIN_TASKS))
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0-4 (landocean), 0-2 (checkerboard)")
    p.add_argument("--subset", nargs="+", default=None, metavar="PE[:NN]",
                   help="cells to run, e.g. sh:siren grid :linear (default: all)")
    p.add_argument("--variant", default="float32", choices=list(REPRODUCE_VARIANTS),
                   help="default float32: the reference protocol in float32, the same table as the float64 "
                        "'reference' variant (mean |diff| 0.04 points over the 30 cells, docs/results/landocean.md) "
                        "in about half the time")
    p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1),
                   help="parallel runs, one torch thread each (default: one per CPU core)")
    p.add_argument("--epochs", "--max-epochs", dest="max_epochs", type=int, default=500,
                   help="maximum epochs per run (default 500)")
    p.add_argument("--out", default="out/reproduce", metavar="DIR", help="folder of results (default out/reproduce)")
    p.add_argument("--doc", default=None, help="also (re)write the generated block of this markdown file, "
                   "e.g. docs/results/landocean.md (all records of the results file)")
    p.add_argument("--no-run", action="store_true", help="only rebuild tables/doc from OUT/TASK.jsonl")
    p.set_defaults(func=run_reproduce)
