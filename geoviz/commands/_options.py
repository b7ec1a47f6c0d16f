"""Options shared by several ``geoviz`` commands, defined once so that their names agree.

* the location encoder: ``--encoder SPEC`` (:class:`geoviz.spec.EncoderSpec`, e.g.
  ``sh:10+siren(256x2)``) and the shorthands ``--pe``, ``--nn``, ``--legendre-polys``,
  ``--frequency-num``, ``--min-radius``, ``--hidden-dim``, ``--num-layers``,
  ``--reference-compat``, which change one part of ``--encoder``; :func:`encoder_spec` turns
  them into one spec (and refuses a shorthand that does not apply, rather than ignoring it);
* coordinates columns: ``--lon`` / ``--lat``;
* the compute: ``--seed``, ``--device``, ``--threads``.

Light module: only the standard library and :mod:`geoviz._names` / :mod:`geoviz.spec`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._names import NETWORKS, PE_ALIASES, POSITIONAL_ENCODINGS, pe_choices
from ..spec import EncoderSpec

__all__ = ["add_encoder_options", "encoder_spec", "add_lonlat_options", "add_compute_options"]

_MULTI_SCALE = ("grid", "theory", "spherec", "spherec+", "spherem", "spherem+")
_BASELINES = tuple(n for n in POSITIONAL_ENCODINGS if n != "sphericalharmonics")
_SHAPED = ("fcnet", "siren")


def _pe_name(text: str) -> str:
    key = text.strip().lower()
    key = PE_ALIASES.get(key, key)
    if key not in POSITIONAL_ENCODINGS:
        raise argparse.ArgumentTypeError(f"unknown positional encoding {text!r}; choose from {', '.join(pe_choices())}")
    return key


def add_encoder_options(p: argparse.ArgumentParser, default: str) -> None:
    """Add ``--encoder`` (default ``default``) and its shorthands to ``p``."""
    g = p.add_argument_group("location encoder")
    g.add_argument("--encoder", default=default, metavar="SPEC",
                   help=f"positional encoding + network, e.g. 'sh:10+siren(256x2)', 'sh:40+linear', "
                        f"'spherec+:16+fcnet(256x4)' (default {default}); the options below change one part of it")
    g.add_argument("--pe", type=_pe_name, default=None, metavar="PE",
                   help="positional encoding: " + ", ".join(pe_choices()))
    g.add_argument("--nn", choices=list(NETWORKS), default=None, help="network")
    g.add_argument("--legendre-polys", type=int, default=None, metavar="L", help="SH degrees L (L² features)")
    g.add_argument("--frequency-num", type=int, default=None, help="number of scales of the sinusoidal encodings")
    g.add_argument("--min-radius", type=float, default=None, help="smallest scale (degrees) of the sinusoidal encodings")
    g.add_argument("--hidden-dim", type=int, default=None, help="width of a siren/fcnet")
    g.add_argument("--num-layers", type=int, default=None, help="hidden layers of a siren/fcnet")
    g.add_argument("--reference-compat", action="store_true",
                   help="baseline encodings: reproduce the reference implementation's quirks")


def encoder_spec(args: argparse.Namespace) -> EncoderSpec:
    """The one :class:`~geoviz.spec.EncoderSpec` that ``--encoder`` and its shorthands describe.

    Raises:
        ValueError: a malformed ``--encoder``, or a shorthand that does not apply to the
            chosen encoding or network (e.g. ``--legendre-polys`` with ``--pe wrap``).
    """
    spec = EncoderSpec.parse(args.encoder)
    pe, pe_kw = spec.pe, spec.pe_options
    nn, nn_kw = spec.nn, spec.nn_options
    if getattr(args, "pe", None) and args.pe != pe:
        pe, pe_kw = args.pe, {}
    if getattr(args, "nn", None) and args.nn != nn:
        nn, nn_kw = args.nn, {k: v for k, v in nn_kw.items() if nn in _SHAPED and args.nn in _SHAPED}

    def need(flag: str, ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"{flag} applies to {what} only; the encoder is {EncoderSpec(pe, (), nn, ())}")

    if getattr(args, "legendre_polys", None) is not None:
        need("--legendre-polys", pe == "sphericalharmonics", "spherical harmonics (sh)")
        pe_kw["legendre_polys"] = args.legendre_polys
    for flag, key in (("--frequency-num", "frequency_num"), ("--min-radius", "min_radius")):
        if getattr(args, key, None) is not None:
            need(flag, pe in _MULTI_SCALE, "the multi-scale encodings " + ", ".join(_MULTI_SCALE))
            pe_kw[key] = getattr(args, key)
    if getattr(args, "reference_compat", False):
        need("--reference-compat", pe in _BASELINES, "the baseline encodings")
        pe_kw["reference_compat"] = True
    for flag, key in (("--hidden-dim", "hidden_dim"), ("--num-layers", "num_layers")):
        if getattr(args, key, None) is not None:
            need(flag, nn in _SHAPED, "a siren or fcnet network")
            nn_kw[key] = getattr(args, key)
    return EncoderSpec.from_parts(pe, nn, pe_kw, nn_kw)


def add_lonlat_options(p: argparse.ArgumentParser) -> None:
    """``--lon`` / ``--lat``: the coordinate columns of a point file (default: detected)."""
    p.add_argument("--lon", help="longitude column (default: detected: lon/lng/long/longitude/x/decimalLongitude)")
    p.add_argument("--lat", help="latitude column (default: detected: lat/latitude/y/decimalLatitude)")


def add_compute_options(p: argparse.ArgumentParser, *, seed: bool = True, threads_default: Any = None) -> None:
    """``--seed``, ``--device`` (auto = CUDA when present) and ``--threads``."""
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default auto)")
    p.add_argument("--threads", type=int, default=threads_default,
                   help="torch CPU threads (default: torch's choice)")
