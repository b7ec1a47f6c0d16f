"""The ``geoviz`` command line: one package, the parser built in one place (:func:`build_parser`).

Every entry of :data:`COMMANDS` names a ``register(sub)`` function in a *light*
module (standard library and :mod:`geoviz._names` only, no torch/numpy/pandas at import), so
that ``geoviz --help``, ``geoviz CMD --help`` and argument errors answer at once. The command
bodies import the heavy stack when they run; for bodies that live in heavy modules the parser
holds a :class:`LazyCommand` (``"module:function"``, imported on call).

Commands on the user's own data and models:

* :mod:`geoviz.commands.fit`: ``geoviz fit SOURCE --save MODEL`` (a point file or ``field:NAME``);
* :mod:`geoviz.commands.predict`: ``geoviz predict MODEL POINTS -o OUT``;
* :mod:`geoviz.commands.embed`: ``geoviz embed MODEL POINTS -o OUT.parquet`` (in memory, or
  in chunks with dask.dataframe, optionally on a ``dask.distributed`` cluster).

Parsers of commands implemented elsewhere: :mod:`geoviz.commands.reproduce`
(:mod:`geoviz.training.reproduce`), :mod:`geoviz.commands.pretrain` (:mod:`geoviz.training.pretraining`),
:mod:`geoviz.commands.pretrained` (``download``/``models``, :mod:`geoviz.pretrained.download`),
:mod:`geoviz.commands.species` (:mod:`geoviz.species.cli`) and :mod:`geoviz.commands.evaluate`
(:mod:`geoviz.evaluation.cli`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Callable, Sequence

__all__ = ["main", "build_parser", "COMMANDS", "LazyCommand", "name_choice", "comma_list"]

COMMANDS: dict[str, str] = {
    "train": "geoviz.commands.train:register",
    "fit": "geoviz.commands.fit:register",
    "predict": "geoviz.commands.predict:register",
    "embed": "geoviz.commands.embed:register",
    "evaluate": "geoviz.commands.evaluate:register",
    "species": "geoviz.commands.species:register",
    "reproduce": "geoviz.commands.reproduce:register",
    "pretrain": "geoviz.commands.pretrain:register",
    "download": "geoviz.commands.pretrained:register_download",
    "models": "geoviz.commands.pretrained:register_models",
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


class LazyCommand:
    """A command body named ``"module:function"``, imported when the command runs.

    Used as an argparse ``func`` default so that building the parser imports nothing heavy.

    Args:
        spec: ``"package.module:function"``; the function takes the parsed
            ``argparse.Namespace`` and returns an exit code.
    """

    def __init__(self, spec: str) -> None:
        module, _, attr = spec.partition(":")
        if not module or not attr:
            raise ValueError(f"expected 'module:function', got {spec!r}")
        self.spec = spec

    def resolve(self) -> Callable[[argparse.Namespace], int]:
        """The function itself (imports its module)."""
        module, _, attr = self.spec.partition(":")
        return getattr(importlib.import_module(module), attr)

    def __call__(self, args: argparse.Namespace) -> int:
        return self.resolve()(args)

    def __repr__(self) -> str:
        return f"LazyCommand({self.spec!r})"


def name_choice(names: Sequence[str], aliases: dict[str, str] | None = None) -> Callable[[str], str]:
    """An argparse ``type=`` for a registry name: stripped and lower-cased, as the registries do.

    Used together with ``choices=`` (the converted value is what argparse checks), so an
    unknown name is an argparse error that lists the valid names. ``aliases`` are kept as
    given (the registries resolve them).
    """
    valid = {n.lower(): n for n in [*names, *(aliases or {})]}

    def convert(text: str) -> str:
        key = text.strip().lower()
        return valid.get(key, text)

    convert.__name__ = "name"  # argparse shows "invalid name value" if this ever raises
    return convert


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
