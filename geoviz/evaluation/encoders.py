"""Encoder specs → frozen feature extractors, and a cache of their embeddings.

An *encoder* here is anything that maps ``(N, 2)`` (lon, lat) degrees to ``(N, D)`` features.
:func:`get_encoder` turns a short spec string into a :class:`FrozenEncoder`:

==========================  ==================================================================
spec                        encoder
==========================  ==================================================================
``raw``                     (lon, lat) in degrees as the two features (the floor)
``sh:L``                    untrained spherical harmonics, degrees ``0..L-1`` (``L²`` features)
``direct``, ``wrap``, ...   an untrained positional encoding of :mod:`geoviz.encoders`
                            (``theory``, ``spherec+``, ...; default hyperparameters)
``geoviz-bluemarble-l10``   a pretrained model of :func:`geoviz.pretrained.list_pretrained`
``geoclip``                 (GeoCLIP ships with the ``geoclip`` package)
``path/to/model.ckpt``      a SatCLIP checkpoint (:func:`geoviz.pretrained.load_satclip`)
==========================  ==================================================================

:data:`ENCODER_KINDS` is the registry (kind → builder); :func:`resolve_encoder_spec` says which
kind a spec is. :class:`EmbeddingCache` computes each (encoder, point set) embedding once
(in memory, optionally on disk keyed by the encoder's fingerprint and the points' bytes).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from geoviz.spec import EncoderSpec, resolve_encoder_ref

__all__ = [
    "ENCODER_KINDS",
    "FrozenEncoder",
    "EmbeddingCache",
    "get_encoder",
    "list_encoder_specs",
    "resolve_encoder_spec",
]


@dataclass
class FrozenEncoder:
    """A frozen feature extractor.

    Attributes:
        spec: the spec string it was built from (used as its display name).
        kind: the :data:`ENCODER_KINDS` key.
        model: the ``torch.nn.Module`` (``None`` for ``raw``).
        description: one line.
        legendre_polys: SH ``L`` when the encoder is SH-based (else ``None``).
    """

    spec: str
    kind: str
    model: Any = None
    description: str = ""
    legendre_polys: int | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the model's structure and weights (:func:`geoviz.embed.model_fingerprint`)."""
        if self._fingerprint is None:
            if self.model is None:
                self._fingerprint = hashlib.sha256(f"geoviz.evaluation.raw/v1/{self.spec}".encode()).hexdigest()
            else:
                from geoviz.embed import model_fingerprint

                self._fingerprint = model_fingerprint(self.model)
        return self._fingerprint

    def __call__(self, lonlat: np.ndarray) -> np.ndarray:
        """Embed points.

        Args:
            lonlat: ``(N, 2)`` float (lon, lat) degrees.

        Returns:
            ``(N, D)`` float32 numpy features (``D = 2`` for ``raw``).
        """
        from geoviz._validation import as_lonlat_tensor

        x = np.ascontiguousarray(lonlat, dtype=np.float64)
        as_lonlat_tensor(x)  # validates shape / range / finiteness, names the bad row
        if self.model is None:
            return x.astype(np.float32)
        from geoviz.embed import embed_points

        return embed_points(self.model, x, out_dtype=np.float32)


def _raw(spec: str, arg: str | None) -> FrozenEncoder:
    if arg:
        raise ValueError(f"encoder spec {spec!r}: 'raw' takes no argument")
    return FrozenEncoder(spec, "raw", None, "raw (lon, lat) degrees (the floor)")


def _sh(spec: str, arg: str | None) -> FrozenEncoder:
    from geoviz.encoders import get_positional_encoding

    try:
        L = int(arg) if arg is not None else -1
    except ValueError:
        L = -1
    if L < 1 or L > 100:
        raise ValueError(f"encoder spec {spec!r}: write 'sh:L' with an integer 1 <= L <= 100 (e.g. 'sh:10')")
    pe = get_positional_encoding("sphericalharmonics", legendre_polys=L)
    return FrozenEncoder(spec, "sh", pe.float(), f"untrained spherical harmonics, L={L} ({L * L} features)", L)


def _pe(spec: str, arg: str | None) -> FrozenEncoder:
    pe = EncoderSpec.parse(arg or spec).positional_encoding()
    return FrozenEncoder(spec, "pe", pe.float(), f"untrained positional encoding {arg or spec!r} ({pe.embedding_dim} features)")


def _pretrained(spec: str, arg: str | None) -> FrozenEncoder:
    from geoviz.pretrained import get_model_info, load_pretrained

    info = get_model_info(spec)
    model = load_pretrained(spec)
    return FrozenEncoder(spec, "pretrained", model, info.description, info.legendre_polys)


def _checkpoint(spec: str, arg: str | None) -> FrozenEncoder:
    from geoviz.pretrained import load_encoder

    model, what = load_encoder(spec)
    L = getattr(model.positional_encoding, "legendre_polys", None) if hasattr(model, "positional_encoding") else None
    return FrozenEncoder(spec, "checkpoint", model, what, L)


ENCODER_KINDS: dict[str, Callable[[str, str | None], FrozenEncoder]] = {
    "raw": _raw,
    "sh": _sh,
    "pe": _pe,
    "pretrained": _pretrained,
    "checkpoint": _checkpoint,
}
"""Registry: encoder kind → builder ``(spec, argument) -> FrozenEncoder``."""


def list_encoder_specs() -> list[str]:
    """Example specs of every kind that work offline (``sh:L`` stands for any ``L``)."""
    from geoviz.encoders import list_positional_encodings
    from geoviz.pretrained import is_available, list_pretrained

    pes = [n for n in list_positional_encodings() if n != "sphericalharmonics"]
    return ["raw", "sh:L", *pes, *[n for n in list_pretrained() if is_available(n)]]


resolve_encoder_spec = resolve_encoder_ref
"""Which :data:`ENCODER_KINDS` entry a spec names (:func:`geoviz.spec.resolve_encoder_ref`)."""


_LOADED: dict[str, FrozenEncoder] = {}


def get_encoder(spec: str) -> FrozenEncoder:
    """Build (or reuse) the frozen encoder named by ``spec`` (see the module docstring).

    Raises:
        TypeError / ValueError: bad spec (named, with the accepted forms).
        FileNotFoundError: a pretrained model or package that is not installed / cached.
    """
    kind, arg = resolve_encoder_spec(spec)
    key = spec.strip() if kind == "checkpoint" else spec.strip().lower()
    if key not in _LOADED:
        _LOADED[key] = ENCODER_KINDS[kind](key, arg)
    return _LOADED[key]


def _points_key(lonlat: np.ndarray) -> str:
    a = np.ascontiguousarray(lonlat, dtype=np.float64)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


class EmbeddingCache:
    """Embeddings of (encoder, point set) pairs, each computed once.

    Args:
        disk_dir: optional folder for ``.npy`` files named by
            ``sha256(encoder fingerprint, points)``; ``None`` keeps them in memory only.

    Attributes:
        seconds: total wall time spent computing (not loading) embeddings.
        hits / misses: counters.
    """

    def __init__(self, disk_dir: str | os.PathLike | None = None) -> None:
        self.disk_dir = Path(disk_dir).expanduser() if disk_dir is not None else None
        self._mem: dict[str, np.ndarray] = {}
        self.seconds = 0.0
        self.seconds_by_encoder: dict[str, float] = {}
        self.hits = 0
        self.misses = 0

    def get(self, encoder: FrozenEncoder, lonlat: np.ndarray) -> np.ndarray:
        """``(N, D)`` float32 features of ``lonlat`` under ``encoder`` (cached)."""
        import time

        key = hashlib.sha256((encoder.fingerprint + _points_key(lonlat)).encode()).hexdigest()
        if key in self._mem:
            self.hits += 1
            return self._mem[key]
        path = self.disk_dir / f"{key}.npy" if self.disk_dir is not None else None
        if path is not None and path.is_file():
            self.hits += 1
            emb = np.load(path)
        else:
            self.misses += 1
            t0 = time.perf_counter()
            emb = encoder(lonlat)
            dt = time.perf_counter() - t0
            self.seconds += dt
            self.seconds_by_encoder[encoder.spec] = self.seconds_by_encoder.get(encoder.spec, 0.0) + dt
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, emb)
                os.replace(tmp, path)
        if not np.all(np.isfinite(emb)):
            raise ValueError(f"encoder {encoder.spec!r} returned non-finite features")
        self._mem[key] = emb
        return emb
