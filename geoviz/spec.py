"""One encoder spec: a location encoder written as a short string, parsed and printed here.

Grammar (case-insensitive names, no spaces needed)::

    spec     := encoding [ "+" network ]
    encoding := NAME [ ":" N ] [ "(" key=value, ... ")" ]
    network  := NAME [ "(" [ WIDTHxDEPTH ] [, key=value, ...] ")" ]

``N`` after an encoding is its main size: ``legendre_polys`` for spherical harmonics
(``"sh:10"``: degrees 0..9, 100 features), ``frequency_num`` for the multi-scale baselines
(``"spherec+:32"``). ``WIDTHxDEPTH`` is ``hidden_dim`` × ``num_layers`` of an FCNet or Siren.
Examples::

    "sh:10+siren(256x2)"        SH L=10 + Siren, 256 wide, 2 hidden layers
    "sh:40+linear"              a linear layer on 1,600 SH features
    "spherem+:32(min_radius=1)+fcnet(256x4,dropout=0.3)"
    "sh:20"                     the positional encoding alone (frozen features, no network)
    "wrap+siren(64x2,w0_initial=10)"

``str(EncoderSpec.parse(s))`` is the canonical form (``sphericalharmonics`` is written ``sh``,
keywords sorted), and ``EncoderSpec.parse(str(spec)) == spec``. The CLI, model files,
estimators, evaluation, dashboard and notebooks all use this one type.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _names

__all__ = ["EncoderSpec", "parse_spec", "HasEncoderSpec", "resolve_encoder_ref", "ENCODER_REF_KINDS"]

_MAIN_SIZE: dict[str, str] = {
    "sphericalharmonics": "legendre_polys",
    "grid": "frequency_num", "theory": "frequency_num", "spherec": "frequency_num", "spherec+": "frequency_num",
    "spherem": "frequency_num", "spherem+": "frequency_num",
}
"""Encoding → the keyword its ``:N`` sets."""

_SHORT: dict[str, str] = {"sphericalharmonics": "sh"}
"""Canonical registry name → the name printed in a spec."""

_SHAPED_NETWORKS: tuple[str, ...] = ("fcnet", "siren")
"""Networks whose ``WIDTHxDEPTH`` shorthand sets ``hidden_dim`` × ``num_layers``."""

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _value(text: str, where: str) -> Any:
    t = text.strip()
    if not t:
        raise ValueError(f"encoder spec: empty value in {where}")
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if _NUMBER.match(t):
        return int(t) if re.fullmatch(r"[+-]?\d+", t) else float(t)
    return t


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _kwargs(body: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in body.split(","):
        if not part.strip():
            continue
        key, eq, val = part.partition("=")
        key = key.strip().lower()
        if not eq or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise ValueError(f"encoder spec: write key=value inside the brackets of {where}, got {part.strip()!r}")
        if key in out:
            raise ValueError(f"encoder spec: {key!r} given twice in {where}")
        out[key] = _value(val, where)
    return out


def _freeze(d: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(d.items()))


@dataclass(frozen=True)
class EncoderSpec:
    """A location encoder's architecture: positional encoding × network (or encoding alone).

    Attributes:
        pe: canonical positional-encoding name (a key of ``geoviz.encoders.POSITIONAL_ENCODINGS``).
        pe_kwargs: the encoding's hyperparameters, sorted ``(key, value)`` pairs.
        nn: network name (a key of ``geoviz.networks.NETWORKS``) or ``None`` for the encoding alone.
        nn_kwargs: the network's hyperparameters, sorted ``(key, value)`` pairs.

    Build one with :meth:`parse` (``"sh:10+siren(256x2)"``) or :meth:`from_parts`; the
    ``*_kwargs`` are tuples so that a spec is hashable (a cache key); :attr:`pe_options` and
    :attr:`nn_options` give them as dicts.
    """

    pe: str
    pe_kwargs: tuple[tuple[str, Any], ...] = ()
    nn: str | None = None
    nn_kwargs: tuple[tuple[str, Any], ...] = field(default=())

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_parts(cls, pe: str, nn: str | None = None, pe_kwargs: dict[str, Any] | None = None,
                   nn_kwargs: dict[str, Any] | None = None) -> EncoderSpec:
        """A spec from registry names and keyword dicts (the :class:`~geoviz.training.TrainConfig` form).

        Raises:
            TypeError: a name is not a string. ValueError: unknown encoding or network (named).
        """
        return cls(_encoding_name(pe), _freeze(dict(pe_kwargs or {})),
                   None if nn is None else _network_name(nn), _freeze(dict(nn_kwargs or {})))

    @classmethod
    def parse(cls, text: str | EncoderSpec) -> EncoderSpec:
        """Parse ``"sh:10+siren(256x2)"`` and the like (grammar in the module docstring).

        Raises:
            TypeError: ``text`` is not a string. ValueError: a malformed spec, an unknown
            encoding or network, or a size that is not a positive integer (the message says which).
        """
        if isinstance(text, EncoderSpec):
            return text
        if not isinstance(text, str):
            raise TypeError(f"encoder spec must be a str, got {type(text).__name__}")
        s = re.sub(r"\s+", "", text).lower()
        if not s:
            raise ValueError("encoder spec is empty; write e.g. 'sh:10+siren(256x2)'")
        pe, rest = _take_encoding(s, text)
        pe_kw: dict[str, Any] = {}
        m = re.match(r":(\d+)", rest)
        if m:
            if pe not in _MAIN_SIZE:
                raise ValueError(f"encoder spec {text!r}: {pe!r} takes no ':N' size")
            pe_kw[_MAIN_SIZE[pe]] = int(m.group(1))
            rest = rest[m.end():]
        elif rest.startswith(":"):
            raise ValueError(f"encoder spec {text!r}: ':' must be followed by a positive integer (e.g. 'sh:10')")
        if rest.startswith("("):
            body, rest = _bracket(rest, text)
            extra = _kwargs(body, f"{pe!r}")
            clash = set(extra) & set(pe_kw)
            if clash:
                raise ValueError(f"encoder spec {text!r}: {sorted(clash)} given both as ':N' and in brackets")
            pe_kw.update(extra)
        nn: str | None = None
        nn_kw: dict[str, Any] = {}
        if rest:
            if not rest.startswith("+") or len(rest) == 1:
                raise ValueError(f"encoder spec {text!r}: expected '+NETWORK' after the encoding, got {rest!r}")
            m = re.match(r"\+([a-z_][a-z0-9_]*)", rest)
            if not m:
                raise ValueError(f"encoder spec {text!r}: expected a network name after '+', got {rest[1:]!r}")
            nn = _network_name(m.group(1))
            rest = rest[m.end():]
            if rest.startswith("("):
                body, rest = _bracket(rest, text)
                parts = [p for p in body.split(",") if p]
                if parts and "=" not in parts[0]:
                    shape = re.fullmatch(r"(\d+)x(\d+)", parts[0])
                    if not shape or nn not in _SHAPED_NETWORKS:
                        raise ValueError(
                            f"encoder spec {text!r}: {parts[0]!r} must be WIDTHxDEPTH (e.g. 256x2), and only "
                            f"{list(_SHAPED_NETWORKS)} take it")
                    nn_kw.update(hidden_dim=int(shape.group(1)), num_layers=int(shape.group(2)))
                    parts = parts[1:]
                extra = _kwargs(",".join(parts), f"{nn!r}")
                clash = set(extra) & set(nn_kw)
                if clash:
                    raise ValueError(f"encoder spec {text!r}: {sorted(clash)} given both as WIDTHxDEPTH and by name")
                nn_kw.update(extra)
            if rest:
                raise ValueError(f"encoder spec {text!r}: unexpected {rest!r} after the network")
        for k, v in pe_kw.items():
            if k in ("legendre_polys", "frequency_num") and (not isinstance(v, int) or v < 1):
                raise ValueError(f"encoder spec {text!r}: {k} must be a positive integer, got {v!r}")
        return cls(pe, _freeze(pe_kw), nn, _freeze(nn_kw))

    # -- views -----------------------------------------------------------------------------------
    @property
    def pe_options(self) -> dict[str, Any]:
        """The encoding's hyperparameters as a dict."""
        return dict(self.pe_kwargs)

    @property
    def nn_options(self) -> dict[str, Any]:
        """The network's hyperparameters as a dict."""
        return dict(self.nn_kwargs)

    @property
    def legendre_polys(self) -> int | None:
        """``L`` of a spherical-harmonics encoding (its default 10 if not given), else ``None``."""
        if self.pe != "sphericalharmonics":
            return None
        return int(self.pe_options.get("legendre_polys", 10))

    def with_network(self, nn: str | None, **nn_kwargs: Any) -> EncoderSpec:
        """The same encoding with another network (``None``: the encoding alone)."""
        return EncoderSpec(self.pe, self.pe_kwargs, None if nn is None else _network_name(nn), _freeze(nn_kwargs))

    def __str__(self) -> str:
        pe_kw = self.pe_options
        out = _SHORT.get(self.pe, self.pe)
        main = _MAIN_SIZE.get(self.pe)
        if main and main in pe_kw:
            out += f":{pe_kw.pop(main)}"
        if pe_kw:
            out += "(" + ",".join(f"{k}={_format_value(v)}" for k, v in sorted(pe_kw.items())) + ")"
        if self.nn is not None:
            out += f"+{self.nn}"
            nn_kw = self.nn_options
            parts = []
            if self.nn in _SHAPED_NETWORKS and "hidden_dim" in nn_kw and "num_layers" in nn_kw:
                parts.append(f"{nn_kw.pop('hidden_dim')}x{nn_kw.pop('num_layers')}")
            parts += [f"{k}={_format_value(v)}" for k, v in sorted(nn_kw.items())]
            if parts:
                out += "(" + ",".join(parts) + ")"
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"spec", "pe", "pe_kwargs", "nn", "nn_kwargs"}`` (model-file headers)."""
        return {"spec": str(self), "pe": self.pe, "pe_kwargs": self.pe_options, "nn": self.nn,
                "nn_kwargs": self.nn_options}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderSpec:
        """Inverse of :meth:`to_dict` (``spec`` alone is enough)."""
        if "pe" in d:
            return cls.from_parts(d["pe"], d.get("nn"), d.get("pe_kwargs"), d.get("nn_kwargs"))
        return cls.parse(d["spec"])

    # -- building --------------------------------------------------------------------------------
    def positional_encoding(self) -> Any:
        """The positional-encoding module: ``(N, 2)`` lon/lat degrees → ``(N, embedding_dim)``."""
        from .encoders import get_positional_encoding

        return get_positional_encoding(self.pe, **self.pe_options)

    def build(self, output_dim: int) -> Any:
        """A float32 CPU :class:`~geoviz.location_encoder.LocationEncoder` with ``output_dim`` outputs.

        Raises:
            ValueError: the spec has no network (use :meth:`positional_encoding`).
            TypeError: a keyword the encoding or network does not accept (named).
        """
        if self.nn is None:
            raise ValueError(f"encoder spec {str(self)!r} has no network; add one, e.g. '{self}+siren(256x2)'")
        from .location_encoder import LocationEncoder
        from .networks import get_network

        pe = self.positional_encoding()
        return LocationEncoder(pe, get_network(self.nn, pe.embedding_dim, output_dim, **self.nn_options))


class HasEncoderSpec:
    """Mixin for configuration dataclasses with ``pe``, ``nn``, ``pe_kwargs``, ``nn_kwargs`` fields
    (:class:`geoviz.training.TrainConfig`, :class:`geoviz.species.SpeciesConfig`): their
    architecture as one :class:`EncoderSpec`, and a config built from a spec string."""

    pe: str
    nn: str
    pe_kwargs: dict[str, Any]
    nn_kwargs: dict[str, Any]

    @property
    def spec(self) -> EncoderSpec:
        """The encoder these settings build, e.g. ``sh:10+siren(64x2)``."""
        return EncoderSpec.from_parts(self.pe, self.nn, self.pe_kwargs, self.nn_kwargs)

    @classmethod
    def from_spec(cls, spec: str | EncoderSpec, **kwargs: Any) -> Any:
        """A config whose encoder is ``spec`` (which must name a network); ``kwargs`` set the rest.

        Raises:
            ValueError: a malformed spec or one without a network.
        """
        s = EncoderSpec.parse(spec)
        if s.nn is None:
            raise ValueError(f"encoder spec {str(s)!r} needs a network to be trained, e.g. '{s}+siren(256x2)'")
        return cls(pe=s.pe, nn=s.nn, pe_kwargs=s.pe_options, nn_kwargs=s.nn_options, **kwargs)  # type: ignore[call-arg]


def parse_spec(text: str | EncoderSpec) -> EncoderSpec:
    """Shorthand for :meth:`EncoderSpec.parse`."""
    return EncoderSpec.parse(text)


def _encoding_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"positional encoding name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    key = _names.PE_ALIASES.get(key, key)
    if key not in _names.POSITIONAL_ENCODINGS:
        raise ValueError(f"unknown positional encoding {name!r}; valid names are {list(_names.POSITIONAL_ENCODINGS)} "
                         f"(aliases: {sorted(_names.PE_ALIASES)})")
    return key


def _network_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"network name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in _names.NETWORKS:
        raise ValueError(f"unknown network {name!r}; valid names are {list(_names.NETWORKS)}")
    return key


def _take_encoding(s: str, text: str) -> tuple[str, str]:
    names = sorted([*_names.POSITIONAL_ENCODINGS, *_names.PE_ALIASES], key=len, reverse=True)
    for n in names:
        if s.startswith(n):
            rest = s[len(n):]
            # "spherec+" vs "spherec" + "+siren": the longer name wins only if what follows fits it
            if n.endswith("+") and rest and re.match(r"[a-z_]", rest):
                continue
            return _encoding_name(n), rest
    head = re.match(r"[a-z0-9_]*", s).group(0)  # type: ignore[union-attr]
    raise ValueError(f"encoder spec {text!r}: unknown positional encoding {head!r}; valid names are "
                     f"{list(_names.POSITIONAL_ENCODINGS)} (aliases: {sorted(_names.PE_ALIASES)})")


def _bracket(rest: str, text: str) -> tuple[str, str]:
    end = rest.find(")")
    if end < 0:
        raise ValueError(f"encoder spec {text!r}: '(' without ')'")
    return rest[1:end], rest[end + 1:]


# --------------------------------------------------------------------------------------------
# a frozen encoder named by a string (``geoviz evaluate --encoders``, the Compare tab, embed)

ENCODER_REF_KINDS: tuple[str, ...] = ("raw", "sh", "pe", "pretrained", "checkpoint")
"""What a frozen-encoder reference can name: raw lon/lat, untrained SH features, another
untrained positional encoding, a pretrained model by name, or a checkpoint file."""

_CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth", ".safetensors", ".gvz")


def resolve_encoder_ref(spec: str) -> tuple[str, str | None]:
    """Which kind of frozen encoder a string names, and its argument.

    ``"raw"``; ``"sh:L"`` (untrained SH features); a positional encoding, alone or as a spec
    without network (``"wrap"``, ``"spherec+:32(min_radius=1)"``); a pretrained model name
    (:func:`geoviz.pretrained.list_pretrained`); or a path to a checkpoint / model file.
    Light: imports neither torch nor the registries, so the CLI checks its arguments at once.

    Returns:
        ``(kind, argument)`` with kind in :data:`ENCODER_REF_KINDS`; e.g. ``("sh", "10")`` for
        ``"sh:10"``, ``("pe", None)`` for ``"wrap"``, ``("pe", "spherec+:32")`` for
        ``"spherec+:32"``, ``("pretrained", None)``, ``("checkpoint", None)``.

    Raises:
        TypeError: ``spec`` is not a string.
        ValueError: unrecognised spec, or a checkpoint path that does not exist (the message
            lists what is accepted).
    """
    if not isinstance(spec, str):
        raise TypeError(f"encoder spec must be a str, got {type(spec).__name__}")
    s = spec.strip()
    low = s.lower()
    head, sep, arg = low.partition(":")
    if head == "raw" and not arg:
        return "raw", None
    if head == "sh" and sep and "(" not in arg and "+" not in arg:
        return "sh", arg
    if low == "sh":
        return "sh", None
    if low in _names.PRETRAINED:
        return "pretrained", None
    if low in _names.POSITIONAL_ENCODINGS or low in _names.PE_ALIASES:
        return ("sh", None) if _names.PE_ALIASES.get(low, low) == "sphericalharmonics" else ("pe", None)
    if s.endswith(_CHECKPOINT_SUFFIXES) or os.sep in s or Path(s).exists():
        if not Path(s).expanduser().is_file():
            raise ValueError(f"encoder spec {spec!r} looks like a checkpoint path, but no such file exists")
        return "checkpoint", None
    try:
        parsed = EncoderSpec.parse(s)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.nn is None:
        return ("sh", str(parsed.legendre_polys)) if parsed.pe == "sphericalharmonics" and len(parsed.pe_kwargs) <= 1 \
            else ("pe", str(parsed))
    pes = ", ".join(n for n in _names.POSITIONAL_ENCODINGS if n != "sphericalharmonics")
    raise ValueError(
        f"unknown encoder spec {spec!r}; use 'raw', 'sh:L' (e.g. 'sh:10'), a positional encoding "
        f"({pes}), a pretrained model ({', '.join(_names.PRETRAINED)}) or a path to a SatCLIP .ckpt file"
        + (" (a spec with a network is untrained; frozen encoders have none)" if parsed is not None else "")
    )
