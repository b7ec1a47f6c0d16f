"""Tests for geoviz.networks: Linear, FCNet, Siren and the network registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from geoviz.networks import (
    NETWORKS,
    FCNet,
    Linear,
    ResLayer,
    SineLayer,
    Siren,
    get_network,
    list_networks,
)

SMALL_KW: dict[str, dict] = {
    "linear": {},
    "fcnet": {"hidden_dim": 16, "num_layers": 2},
    "siren": {"hidden_dim": 16, "num_layers": 3},
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ----------------------------------------------------------------------------- registry / build


def test_registry_contents() -> None:
    assert NETWORKS == {"linear": Linear, "fcnet": FCNet, "siren": Siren}
    assert list_networks() == ["fcnet", "linear", "siren"]


@pytest.mark.parametrize("name", ["linear", "fcnet", "siren"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_build_forward_backward(name: str, dtype: torch.dtype) -> None:
    net = get_network(name, 9, 5, **SMALL_KW[name])
    assert isinstance(net, NETWORKS[name])
    if dtype == torch.float64:
        net = net.double()
    x = torch.randn(7, 9, dtype=dtype, requires_grad=True)
    y = net(x)
    assert y.shape == (7, 5)
    assert y.dtype == dtype
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", ["linear", "fcnet", "siren"])
def test_empty_batch(name: str) -> None:
    net = get_network(name, 4, 3, **SMALL_KW[name])
    assert net(torch.zeros(0, 4)).shape == (0, 3)


def test_name_case_insensitive() -> None:
    assert isinstance(get_network("SIREN", 3, 2), Siren)


def test_defaults() -> None:
    s = Siren(4, 2)
    assert len(s.layers) == 2 and s.hidden_dim == 256
    assert s.layers[0].w0 == 30.0 and s.layers[1].w0 == 1.0
    assert all(layer.dropout == 0.0 for layer in s.layers)
    f = FCNet(4, 2)
    assert len(f.res_blocks) == 4
    assert f.res_blocks[0].dropout1.p == 0.5
    assert f.feats[0].out_features == 256


# ----------------------------------------------------------------------------- Siren init


def test_siren_init_bounds() -> None:
    torch.manual_seed(1)
    in_dim, h, out, w0 = 64, 256, 200, 2.0
    net = Siren(in_dim, out, hidden_dim=h, num_layers=3, w0=w0, w0_initial=30.0)
    expected = [1.0 / in_dim, math.sqrt(6.0 / h) / w0, math.sqrt(6.0 / h) / w0]
    for layer, s in zip(net.layers, expected):
        assert layer.init_bound == pytest.approx(s)
        for t in (layer.weight, layer.bias):
            m = t.detach().abs().max().item()
            assert m <= s
            assert m >= 0.9 * s  # >= 256 draws: P(max < 0.9 s) < 1e-11
    s_last = math.sqrt(6.0 / h) / w0
    assert net.last_layer_init_bound == pytest.approx(s_last)
    for t in (net.last_layer.weight, net.last_layer.bias):
        m = t.detach().abs().max().item()
        assert s_last * 0.9 <= m <= s_last
    # Roughly uniform: the variance of U(-s, s) is s^2 / 3.
    w = net.layers[1].weight.detach()
    assert w.var().item() == pytest.approx(expected[1] ** 2 / 3, rel=0.05)


def test_siren_first_layer_uses_w0_initial() -> None:
    net = Siren(3, 2, hidden_dim=4, num_layers=2, w0=1.5, w0_initial=7.0)
    assert net.layers[0].is_first and net.layers[0].w0 == 7.0
    assert not net.layers[1].is_first and net.layers[1].w0 == 1.5
    x = torch.randn(5, 3)
    z = x @ net.layers[0].weight.T + net.layers[0].bias
    torch.testing.assert_close(net.layers[0](x), torch.sin(7.0 * z))


def test_siren_forward_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    in_dim, h, out, w0, w0i = 3, 4, 2, 1.3, 30.0
    net = Siren(in_dim, out, hidden_dim=h, num_layers=2, w0=w0, w0_initial=w0i).double()
    W0 = rng.uniform(-0.3, 0.3, (h, in_dim))
    b0 = rng.uniform(-0.3, 0.3, h)
    W1 = rng.uniform(-1, 1, (h, h))
    b1 = rng.uniform(-1, 1, h)
    W2 = rng.uniform(-1, 1, (out, h))
    b2 = rng.uniform(-1, 1, out)
    sd = {
        "layers.0.weight": W0,
        "layers.0.bias": b0,
        "layers.1.weight": W1,
        "layers.1.bias": b1,
        "last_layer.weight": W2,
        "last_layer.bias": b2,
    }
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    x = rng.normal(size=(6, in_dim))
    # Independent hand computation, one row and one unit at a time.
    expected = np.zeros((6, out))
    for n in range(6):
        a = [math.sin(w0i * (sum(W0[j, i] * x[n, i] for i in range(in_dim)) + b0[j])) for j in range(h)]
        a = [math.sin(w0 * (sum(W1[j, i] * a[i] for i in range(h)) + b1[j])) for j in range(h)]
        for k in range(out):
            expected[n, k] = sum(W2[k, i] * a[i] for i in range(h)) + b2[k]
    got = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- Siren state dict


@pytest.mark.parametrize("num_layers", [1, 2, 4])
def test_siren_state_dict_keys_satclip_layout(num_layers: int) -> None:
    net = Siren(25, 8, hidden_dim=12, num_layers=num_layers)
    keys = list(net.state_dict().keys())
    expected = []
    for i in range(num_layers):
        expected += [f"layers.{i}.weight", f"layers.{i}.bias"]
    expected += ["last_layer.weight", "last_layer.bias"]
    assert keys == expected
    sd = net.state_dict()
    assert sd["layers.0.weight"].shape == (12, 25)
    assert sd["last_layer.weight"].shape == (8, 12)
    assert sd["last_layer.bias"].shape == (8,)


def test_siren_loads_satclip_style_checkpoint() -> None:
    # A SatCLIP-like float64 checkpoint: prefixed keys, L = 4 -> 16 SH features.
    src = Siren(16, 6, hidden_dim=10, num_layers=2, dropout=True).double()
    prefix = "model.location.nnet."
    ckpt = {prefix + k: v.clone() for k, v in src.state_dict().items()}
    ckpt["model.logit_scale"] = torch.tensor(1.0)
    stripped = {k[len(prefix):]: v for k, v in ckpt.items() if k.startswith(prefix)}
    dst = Siren(16, 6, hidden_dim=10, num_layers=2, dropout=True).double()
    result = dst.load_state_dict(stripped, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    src.eval()
    dst.eval()
    x = torch.randn(5, 16, dtype=torch.float64)
    torch.testing.assert_close(src(x), dst(x), rtol=0, atol=0)


def test_siren_fresh_state_dict_loads_strictly() -> None:
    a = Siren(5, 3, hidden_dim=7)
    b = Siren(5, 3, hidden_dim=7)
    b.load_state_dict(a.state_dict(), strict=True)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])


# ----------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("name", ["fcnet", "siren"])
def test_dropout_train_vs_eval(name: str) -> None:
    net = get_network(name, 6, 4, hidden_dim=64, dropout=0.5)
    x = torch.randn(32, 6)
    net.eval()
    torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)
    net.train()
    assert not torch.equal(net(x), net(x))


@pytest.mark.parametrize("name", ["fcnet", "siren"])
def test_no_dropout_train_deterministic(name: str) -> None:
    net = get_network(name, 6, 4, hidden_dim=64, dropout=0.0).train()
    x = torch.randn(32, 6)
    assert torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net.train()(x))


def test_siren_dropout_bool() -> None:
    assert all(layer.dropout == 0.5 for layer in Siren(3, 2, dropout=True).layers)
    assert all(layer.dropout == 0.0 for layer in Siren(3, 2, dropout=False).layers)
    assert FCNet(3, 2, dropout=False).res_blocks[0].dropout1.p == 0.0


def test_siren_dropout_on_pre_activation() -> None:
    # With dropout, zeroed pre-activations give sin(0) = 0 exactly in the first layer.
    layer = SineLayer(8, 500, w0=30.0, is_first=True, dropout=0.5).train()
    y = layer(torch.randn(4, 8))
    frac_zero = (y == 0).double().mean().item()
    assert 0.4 < frac_zero < 0.6


# ----------------------------------------------------------------------------- FCNet


def test_fcnet_structure() -> None:
    for n in (1, 3, 4):
        net = FCNet(5, 7, hidden_dim=8, num_layers=n)
        assert len(net.res_blocks) == n
        assert sum(isinstance(m, ResLayer) for m in net.modules()) == n
        assert net.class_emb.bias is None
        assert net.class_emb.weight.shape == (7, 8)
        assert "class_emb.bias" not in net.state_dict()
        assert isinstance(net.feats[0], nn.Linear) and isinstance(net.feats[1], nn.ReLU)


def test_reslayer_formula() -> None:
    block = ResLayer(6, dropout=0.5).eval()
    x = torch.randn(4, 6)
    relu = torch.relu
    expected = x + relu(block.w2(relu(block.w1(x))))
    torch.testing.assert_close(block(x), expected)


def test_fcnet_forward_formula() -> None:
    net = FCNet(3, 2, hidden_dim=5, num_layers=2).eval()
    x = torch.randn(4, 3)
    h = torch.relu(net.feats[0](x))
    for blk in net.res_blocks:
        h = h + torch.relu(blk.w2(torch.relu(blk.w1(h))))
    torch.testing.assert_close(net(x), h @ net.class_emb.weight.T)


# ----------------------------------------------------------------------------- Linear


def test_linear() -> None:
    lin = get_network("linear", 4, 3)
    assert set(lin.state_dict()) == {"weight", "bias"}
    x = torch.randn(2, 4)
    torch.testing.assert_close(lin(x), x @ lin.weight.T + lin.bias)
    nob = get_network("linear", 4, 3, bias=False)
    assert set(nob.state_dict()) == {"weight"}


# ----------------------------------------------------------------------------- errors


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="valid names.*fcnet.*linear.*siren"):
        get_network("mlp", 3, 2)
    with pytest.raises(TypeError):
        get_network(None, 3, 2)  # type: ignore[arg-type]


def test_unknown_kwarg() -> None:
    with pytest.raises(TypeError, match="hidden_dims") as exc:
        get_network("siren", 3, 2, hidden_dims=8)
    assert "hidden_dim" in str(exc.value) and "w0_initial" in str(exc.value)
    with pytest.raises(TypeError, match="w0"):
        get_network("fcnet", 3, 2, w0=2.0)
    with pytest.raises(TypeError, match="hidden_dim"):
        get_network("linear", 3, 2, hidden_dim=4)


@pytest.mark.parametrize("name", ["linear", "fcnet", "siren"])
def test_wrong_input(name: str) -> None:
    net = get_network(name, 5, 2, **SMALL_KW[name])
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        net(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        net(torch.randn(5))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        net(torch.randn(2, 3, 5))
    with pytest.raises(TypeError, match="floating"):
        net(torch.ones(3, 5, dtype=torch.int64))
    with pytest.raises(TypeError, match="Tensor"):
        net(np.zeros((3, 5)))
    with pytest.raises(TypeError, match="float64"):
        net(torch.randn(3, 5, dtype=torch.float64))  # module is float32


@pytest.mark.parametrize(
    ("name", "kw", "arg"),
    [
        ("siren", {"hidden_dim": 0}, "hidden_dim"),
        ("siren", {"num_layers": 0}, "num_layers"),
        ("siren", {"num_layers": 1.5}, "num_layers"),
        ("siren", {"dropout": 1.0}, "dropout"),
        ("siren", {"dropout": -0.1}, "dropout"),
        ("siren", {"w0": 0.0}, "w0"),
        ("siren", {"w0_initial": -1.0}, "w0_initial"),
        ("fcnet", {"hidden_dim": -3}, "hidden_dim"),
        ("fcnet", {"num_layers": 0}, "num_layers"),
        ("fcnet", {"dropout": 1.5}, "dropout"),
        ("linear", {"bias": "yes"}, "bias"),
    ],
)
def test_bad_hyperparameters(name: str, kw: dict, arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        get_network(name, 3, 2, **kw)


@pytest.mark.parametrize("name", ["linear", "fcnet", "siren"])
def test_bad_dims(name: str) -> None:
    with pytest.raises(ValueError, match="input_dim"):
        get_network(name, 0, 2)
    with pytest.raises(ValueError, match="output_dim"):
        get_network(name, 3, True)
