"""Species ranges from presence-only data (geoviz.species): losses, virtual species, training,
evaluation, the elapid slug, readers, save/load, fast maps and the CLI. Fast (seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geoviz.species import (
    KDEBaseline,
    SpeciesConfig,
    SpeciesModel,
    assume_negative_loss,
    fit_species,
    full_assume_negative_loss,
    get_background,
    get_loss,
    load_ariolimax,
    make_observations,
    make_virtual_species,
    range_metrics,
    read_observations,
    utm_to_lonlat,
)


def sp(z: float) -> float:  # softplus, by hand
    return math.log1p(math.exp(z))


# ----------------------------------------------------------------------------- losses

ZO = [[0.5, -1.0, 2.0], [-0.3, 0.7, 0.0]]  # (B=2, S=3) logits at observations
Y = [2, 0]  # observed species
ZB = [[1.0, -2.0, 0.1], [0.0, 0.4, -0.6]]  # (M=2, S=3) logits at background points


def _hand(full: bool, lam: float) -> float:
    B, S = 2, 3
    pos = sum(lam * sp(-ZO[i][Y[i]]) for i in range(B))  # −log σ(z) = softplus(−z)
    neg = sum(sp(ZO[i][s]) for i in range(B) for s in range(S) if s != Y[i]) if full else 0.0
    bg = sum(sp(v) for row in ZB for v in row) / (2 * S)  # −log(1 − σ(z)) = softplus(z)
    return (pos + neg) / (B * S) + bg


@pytest.mark.parametrize("lam", [1.0, 2048.0])
def test_losses_match_hand_computed_values(lam):
    zo, zb, y = torch.tensor(ZO, dtype=torch.float64), torch.tensor(ZB, dtype=torch.float64), torch.tensor(Y)
    assert assume_negative_loss(zo, y, zb, lam).item() == pytest.approx(_hand(False, lam), rel=1e-12)
    assert full_assume_negative_loss(zo, y, zb, lam).item() == pytest.approx(_hand(True, lam), rel=1e-12)
    # the same numbers from probabilities, as SINR writes them (−log p, −log(1 − p))
    p = torch.sigmoid(zo)
    an = -lam * torch.log(p[[0, 1], Y]).sum() / 6 - torch.log(1 - torch.sigmoid(zb)).mean()
    assert assume_negative_loss(zo, y, zb, lam).item() == pytest.approx(an.item(), rel=1e-10)
    assert get_loss("an") is assume_negative_loss and get_loss("an_full") is full_assume_negative_loss


def test_losses_single_species_agree_and_scale_to_many_species():
    g = torch.Generator().manual_seed(0)
    zo, zb = torch.randn(5, 1, generator=g), torch.randn(7, 1, generator=g)
    y = torch.zeros(5, dtype=torch.long)
    assert assume_negative_loss(zo, y, zb).item() == pytest.approx(full_assume_negative_loss(zo, y, zb).item())
    # 2,000 species: vectorised, finite gradient
    zo = torch.randn(64, 2000, generator=g, requires_grad=True)
    loss = full_assume_negative_loss(zo, torch.randint(0, 2000, (64,), generator=g), torch.randn(64, 2000, generator=g))
    loss.backward()
    assert torch.isfinite(zo.grad).all()
    with pytest.raises(ValueError, match="number of species"):
        assume_negative_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="unknown species loss"):
        get_loss("bce")


# ----------------------------------------------------------------------------- virtual species


@pytest.fixture(scope="module")
def world():
    return make_virtual_species(4, 3000, resolution=1.0, seed=3, bias="flickr")


def test_virtual_species_reproducible_and_inside_range(world):
    again = make_virtual_species(4, 3000, resolution=1.0, seed=3, bias="flickr")
    np.testing.assert_array_equal(world.ranges, again.ranges)
    np.testing.assert_array_equal(world.observations.lonlat, again.observations.lonlat)
    np.testing.assert_array_equal(world.observations.species, again.observations.species)
    other = make_virtual_species(4, 3000, resolution=1.0, seed=4, bias="flickr")
    assert not np.array_equal(world.ranges, other.ranges)
    obs = world.observations
    assert len(obs) == 3000 and obs.num_species == 4 and world.ranges.shape == (4, 180, 360)
    inside = world.truth(obs.lonlat)[np.arange(len(obs)), obs.species]
    assert inside.all()
    counts = obs.counts()
    assert counts.min() >= 5 and counts.max() > 2 * counts.min()  # long tail
    # ranges lie on land: cells whose centre is land (Köppen); points in coastal cells may fall
    # in the sea part of the 1° cell, hence not 100 %
    from geoviz.data import koppen_zones

    assert (koppen_zones(obs.lonlat) != 32).mean() > 0.95


def test_range_metrics_and_kde_baseline(world):
    from sklearn.metrics import average_precision_score

    pts = np.random.default_rng(0).uniform([-180, -60], [180, 80], size=(4000, 2))
    truth = world.truth(pts)
    perfect = range_metrics(truth.astype(float), truth)
    assert perfect["map"] == pytest.approx(1.0) and perfect["mean_auc"] == pytest.approx(1.0)
    noise = np.random.default_rng(1).random(truth.shape)
    m = range_metrics(noise, truth)
    assert m["ap"][0] == pytest.approx(average_precision_score(truth[:, 0], noise[:, 0]))
    assert 0.35 < m["mean_auc"] < 0.65
    kde = KDEBaseline(world.observations, bandwidths_deg=2.0)
    assert range_metrics(kde.score(pts), truth)["mean_auc"] > 0.9


def test_training_reaches_stated_map_on_easy_species():
    """Three large-range species, uniform observers: a small SH(L=10)+Siren(64) reaches mAP ≥ 0.6
    (measured 0.81, AUC 0.993) on equal-area land points, far above the prevalence (a random ranking's mAP)."""
    from geoviz.species import evaluate_virtual, evaluation_points

    w = make_virtual_species(3, 3000, resolution=1.0, seed=1, radius_km=(2500.0, 3500.0), min_cells=300)
    cfg = SpeciesConfig(pe_kwargs={"legendre_polys": 10}, nn_kwargs={"hidden_dim": 64, "num_layers": 2},
                        epochs=25, batch_size=256, lr=3e-3, background="land", seed=0,
                        threads=1)  # tiny net: one thread avoids OpenMP waits on a busy machine
    model, hist = fit_species(w.observations, cfg)
    assert hist[-1]["loss"] < hist[0]["loss"]
    pts = evaluation_points(20_000)
    res = evaluate_virtual(w, model.logits, points=pts)
    prevalence = w.truth(pts).mean(0).mean()
    assert res["map"] >= 0.6 > 2 * prevalence, (res["map"], prevalence)
    assert res["mean_auc"] >= 0.95


# ----------------------------------------------------------------------------- model, maps, save/load


def test_predict_map_matches_dense_and_save_load_roundtrip(tmp_path):
    from geoviz.data import is_land, regular_grid

    torch.manual_seed(0)
    m = SpeciesModel(["a", "b", "c"], pe_kwargs={"legendre_polys": 8}, nn_kwargs={"hidden_dim": 32, "num_layers": 2})
    g = regular_grid(2.0)
    dense = m.logits(g.lonlat, "b").reshape(g.shape)
    # float32 logits: the tolerance is relative to their scale (an absolute one fails for larger logits)
    atol = 256 * np.finfo(np.float32).eps * max(1.0, float(np.abs(dense).max()))
    np.testing.assert_allclose(m.predict_map("b", 2.0, logits=True), dense, atol=atol)
    land = is_land(g.lonlat).reshape(g.shape)
    masked = m.predict_map(1, 2.0, logits=True, mask=land)
    np.testing.assert_allclose(masked[land], dense[land], atol=atol)
    assert np.isnan(masked[~land]).all()
    # coarse-to-fine: cells near coarse probabilities >= threshold are exact; an untrained model is ~0.5
    # everywhere, so every cell is refined and the map equals the exact one
    np.testing.assert_allclose(m.predict_map("b", 2.0, refine=3, logits=True), dense, atol=atol)
    with torch.no_grad():
        m.encoder.network.last_layer.bias[1] = -30.0  # p ≈ 1e-13 everywhere: nothing refined, coarse kept
    coarse = m.predict_map("b", 2.0, refine=3)
    assert coarse.shape == g.shape and coarse.max() < 1e-3
    with torch.no_grad():
        m.encoder.network.last_layer.bias[1] = 0.0
        m.encoder.network.layers[0].weight.mul_(1.5)  # cached first-layer blocks must follow the weights
    ref = m.logits(g.lonlat, "b").reshape(g.shape)
    np.testing.assert_allclose(m.predict_map("b", 2.0, logits=True), ref, rtol=0,
                               atol=256 * np.finfo(np.float32).eps * max(1.0, float(np.abs(ref).max())))
    m.meta["note"] = "x"
    path = m.save(tmp_path / "m.pt")
    m2 = SpeciesModel.load(path)
    assert m2.names == ["a", "b", "c"] and m2.meta["note"] == "x"
    np.testing.assert_array_equal(m2.logits(g.lonlat[:50]), m.logits(g.lonlat[:50]))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable geoviz species model"):
        SpeciesModel.load(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="unknown species 'zebra'"):
        m.predict_map("zebra")


def test_background_samplers(tmp_path):
    from geoviz.data import is_land

    rng = np.random.default_rng(0)
    land = get_background("land")(4000, rng)
    assert land.shape == (4000, 2) and is_land(land).mean() > 0.95
    uni = get_background("uniform")(20000, rng)
    assert abs(np.sin(np.radians(uni[:, 1])).mean()) < 0.03  # area-uniform: mean z ≈ 0
    f = tmp_path / "effort.csv"
    f.write_text("decimalLatitude,decimalLongitude\n10,20\n-5,30\n")
    pts = get_background(f"bias:{f}")(100, rng)
    assert {tuple(p) for p in pts} <= {(20.0, 10.0), (30.0, -5.0)}
    flickr = get_background("bias:flickr")(1000, rng)
    assert np.abs(flickr).max(0)[1] <= 90
    with pytest.raises(ValueError, match="unknown background"):
        get_background("ocean")


# ----------------------------------------------------------------------------- real data and readers


def test_ariolimax_utm_to_lonlat_lands_in_california():
    # UTM zone 10N central meridian: easting 500 km is exactly 123° W
    ll = utm_to_lonlat(np.array([[500_000.0, 4_000_000.0]]))
    assert ll[0, 0] == pytest.approx(-123.0, abs=1e-9) and ll[0, 1] == pytest.approx(36.14, abs=0.01)
    pres, bg = load_ariolimax()
    assert pres.shape == (1595, 2) and bg.shape == (4990, 2)
    from geoviz.data.splits import continent_of

    for pts in (pres, bg):
        assert (pts[:, 0] > -125).all() and (pts[:, 0] < -114).all()
        assert (pts[:, 1] > 32).all() and (pts[:, 1] < 42.1).all()
    assert set(continent_of(pres[::50])) == {"North America"}


def test_slug_block_split_auc_model_and_kde():
    from geoviz.species.evaluate import evaluate_presence_background

    pres, bg = load_ariolimax()
    cfg = SpeciesConfig(pe_kwargs={"legendre_polys": 10}, nn_kwargs={"hidden_dim": 64, "num_layers": 2},
                        epochs=60, batch_size=256, lr=3e-3, loss="an", threads=1)
    r = evaluate_presence_background(pres, bg, cfg, block_deg=0.5, test_fraction=0.3)
    assert r["n_test_presence"] + r["n_train_presence"] == 1595
    assert r["n_test_background"] + r["n_train_background"] == 4990
    assert r["auc_kde"] > 0.95 and r["auc_model"] > 0.9, r  # measured 0.957 vs KDE 0.971


def test_read_observations_gbif_columns_and_bad_input(tmp_path):
    gbif = tmp_path / "occ.csv"
    gbif.write_text("gbifID\tspecies\tdecimalLatitude\tdecimalLongitude\n"
                    "1\tVulpes lagopus\t70.1\t-150.2\n2\tVulpes lagopus\t68.0\t-140.0\n"
                    "3\tOtocyon megalotis\t-20.0\t20.0\n4\tOtocyon megalotis\t-22.0\t25.0\n5\t\t0\t0\n")
    obs = read_observations(gbif)
    assert obs.names == ["Otocyon megalotis", "Vulpes lagopus"] and len(obs) == 4
    np.testing.assert_array_equal(obs.lonlat[0], [-150.2, 70.1])
    assert obs.meta["rows_without_species"] == 1
    nosp = tmp_path / "nosp.csv"
    nosp.write_text("lon,lat,count\n1,2,3\n")
    with pytest.raises(ValueError, match="no species column found"):
        read_observations(nosp)
    one = tmp_path / "one.csv"
    one.write_text("lon,lat,species\n1,2,a\n3,4,a\n5,6,b\n")
    with pytest.raises(ValueError, match=r"fewer than 2 observations: 'b' \(1\)"):
        read_observations(one)
    assert read_observations(one, drop_rare=True).names == ["a"]
    with pytest.raises(ValueError, match="latitude out of range"):
        make_observations(np.array([[10.0, 95.0], [0.0, 0.0]]), ["a", "a"])
    with pytest.raises(ValueError, match="no species label"):
        make_observations(np.zeros((2, 2)), ["a", None])
    with pytest.raises(TypeError, match="Observations"):
        fit_species(np.zeros((3, 2)))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- CLI


def test_cli_fit_and_map(tmp_path, capsys):
    from PIL import Image

    from geoviz.cli import main

    model = tmp_path / "v.pt"
    rc = main(["species", "fit", "virtual:3:obs=600,res=2,seed=2", "--save", str(model), "--epochs", "2",
               "--legendre-polys", "6", "--hidden-dim", "16", "--batch-size", "256", "--background", "uniform",
               "--threads", "1"])
    assert rc == 0 and model.is_file()
    m = SpeciesModel.load(model)
    assert m.meta["virtual"]["n_species"] == 3 and m.meta["config"]["loss"] == "an-full"
    png = tmp_path / "map.png"
    assert main(["species", "map", str(model), "--species", "virtual_001", "-o", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size[0] > 1000  # four panels side by side
    assert main(["species", "map", str(model), "--species", "nope", "-o", str(png)]) == 2
    err = capsys.readouterr().err
    assert "unknown species 'nope'" in err and "virtual_000" in err and "3 species" in err
    by_index = tmp_path / "map1.png"  # the help says "name (or index)": an index works too
    assert main(["species", "map", str(model), "--species", "1", "-o", str(by_index), "--panels", "probability",
                 "--resolution", "5", "--no-truth"]) == 0
    assert by_index.is_file() and "wrote" in capsys.readouterr().out
    assert main(["species", "map", str(model), "--species", "3", "-o", str(png)]) == 2
    assert "species index 3 out of range: the model has 3 species (indices 0..2)" in capsys.readouterr().err
    assert main(["species", "map", str(tmp_path / "none.pt"), "--species", "0", "-o", str(png)]) == 2
    assert "species model not found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat\n1,2\n")
    assert main(["species", "fit", str(bad), "--save", str(tmp_path / "x.pt")]) == 2
    assert "no species column found" in capsys.readouterr().err


def test_cli_species_by_name_or_index():
    from geoviz.commands.species import species_choice

    names = ["Ariolimax buttoni", "3", "Bufo bufo"]
    assert species_choice(names, "Bufo bufo") == 2
    assert species_choice(names, " bufo BUFO ") == 2  # case-insensitive fallback
    assert species_choice(names, "0") == 0 and species_choice(names, 2) == 2
    assert species_choice(names, "3") == 1  # a name wins over an index
    with pytest.raises(ValueError, match=r"species index -1 out of range: the model has 3 species \(indices 0\.\.2\)"):
        species_choice(names, "-1")
    with pytest.raises(ValueError, match=r"species index 7 out of range"):
        species_choice(names, 7)
    many = [f"s{i}" for i in range(12)]
    with pytest.raises(ValueError, match=r"unknown species 'x'; the model has 12 species .*s0, s1.*\(12 in all\)"):
        species_choice(many, "x")
    with pytest.raises(TypeError, match="name or an int index"):
        species_choice(names, 1.0)  # type: ignore[arg-type]


def test_observation_and_background_files_are_checked_like_point_files(tmp_path):
    from geoviz.species.background import read_points

    swapped = tmp_path / "swapped.csv"  # latitude values in the longitude-named column
    swapped.write_text("species,lon,lat\na,45,120\na,40,-150\nb,10,20\nb,11,21\n")
    with pytest.raises(ValueError, match=r"'lat'.*'lon'.*swapped"):
        read_observations(swapped)
    holes = tmp_path / "bias.csv"
    holes.write_text("decimalLongitude\tdecimalLatitude\n1\t2\n\t4\n5\t6\n")
    with pytest.raises(ValueError, match="1 row\\(s\\) have missing or non-numeric coordinates"):
        read_points(holes)  # nothing dropped silently
    ok = tmp_path / "ok.csv"
    ok.write_text("LONGITUDE;Latitude\n190;10\n-20;-30\n")
    np.testing.assert_array_equal(read_points(ok), [[-170.0, 10.0], [-20.0, -30.0]])  # 0..360 wrapped


# ----------------------------------------------------------------------------- the tuned recipe (issue 27)


def test_default_recipe_is_the_tuned_one_and_scales_lambda_with_the_species_count():
    import json
    from pathlib import Path

    from geoviz.commands import species as cmd
    from geoviz.species import train

    cfg = SpeciesConfig()
    assert cfg.pos_weight is None and cfg.epochs is None
    assert cfg.lam(30) == pytest.approx(train.DEFAULT_POS_WEIGHT_SCALE * 59)  # λ = c·(2S − 1)
    assert SpeciesConfig(pos_weight=2048.0).lam(30) == 2048.0
    assert cfg.num_epochs(23_000) == math.ceil(cfg.steps / math.ceil(23_000 / cfg.batch_size))  # whole epochs
    assert cfg.num_epochs(100) == cfg.steps and SpeciesConfig(epochs=3).num_epochs(10**6) == 3
    with pytest.raises(ValueError, match="steps must be"):
        SpeciesConfig(steps=0)
    # the CLI repeats the numbers (its --help must not import torch): they agree
    assert (cmd.DEFAULT_POS_WEIGHT_SCALE, cmd.DEFAULT_STEPS, cmd.DEFAULT_BACKGROUND, cmd.DEFAULT_BATCH_SIZE) == (
        train.DEFAULT_POS_WEIGHT_SCALE, train.DEFAULT_STEPS, train.DEFAULT_BACKGROUND, train.DEFAULT_BATCH_SIZE)
    assert cmd.DEFAULT_ENCODER == f"sh:20+siren({train.DEFAULT_HIDDEN_DIM}x2)"
    # ... and they are what `geoviz results species` tuned on its validation split
    record = Path(__file__).resolve().parents[1] / "docs" / "results" / "species" / "species.json"
    tuned = json.loads(record.read_text())["tuning"]["tuned"]
    assert tuned == {"c": cfg.pos_weight_scale, "background": cfg.background, "steps": cfg.steps,
                     "hidden_dim": cfg.nn_kwargs["hidden_dim"]}


def test_log_uniform_counts_fill_every_bucket_and_world_keeps_them():
    from geoviz.species.virtual import log_uniform_counts

    c = log_uniform_counts(160, 1000, np.random.default_rng(0))
    assert c.min() == 1 and 900 <= c.max() <= 1000
    for lo, hi in ((1, 5), (6, 20), (21, 100), (101, 1000)):
        assert ((c >= lo) & (c <= hi)).sum() >= 25
    w = make_virtual_species(4, bias="uniform", resolution=2.0, seed=1, counts=[1, 2, 3, 9])
    assert w.observations.counts().tolist() == [1, 2, 3, 9] and w.params["counts"] == [1, 2, 3, 9]
    with pytest.raises(ValueError, match="counts must be 4 integers"):
        make_virtual_species(4, resolution=2.0, counts=[1, 2, 0, 9])


def test_target_background_and_kde_without_points():
    from geoviz.species.train import DEFAULT_POS_WEIGHT_SCALE

    pts = np.array([[10.0, 45.0], [11.0, 46.0], [12.0, 45.5], [-60.0, -10.0]])
    obs = make_observations(pts[:3], np.array([0, 0, 0]), ["a", "b"], min_observations=0)
    s = KDEBaseline(obs, bandwidths_deg=2.0).score(pts)
    assert np.all(s[:, 1] == 0.0) and s[0, 0] > s[3, 0]  # no points: no ranking; else near beats far
    cfg = SpeciesConfig(pe_kwargs={"legendre_polys": 4}, nn_kwargs={"hidden_dim": 8, "num_layers": 1},
                        background="target", steps=5, threads=1)
    model, hist = fit_species(obs, cfg)
    assert hist[-1]["steps"] == 5 and model.meta["pos_weight_used"] == pytest.approx(3 * DEFAULT_POS_WEIGHT_SCALE)
