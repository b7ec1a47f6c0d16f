"""Tests for geoviz.embed: batching, kinds, determinism, grids, the disk cache and Dask."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import geoviz
from geoviz.data import regular_grid
from geoviz.embed import (
    EmbeddingGrid,
    default_cache_dir,
    embed_grid,
    embed_points,
    grid_spacing_for,
    model_fingerprint,
)


def _model(seed: int = 0, **kw) -> geoviz.LocationEncoder:
    torch.manual_seed(seed)
    args = dict(legendre_polys=10, hidden_dim=64)
    args.update(kw)
    return geoviz.build_location_encoder("sphericalharmonics", "siren", 256, **args)


@pytest.fixture(scope="module")
def model() -> geoviz.LocationEncoder:
    return _model()


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500)], axis=1)


# --------------------------------------------------------------------------------------
# embed_points


def test_matches_plain_forward_and_kinds(model, points):
    ref = model.eval()(torch.from_numpy(points).float()).detach().numpy()
    out = embed_points(model, points)
    assert isinstance(out, np.ndarray) and out.shape == (500, 256) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    t = embed_points(model, torch.from_numpy(points))
    assert isinstance(t, torch.Tensor) and t.shape == (500, 256) and not t.requires_grad
    np.testing.assert_allclose(t.numpy(), out, rtol=1e-6, atol=1e-6)


def test_batching_does_not_change_result(model, points):
    full = embed_points(model, points, batch_size=10_000)
    small = embed_points(model, points, batch_size=37)
    np.testing.assert_allclose(small, full, rtol=1e-5, atol=1e-6)


def test_memory_cap_bounds_batch_rows(points):
    m = _model()
    sizes: list[int] = []
    h = m.network.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[0]))
    try:
        # widest layer is the 256-wide output; 4 bytes/value -> 100 rows per 102,400 bytes
        embed_points(m, points, batch_size=65536, max_batch_bytes=100 * 256 * 4)
    finally:
        h.remove()
    assert max(sizes) == 100 and sum(sizes) == 500


def test_determinism_in_eval_mode_with_dropout(points):
    m = _model(dropout=0.5)
    m.train()
    a = embed_points(m, points)
    b = embed_points(m, points)
    np.testing.assert_array_equal(a, b)  # dropout off, bit-identical
    assert m.training  # caller's mode restored
    np.testing.assert_allclose(a, m.eval()(torch.from_numpy(points).float()).detach().numpy(), rtol=1e-5, atol=1e-6)
    m.train()
    with torch.no_grad():  # sanity: in train mode dropout really is active
        assert not torch.equal(m(torch.from_numpy(points)), m(torch.from_numpy(points)))


def test_dtype_and_device_do_not_mutate_model(model, points):
    before = copy.deepcopy(model.state_dict())
    out = embed_points(model, points, dtype=torch.float64, device="cpu")
    assert out.dtype == np.float64
    assert next(model.parameters()).dtype == torch.float32
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    ref = copy.deepcopy(model).double().eval()(torch.from_numpy(points)).detach().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert embed_points(model, points, dtype="float64").dtype == np.float64


def test_empty_input(model):
    out = embed_points(model, np.zeros((0, 2)))
    assert out.shape == (0, 256)


@pytest.mark.parametrize(
    "bad, exc, msg",
    [
        (np.array([[0.0, 95.0]]), ValueError, "latitude"),
        (np.array([[0.0, 1.0, 2.0]]), ValueError, "shape"),
        (np.array([[0, 1]]), TypeError, "dtype"),
    ],
)
def test_bad_coordinates(model, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        embed_points(model, bad)


def test_bad_arguments(model, points):
    with pytest.raises(TypeError, match="nn.Module"):
        embed_points(lambda x: x, points)
    with pytest.raises(ValueError, match="batch_size"):
        embed_points(model, points, batch_size=0)
    with pytest.raises(TypeError, match="dtype"):
        embed_points(model, points, dtype=torch.int32)


# --------------------------------------------------------------------------------------
# grids and the cache


def test_grid_spacing_for():
    assert grid_spacing_for(10) == 4.5
    assert grid_spacing_for(40) == 1.125
    for L in range(1, 101):
        s = grid_spacing_for(L)
        assert s == pytest.approx(180.0 / (4 * L))
        regular_grid(s)  # always a valid raster resolution
    with pytest.raises(ValueError):
        grid_spacing_for(0)


def test_embed_grid_default_spacing_and_layout(model, tmp_path):
    g = embed_grid(model, cache_dir=tmp_path)
    assert isinstance(g, EmbeddingGrid)
    assert g.spacing == 4.5 and g.shape == (40, 80) and g.embeddings.shape == (3200, 256)
    assert g.embeddings.dtype == np.float32 and g.embedding_dim == 256
    lats = g.image(g.lonlat[:, 1])
    assert lats[0, 0] == 90 - 2.25 and lats[-1, 0] == -90 + 2.25  # north up
    np.testing.assert_allclose(g.embeddings, embed_points(model, regular_grid(4.5).lonlat), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        embed_grid(model, 0.7, cache=False)  # does not divide 180


def test_cache_hit_and_miss(tmp_path):
    m = _model()
    a = embed_grid(m, 9.0, cache_dir=tmp_path)
    assert not a.from_cache
    files = list(tmp_path.glob("*.npz"))
    assert [f.stem for f in files] == [a.key]
    b = embed_grid(m, 9.0, cache_dir=tmp_path)
    assert b.from_cache and b.key == a.key
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    # an equal copy of the model hits the same entry
    assert embed_grid(copy.deepcopy(m), 9.0, cache_dir=tmp_path).from_cache
    # other grid, other compute dtype, other weights, other hyperparameters: misses
    assert not embed_grid(m, 6.0, cache_dir=tmp_path).from_cache
    assert not embed_grid(m, 9.0, cache_dir=tmp_path, dtype=torch.float64).from_cache
    m2 = copy.deepcopy(m)
    with torch.no_grad():
        m2.network.last_layer.bias[0] += 1e-3
    c = embed_grid(m2, 9.0, cache_dir=tmp_path)
    assert not c.from_cache and c.key != a.key
    m3 = _model(convention="satclip")  # same weights (same seed), other SH convention
    assert model_fingerprint(m3) != model_fingerprint(m)
    assert not embed_grid(m3, 9.0, cache_dir=tmp_path).from_cache
    assert len(list(tmp_path.glob("*.npz"))) == 5
    assert not list(tmp_path.glob(".tmp-*"))


def test_cache_disabled_and_corrupt_file(tmp_path):
    m = _model()
    g = embed_grid(m, 9.0, cache=False, cache_dir=tmp_path)
    assert not g.from_cache and not list(tmp_path.iterdir())
    (tmp_path / f"{g.key}.npz").write_bytes(b"not a zip file")
    h = embed_grid(m, 9.0, cache_dir=tmp_path)  # recomputed and overwritten
    assert not h.from_cache
    np.testing.assert_array_equal(h.embeddings, g.embeddings)
    assert embed_grid(m, 9.0, cache_dir=tmp_path).from_cache


def test_default_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "embeddings"
    g = embed_grid(_model(), 18.0)
    assert (tmp_path / "embeddings" / f"{g.key}.npz").is_file()
    monkeypatch.delenv("GEOVIZ_CACHE_DIR")
    assert default_cache_dir().parts[-3:] == (".cache", "geoviz", "embeddings")


# --------------------------------------------------------------------------------------
# Dask


def test_dask_in_memory_scheduler_equals_numpy(model, points):
    da = pytest.importorskip("dask.array")
    ref = embed_points(model, points)
    x = da.from_array(points, chunks=(128, 1))  # column chunking is merged
    lazy = embed_points(model, x)
    assert isinstance(lazy, da.Array) and lazy.shape == (500, 256) and lazy.dtype == np.float32
    assert lazy.chunks[0] == (128, 128, 128, 116)
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), ref, rtol=1e-6, atol=1e-6)
    lazy64 = embed_points(model, x, dtype=torch.float64)
    assert lazy64.dtype == np.float64 and lazy64.compute(scheduler="sync").dtype == np.float64


def test_dask_distributed_local_cluster_equals_numpy(model, points):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    ref = embed_points(model, points)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        lazy = embed_points(model, da.from_array(points, chunks=(200, 2)))
        # the model was scattered once (one data key on the cluster), not put in every task
        assert [str(k).split("-")[0] for k in client.who_has()] == ["LocationEncoder"]
        out = client.compute(lazy).result()
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------
# grids through the separable first layer (issue 17 item 11)


@pytest.mark.parametrize("net,kw", [
    ("siren", dict(legendre_polys=12, convention="satclip", hidden_dim=48, num_layers=2)),
    ("siren", dict(legendre_polys=7, hidden_dim=32, num_layers=1, dropout=0.3)),
    ("linear", dict(legendre_polys=9)),
    ("fcnet", dict(legendre_polys=6, hidden_dim=32, num_layers=2, dropout=0.2)),
])
def test_separable_grid_equals_dense(net, kw):
    from geoviz.training.grid_predict import GridPredictor

    torch.manual_seed(3)
    m = geoviz.build_location_encoder("sphericalharmonics", net, 40, **kw).train()  # eval used, mode restored
    sep = embed_grid(m, 5.0, cache=False, separable=True)
    dense = embed_grid(m, 5.0, cache=False, separable=False)
    assert m.training
    assert sep.embeddings.dtype == np.float32 and sep.embeddings.shape == dense.embeddings.shape == (36 * 72, 40)
    scale = np.abs(dense.embeddings).max()
    assert np.abs(sep.embeddings - dense.embeddings).max() / scale < 1e-5
    # float64: the separable grid against the dense forward pass, < 1e-10 relative
    m64 = copy.deepcopy(m).double().eval()
    g = regular_grid(5.0)
    gp = GridPredictor(g.lons, g.lats, m64.positional_encoding, dtype=torch.float64)
    out = gp.fill(m64.network, np.empty((g.lonlat.shape[0], 40)))
    ref = embed_points(m64, g.lonlat)
    assert ref.dtype == np.float64
    assert np.abs(out - ref).max() / np.abs(ref).max() < 1e-10
    # chunked by a small memory cap (one longitude column at a time): same values to rounding
    small = embed_grid(m, 5.0, cache=False, separable=True, max_batch_bytes=64 * 1024)
    assert np.abs(small.embeddings - dense.embeddings).max() / scale < 1e-5


def test_separable_grid_is_the_default_only_where_supported(tmp_path):
    from geoviz.embed import _embed_grid_separable

    m = _model(legendre_polys=5)
    g = regular_grid(10.0)
    assert _embed_grid_separable(m, g, None, None, torch.float32, None) is not None
    other = geoviz.build_location_encoder("wrap", "siren", 16, hidden_dim=16)  # not SH: dense path
    assert _embed_grid_separable(other, g, None, None, torch.float32, None) is None
    np.testing.assert_allclose(embed_grid(other, 10.0, cache=False).embeddings,
                               embed_points(other, g.lonlat), rtol=0, atol=0)
    with pytest.raises(ValueError, match="separable=True"):
        embed_grid(other, 10.0, cache=False, separable=True)
