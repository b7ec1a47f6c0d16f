"""``geoviz.geolocate``: the coarse-to-fine probability map against a brute-force 0.25° softmax,
the top places (order, separation, their mass), image input, the CLI, and the game's scores
against great-circle closed forms. Every test uses a tiny model trained here (seconds), so the
suite passes whatever the shipped weights hold; one test uses the shipped tower when it exists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoviz.geolocation import (EARTH_RADIUS_KM, FINE_DEG, GeoGame, Geolocator, Place, _cell_centres,
                              _top_places, chance_within, geolocate, great_circle_km, load_geolocator,
                              prepare_image, train_small_model)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("geo") / "tiny.safetensors", legendre_polys=5, hidden_dim=32,
                             embed_dim=32, steps=4, batch_size=32)


@pytest.fixture(scope="module")
def geo(model_path) -> Geolocator:
    return load_geolocator(model_path)


@pytest.fixture(scope="module")
def sharp(geo) -> Geolocator:
    """The same towers at the largest scale a model may learn (100): a peaked map, as trained models give."""
    return Geolocator(geo.location_encoder, geo.image_encoder, 100.0, geo.pixels, name="sharp", holdout=geo.holdout)


def _patch(geo: Geolocator, lon: float = 20.0, lat: float = 15.0) -> np.ndarray:
    from geoviz.data.imagery import blue_marble_patch

    return blue_marble_patch(np.array([[lon, lat]]), 3.0, geo.pixels)[0]


def _brute_force(g: Geolocator, emb: np.ndarray) -> np.ndarray:
    """The area-weighted softmax over every 0.25° cell, each embedded (no coarse step)."""
    lons, lats = _cell_centres(FINE_DEG)
    ll = np.stack(np.meshgrid(lons, lats), -1).reshape(-1, 2)
    z = g.logit_scale * (g.embed_locations(ll) @ emb).astype(np.float64)
    a = z.reshape(len(lats), len(lons)) + np.log(np.cos(np.radians(lats)))[:, None]
    p = np.exp(a - a.max())
    return p / p.sum()


def test_probability_is_a_distribution_on_the_grid(geo):
    res = geolocate(_patch(geo), geo)
    p = res.probability
    assert p.shape == (720, 1440) and p.dtype == np.float64 and (p >= 0).all()
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    da = res.dataarray
    assert res.dataarray is da and da.name == "probability"
    assert da.dims == ("lat", "lon") and da.shape == (720, 1440)
    assert float(da.lat[0]) == pytest.approx(90 - FINE_DEG / 2) and float(da.lon[0]) == pytest.approx(-180 + FINE_DEG / 2)
    assert float(da.sum()) == pytest.approx(1.0, abs=1e-9)
    assert res.coarse(4).shape == (180, 360) and res.coarse(4).sum() == pytest.approx(1.0)
    # a zero embedding gives every cell the same logit: each cell then gets its share of the
    # sphere's area, so a band of latitude gets (sin lat1 - sin lat0) / 2 (closed form)
    flat = geo.locate(np.zeros(geo.coarse.shape[1], np.float32))
    lats = np.asarray(flat.dataarray.lat)
    for lat0, lat1 in ((60.0, 90.0), (-90.0, -30.0), (0.0, 0.25), (-10.0, 45.0)):
        band = flat.probability[(lats > lat0) & (lats < lat1)].sum()
        assert band == pytest.approx((np.sin(np.radians(lat1)) - np.sin(np.radians(lat0))) / 2, rel=1e-9)


@pytest.mark.parametrize("which", ["geo", "sharp"])
def test_coarse_to_fine_equals_the_brute_force_softmax(which, request):
    g = request.getfixturevalue(which)
    emb = g.embed_images(_patch(g))[0]
    exact = _brute_force(g, emb)
    full = g.locate(emb, delta=math.inf, max_refined=10**6)          # every cell refined: the same softmax
    assert full.refined.all() and full.mass_outside == 0.0 and full.delta_covered == math.inf
    np.testing.assert_allclose(full.probability, exact, rtol=1e-5, atol=1e-12)
    fast = g.locate(emb)                                               # the default: delta 12, ≤ 4096 cells
    tv = 0.5 * np.abs(fast.probability - exact).sum()
    assert tv <= max(2 * fast.mass_outside, 1e-4), (tv, fast.mass_outside)
    # the refined cells' sub-cells are exact
    m = np.repeat(np.repeat(fast.refined, 4, 0), 4, 1)
    Z_exact = exact[m].sum()
    np.testing.assert_allclose(fast.probability[m] / fast.probability[m].sum(), exact[m] / Z_exact, rtol=1e-4)
    if which == "sharp":  # a peaked map: few cells refined, almost nothing left outside them
        assert fast.refined.sum() < 4096 and fast.delta_covered >= 12.0 and fast.mass_outside < 1e-3
    # a tighter budget: fewer cells, more mass outside, still reported
    tight = g.locate(emb, max_refined=16)
    assert tight.refined.sum() == 16 and tight.delta_covered <= 12.0 and tight.mass_outside >= fast.mass_outside


def test_top_places_order_separation_and_mass(geo, sharp):
    for g in (geo, sharp):
        res = g.locate(g.embed_images(_patch(g, -60.0, -5.0))[0], top_k=5, min_distance_km=400.0)
        top = res.top
        assert len(top) == 5 and all(isinstance(q, Place) for q in top)
        probs = [q.probability for q in top]
        assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1 and sum(probs) <= 1 + 1e-9
        ll = np.array([[q.lon, q.lat] for q in top])
        d = great_circle_km(ll[:, None], ll[None, :])
        assert (d[~np.eye(5, dtype=bool)] >= 400.0).all()
        for q in top:  # "probability" is the mass within radius_km (default half the separation)
            assert res.radius_km == 200.0
            assert q.probability == pytest.approx(res.mass_within(q.lon, q.lat, 200.0), rel=1e-12)
        np.testing.assert_allclose(res.distance_km(*top[0][:2])[0], 0.0, atol=1e-9)
        assert res.error_km(top[1].lon, top[1].lat) == pytest.approx(d[0, 1])
        assert res.lines()[0].split() == [f"{top[0].lon:.3f}", f"{top[0].lat:.3f}", f"{top[0].probability:.4f}"]


def test_nms_on_a_synthetic_map_finds_the_bumps():
    """Three Gaussian bumps of known mass: the places are their centres, heaviest first, and a
    second peak inside a bump's suppression radius is not reported."""
    lons, lats = _cell_centres(FINE_DEG)
    LO, LA = np.meshgrid(lons, lats)
    ll = np.stack([LO, LA], -1)
    centres = [(10.125, 45.125, 3.0), (-100.125, 30.125, 2.0), (140.125, -20.125, 1.0)]
    z = np.full(LO.shape, -50.0)
    for lon, lat, w in centres:
        z = np.logaddexp(z, math.log(w) - (great_circle_km(np.array([lon, lat]), ll) / 60.0) ** 2)
    z = np.logaddexp(z, math.log(0.5) - (great_circle_km(np.array([12.0, 46.0]), ll) / 30.0) ** 2)  # 170 km away
    a = z + np.log(np.cos(np.radians(LA)))
    p = np.exp(a - a.max())
    p /= p.sum()
    top = _top_places(p, z, 3, 250.0, 125.0)
    assert [(q.lon, q.lat) for q in top] == [(c[0], c[1]) for c in centres]
    assert top[0].probability > top[1].probability > top[2].probability > 0.1


def test_chance_within_closed_form():
    assert chance_within(0.0) == 0.0 and chance_within(math.pi * EARTH_RADIUS_KM) == pytest.approx(1.0)
    assert chance_within(math.pi / 2 * EARTH_RADIUS_KM) == pytest.approx(0.5)
    r = 100.0  # small caps: area π r² over 4 π R²
    assert chance_within(r) == pytest.approx(r ** 2 / (4 * EARTH_RADIUS_KM ** 2), rel=1e-3)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(200_000, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ll = np.degrees(np.stack([np.arctan2(v[:, 1], v[:, 0]), np.arcsin(v[:, 2])], 1))
    d = great_circle_km(ll, np.array([30.0, 40.0]))
    assert (d <= 2500).mean() == pytest.approx(float(chance_within(2500)), abs=0.003)


def test_image_inputs_and_resizing(geo, tmp_path):
    from PIL import Image

    P = geo.pixels
    img = np.zeros((60, 100, 3), np.uint8)
    img[:, 20:80] = (10, 200, 30)   # the centre square (60 × 60) is one colour
    out = prepare_image(img, P)
    assert out.shape == (P, P, 3) and out.dtype == np.uint8 and (out == (10, 200, 30)).all()
    np.testing.assert_array_equal(prepare_image(Image.fromarray(img), P), out)
    Image.fromarray(img).save(tmp_path / "a.png")
    np.testing.assert_array_equal(prepare_image(tmp_path / "a.png", P), out)
    Image.fromarray(img).convert("RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(prepare_image(str(tmp_path / "rgba.png"), P), out)
    # GeoTIFF: uint16, band-first, 4 bands: the first three, each stretched 2nd → 98th percentile
    import tifffile

    bands = np.stack([np.linspace(0, 1000, 64 * 64).reshape(64, 64)] * 4).astype(np.uint16)
    bands[3] = 7
    tifffile.imwrite(tmp_path / "b.tif", bands, photometric="minisblack", planarconfig="separate")
    t = prepare_image(tmp_path / "b.tif", 64)
    lo, hi = np.percentile(bands[0].astype(float), [2, 98])
    expect = np.round(np.clip((bands[0] - lo) * 255 / (hi - lo), 0, 255)).astype(np.uint8)
    np.testing.assert_array_equal(t[..., 0], expect)
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match="one band"):
        prepare_image(tmp_path / "c.tif")
    geolocate(tmp_path / "a.png", geo, top_k=1)  # a file path straight through


def test_bad_inputs_are_named(geo, tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        geolocate(np.zeros((24, 24, 3), np.float32), geo)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        geolocate(np.zeros((24, 24), np.uint8), geo)
    with pytest.raises(ValueError, match="empty"):
        prepare_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(TypeError, match="file path"):
        geolocate([[1, 2, 3]], geo)
    with pytest.raises(FileNotFoundError, match="no such image"):
        geolocate(tmp_path / "missing.png", geo)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        geolocate(tmp_path / "junk.png", geo)
    with pytest.raises(ValueError, match="top_k"):
        geolocate(np.zeros((8, 8, 3), np.uint8), geo, top_k=0)
    with pytest.raises(FileNotFoundError, match="neither a shipped"):
        load_geolocator(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="patches must be"):
        geo.embed_images(np.zeros((5, 5, 3), np.uint8))


def test_a_model_without_an_image_tower_is_refused(geo, tmp_path):
    from geoviz.pretrained.geoviz_model import save_geoviz_model
    from geoviz.training.pretraining import PretrainConfig, hyper_parameters

    path = tmp_path / "loc-only.safetensors"
    cfg = PretrainConfig(legendre_polys=5, hidden_dim=32, embed_dim=32)
    save_geoviz_model(path, geo.location_encoder, {"name": "x"}, hyper_parameters=hyper_parameters(cfg))
    with pytest.raises(ValueError, match="cannot geolocate images.*image tower"):
        load_geolocator(path)


def test_a_tower_with_an_unknown_input_is_refused(model_path, monkeypatch):
    """A tower whose input preparation geoviz does not know is refused (own-imagery towers, which
    state their normalisation, are accepted: tests/test_pretrain_images.py)."""
    from geoviz.pretrained import geoviz_model

    real = geoviz_model.load_image_tower

    def four_bands(ref, device=None):
        t = real(ref, device)
        t.config = {**t.config, "in_channels": 4, "input": "something else"}
        return t

    import geoviz.geolocation as gl

    monkeypatch.setattr(geoviz_model, "load_image_tower", four_bands)
    monkeypatch.setattr(gl, "_CACHE", {})  # a fresh load (the cache keys on the file)
    with pytest.raises(ValueError, match="4 band.*does not know how to prepare"):
        load_geolocator(model_path)

def test_cli_prints_places_and_writes_a_map(model_path, tmp_path, capsys):
    from PIL import Image

    from geoviz.cli import main
    from geoviz.data.imagery import blue_marble_patch

    Image.fromarray(blue_marble_patch(np.array([[25.0, -20.0]]), 3.0, 48)[0]).save(tmp_path / "q.png")
    out = tmp_path / "map.png"
    assert main(["geolocate", str(tmp_path / "q.png"), "--model", str(model_path), "--top", "3", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    rows = [tuple(float(x) for x in ln.split()) for ln in lines]
    assert all(len(r) == 3 and -180 <= r[0] <= 180 and -90 <= r[1] <= 90 and 0 < r[2] <= 1 for r in rows)
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 2 * 200
    assert main(["geolocate", str(tmp_path / "missing.png"), "--model", str(model_path)]) == 2
    assert "no such image file" in capsys.readouterr().err


def test_game_scores_against_great_circle_closed_forms(geo):
    from geoviz.data import is_land

    game = GeoGame(geo, seed=5)
    again = GeoGame(geo, seed=5)
    mask = geo.heldout_mask()
    R = EARTH_RADIUS_KM
    expected_user = []
    for i in range(3):
        r, r2 = game.new_round(), again.new_round()
        assert (r.lon, r.lat) == (r2.lon, r2.lat) and np.array_equal(r.patch, r2.patch)   # a seeded stream
        assert r.index == i and r.patch.shape == (geo.pixels, geo.pixels, 3) and r.land
        ll = np.array([[r.lon, r.lat]])
        assert mask(ll)[0] and is_land(ll)[0]                                          # held out, on land
        if i == 0:     # the truth itself: 0 km
            g, want = (r.lon, r.lat), 0.0
        elif i == 1:   # 10° of latitude due north/south along the meridian: R · 10 · π / 180
            g, want = (r.lon, r.lat + (10.0 if r.lat < 0 else -10.0)), R * math.radians(10.0)
        else:          # the antipode: π R
            g, want = (((r.lon + 360.0) % 360.0) - 180.0, -r.lat), math.pi * R
        res = game.guess(*g)
        assert res.user_km == pytest.approx(want, abs=1e-6)
        assert res.model_km == pytest.approx(float(great_circle_km(np.array(res.result.best[:2]), ll[0])), rel=1e-12)
        assert res.result.truth == (r.lon, r.lat) and game.current is None
        expected_user.append(want)
    s = game.score()
    assert s["rounds"] == 3 and s["median_user_km"] == pytest.approx(np.median(expected_user))
    assert s["median_model_km"] == pytest.approx(np.median([x.model_km for x in game.rounds]))
    assert s["user_wins"] + s["model_wins"] + s["ties"] == 3 and "median error" in game.score_text()
    with pytest.raises(ValueError, match="no round in play"):
        game.guess(0.0, 0.0)
    game.new_round()
    with pytest.raises(ValueError, match="lat in"):
        game.guess(0.0, 95.0)
    assert GeoGame(geo, seed=6).new_round().lon != GeoGame(geo, seed=5).new_round().lon


def test_the_shipped_tower_when_there_is_one():
    from geoviz.pretrained.geoviz_model import load_image_tower

    try:
        load_image_tower("l10")
    except (ValueError, FileNotFoundError) as exc:
        pytest.skip(f"the shipped geoviz-bluemarble-l10 has no image tower yet ({exc})")
    from geoviz.data.imagery import blue_marble_patch

    patch = blue_marble_patch(np.array([[25.0, 23.0]]), 3.0, 24)[0]   # the Sahara
    res = geolocate(patch, "geoviz-bluemarble-l10", top_k=3)
    assert res.probability.sum() == pytest.approx(1.0) and len(res.top) == 3
    assert res.mass_outside < 0.05
