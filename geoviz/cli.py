"""The ``geoviz`` console script's entry point; the command line lives in :mod:`geoviz.commands`.

    geoviz --help
    geoviz train landocean --encoder "sh:10+siren(64x2)" --out out/ --gif
    geoviz fit field:temperature --save temp.gvz --out out/

``geoviz.cli.main`` is kept as the documented Python entry point (``main(["fit", ...])``).
"""

from __future__ import annotations

from .commands import COMMANDS, build_parser, main

__all__ = ["main", "build_parser", "COMMANDS"]

if __name__ == "__main__":
    raise SystemExit(main())
