"""Where geoviz keeps its on-disk caches (downloaded checkpoints, grid embeddings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import numpy as np


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


def decoded_array(name: str, source: str | Path, decode: "Callable[[], np.ndarray]") -> "np.ndarray":
    """A large read-only array decoded from a compressed file, kept as a memory-mapped ``.npy``.

    The first call decodes (``decode()``) and writes ``<cache>/arrays/<name>-<key>.npy``
    atomically, where ``key`` changes with the source file's size and modification time;
    every call returns ``np.load(..., mmap_mode="r")``. Pages are then read from disk on
    demand and shared by every process on the machine, so a server that looks up a few
    hundred thousand cells of an 84 MB raster holds a few MB of it instead of all of it.
    Where the cache cannot be written, the decoded array is returned as is.

    Args:
        name: file-name stem, e.g. ``"koppen"``.
        source: the compressed file the array is decoded from (its size and mtime key the cache).
        decode: returns the array (any dtype, C order).

    Returns:
        Read-only array (an ``np.memmap`` when cached).
    """
    import hashlib
    import os
    import tempfile

    import numpy as np

    st = os.stat(source)
    key = hashlib.sha1(f"{os.path.abspath(source)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    path = cache_root() / "arrays" / f"{name}-{key}.npy"
    if path.is_file():
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError):  # truncated or foreign file: decode again
            pass
    arr = np.ascontiguousarray(decode())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return np.load(path, mmap_mode="r")
    except OSError:  # read-only or full cache: keep the decoded array in memory
        arr.setflags(write=False)
        return arr
