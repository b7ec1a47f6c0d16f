"""geoviz: implicit neural geo-representations you can learn, see and use.

Coordinates everywhere are ``(lon, lat)`` in degrees, shape ``(N, 2)``.

    >>> import geoviz
    >>> enc = geoviz.build_location_encoder("sphericalharmonics", "siren", 1, legendre_polys=10)

The top-level names are loaded on first use (PEP 562 module ``__getattr__``): ``import geoviz``
itself imports neither torch nor numpy, so the ``geoviz`` command line (:mod:`geoviz.cli`)
starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "get_positional_encoding",
    "list_positional_encodings",
    "get_network",
    "list_networks",
    "LocationEncoder",
    "build_location_encoder",
    "wrap_longitude",
]

_LAZY: dict[str, str] = {
    "get_positional_encoding": ".encoders",
    "list_positional_encodings": ".encoders",
    "get_network": ".networks",
    "list_networks": ".networks",
    "LocationEncoder": ".location_encoder",
    "build_location_encoder": ".location_encoder",
    "wrap_longitude": "._validation",
}
"""Top-level name → the submodule (relative to this package) that defines it."""

if TYPE_CHECKING:  # static type checkers and IDEs see the eager imports
    from ._validation import wrap_longitude
    from .encoders import get_positional_encoding, list_positional_encodings
    from .location_encoder import LocationEncoder, build_location_encoder
    from .networks import get_network, list_networks


def __getattr__(name: str) -> Any:
    """Import a top-level name's submodule on first access and cache the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
