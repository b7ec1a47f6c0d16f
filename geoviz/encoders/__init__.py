"""Positional encodings: ``(N, 2)`` (lon, lat) degrees → ``(N, embedding_dim)`` features.

Each encoding exists as a pure function and as a parameter-free ``nn.Module`` with an
``embedding_dim`` attribute. Modules are looked up by name in :data:`POSITIONAL_ENCODINGS`
(a plain dict) through :func:`get_positional_encoding`.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from .baselines import (
    BASELINE_ENCODINGS,
    Cartesian3D,
    Direct,
    Grid,
    SphereC,
    SphereCPlus,
    SphereM,
    SphereMPlus,
    Theory,
    Wrap,
    cartesian3d,
    direct,
    grid,
    sphere_c,
    sphere_c_plus,
    sphere_m,
    sphere_m_plus,
    theory,
    wrap,
)
from .spherical_harmonics import (
    CONVENTIONS,
    SphericalHarmonics,
    convention_scale,
    sh_degrees_orders,
    sh_index,
    spherical_harmonics,
)

__all__ = [
    "POSITIONAL_ENCODINGS",
    "ALIASES",
    "get_positional_encoding",
    "list_positional_encodings",
    "positional_encoding_hyperparameters",
    "spherical_harmonics",
    "SphericalHarmonics",
    "sh_index",
    "sh_degrees_orders",
    "convention_scale",
    "CONVENTIONS",
    "direct",
    "cartesian3d",
    "wrap",
    "grid",
    "theory",
    "sphere_c",
    "sphere_c_plus",
    "sphere_m",
    "sphere_m_plus",
    "Direct",
    "Cartesian3D",
    "Wrap",
    "Grid",
    "Theory",
    "SphereC",
    "SphereCPlus",
    "SphereM",
    "SphereMPlus",
]

POSITIONAL_ENCODINGS: dict[str, type[nn.Module]] = {
    "sphericalharmonics": SphericalHarmonics,
    **BASELINE_ENCODINGS,
}
"""Registry: name → encoding class. Names are the lower-case names of the paper."""

ALIASES: dict[str, str] = {"sh": "sphericalharmonics"}
"""Alternative names accepted by :func:`get_positional_encoding`."""


def _resolve(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"positional encoding name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in POSITIONAL_ENCODINGS:
        raise ValueError(
            f"unknown positional encoding {name!r}; valid names are {list_positional_encodings()} "
            f"(aliases: {sorted(ALIASES)})"
        )
    return key


def list_positional_encodings() -> list[str]:
    """Names accepted by :func:`get_positional_encoding`, in registry order."""
    return list(POSITIONAL_ENCODINGS)


def positional_encoding_hyperparameters(name: str) -> list[str]:
    """Keyword arguments accepted by the named encoding's constructor."""
    cls = POSITIONAL_ENCODINGS[_resolve(name)]
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def get_positional_encoding(name: str, **kw: Any) -> nn.Module:
    """Build a positional encoding by name.

    Args:
        name: one of :func:`list_positional_encodings` (case-insensitive; ``"sh"`` is an
            alias of ``"sphericalharmonics"``).
        **kw: the encoding's hyperparameters, e.g. ``legendre_polys`` for SH or
            ``frequency_num``, ``min_radius``, ``max_radius``, ``reference_compat`` for the
            multi-scale baselines.

    Returns:
        An ``nn.Module`` mapping ``(N, 2)`` (lon, lat) degrees to ``(N, module.embedding_dim)``.

    Raises:
        ValueError: unknown name. TypeError: a keyword the encoding does not accept.
    """
    key = _resolve(name)
    accepted = positional_encoding_hyperparameters(key)
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        raise TypeError(f"positional encoding {key!r} got unexpected keyword(s) {unknown}; accepted: {accepted}")
    return POSITIONAL_ENCODINGS[key](**kw)
