"""Helpers for tests that tamper with geoviz model files (safetensors + JSON header) at the byte level."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Callable


def split(path: Path) -> tuple[dict[str, Any], bytes]:
    """``(safetensors header dict, tensor data bytes)`` of a file."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(st: dict[str, Any], body: bytes) -> bytes:
    raw = json.dumps(st).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads its header to 8 bytes
    return struct.pack("<Q", len(raw)) + raw + body


def rewrite_header(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None], *, resign: bool = True) -> Path:
    """Copy ``src`` to ``dst`` with its geoviz header edited in place by ``edit``; ``resign``
    recomputes the header checksum (a consistent file, e.g. one from a newer geoviz), else the
    stale checksum stays (a tampered file)."""
    st, body = split(src)
    header = json.loads(st["__metadata__"]["geoviz"])
    edit(header)
    text = json.dumps(header, ensure_ascii=False)
    st["__metadata__"]["geoviz"] = text
    if resign:
        st["__metadata__"]["geoviz.sha256"] = hashlib.sha256(text.encode()).hexdigest()
    Path(dst).write_bytes(join(st, body))
    return Path(dst)
