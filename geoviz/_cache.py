"""Where geoviz keeps its on-disk caches (downloaded checkpoints, grid embeddings)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The geoviz cache folder (not created here).

    ``$GEOVIZ_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/geoviz``, else ``~/.cache/geoviz``.
    Each kind of cache lives in a sub-folder (``checkpoints/``, ``embeddings/``).
    """
    root = os.environ.get("GEOVIZ_CACHE_DIR")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "geoviz"
