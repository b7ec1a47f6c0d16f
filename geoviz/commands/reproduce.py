"""Parser of ``geoviz reproduce {landocean,checkerboard}`` (the body is :func:`geoviz.reproduce._cmd`).

The only parser of this command, kept in a light module so that the CLI builds without
importing torch (``tests/test_cli.py`` checks that building every parser imports nothing heavy).
"""

from __future__ import annotations

import argparse
import os

from geoviz._names import REPRODUCE_VARIANTS, TRAIN_TASKS

from . import LazyCommand

__all__ = ["register"]


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
    p.add_argument("--max-epochs", type=int, default=500)
    p.add_argument("--out", default="out/reproduce")
    p.add_argument("--doc", default=None, help="also (re)write the generated block of this markdown file, "
                   "e.g. docs/results/landocean.md (all records of the results file)")
    p.add_argument("--no-run", action="store_true", help="only rebuild tables/doc from OUT/TASK.jsonl")
    p.set_defaults(func=LazyCommand("geoviz.reproduce:_cmd"))
