"""One model file for everything geoviz writes: safetensors weights + a versioned JSON header.

Every fitted or pretrained thing geoviz saves — fields and regressors, classifiers
(:mod:`geoviz.model_io`), species range models (:class:`geoviz.species.SpeciesModel`),
pretrained location encoders (:mod:`geoviz.pretrained.geoviz_model`, the shipped Blue
Marble models), the pretraining checkpoint (:mod:`geoviz.training.pretraining`) and the species
demo (:mod:`geoviz.species.demo`) — is one `safetensors <https://github.com/huggingface/safetensors>`_
file. Safetensors holds raw tensor bytes and a JSON header only, so **reading a model file
can never run code** (no pickle is involved at any point).

Layout (the safetensors container)::

    8 bytes   little-endian u64 N: length of the safetensors JSON header
    N bytes   {"__metadata__": {"geoviz": "<header JSON>", "geoviz.sha256": "<hex>"},
               "network.layers.0.weight": {"dtype": "F32", "shape": [...], "data_offsets": [...]}, ...}
    rest      the tensors' bytes

``__metadata__`` maps str → str; geoviz puts its whole header, as JSON, under one key
(:data:`HEADER_KEY`) and the SHA-256 of exactly that JSON text under :data:`CHECKSUM_KEY`.
The header in turn holds the SHA-256 of the tensors (names, dtypes, shapes and bytes), so
an edited header and altered weights are both refused. A header (``kind`` "regressor")::

    {"format": "geoviz-model", "format_version": 2, "kind": "regressor",
     "encoder": {"spec": "sh:8(convention=standard)+siren(16x2,dropout=0.0,w0=1.0,w0_initial=30.0)",
                 "pe": "sphericalharmonics", "pe_kwargs": {"convention": "standard", "legendre_polys": 8},
                 "nn": "siren", "nn_kwargs": {"dropout": 0.0, "hidden_dim": 16, "num_layers": 2, "w0": 1.0,
                                              "w0_initial": 30.0}},
     "output_dim": 1, "dtype": "float32",
     "task": {"kind": "regression", "name": "field:temperature", "num_classes": 0, "class_names": null,
              "units": "°C", "target_names": ["temperature"]},
     "scaling": {"mean": [8.1], "std": [16.3]},
     "training_data": {"task": "field:temperature", "n_train": 4000, "n_val": 500, "n_test": 500,
                       "lon_range": [-179.9, 179.9], "lat_range": [-89.7, 89.9]},
     "config": {...TrainConfig...}, "extra": {...free-form...},
     "geoviz_version": "0.1.0", "torch_version": "2.x", "created": "2025-06-01T12:00:00Z",
     "tensors": {"count": 6, "sha256": "<hex>"}}

Kinds (:data:`KINDS`) and what else their header holds:

* ``"regressor"`` / ``"classifier"`` — :func:`geoviz.model_io.save_model`: ``task``,
  ``scaling`` (regression), ``config``, ``training_data``, ``extra``; tensors = the
  :class:`~geoviz.LocationEncoder` state dict (``network.*``).
* ``"location-encoder"`` — a location encoder without a task (pretrained encoders;
  ``save_model`` without a task): ``extra`` (training time, scores, data source, ...).
* ``"species"`` — ``species`` (names), ``extra`` (the model's ``meta``; tensors inside it are
  stored as tensors named ``extra.<path>`` and referenced by ``{"__tensor__": name}``).
* ``"pretraining-checkpoint"`` — the whole contrastive model (location + image encoder +
  temperature): ``config`` (the :class:`~geoviz.training.pretraining.PretrainConfig`).
* ``"species-demo"`` — the species demo's arrays: ``species``, ``resolution``, ``settings``.

Files written before format version 2 (``torch.save`` pickles) are recognised by their
magic bytes and refused — never unpickled — with the command that converts them once:
``python scripts/convert_model_files.py OLD NEW``.

    >>> from geoviz.model_file import save_model_file, read_model_file, read_header
    >>> save_model_file("m.safetensors", {"w": torch.zeros(2)}, {"kind": "location-encoder"})  # doctest: +SKIP
    >>> tensors, header = read_model_file("m.safetensors")                                    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import secrets
import struct
import zipfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "HEADER_KEY", "CHECKSUM_KEY", "KINDS", "CONVERT_COMMAND",
    "ModelFileError", "save_model_file", "read_model_file", "read_header", "check_tensors",
    "encoder_spec_of", "encoder_header", "save_encoder", "load_encoder", "build_encoder",
    "pack_tensors", "unpack_tensors", "json_plain", "IMAGE_PREFIX", "TEMPERATURE_KEY", "location_tensors",
]

FORMAT_NAME = "geoviz-model"
FORMAT_VERSION = 2
"""Version 1 was ``geoviz.model_io``'s ``torch.save`` format; 2 is the safetensors file."""
HEADER_KEY = "geoviz"
CHECKSUM_KEY = "geoviz.sha256"
KINDS: tuple[str, ...] = ("regressor", "classifier", "location-encoder", "species", "pretraining-checkpoint",
                          "species-demo")
ENCODER_KINDS: tuple[str, ...] = ("regressor", "classifier", "location-encoder")
"""Kinds whose tensors are exactly one :class:`~geoviz.LocationEncoder`'s state dict."""
CONVERT_COMMAND = "python scripts/convert_model_files.py OLD NEW"
IMAGE_PREFIX = "image."
"""Tensor-name prefix of the image tower a ``location-encoder`` file may carry beside the
location encoder (its header then has an ``image_encoder`` dict; see
:func:`geoviz.pretrained.geoviz_model.load_image_tower`)."""
TEMPERATURE_KEY = "logit_scale"
"""Name of the learned contrastive temperature (``log`` of the logit scale) in such a file."""


def location_tensors(header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The location encoder's tensors of a file: all of them, or, when the header declares an
    ``image_encoder``, all but the image tower's (``image.*``) and the temperature."""
    if not header.get("image_encoder"):
        return dict(tensors)
    return {k: v for k, v in tensors.items() if not k.startswith(IMAGE_PREFIX) and k != TEMPERATURE_KEY}

_LOADERS = {
    "regressor": "geoviz.model_io.load_model",
    "classifier": "geoviz.model_io.load_model",
    "location-encoder": "geoviz.pretrained.geoviz_model.load_geoviz_model(path=...) or geoviz.model_io.load_model",
    "species": "geoviz.species.load_species_model",
    "pretraining-checkpoint": "geoviz.training.pretraining.load_full_checkpoint",
    "species-demo": "geoviz.species.demo.SpeciesDemo.load",
}
_MAX_HEADER = 100 * 2**20
_TENSOR_REF = "__tensor__"
_ST_DTYPES: dict[str, int] = {  # safetensors dtype → bytes per element
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}


class ModelFileError(ValueError):
    """A model file that cannot be read: not a geoviz model file, damaged, tampered with, of
    another kind, written by a newer geoviz, or an old ``torch.save`` file (convert it).

    Attributes:
        path: the file (str). problem: what is wrong with it (the message without the path).
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# ----------------------------------------------------------------------------- JSON helpers


def _to_plain(v: Any) -> Any:
    import dataclasses

    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    if isinstance(v, (tuple, set, frozenset)):
        return list(v)
    if isinstance(v, Path):
        return str(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    raise TypeError(f"{type(v).__name__} is not JSON-serialisable")


def json_plain(obj: Any, what: str = "header") -> Any:
    """``obj`` as plain JSON types (numpy scalars/arrays, tensors, tuples, dataclasses converted).

    Raises:
        TypeError: something that has no JSON form (named, with ``what``).
    """
    try:
        return json.loads(json.dumps(obj, default=_to_plain, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable (plain types): {exc}") from exc


def pack_tensors(obj: Any, prefix: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split tensors out of a JSON-like tree: each tensor becomes ``{"__tensor__": name}``
    (``name`` = ``prefix`` + its dotted path) and is returned in the dict, so that free-form
    metadata holding tensors (e.g. a species model's observations) is stored bit-exactly as
    tensors and not as JSON numbers."""
    out: dict[str, torch.Tensor] = {}

    def walk(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            out[path] = x
            return {_TENSOR_REF: path}
        if isinstance(x, Mapping):
            return {str(k): walk(v, f"{path}.{k}") for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(x)]
        return x

    return walk(obj, prefix), out


def unpack_tensors(obj: Any, tensors: Mapping[str, torch.Tensor], path: str | os.PathLike = "?") -> Any:
    """Inverse of :func:`pack_tensors` (``ModelFileError`` for a reference to a missing tensor)."""
    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if set(x) == {_TENSOR_REF}:
                name = x[_TENSOR_REF]
                if not isinstance(name, str) or name not in tensors:
                    raise ModelFileError(path, f"the header refers to a tensor {name!r} that the file lacks")
                return tensors[name]
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(obj)


def tensor_refs(obj: Any) -> set[str]:
    """Names referenced by ``{"__tensor__": name}`` in a header tree."""
    found: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if set(x) == {_TENSOR_REF} and isinstance(x[_TENSOR_REF], str):
                found.add(x[_TENSOR_REF])
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(obj)
    return found


# ----------------------------------------------------------------------------- digests


def _tensor_bytes(t: torch.Tensor) -> Any:
    """The tensor's raw bytes as a buffer (uint8 numpy view of a contiguous CPU copy)."""
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy() if flat.numel() else b""


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors sorted by name: name, dtype, shape and raw bytes of each."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        head = json.dumps([name, str(t.dtype).replace("torch.", ""), list(t.shape)]).encode()
        h.update(struct.pack("<Q", len(head)))
        h.update(head)
        data = _tensor_bytes(t)
        h.update(struct.pack("<Q", len(data) if isinstance(data, bytes) else data.nbytes))
        h.update(data)
    return h.hexdigest()


def _header_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- writing


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def save_model_file(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], header: Mapping[str, Any]) -> Path:
    """Write ``tensors`` and ``header`` as one geoviz model file (safetensors), atomically.

    Args:
        path: output file, used exactly as given (no extension is added or changed); parent
            folders are created. The file is written to a temporary file in the same folder
            and moved into place with ``os.replace``, so a reader never sees half a file.
        tensors: name → tensor (any device; stored as contiguous CPU copies, dtype kept).
        header: JSON-like dict with at least ``kind`` (one of :data:`KINDS`). ``format``,
            ``format_version``, ``geoviz_version``, ``torch_version``, ``tensors`` (count and
            SHA-256) are set here; ``created`` (UTC, ISO 8601) unless given.

    Returns:
        The path written.

    Raises:
        TypeError: a non-tensor value or non-str name in ``tensors``; a header that is not
            JSON-like. ValueError: a missing or unknown ``kind``.
    """
    from . import __version__

    if not isinstance(header, Mapping):
        raise TypeError(f"header must be a dict, got {type(header).__name__}")
    kind = header.get("kind")
    if kind not in KINDS:
        raise ValueError(f"model file header needs a 'kind', one of {list(KINDS)}; got {kind!r}")
    clean: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"tensor names must be non-empty str, got {name!r}")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"tensors[{name!r}] must be a torch.Tensor, got {type(t).__name__}")
        clean[name] = t.detach().to("cpu").contiguous().clone()  # own storage: no sharing between entries
    body = {k: v for k, v in header.items() if k not in ("format", "format_version", "tensors")}
    full: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **body}
    full.setdefault("geoviz_version", __version__)
    full.setdefault("torch_version", torch.__version__.split("+")[0])
    full.setdefault("created", _now())
    full["tensors"] = {"count": len(clean), "sha256": tensors_sha256(clean)}
    full = json_plain(full, "model file header")
    text = json.dumps(full, ensure_ascii=False)
    from safetensors.torch import save as st_save

    data = st_save(clean, metadata={HEADER_KEY: text, CHECKSUM_KEY: _header_sha256(text)})
    p = Path(os.fspath(path))
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


# ----------------------------------------------------------------------------- reading


def looks_like_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts like a safetensors file (an 8-byte header length, then ``{``).

    Cheap (reads 9 bytes) and says nothing about validity: :func:`read_model_file` checks that.
    Used to tell a geoviz model file from a SatCLIP ``torch.save`` checkpoint.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(9)
        size = os.path.getsize(path)
    except OSError:
        return False
    if len(head) < 9:
        return False
    n0 = struct.unpack("<Q", head[:8])[0]
    return 2 <= n0 <= min(_MAX_HEADER, size - 8) and head[8:9] == b"{"


def _old_format_problem(head: bytes, data: bytes | None, path: Path, what: str) -> str | None:
    """The message for a file in an old (pickle/zip) format, or None when it is not one."""
    convert = f"convert it once with `python scripts/convert_model_files.py {path} NEW`"
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return (f"not a {what}: it is a Python pickle (the old torch.save format geoviz wrote before model "
                f"file format {FORMAT_VERSION}); geoviz never unpickles a model file, since that can run code: "
                f"{convert}")
    if head[:4] == b"PK\x03\x04":
        names: list[str] = []
        if data is not None:
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as z:  # reads the directory only: no unpickling
                    names = z.namelist()
            except (zipfile.BadZipFile, OSError, ValueError, EOFError):
                names = []
        if any(n.endswith("data.pkl") for n in names) or not names:
            return (f"not a {what}: it is an old torch.save file (zip + pickle, the format geoviz wrote before "
                    f"model file format {FORMAT_VERSION}); geoviz no longer reads pickles, since loading them "
                    f"can run code: {convert}")
        if all(n.endswith(".npy") for n in names):
            return (f"not a {what}: it is a NumPy .npz archive (the species demo's old cache format); "
                    f"{convert}, or delete it to have it rebuilt")
        return f"not a {what}: a zip archive, not a safetensors model file"
    return None


def _parse(path: Path, data: bytes, what: str, *, header_only: bool) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Validate the container; returns (safetensors header, geoviz header, data start)."""
    size = len(data) if not header_only else path.stat().st_size
    n0 = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else 0
    looks_safetensors = 2 <= n0 <= min(_MAX_HEADER, size - 8) and data[8:9] == b"{"
    if not looks_safetensors:  # (a header length of e.g. 640 bytes also starts with b"\x80\x02")
        old = _old_format_problem(data[:8], data if not header_only else None, path, what)
        if old is not None:
            if header_only and data[:4] == b"PK\x03\x04":  # look inside the zip to say what it is
                old = _old_format_problem(data[:8], path.read_bytes(), path, what)
            raise ModelFileError(path, str(old))
    if size < 8:
        raise ModelFileError(path, f"not a {what}: {size} bytes, too short for a safetensors file "
                                   "(empty or truncated)")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > _MAX_HEADER or 8 + n > size:
        raise ModelFileError(path, f"not a {what}: its header length field says {n} bytes but the file has "
                                   f"{size - 8} after it (a damaged header length, a truncated file, or not "
                                   "a safetensors file)")
    raw = data[8:8 + n]
    try:
        st = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ModelFileError(path, f"not a {what}: its safetensors header is not valid JSON (damaged or edited "
                                   "header, a wrong header length field, or not a safetensors file)") from None
    if not isinstance(st, dict):
        raise ModelFileError(path, f"not a {what}: its safetensors header is not a JSON object")
    meta = st.get("__metadata__")
    if not isinstance(meta, dict) or HEADER_KEY not in meta:
        raise ModelFileError(path, f"not a {what}: a safetensors file without a geoviz header "
                                   f"('__metadata__' has no {HEADER_KEY!r} entry)")
    text = meta[HEADER_KEY]
    try:
        header = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise ModelFileError(path, "the geoviz header is not a JSON object (damaged or edited)")
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise ModelFileError(path, f"not a {what}: unsupported format {fmt!r} (expected {FORMAT_NAME!r})")
    ver = header.get("format_version")
    if isinstance(ver, bool) or not isinstance(ver, int):
        raise ModelFileError(path, f"unreadable format version {ver!r}")
    if ver > FORMAT_VERSION:
        from . import __version__

        raise ModelFileError(path, f"written in {FORMAT_NAME} format version {ver} by a newer geoviz "
                                   f"({header.get('geoviz_version', '?')}); this geoviz ({__version__}) reads up "
                                   f"to version {FORMAT_VERSION}: upgrade geoviz to load it")
    if ver < FORMAT_VERSION:
        raise ModelFileError(path, f"unsupported format version {ver} (this geoviz reads version {FORMAT_VERSION}); "
                                   f"{CONVERT_COMMAND} converts old files")
    if meta.get(CHECKSUM_KEY) != _header_sha256(text):
        raise ModelFileError(path, "the geoviz header was edited or damaged (its SHA-256 does not match "
                                   f"{CHECKSUM_KEY!r}); refusing to load it")
    if header.get("kind") not in KINDS:
        raise ModelFileError(path, f"unknown kind {header.get('kind')!r}; this geoviz knows {list(KINDS)}")
    # the tensor table: dtypes, shapes and offsets that tile the data exactly
    entries = {k: v for k, v in st.items() if k != "__metadata__"}
    spans = []
    for name, e in entries.items():
        ok = (isinstance(e, dict) and e.get("dtype") in _ST_DTYPES and isinstance(e.get("shape"), list)
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in e["shape"])
              and isinstance(e.get("data_offsets"), list) and len(e["data_offsets"]) == 2
              and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in e["data_offsets"]))
        if not ok:
            raise ModelFileError(path, f"damaged tensor table: entry {name!r} is malformed")
        b, end = e["data_offsets"]
        if end - b != math.prod(e["shape"]) * _ST_DTYPES[e["dtype"]]:
            raise ModelFileError(path, f"damaged tensor table: {name!r} has {end - b} bytes for shape "
                                       f"{e['shape']} of {e['dtype']}")
        spans.append((b, end, name))
    spans.sort()
    pos = 0
    for b, end, name in spans:
        if b != pos:
            raise ModelFileError(path, f"damaged tensor table: tensor {name!r} starts at byte {b}, expected {pos}")
        pos = end
    have = size - 8 - n
    if pos > have:
        raise ModelFileError(path, f"truncated: the tensors need {pos} bytes of data but the file holds {have} "
                                   f"({size} bytes in all)")
    if pos < have:
        raise ModelFileError(path, f"damaged: {have - pos} unexpected bytes after the tensors")
    t = header.get("tensors")
    if not isinstance(t, dict) or t.get("count") != len(entries) or not isinstance(t.get("sha256"), str):
        raise ModelFileError(path, f"the header's tensor record {t!r} does not match the file's {len(entries)} "
                                   "tensor(s)")
    return st, header, 8 + n


def _read_bytes(path: str | os.PathLike, what: str, limit: int | None = None) -> tuple[Path, bytes]:
    p = Path(os.fspath(path))
    if p.is_dir():
        raise ModelFileError(p, f"is a directory, not a {what}")
    if not p.is_file():
        raise FileNotFoundError(f"model file not found: {p}")
    with open(p, "rb") as f:
        data = f.read() if limit is None else f.read(limit)
    return p, data


def _check_kind(p: Path, header: dict[str, Any], kind: str | tuple[str, ...] | None, what: str) -> None:
    if kind is None:
        return
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    got = header.get("kind")
    if got not in kinds:
        want = " or ".join(repr(k) for k in kinds)
        raise ModelFileError(p, f"not a {what}: it holds a {got!r} model (expected {want}); load it with "
                                f"{_LOADERS.get(str(got), 'the matching geoviz loader')}")


def read_header(path: str | os.PathLike, *, kind: str | tuple[str, ...] | None = None,
                what: str = "readable geoviz model file") -> dict[str, Any]:
    """The header of a model file, validated (format, version, header checksum, tensor table)
    without reading the weights.

    Args:
        path: the file. kind: refuse other kinds (a str or a tuple of them).
        what: the noun phrase of error messages ("not a <what>: ...").

    Raises:
        FileNotFoundError: no such file. ModelFileError (a ValueError): see :func:`read_model_file`.
    """
    p, head = _read_bytes(path, what, limit=8)
    if len(head) == 8:
        (n,) = struct.unpack("<Q", head)
        if 2 <= n <= _MAX_HEADER:
            with open(p, "rb") as f:
                head = f.read(8 + n)
    _, header, _ = _parse(p, head, what, header_only=True)
    _check_kind(p, header, kind, what)
    return header


def read_model_file(path: str | os.PathLike, *, kind: str | tuple[str, ...] | None = None,
                    device: str | torch.device | None = None, what: str = "readable geoviz model file",
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a model file: its tensors and header, both verified. Never runs code from the file.

    Args:
        path: the file.
        kind: refuse other kinds (a str or a tuple of them), naming the loader to use instead.
        device: where to put the tensors (default CPU).
        what: the noun phrase of error messages ("not a <what>: ...").

    Returns:
        ``(tensors, header)``: name → tensor (bit-identical to what was saved, dtype kept) and
        the header dict exactly as saved.

    Raises:
        FileNotFoundError: no such file.
        ModelFileError (a ValueError), naming the file and the problem: not a safetensors
            file; a safetensors file without a geoviz header; an old ``torch.save`` file (the
            conversion command is named); a newer format version (upgrade geoviz); an edited
            header (checksum); a damaged header length or tensor table; a truncated file;
            weights whose SHA-256 does not match the header; another kind.
    """
    p, data = _read_bytes(path, what)
    _, header, _ = _parse(p, data, what, header_only=False)
    _check_kind(p, header, kind, what)
    from safetensors.torch import load as st_load

    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors' own checks (a SafetensorError); its text is short and safe
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(p, f"damaged safetensors data: {first}") from None
    if tensors_sha256(tensors) != header["tensors"]["sha256"]:
        raise ModelFileError(p, "the weights were altered or damaged (their SHA-256 does not match the header); "
                                "refusing to load them")
    if device is not None:
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors, header


def check_tensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], expected: Mapping[str, Any],
                  what: str) -> None:
    """Refuse ``tensors`` unless their names and shapes are exactly those of ``expected``
    (e.g. ``module.state_dict()``).

    Raises:
        ModelFileError: ``"weights do not match <what>: missing tensor(s) [...], unknown tensor(s)
        [...]"`` or ``"... tensor 'x' has shape (a, b), expected (c, d)"``.
    """
    missing = sorted(set(expected) - set(tensors))
    unknown = sorted(set(tensors) - set(expected))
    if missing or unknown:
        raise ModelFileError(path, f"weights do not match {what}: missing tensor(s) {missing}, unknown tensor(s) "
                                   f"{unknown}")
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ModelFileError(path, f"weights do not match {what}: tensor {k!r} has shape "
                                       f"{tuple(tensors[k].shape)}, expected {tuple(v.shape)}")


# ----------------------------------------------------------------------------- location encoders


def encoder_spec_of(model: Any) -> Any:
    """The :class:`~geoviz.spec.EncoderSpec` of a :class:`~geoviz.LocationEncoder`, with every
    hyperparameter read off its modules (so a file does not depend on today's defaults).

    Raises:
        TypeError: not a LocationEncoder, or parts that are not in geoviz's registries.
    """
    from .encoders import POSITIONAL_ENCODINGS, positional_encoding_hyperparameters
    from .location_encoder import LocationEncoder
    from .networks import NETWORKS
    from .spec import EncoderSpec

    if not isinstance(model, LocationEncoder):
        raise TypeError(f"expected a geoviz LocationEncoder, got {type(model).__name__}")
    pe, net = model.positional_encoding, model.network
    pe_name = next((n for n, c in POSITIONAL_ENCODINGS.items() if type(pe) is c), None)
    if pe_name is None:
        raise TypeError(f"cannot save a positional encoding of type {type(pe).__name__}: not in the geoviz registry")
    nn_name = next((n for n, c in NETWORKS.items() if type(net) is c), None)
    if nn_name is None:
        raise TypeError(f"cannot save a network of type {type(net).__name__}: not in the geoviz registry")
    pe_kw = {p: getattr(pe, p) for p in positional_encoding_hyperparameters(pe_name)
             if isinstance(getattr(pe, p, None), (bool, int, float, str))}
    nn_kw = json_plain(dict(getattr(net, "hparams", {})), "network hyperparameters")
    return EncoderSpec.from_parts(pe_name, nn_name, pe_kw, nn_kw)


def _output_dim(net: Any) -> int:
    return int(net.output_dim) if hasattr(net, "output_dim") else int(net.out_features)


def _dtype_name(model: torch.nn.Module) -> str:
    p = next(iter(model.parameters()), None)
    return str(p.dtype if p is not None else torch.float32).replace("torch.", "")


def encoder_header(model: Any) -> dict[str, Any]:
    """``{"encoder": spec.to_dict(), "output_dim": int, "dtype": str}`` of a LocationEncoder,
    checked: the spec rebuilds a module with the same tensor names and shapes.

    Raises:
        TypeError: see :func:`encoder_spec_of`, or a spec that does not rebuild the module.
    """
    spec = encoder_spec_of(model)
    out = _output_dim(model.network)
    ref = spec.build(out).state_dict()
    mine = model.state_dict()
    if set(ref) != set(mine) or any(tuple(ref[k].shape) != tuple(mine[k].shape) for k in ref):
        raise TypeError(f"the encoder spec {str(spec)!r} read off this model does not rebuild it "
                        "(a module changed after construction?)")
    return {"encoder": spec.to_dict(), "output_dim": out, "dtype": _dtype_name(model)}


def save_encoder(path: str | os.PathLike, model: Any, header: Mapping[str, Any]) -> Path:
    """Write a :class:`~geoviz.LocationEncoder` (its state dict) with ``header`` plus
    :func:`encoder_header` (``kind`` defaults to ``"location-encoder"``)."""
    enc = encoder_header(model)
    h = {"kind": header.get("kind", "location-encoder"), **enc,
         **{k: v for k, v in header.items() if k not in enc and k != "kind"}}
    return save_model_file(path, model.state_dict(), h)


def build_encoder(path: str | os.PathLike, header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], *,
                  dtype: torch.dtype | None = None) -> Any:
    """A :class:`~geoviz.LocationEncoder` rebuilt from ``header["encoder"]`` and
    ``header["output_dim"]``, its weights loaded from ``tensors`` (names checked exactly),
    in ``dtype`` (default: the stored one), eval mode, CPU.

    Raises:
        ModelFileError: a spec that does not build, missing/unknown tensors, wrong shapes,
            an unsupported dtype.
    """
    from .spec import EncoderSpec

    tensors = location_tensors(header, tensors)
    enc = header.get("encoder")
    try:
        spec = EncoderSpec.from_dict(enc)  # type: ignore[arg-type]
        model = spec.build(int(header["output_dim"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(path, f"cannot rebuild the encoder from its header ({enc!r}, output_dim "
                                   f"{header.get('output_dim')!r}): {exc}") from None
    text = enc.get("spec") if isinstance(enc, dict) else None
    if text is not None and text != str(spec):
        raise ModelFileError(path, f"the header's encoder spec {text!r} disagrees with its parts ({str(spec)!r})")
    check_tensors(path, tensors, model.state_dict(), f"the encoder {spec} with {header['output_dim']} output(s)")
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    floats = sorted({str(v.dtype).replace("torch.", "") for v in tensors.values() if v.is_floating_point()})
    if floats not in (["float32"], ["float64"]):
        raise ModelFileError(path, f"unsupported weight dtype(s) {floats}: all float32 or all float64")
    if header.get("dtype") != floats[0]:
        raise ModelFileError(path, f"the header's dtype {header.get('dtype')!r} disagrees with the weights "
                                   f"({floats[0]})")
    store = getattr(torch, floats[0])
    model = model.to(store)
    model.load_state_dict(dict(tensors), strict=True)
    if dtype is not None and dtype != store:
        model = model.to(dtype)
    return model.eval()


def load_encoder(path: str | os.PathLike, *, kind: str | tuple[str, ...] | None = ENCODER_KINDS,
                 device: str | torch.device | None = None, dtype: torch.dtype | None = None,
                 what: str = "readable geoviz model file") -> tuple[Any, dict[str, Any]]:
    """``(LocationEncoder in eval mode, header)`` of a file whose tensors are one location
    encoder (kinds ``"regressor"``, ``"classifier"``, ``"location-encoder"`` by default).

    Raises:
        FileNotFoundError, ModelFileError: see :func:`read_model_file` and :func:`build_encoder`.
    """
    tensors, header = read_model_file(path, kind=kind, what=what)
    model = build_encoder(path, header, tensors, dtype=dtype)
    return model.to(device or "cpu"), header
