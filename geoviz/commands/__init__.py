"""Subcommands of the ``geoviz`` command line and their argparse parsers.

Every entry of :data:`geoviz.cli.COMMANDS` names a ``register(sub)`` function in a *light*
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
(:mod:`geoviz.reproduce`), :mod:`geoviz.commands.pretrain` (:mod:`geoviz.pretraining`),
:mod:`geoviz.commands.pretrained` (``download``/``models``, :mod:`geoviz.pretrained.download`),
:mod:`geoviz.commands.species` (:mod:`geoviz.species.cli`) and :mod:`geoviz.commands.evaluate`
(:mod:`geoviz.evaluation.cli`).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Callable, Sequence

__all__ = ["LazyCommand", "name_choice", "comma_list"]


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
