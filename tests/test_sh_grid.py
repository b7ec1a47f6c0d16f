"""Separable SH first layer on lon/lat grids: against the dense path and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import sph_harm_y

import geoviz.training.grid_predict as gp
from geoviz.training.grid_predict import GridPredictor, supports_grid_prediction
from geoviz.data import get_task, regular_grid
from geoviz.encoders import SphericalHarmonics, get_positional_encoding, spherical_harmonics
from geoviz.encoders.sh_grid import grid_axes, sh_grid_factors, sh_grid_linear, sh_order_blocks
from geoviz.networks import get_network
from geoviz.training import Trainer, TrainConfig

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}  # relative to the output's magnitude (see _rel)


def _linear_bound(feats: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """Rounding bound of ``feats @ w.T + b`` computed two ways in ``dtype``: ``16·eps·Σ|terms|``.

    A sum of n products carries an error up to ~n·eps·Σ|terms| (√n·eps·Σ|terms| typically);
    16·eps·Σ|terms| covers both evaluation orders at L ≤ 25 with margin, and scales with the
    values as an absolute tolerance cannot (float32 L = 25 outputs reach ~20).
    """
    bound = feats.abs().double() @ w.abs().double().T
    if b is not None:
        bound = bound + b.abs().double()
    return 16 * torch.finfo(dtype).eps * bound + torch.finfo(dtype).tiny


def _rel(err: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> bool:
    """``max|err| <= TOL·max(1, max|ref|)``: a tolerance relative to the values' scale."""
    return err.abs().max().item() <= TOL[dtype] * max(1.0, ref.abs().max().item())


def _grid(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    lo, la = np.meshgrid(lons, lats)
    return np.stack([lo.ravel(), la.ravel()], axis=1)


def test_grid_axes_recognises_row_major_grids_only() -> None:
    for g in (regular_grid(1.0), regular_grid(shape=(7, 13)), regular_grid(shape=(1, 5)), regular_grid(shape=(6, 1))):
        lons, lats = grid_axes(g.lonlat)
        np.testing.assert_array_equal(lons, g.lons)
        np.testing.assert_array_equal(lats, g.lats)
        lons, lats = grid_axes(torch.from_numpy(g.lonlat).float())  # tensors and float32 too
        assert (len(lats), len(lons)) == g.shape
    g = regular_grid(10.0).lonlat
    rng = np.random.default_rng(0)
    assert grid_axes(g[rng.permutation(len(g))]) is None  # shuffled
    bad = g.copy()
    bad[100, 0] += 1e-9
    assert grid_axes(bad) is None  # one point off the grid
    assert grid_axes(g[:-1]) is None  # incomplete last row
    assert grid_axes(rng.uniform(-90, 90, (50, 2))) is None
    assert grid_axes(g[:1]) is None and grid_axes(np.zeros((4, 3))) is None
    irregular = _grid(np.array([-170.0, -3.0, 0.5, 99.0]), np.array([80.0, 10.0, -89.0]))
    assert grid_axes(irregular) is not None  # rectilinear but not equally spaced


@pytest.mark.parametrize("convention", ["standard", "satclip"])
def test_factors_reproduce_the_basis(convention: str) -> None:
    lons = np.array([-180.0, -123.4, -1.0, 0.0, 45.0, 179.9, 180.0])
    lats = np.array([90.0, 89.99, 33.3, 0.0, -60.0, -90.0])
    L = 12
    q, t, midx = sh_grid_factors(lons, lats, L, convention)
    assert q.shape == (6, L * L) and t.shape == (7, 2 * L - 1) and midx.shape == (L * L,)
    sep = (q[:, None, :] * t[None, :, midx]).reshape(-1, L * L)
    dense = spherical_harmonics(torch.from_numpy(_grid(lons, lats)), L, convention)
    assert (sep - dense).abs().max().item() < 1e-13
    if convention == "standard":  # independent reference: scipy's complex SH in real form
        ll = _grid(lons, lats)
        colat, lon = np.deg2rad(90.0 - ll[:, 1]), np.deg2rad(ll[:, 0])
        for l, m in [(0, 0), (3, -2), (5, 5), (11, -7), (11, 0)]:
            y = sph_harm_y(l, abs(m), colat, lon) * (-1.0) ** abs(m)
            ref = math.sqrt(2) * (y.imag if m < 0 else y.real) if m else y.real
            np.testing.assert_allclose(sep[:, l * l + l + m].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("L", [1, 2, 10, 25])
def test_linear_matches_dense(dtype: torch.dtype, L: int) -> None:
    g = regular_grid(shape=(18, 36))
    gen = torch.Generator().manual_seed(L)
    w = torch.randn(7, L * L, generator=gen, dtype=torch.float64).to(dtype)
    b = torch.randn(7, generator=gen, dtype=torch.float64).to(dtype)
    feats = spherical_harmonics(torch.from_numpy(g.lonlat).to(dtype), L)
    dense = torch.nn.functional.linear(feats, w, b)
    bound = _linear_bound(feats, w, b, dtype)
    z = sh_grid_linear(g.lons, g.lats, L, w, b)
    assert z.dtype == dtype and z.shape == (18 * 36, 7)
    assert ((z - dense).abs().double() <= bound).all(), ((z - dense).abs().double() / bound).max().item()
    nob = sh_grid_linear(g.lons, g.lats, L, w)
    assert ((nob + b - dense).abs().double() <= bound + 2 * torch.finfo(dtype).eps * dense.abs().double()).all()
    lm = sh_grid_linear(g.lons, g.lats, L, w, b, lon_major=True)  # point c·H + r
    assert ((lm.view(36, 18, 7).transpose(0, 1).reshape(-1, 7) - dense).abs().double() <= bound).all()
    buf = torch.empty_like(dense)
    assert sh_grid_linear(g.lons, g.lats, L, w, b, out=buf).data_ptr() == buf.data_ptr()
    assert ((buf - dense).abs().double() <= bound).all()


def test_linear_irregular_grid_satclip_and_blocks() -> None:
    lons, lats = np.array([-179.5, -20.0, 0.0, 3.0, 150.0]), np.array([89.0, 1.0, -0.5, -77.0])
    w = torch.randn(4, 36, dtype=torch.float64)
    dense = spherical_harmonics(torch.from_numpy(_grid(lons, lats)), 6, "satclip") @ w.T
    assert (sh_grid_linear(lons, lats, 6, w, convention="satclip") - dense).abs().max().item() < 1e-12
    q, t, midx = sh_grid_factors(lons, lats, 6, "satclip")
    a = sh_order_blocks(w, None, 6, q)  # (2L-1, H, J): the latitude blocks, checked by brute force
    for m in (-5, 0, 3):
        cols = [l * l + l + m for l in range(abs(m), 6)]
        torch.testing.assert_close(a[m + 5], q[:, cols] @ w[:, cols].T, rtol=0, atol=1e-13)


def test_linear_rejects_bad_shapes() -> None:
    g = regular_grid(30.0)
    with pytest.raises(ValueError, match="weight"):
        sh_grid_linear(g.lons, g.lats, 3, torch.zeros(4, 10))
    with pytest.raises(ValueError, match="bias"):
        sh_grid_linear(g.lons, g.lats, 3, torch.zeros(4, 9), torch.zeros(3))
    with pytest.raises(ValueError, match="out"):
        sh_grid_linear(g.lons, g.lats, 3, torch.zeros(4, 9), out=torch.zeros(5, 4))


NETS = [
    ("siren", {"hidden_dim": 24, "num_layers": 2}),
    ("siren", {"hidden_dim": 16, "num_layers": 3, "w0": 1.7, "w0_initial": 20.0, "dropout": 0.3}),
    ("siren", {"hidden_dim": 8, "num_layers": 1}),
    ("linear", {}),
    ("linear", {"bias": False}),
    ("fcnet", {"hidden_dim": 16, "num_layers": 2}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,kw", NETS)
def test_grid_predictor_matches_dense_network(name: str, kw: dict, dtype: torch.dtype,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gp, "_CHUNK_POINTS", 200)  # several longitude chunks, last one partial
    g = regular_grid(shape=(19, 40))
    pe = get_positional_encoding("sh", legendre_polys=7, convention="satclip" if name == "fcnet" else "standard")
    torch.manual_seed(3)
    net = get_network(name, 49, 3, **kw).to(dtype).eval()
    assert supports_grid_prediction(pe, net)
    pred = GridPredictor.from_lonlat(g.lonlat, pe, net, dtype=dtype)
    assert pred is not None and pred._cols < 40
    with torch.no_grad():
        dense = net(pe(torch.from_numpy(g.lonlat).to(dtype)))
    out = pred(net)
    assert out.shape == (19 * 40, 3) and out.dtype == dtype
    assert _rel(out - dense, dense, dtype)
    with pytest.raises(TypeError, match="predictor computes"):
        pred(net.to(torch.float64 if dtype == torch.float32 else torch.float32))


def test_grid_predictor_not_used_for_other_encodings_or_points() -> None:
    net = get_network("siren", 3, 1)
    assert not supports_grid_prediction(get_positional_encoding("cartesian3d"), net)
    assert GridPredictor.from_lonlat(regular_grid(10.0).lonlat, get_positional_encoding("cartesian3d"), net) is None
    for pts in ([[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 5.0]]):  # 1 x 2 and 2 x 1 grids
        assert GridPredictor.from_lonlat(np.array(pts), SphericalHarmonics(2), get_network("siren", 4, 1)) is not None
    assert GridPredictor.from_lonlat(np.array([[0.0, 0.0], [1.0, 5.0]]), SphericalHarmonics(2),
                                     get_network("siren", 4, 1)) is None
    assert GridPredictor.from_lonlat(np.array([[0.0, 0.0], [1.0, 5.0], [2.0, 7.0]]), SphericalHarmonics(2),
                                     get_network("siren", 4, 1)) is None


@pytest.mark.parametrize("dtype,predict_dtype,tol", [("float64", None, 1e-12), ("float64", "float32", 2e-6),
                                                     ("float32", None, 2e-6)])
def test_trainer_uses_the_grid_path_and_matches_dense(dtype: str, predict_dtype: str | None, tol: float) -> None:
    task = get_task("landocean")
    g = regular_grid(4.0)
    cfg = TrainConfig(max_epochs=2, patience=None, device="cpu", dtype=dtype, pe_kwargs={"legendre_polys": 8},
                      nn_kwargs={"hidden_dim": 32, "num_layers": 2})
    tr = Trainer(task, cfg, predict_lonlat=g.lonlat, predict_every=1, predict_dtype=predict_dtype)
    assert tr._grid_predictor is not None
    recs = list(tr.run())
    assert all(r.prediction is not None and r.prediction.shape == (len(g.lonlat),) for r in recs)
    dense = tr.predict(tr._encode(g.lonlat, tr._predict_dtype))
    assert recs[-1].prediction.dtype == dense.dtype
    np.testing.assert_allclose(recs[-1].prediction, dense, rtol=0, atol=tol)
    assert tr.model.training  # the training mode is restored after a prediction
    off = Trainer(task, cfg, predict_lonlat=g.lonlat, separable_grid=False)
    assert off._grid_predictor is None and off._predict_features is not None
    scattered = Trainer(task, cfg, predict_lonlat=task.val.lonlat[:100])
    assert scattered._grid_predictor is None and scattered.predict().shape == (100,)
