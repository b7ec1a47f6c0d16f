"""Location encoder = positional encoding × network, and its builder."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ._validation import as_lonlat_tensor, check_lonlat
from .encoders import get_positional_encoding, positional_encoding_hyperparameters
from .networks import NETWORKS, get_network

__all__ = ["LocationEncoder", "build_location_encoder"]


class LocationEncoder(nn.Module):
    """``network(positional_encoding(lonlat))`` as one module.

    Args:
        positional_encoding: module mapping ``(N, 2)`` (lon, lat) degrees to
            ``(N, embedding_dim)``; must have an ``embedding_dim`` attribute.
        network: module mapping ``(N, embedding_dim)`` to ``(N, output_dim)``.

    Shape:
        input ``(N, 2)`` (lon, lat) in degrees (torch tensor, or numpy array which is
        converted), float32/float64; the input is cast to the network's dtype. Output
        ``(N, output_dim)`` in the network's dtype, on the network's device.

    The state dict holds only the network's learned weights (``network.*``): positional
    encodings have no parameters and no persistent buffers.
    """

    def __init__(self, positional_encoding: nn.Module, network: nn.Module) -> None:
        super().__init__()
        if not hasattr(positional_encoding, "embedding_dim"):
            raise TypeError("positional_encoding must have an `embedding_dim` attribute")
        self.positional_encoding = positional_encoding
        self.network = network

    @property
    def embedding_dim(self) -> int:
        """Width of the positional-encoding features fed to the network."""
        return int(self.positional_encoding.embedding_dim)

    def _param_like(self) -> torch.Tensor | None:
        return next(iter(self.network.parameters()), None)

    def features(self, lonlat: Any) -> torch.Tensor:
        """Positional-encoding features ``(N, embedding_dim)`` in the network's dtype/device."""
        if not isinstance(lonlat, torch.Tensor):
            lonlat, _ = as_lonlat_tensor(lonlat)
        check_lonlat(lonlat)
        p = self._param_like()
        if p is not None:
            lonlat = lonlat.to(device=p.device, dtype=p.dtype)
        return self.positional_encoding(lonlat)

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        return self.network(self.features(lonlat))


def build_location_encoder(pe_name: str, net_name: str, output_dim: int, **kw: Any) -> LocationEncoder:
    """Build ``LocationEncoder(get_positional_encoding(pe_name, ...), get_network(net_name, ...))``.

    Keyword arguments are routed by name: those accepted by the positional encoding's
    constructor (e.g. ``legendre_polys``, ``frequency_num``, ``min_radius``) go to it, the
    rest (e.g. ``hidden_dim``, ``num_layers``, ``dropout``, ``w0``) to the network.

    Args:
        pe_name: positional encoding name (see ``geoviz.list_positional_encodings()``).
        net_name: network name (see ``geoviz.list_networks()``).
        output_dim: network output width (1 for binary tasks, C classes, or an embedding dim).
        **kw: hyperparameters of either part.

    Returns:
        A float32 :class:`LocationEncoder` on the CPU; call ``.double()``/``.to(device)``.

    Raises:
        ValueError/TypeError: unknown names, or a keyword neither part accepts (named).

    Example:
        >>> enc = build_location_encoder("sh", "siren", 1, legendre_polys=10, hidden_dim=64)
    """
    pe_keys = set(positional_encoding_hyperparameters(pe_name))
    pe_kw = {k: v for k, v in kw.items() if k in pe_keys}
    net_kw = {k: v for k, v in kw.items() if k not in pe_keys}
    key = net_name.strip().lower() if isinstance(net_name, str) else net_name
    if key in NETWORKS:
        net_keys = [p for p in inspect.signature(NETWORKS[key].__init__).parameters][3:]
        unknown = [k for k in net_kw if k not in net_keys]
        if unknown:
            raise TypeError(
                f"unexpected keyword(s) {unknown}: accepted by {pe_name!r}: {sorted(pe_keys)}, "
                f"by {net_name!r}: {net_keys}"
            )
    pe = get_positional_encoding(pe_name, **pe_kw)
    net = get_network(net_name, pe.embedding_dim, output_dim, **net_kw)
    return LocationEncoder(pe, net)
