"""geoviz: implicit neural geo-representations you can learn, see and use.

Coordinates everywhere are ``(lon, lat)`` in degrees, shape ``(N, 2)``.

    >>> import geoviz
    >>> enc = geoviz.build_location_encoder("sphericalharmonics", "siren", 1, legendre_polys=10)
"""

from ._validation import wrap_longitude
from .encoders import get_positional_encoding, list_positional_encodings
from .location_encoder import LocationEncoder, build_location_encoder
from .networks import get_network, list_networks

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
