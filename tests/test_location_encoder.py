"""Registries and LocationEncoder: every PE × network builds and runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import geoviz
from geoviz.encoders import POSITIONAL_ENCODINGS

PES = ["sphericalharmonics", "direct", "cartesian3d", "wrap", "grid", "theory",
       "spherec", "spherec+", "spherem", "spherem+"]


def test_registry_names() -> None:
    assert geoviz.list_positional_encodings() == PES
    assert sorted(geoviz.list_networks()) == ["fcnet", "linear", "siren"]
    assert isinstance(geoviz.get_positional_encoding("sh", legendre_polys=4), type(POSITIONAL_ENCODINGS["sphericalharmonics"](legendre_polys=4)))


@pytest.mark.parametrize("pe", PES)
@pytest.mark.parametrize("net", ["linear", "fcnet", "siren"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_combination_runs(pe: str, net: str, dtype: torch.dtype) -> None:
    kw = {"legendre_polys": 5} if pe == "sphericalharmonics" else {}
    if pe not in ("sphericalharmonics", "direct", "cartesian3d", "wrap"):
        kw["frequency_num"] = 4
    if net != "linear":
        kw["hidden_dim"] = 16
    enc = geoviz.build_location_encoder(pe, net, 3, **kw).to(dtype)
    x = torch.tensor([[0.0, 0.0], [180.0, 90.0], [-180.0, -90.0], [12.5, 51.0]], dtype=dtype)
    y = enc(x)
    assert y.shape == (4, 3) and y.dtype == dtype and torch.isfinite(y).all()
    assert enc.features(x).shape == (4, enc.embedding_dim)
    assert all(k.startswith("network.") for k in enc.state_dict())
    y.sum().backward()


def test_input_cast_and_numpy() -> None:
    enc = geoviz.build_location_encoder("sh", "siren", 2, legendre_polys=4, hidden_dim=8).double()
    out = enc(np.array([[10.0, 20.0]], dtype=np.float32))
    assert out.dtype == torch.float64


def test_kwargs_routing_and_errors() -> None:
    enc = geoviz.build_location_encoder("sh", "siren", 1, legendre_polys=7, hidden_dim=12, num_layers=3)
    assert enc.embedding_dim == 49 and len(enc.network.layers) == 3
    with pytest.raises(TypeError, match="bogus"):
        geoviz.build_location_encoder("sh", "siren", 1, bogus=1)
    with pytest.raises(ValueError, match="unknown positional encoding"):
        geoviz.get_positional_encoding("nope")
    with pytest.raises(ValueError, match="unknown network"):
        geoviz.get_network("nope", 2, 2)
    with pytest.raises(TypeError):
        geoviz.get_positional_encoding("grid", legendre_polys=3)
    enc = geoviz.build_location_encoder("sh", "linear", 1, legendre_polys=3)
    with pytest.raises(ValueError, match="latitude"):
        enc(torch.tensor([[0.0, 100.0]]))
