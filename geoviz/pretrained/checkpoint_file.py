"""Reading PyTorch checkpoint files safely, with one clean error line for bad files.

Every PyTorch checkpoint geoviz reads (SatCLIP ``.ckpt``, GeoCLIP weights; geoviz's own model
files are safetensors, see :mod:`geoviz.model_file`) goes through :func:`load_torch_file`:
``torch.load(..., weights_only=True)`` (tensors and plain containers only). When the file is
not a checkpoint at all (random bytes, text, a truncated download), torch raises one of a dozen exception types, and its ``UnpicklingError`` text
advises re-running with ``weights_only=False`` — advice that turns a corrupt or hostile file
into code execution. That text is never relayed: the caller gets
:class:`NotACheckpointError` with the single line ``"<path>: not a PyTorch checkpoint, or
corrupted"``. A real checkpoint that needs pickled Python objects (e.g. an
``argparse.Namespace`` saved by Lightning) raises :class:`UnsafeCheckpointError` naming
those objects instead.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterable

import torch

__all__ = ["NotACheckpointError", "UnsafeCheckpointError", "load_torch_file", "not_a_checkpoint_message"]


class NotACheckpointError(ValueError):
    """A file is not a PyTorch checkpoint (garbage, text, truncated, corrupt).

    Attributes:
        path: the file.
        cause: the name of the exception type torch raised (its message is dropped on
            purpose: it may advise ``weights_only=False``).
    """

    def __init__(self, path: str | os.PathLike, cause: str = "", what: str = "") -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(not_a_checkpoint_message(path, what))


class UnsafeCheckpointError(ValueError):
    """A checkpoint references pickled Python objects that ``weights_only=True`` refuses.

    Attributes:
        path: the file; ``globals``: the fully qualified names found (may be empty).
    """

    def __init__(self, path: str | os.PathLike, names: list[str]) -> None:
        self.path = str(path)
        self.globals = list(names)
        found = ", ".join(names) if names else "objects of unknown type"
        super().__init__(f"{path}: holds pickled Python objects ({found}); loading them can run code")


def not_a_checkpoint_message(path: str | os.PathLike, what: str = "") -> str:
    """``"<path>: not a PyTorch checkpoint, or corrupted"`` (plus `` (<what>)``, e.g. what the file
    should have been)."""
    return f"{path}: not a PyTorch checkpoint, or corrupted" + (f" ({what})" if what else "")


def _unsafe_globals(path: Path) -> list[str]:
    """Names of the non-allowlisted globals a zip-format checkpoint references (best effort)."""
    fn = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if fn is None:  # pragma: no cover - torch < 2.5
        return []
    try:
        return [str(n) for n in fn(str(path))]
    except Exception:
        return []


def load_torch_file(path: str | os.PathLike, *, safe_globals: Iterable[Any] = (), trust_pickle: bool = False,
                    what: str = "") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with clean errors.

    Args:
        path: the file (must exist; callers check and raise ``FileNotFoundError`` first).
        safe_globals: extra globals allowed under ``weights_only=True`` (e.g. numpy scalar
            reconstructors).
        trust_pickle: ``True`` allows arbitrary unpickling (``weights_only=False``): only for
            files from a source the user trusts; the caller must have asked for it.
        what: a note appended to the error line in parentheses (e.g. ``"not a readable
            GeoCLIP weights file"``).

    Returns:
        The unpickled object (tensors on the CPU).

    Raises:
        NotACheckpointError: not a checkpoint or damaged (one line, torch's advice dropped).
        UnsafeCheckpointError: a valid checkpoint that needs pickled Python objects
            (only when ``trust_pickle`` is False).
    """
    p = Path(path)
    safe = list(safe_globals)
    ctx = torch.serialization.safe_globals(safe) if safe and not trust_pickle else nullcontext()
    try:
        with ctx:
            return torch.load(p, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            bad = _unsafe_globals(p)
            if bad or "Unsupported global" in str(exc):
                raise UnsafeCheckpointError(p, bad) from None
        raise NotACheckpointError(p, type(exc).__name__, what) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, AttributeError, ImportError, IndexError,
            KeyError, TypeError, ValueError, MemoryError, OverflowError, UnicodeDecodeError, SystemError,
            AssertionError) as exc:
        # torch raises RuntimeError for a damaged zip archive, EOFError for a truncated legacy
        # pickle, and the rest for assorted garbage; ``from None``: its text never reaches the user
        raise NotACheckpointError(p, type(exc).__name__, what) from None
