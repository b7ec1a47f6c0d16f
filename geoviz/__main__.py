"""``python -m geoviz ...``: the ``geoviz`` command line (:func:`geoviz.cli.main`)."""

from __future__ import annotations

from geoviz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
