"""The ``geoviz`` command line: one package, the parser built in one place (:func:`build_parser`).

Every entry of :data:`COMMANDS` names a ``register(sub)`` function in a *light* module of this
package (standard library, :mod:`geoviz._names` and :mod:`geoviz.spec` only: no torch, numpy
or pandas at import), so that ``geoviz --help``, ``geoviz CMD --help`` and argument errors
answer at once. Each command's body lives beside its parser and imports the library when it
runs: ``train``, ``fit``, ``predict``, ``embed``, ``evaluate``, ``species fit|map``,
``reproduce``, ``pretrain``, ``download``, ``models``.

Option names mean the same in every command:

* ``--encoder SPEC`` (and the shorthands ``--pe``, ``--nn``, ``--legendre-polys``, ...;
  :mod:`geoviz.commands._options`) — the location encoder of ``train``, ``fit``, ``species fit``;
* ``--save MODEL`` — the model file a command writes (the name is kept as given);
  ``-o/--output FILE`` — the result file of ``predict``, ``embed``, ``species map``;
  ``--out DIR`` — the folder of maps, tables and JSON of ``train``, ``fit``, ``evaluate``,
  ``reproduce``;
* ``--lon``/``--lat`` — coordinate columns of a point file; ``--seed``, ``--device``
  (``auto``: CUDA when present), ``--threads``, ``--epochs``, ``--quiet``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Sequence

__all__ = ["main", "build_parser", "COMMANDS", "comma_list"]

COMMANDS: dict[str, str] = {
    "train": "geoviz.commands.train:register",
    "fit": "geoviz.commands.fit:register",
    "predict": "geoviz.commands.predict:register",
    "embed": "geoviz.commands.embed:register",
    "evaluate": "geoviz.commands.evaluate:register",
    "species": "geoviz.commands.species:register",
    "reproduce": "geoviz.commands.reproduce:register",
    "results": "geoviz.commands.results:register",
    "pretrain": "geoviz.commands.pretrain:register",
    "download": "geoviz.commands.pretrained:register_download",
    "models": "geoviz.commands.pretrained:register_models",
    "geolocate": "geoviz.commands.geolocate:register",
}
"""Subcommands: name → ``"module:function"``. The function receives the argparse sub-parsers
object, adds its parser and sets ``func`` (a callable taking the parsed Namespace and returning
an exit code). The modules must be light (no torch, numpy, pandas, ... at import;
``tests/test_cli.py`` checks): heavy dependencies are imported inside the command body, so
``geoviz --help`` stays fast."""


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_parser() -> argparse.ArgumentParser:
    """The ``geoviz`` parser with every subcommand of :data:`COMMANDS` (imports nothing heavy)."""
    ap = argparse.ArgumentParser(prog="geoviz", description="Implicit neural geo-representations.")
    sub = ap.add_subparsers(dest="command", required=True)
    for spec in COMMANDS.values():
        _load(spec)(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``geoviz`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Argument errors exit through argparse (``SystemExit(2)``); a ``ValueError``, ``TypeError``,
    ``FileNotFoundError``, ``KeyError`` or ``ImportError`` (a missing optional package) from a command is printed as ``geoviz: error: ...``
    and returns 2.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError, ImportError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"geoviz: error: {msg}", file=sys.stderr)
        return 2


def comma_list(text: str, allowed: Sequence[str], what: str, *, allow_all: bool = True) -> list[str]:
    """``"a,b"`` → ``["a", "b"]`` checked against ``allowed`` (case-insensitive; ``"all"`` → all).

    Raises:
        ValueError: nothing given, or unknown names (the message lists the valid ones).
    """
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"no {what} given")
    if allow_all and items == ["all"]:
        return list(allowed)
    bad = [s for s in items if s.lower() not in allowed]
    if bad:
        raise ValueError(f"unknown {what}(s) {bad}; valid: {list(allowed)}" + (" (or 'all')" if allow_all else ""))
    return [s.lower() for s in items]
