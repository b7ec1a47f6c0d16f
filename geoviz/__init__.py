"""geoviz: implicit neural geo-representations you can learn, see and use.

Coordinates everywhere are ``(lon, lat)`` in degrees, shape ``(N, 2)``.

    >>> import geoviz
    >>> reg = geoviz.GeoRegressor(encoder="sh:10+siren(64x2)").fit(lonlat, y)   # scikit-learn estimator
    >>> emb = geoviz.embed_points(geoviz.load_pretrained("geoviz-bluemarble-l10"), lonlat)
    >>> enc = geoviz.EncoderSpec.parse("sh:10+siren(256x2)").build(output_dim=1)

The top-level names are loaded on first use (PEP 562 module ``__getattr__``): ``import geoviz``
itself imports neither torch nor numpy, so the ``geoviz`` command line (:mod:`geoviz.cli`)
starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "GeoRegressor",
    "GeoClassifier",
    "LocationEmbedder",
    "load_pretrained",
    "list_pretrained",
    "embed_points",
    "embed_grid",
    "get_field",
    "list_fields",
    "load_points",
    "get_task",
    "list_tasks",
    "EncoderSpec",
    "load_estimator",
    "TrainConfig",
    "Trainer",
    "get_positional_encoding",
    "list_positional_encodings",
    "get_network",
    "list_networks",
    "LocationEncoder",
    "build_location_encoder",
    "wrap_longitude",
    "geolocate",
]

_LAZY: dict[str, str] = {
    "GeoRegressor": ".estimators",
    "GeoClassifier": ".estimators",
    "LocationEmbedder": ".estimators",
    "load_pretrained": ".pretrained",
    "list_pretrained": ".pretrained",
    "embed_points": ".embed",
    "embed_grid": ".embed",
    "get_field": ".data",
    "list_fields": ".data",
    "load_points": ".data",
    "get_task": ".data",
    "list_tasks": ".data",
    "EncoderSpec": ".spec",
    "load_estimator": ".estimators",
    "TrainConfig": ".training",
    "Trainer": ".training",
    "get_positional_encoding": ".encoders",
    "list_positional_encodings": ".encoders",
    "get_network": ".networks",
    "list_networks": ".networks",
    "LocationEncoder": ".location_encoder",
    "build_location_encoder": ".location_encoder",
    "wrap_longitude": "._validation",
    "geolocate": ".geolocation",
}
"""Top-level name → the submodule (relative to this package) that defines it: first the
scikit-learn estimators, then pretrained models and embeddings, data, the encoder spec, the
training engine and the encoder builders."""

if TYPE_CHECKING:  # static type checkers and IDEs see the eager imports
    from ._validation import wrap_longitude
    from .data import get_field, get_task, list_fields, list_tasks, load_points
    from .embed import embed_grid, embed_points
    from .encoders import get_positional_encoding, list_positional_encodings
    from .geolocation import geolocate
    from .estimators import GeoClassifier, GeoRegressor, LocationEmbedder, load_estimator
    from .location_encoder import LocationEncoder, build_location_encoder
    from .networks import get_network, list_networks
    from .pretrained import list_pretrained, load_pretrained
    from .spec import EncoderSpec
    from .training import TrainConfig, Trainer


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
