"""Every number in ``docs/results/`` regenerable by one command.

Each results page has a generator module registered in :data:`RESULTS`; a generator exposes

* ``DOC``: the page it writes (relative to the repository root) and ``COMMAND``: the command
  line that regenerates it (printed above every generated table);
* ``run(out: Path, *, small: bool = False, progress=print) -> dict``: the experiment, from
  seeds; returns a JSON-ready record (also written to ``out/<name>.json``). ``small=True`` is a
  minutes-long version with the same code path and output format (run by the test suite, so
  that an API or format change cannot silently orphan a document);
* ``render(record: dict) -> str``: the markdown of the generated block (tables, with the
  command that made them);
* ``claims(record: dict) -> dict[str, Any]``: the page's key claims computed from the record
  (e.g. the winner per task, "beats the KDE"); ``tests/test_results.py`` checks that the
  prose states them, so a sentence cannot outlive its table.

:func:`regenerate` runs one generator and replaces the page's generated block (between
``<!-- results:NAME begin -->`` and ``<!-- results:NAME end -->``), keeping the prose
around it. Command line: ``geoviz results NAME [--small] [--out DIR] [--no-doc]`` and
``make results`` (all of them).
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["RESULTS", "list_results", "get_generator", "regenerate", "update_block", "BEGIN", "END"]

RESULTS: dict[str, str] = {
    "evaluation": "geoviz.results.evaluation",
    "species": "geoviz.results.species",
    "fields": "geoviz.results.fields",
    "pretrained": "geoviz.results.pretrained",
    "finetune": "geoviz.results.finetune",
    "geolocation": "geoviz.results.geolocation",
}
"""Results page name → the module of its generator."""

BEGIN = "<!-- results:{name} begin (generated: do not edit by hand) -->"
END = "<!-- results:{name} end -->"

REPO = Path(__file__).resolve().parents[2]
"""The repository root (the generated pages live in ``REPO / DOC``)."""


def list_results() -> list[str]:
    """Names of the registered results pages."""
    return list(RESULTS)


def get_generator(name: str) -> Any:
    """The generator module of ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in RESULTS:
        raise ValueError(f"unknown results page {name!r}; known: {list_results()}")
    return importlib.import_module(RESULTS[name])


def update_block(path: str | Path, name: str, generated: str) -> Path:
    """Replace the generated block ``name`` of the markdown file ``path`` with ``generated``
    (appended when the file has none), keeping everything else
    (:func:`geoviz.training.reproduce.replace_block`)."""
    from ..training.reproduce import replace_block

    return replace_block(path, BEGIN.format(name=name), END.format(name=name), generated)


def regenerate(name: str, *, out: str | Path | None = None, small: bool = False, doc: bool = True,
               progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the generator ``name`` and (unless ``doc=False`` or ``small``) rewrite its page's block.

    Args:
        name: a key of :data:`RESULTS`.
        out: folder for ``<name>.json`` and any figures (default ``docs/results/<name>/``;
            a small run defaults to a temporary-looking ``out/results-small/``).
        small: the quick version (same code path, smaller sizes); never touches ``docs/``.
        doc: rewrite the generated block of the page.
        progress: called with one line per step.

    Returns:
        The record (with ``"seconds"`` and ``"command"`` added).
    """
    gen = get_generator(name)
    folder = Path(out) if out is not None else (REPO / "out" / "results-small" / name if small
                                               else REPO / "docs" / "results" / name)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    record = gen.run(folder, small=small, progress=progress)
    record["seconds"] = round(time.perf_counter() - t0, 1)
    record["command"] = gen.COMMAND + (" --small" if small else "")
    (folder / f"{name}.json").write_text(json.dumps(record, indent=1, default=float))
    if doc and not small:
        update_block(REPO / gen.DOC, name, gen.render(record))
    return record
