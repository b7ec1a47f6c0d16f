"""``geoviz results NAME``: regenerate a page of ``docs/results/`` from seeds (:mod:`geoviz.results`).

    geoviz results evaluation            # runs the experiment, rewrites the page's tables
    geoviz results species --small       # the quick version (what the test suite runs)

``make results`` regenerates every page.
"""
# A light module: the body imports the library when it runs (tests/test_cli.py checks).

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run_results"]


def run_results(args: argparse.Namespace) -> int:
    """Body of ``geoviz results``."""
    from geoviz.results import list_results, regenerate

    names = list_results() if args.name == "all" else [args.name]
    for name in names:
        rec = regenerate(name, out=args.out, small=args.small, doc=not args.no_doc,
                         progress=(lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)))
        print(f"{name}: {rec['seconds']:.0f} s ({rec['command']})")
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz results``."""
    p = sub.add_parser("results", help="regenerate a results page of docs/results/ from seeds",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="results page (evaluation, species, fields) or all")
    p.add_argument("--small", action="store_true", help="the quick version: same code, small sizes; docs untouched")
    p.add_argument("--out", default=None, metavar="DIR", help="folder for the JSON record and figures")
    p.add_argument("--no-doc", action="store_true", help="do not rewrite the page's generated block")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run_results)
