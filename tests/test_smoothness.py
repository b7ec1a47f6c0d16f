"""The L sweep (geoviz.viz.lsweep) and the dashboard's Smoothness tab, without a browser.

Independent references: f_max = 180°/(2L) from the talk; Linear(SH) is an L2-regularised
logistic regression on the SH features, so scikit-learn's solver of the same objective gives
the accuracy Adam should reach; the land mask (``is_land``) for what the map draws.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from geoviz.viz.lsweep import (SMOOTHNESS_LESSON, SWEEP_LS, SWEEP_SETTINGS, LFitSpec, LSweep, compare_l_sweep,
                               f_max_deg, fit_caption, fit_l, sweep_specs)


@pytest.fixture(scope="module")
def linear_sweep() -> LSweep:
    # small and quick: 2° maps, 60 epochs; ~2 s in all
    return compare_l_sweep("landocean", Ls=(1, 3, 10), networks=("linear",), resolution=2.0,
                           settings={"linear": {"epochs": 60}})


def test_f_max_formula():
    for L in (1, 2, 3, 10, 20, 40, 100):
        assert f_max_deg(L) == pytest.approx(180.0 / (2 * L))
    assert (f_max_deg(1), f_max_deg(3), f_max_deg(10), f_max_deg(40)) == (90.0, 30.0, 9.0, 2.25)
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="L must be a positive int"):
            f_max_deg(bad)
    assert "f_max = 180°/(2L)" in SMOOTHNESS_LESSON and "Siren" in SMOOTHNESS_LESSON
    assert "9°" in fit_caption("linear", 10, None, "fitting…")


def test_linear_accuracy_increases_with_L(linear_sweep):
    acc = linear_sweep.accuracy("linear")
    assert list(acc) == [1, 3, 10]
    assert acc[1] < acc[3] < acc[10], acc
    # L = 1 is degree 0 only: a constant map, i.e. "all ocean" = 1 - land fraction of the test grid (29.0 %)
    assert acc[1] == pytest.approx(1 - 14839 / 51156, abs=1e-9)
    assert acc[10] > 0.90
    fits = {L: linear_sweep.get("linear", L) for L in (1, 3, 10)}
    assert np.ptp(fits[1].prediction) < 1e-3 < 0.5 < np.ptp(fits[10].prediction)
    assert fits[10].grid_shape == (90, 180) and fits[10].prediction.dtype == np.float32
    rows = linear_sweep.rows()
    assert [r["L"] for r in rows] == [1, 3, 10] and rows[2]["f_max (°)"] == 9.0
    assert rows[2]["Linear(SH) test acc (%)"] == round(100 * acc[10], 1)


def test_linear_fit_matches_sklearn_logistic_regression(linear_sweep):
    """Adam at the recommended lr reaches the optimum of the same L2-regularised objective."""
    from sklearn.linear_model import LogisticRegression

    from geoviz.data import get_task
    from geoviz.location_encoder import build_location_encoder

    task = get_task("landocean")
    enc = build_location_encoder("sphericalharmonics", "linear", 1, legendre_polys=10).double()

    def feats(split):
        import torch

        with torch.no_grad():
            return enc.features(torch.as_tensor(split.lonlat, dtype=torch.float64)).numpy()

    wd, n = SWEEP_SETTINGS["linear"]["weight_decay"], len(task.train.y)
    # torch: mean BCE + wd/2 |w|^2  <=>  sklearn: C * sum(logloss) + 1/2 |w|^2 with C = 1 / (wd n)
    clf = LogisticRegression(C=1.0 / (wd * n), max_iter=5000).fit(feats(task.train), task.train.y > 0.5)
    ref = clf.score(feats(task.test), task.test.y > 0.5)
    ours = linear_sweep.get("linear", 10).test_accuracy
    assert abs(ours - ref) < 0.01, (ours, ref)


def test_specs_and_settings():
    specs = sweep_specs(first_L=10)
    assert [(s.nn, s.L) for s in specs[:2]] == [("linear", 10), ("siren", 10)]
    assert sorted({s.L for s in specs}) == list(SWEEP_LS) and len(specs) == 2 * len(SWEEP_LS)
    lin = LFitSpec.default("linear", 5)
    assert lin.lr == SWEEP_SETTINGS["linear"]["lr"] > 10 * SWEEP_SETTINGS["siren"]["lr"]
    assert hash(lin) == hash(LFitSpec.default("linear", 5))  # a cache key
    with pytest.raises(ValueError, match="no sweep settings"):
        LFitSpec.default("transformer", 5)
    with pytest.raises(ValueError, match="lr must be"):
        LFitSpec.default("siren", 5, lr=float("nan"))
    with pytest.raises(ValueError, match="settings for networks not in the sweep"):
        sweep_specs(networks=("linear",), settings={"siren": {"lr": 1e-3}})


def test_siren_beats_the_f_max_bound_at_small_L():
    """At L = 3 (f_max = 30°) Linear(SH) cannot draw coastlines; Siren(SH) can (≥ 90 % accuracy)."""
    lin = fit_l(LFitSpec.default("linear", 3, resolution=2.0, epochs=60), threads=1)
    sir = fit_l(LFitSpec.default("siren", 3, resolution=2.0, epochs=40), threads=1)
    assert lin.test_accuracy < 0.80 < 0.90 < sir.test_accuracy, (lin.test_accuracy, sir.test_accuracy)


def test_comparison_views(linear_sweep):
    import holoviews as hv

    from geoviz.viz.lsweep import accuracy_curve, comparison_holomaps, comparison_layout, l_sweep_layout

    hv.extension("bokeh")
    lay = comparison_layout(linear_sweep, 10, width=400)
    fig = hv.render(lay)
    plots = [p for p in fig.select({"type": __import__("bokeh").plotting.figure})]
    assert plots and all(p.frame_width == 2 * p.frame_height == 400 for p in plots)  # a true 2:1 frame
    bars = [c for p in plots for c in p.right if type(c).__name__ == "ColorBar"]
    assert bars and bars[0].title == "P(land)"
    assert "Linear(SH), L = 10" in plots[0].title.text and "test accuracy" in plots[0].title.text
    hm = comparison_holomaps(linear_sweep)
    assert list(hm.values())[0].keys() == [1, 3, 10]
    curve = hv.render(accuracy_curve(linear_sweep, L=10))
    assert curve.x_scale.__class__.__name__ == "LogScale"
    assert hv.render(l_sweep_layout(linear_sweep.predictions("linear"), (90, 180))) is not None


# ---------------------------------------------------------------------------- the tab


def test_tab_builds_with_linear_first_and_fits_in_child_processes(monkeypatch):
    pytest.importorskip("panel")
    import bokeh.document

    from geoviz.app import smoothness_tab as st

    monkeypatch.setattr(st, "SWEEP_LS", (1, 10))
    monkeypatch.setattr(st, "RESOLUTION", 2.0)
    monkeypatch.setattr(st, "DEFAULT_L", 10)
    tab = st.SmoothnessTab(autostart=False)
    assert list(tab.captions) == ["linear", "siren"]
    assert "Linear(SH), L = 10" in tab.captions["linear"].object and "not fitted" in tab.captions["linear"].object
    assert "f_max = 180°/(2L)" in tab.lesson.object
    assert tab.layout.get_root(bokeh.document.Document()) is not None
    tab.epochs.value = 0
    asyncio.run(tab.run())
    assert "Epochs must be" in tab.error and tab.message.visible
    tab.epochs.value = 20
    asyncio.run(tab.run())
    assert tab.error == "" and not tab.running
    assert sorted(tab.sweep.fits) == [("linear", 1), ("linear", 10), ("siren", 1), ("siren", 10)]
    assert tab.progress.value == 4
    lin, sir = tab.sweep.get("linear", 10), tab.sweep.get("siren", 10)
    assert lin.spec.lr == SWEEP_SETTINGS["linear"]["lr"] and sir.spec.lr == SWEEP_SETTINGS["siren"]["lr"]
    assert f"test accuracy {100 * lin.test_accuracy:.1f} %" in tab.captions["linear"].object
    assert "Test accuracy" in tab.table.object and tab.table.object.count("<tr") == 3
    assert tab.curve.object is not None
    assert "done" in tab.status.object
    assert set(tab.results) == {1, 10}  # the Linear maps, as before
    # the map pane shows the fitted Linear map at L = 10 with a P(land) colourbar
    el = tab.map_panes["linear"].object[()]
    img = el.get(0) if hasattr(el, "get") else el
    np.testing.assert_allclose(np.flipud(img.dimension_values(2, flat=False)).ravel(), lin.prediction, atol=1e-6)
    first = dict(tab.sweep.fits)
    asyncio.run(tab.run())  # cached: the very same fits come back at once
    assert all(tab.sweep.fits[k] is first[k] for k in first)
    tab.L.value = 1
    assert "L = 1 " in tab.captions["siren"].object
    # another task: empty maps at once (class colours, no coastlines), its own test set named
    tab.task.value = "checkerboard"
    assert tab.sweep.task == "checkerboard" and not tab.sweep.fits and "…" in tab.table.object
    assert "checkerboard test split" in tab.table.object and "not fitted" in tab.captions["linear"].object
    import holoviews as hv

    assert isinstance(tab.map_panes["linear"].object[()], hv.Image)


def test_checkerboard_maps_show_classes_without_coastlines():
    """A synthetic multiclass task: a class colour bar (not P(land)) and no coastlines, also on the
    placeholder shown while fitting."""
    import holoviews as hv

    from geoviz.viz.lsweep import comparison_map

    hv.extension("bokeh")
    fit = fit_l(LFitSpec.default("linear", 10, task="checkerboard", resolution=4.0, epochs=5), threads=1)
    assert fit.prediction.dtype == np.int64 and 0 <= fit.test_accuracy <= 1
    for m in (comparison_map(fit, n_classes=16, coastlines=False),
              comparison_map(None, nn="siren", L=10, grid_shape=(45, 90), n_classes=16, coastlines=False)):
        assert isinstance(m, hv.Image)  # no coastline overlay
        fig = hv.render(m)
        (bar,) = [c for c in fig.right if type(c).__name__ == "ColorBar"]
        assert bar.title == "class" and len(bar.color_mapper.palette) == 16
