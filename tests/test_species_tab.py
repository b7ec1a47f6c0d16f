"""Species ranges tab (geoviz.app.species_tab), in-process: a tiny demo is built (3 virtual
species, a small SH + Siren trained for a few seconds), the tab shows it, switching species
and moving the threshold change what the maps and the range statistics say."""

from __future__ import annotations

import numpy as np
import pytest

from geoviz.app.species_tab import SpeciesTab
from geoviz.species.figures import RANGE_MAP_COLORS as RANGE_COLORS, range_rgba, truth_outline
from geoviz.species.demo import SpeciesDemo, build_demo, range_stats

TINY = {"n_species": 3, "n_observations": 400, "bias": "uniform", "resolution": 2.0, "seed": 3,
        "legendre_polys": 6, "hidden_dim": 32, "num_layers": 2, "epochs": 15, "batch_size": 128, "lr": 3e-3,
        "n_eval_points": 3000}


@pytest.fixture(scope="module")
def demo() -> SpeciesDemo:
    return build_demo(**TINY)


def test_build_demo_shapes_and_truth(demo):
    S, H, W = 3, 90, 180
    assert demo.truth.shape == demo.probability.shape == (S, H, W) and demo.land.shape == (H, W)
    assert demo.probability.dtype == np.float32 and np.all((demo.probability >= 0) & (demo.probability <= 1))
    assert demo.lonlat.shape == (400, 2) and set(np.unique(demo.species)) == {0, 1, 2}
    # every observation lies inside its species' true range (virtual species are sampled there)
    r = np.floor((90 - demo.lonlat[:, 1]) / 2.0).astype(int)
    c = np.floor((demo.lonlat[:, 0] + 180) / 2.0).astype(int)
    assert demo.truth[demo.species, r, c].all()
    for who in ("model", "kde"):
        assert demo.metrics[who]["ap"].shape == (S,) and np.isfinite(demo.metrics[who]["auc"]).all()
    # the model ranks land better than chance for the species with the most observations
    s = int(np.argmax(np.bincount(demo.species)))
    assert demo.metrics["model"]["auc"][s] > 0.7


def test_demo_save_load_roundtrip(demo, tmp_path):
    p = demo.save(tmp_path / "d.npz")
    back = SpeciesDemo.load(p)
    assert back.names == demo.names and back.settings == demo.settings
    np.testing.assert_array_equal(back.truth, demo.truth)
    np.testing.assert_array_equal(back.probability, demo.probability)
    np.testing.assert_array_equal(back.metrics["kde"]["ap"], demo.metrics["kde"]["ap"])
    (tmp_path / "bad.npz").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a species demo"):
        SpeciesDemo.load(tmp_path / "bad.npz")


def test_range_stats_against_closed_form():
    # P = 1 on the northern hemisphere, 0 on the southern; all land: the fraction is the
    # northern hemisphere's share of the sphere's area, 1/2 (cos-weighted cells)
    H, W = 180, 360
    p = np.zeros((H, W), np.float32)
    p[: H // 2] = 1.0
    land = np.ones((H, W), bool)
    truth = np.zeros((H, W), bool)
    truth[:45] = True  # north of 45° N: (1 - sin 45°) / 2 of the sphere
    st = range_stats(p, 0.5, land, truth)
    assert st["range_fraction"] == pytest.approx(0.5, abs=1e-9)
    assert st["true_fraction"] == pytest.approx((1 - np.sin(np.radians(45))) / 2, rel=1e-3)
    assert st["recall"] == pytest.approx(1.0) and st["iou"] == pytest.approx(st["precision"])
    assert st["precision"] == pytest.approx(st["true_fraction"] / 0.5)
    with pytest.raises(ValueError, match="threshold"):
        range_stats(p, 1.5, land)
    img = range_rgba(p, 0.5, land, truth)
    hexes = {"#%02x%02x%02x" % tuple(img[r, 0, :3]) for r in (0, 60, 150)}
    assert hexes == {RANGE_COLORS["agree"], RANGE_COLORS["predicted"], RANGE_COLORS["land"]}


def test_truth_outline_encloses_a_block():
    t = np.zeros((90, 180), bool)
    t[40:45, 100:110] = True  # lat 10..0 N, lon 20..40 E on a 2° grid
    xy = truth_outline(t)
    ok = np.isfinite(xy).all(1)
    assert ok.any()
    assert xy[ok, 0].min() == pytest.approx(20, abs=1.01) and xy[ok, 0].max() == pytest.approx(40, abs=1.01)
    assert xy[ok, 1].min() == pytest.approx(0, abs=1.01) and xy[ok, 1].max() == pytest.approx(10, abs=1.01)


def test_tab_species_and_threshold(demo):
    tab = SpeciesTab(demo)
    assert tab.error == "" and not tab.species.disabled
    assert sorted(tab.species.options.values()) == demo.names
    first = tab.species.value
    image0 = tab.flat_view.image.copy()
    n0 = len(tab.flat_view.point_sources["observations"].data["x"])
    assert n0 == int((demo.species == demo.index(first)).sum())
    assert tab.flat_view.color_bar.title == "P(present)"
    # switch species: new observations, new map, new outline, new table
    other = next(n for n in demo.names if n != first)
    tab.species.value = other
    assert len(tab.flat_view.point_sources["observations"].data["x"]) == int((demo.species == demo.index(other)).sum())
    assert not np.array_equal(tab.flat_view.image, image0)
    assert other in tab.flat_view.figure.title.text
    # move the threshold (released): the range and its statistics follow
    s = demo.index(other)
    tab.set_threshold(0.9)
    hi = dict(tab.stats)
    tab.set_threshold(0.1)
    lo = dict(tab.stats)
    assert lo["range_fraction"] > hi["range_fraction"]
    assert lo == range_stats(demo.probability[s], 0.1, demo.land, demo.truth[s])
    assert "0.10" in tab.range_text.object and "AP model" in tab.table.object
    # the slider's release event does the same
    import param

    with param.edit_constant(tab.threshold):
        tab.threshold.value_throttled = 0.9
    assert tab.stats == hi


def test_tab_loads_the_cached_demo(demo, tmp_path, monkeypatch):
    """A server's tab reads the demo cached on disk for its settings (no rebuild) and shows it."""
    import asyncio

    from geoviz.app import species_tab

    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(species_tab, "_DEMOS", {})
    settings = dict(TINY)
    path = species_tab.demo_path(settings)
    assert str(path).startswith(str(tmp_path))
    demo.save(path)
    tab = SpeciesTab(autostart=False)
    assert tab.demo is None and tab.species.disabled
    asyncio.run(tab.load(settings))
    assert tab.error == "" and tab.demo is not None and tab.demo.names == demo.names
    assert not tab.species.disabled and tab.stats["range_fraction"] >= 0
    assert species_tab.demo_future(settings).result() is tab.demo  # shared by later sessions
