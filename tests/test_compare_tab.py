"""Compare encoders tab (geoviz.app.compare_tab), in-process: the pure comparison against a
closed-form target, the figures, bad input, and the tab itself running a tiny comparison
(two cheap encoders, 100 points) that fills the scoreboard with both probes. No browser."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from geoviz.app.compare_tab import CompareTab
from geoviz.evaluation.compare import (MAX_ENCODERS, Comparison, available_encoders, compare_encoders, figure_png,
                                       maps_figure, resolution_figure, scoreboard_html, truth_figure)
from geoviz.evaluation import EvalTask
from geoviz.data import uniform_sphere

SMALL_RES = {"n": 200, "regions": 1, "anchors": 20, "siren_L": 0, "cells": (90.0, 45.0, 10.0)}


@pytest.fixture(scope="module")
def sh_task() -> EvalTask:
    """A target that is an exact linear function of SH(L=3) features (sh:3 + linear probe: R² ≈ 1)."""
    from geoviz.encoders import get_positional_encoding

    p = uniform_sphere(400, seed=5)
    feats = get_positional_encoding("sphericalharmonics", legendre_polys=3)(torch.from_numpy(p)).double().numpy()
    w = np.random.default_rng(0).normal(size=feats.shape[1])
    return EvalTask("synthetic", "regression", p, feats @ w, "r2", units="u")


@pytest.fixture(scope="module")
def comp(sh_task) -> Comparison:
    return compare_encoders(["sh:3", "raw"], sh_task, epochs=30, resolution_settings=SMALL_RES)


def test_comparison_against_closed_form(comp, sh_task):
    sh, raw = comp.runs
    assert (sh.spec, raw.spec) == ("sh:3", "raw") and (sh.dim, raw.dim) == (9, 2)
    assert len(comp.train) == len(comp.test) == 200 and not set(comp.train) & set(comp.test)
    assert sh.scores["linear"] > 0.999 and raw.scores["linear"] < 0.9
    # the scores are scikit-learn's R² of the kept predictions
    from sklearn.metrics import r2_score

    for r in comp.runs:
        for p in ("linear", "mlp"):
            assert r.predictions[p].shape == (200,)
            assert r.scores[p] == pytest.approx(r2_score(sh_task.y[comp.test], r.predictions[p]))
    assert comp.best("linear") == "sh:3"
    res = sh.resolution
    assert res.cells == [90.0, 45.0, 10.0] and len(res.accuracy) == 3
    assert all(0.0 <= a <= 1.0 for a in res.accuracy) and isinstance(res.resolved_scale, float)


def test_scoreboard_and_figures(comp):
    html = scoreboard_html(comp)
    assert "linear probe R²" in html and "mlp probe R²" in html
    assert html.count("<tr><td") == 2 and "<b>1.000</b>" in html
    for fig in (maps_figure(comp, "linear"), maps_figure(comp, "mlp"), truth_figure(comp), resolution_figure(comp)):
        png = figure_png(fig)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # two map rows (prediction, residual) with one colour bar each, per encoder column
    fig = maps_figure(comp, "linear")
    labels = [a.get_ylabel() for a in fig.axes if a.get_ylabel()]
    assert labels == ["predicted synthetic [u]", "predicted − true [u]"]


def test_classification_maps_show_agreement():
    p = uniform_sphere(300, seed=2)
    y = (p[:, 1] > 0).astype(np.int64)  # hemispheres: raw coordinates + linear probe get it right
    task = EvalTask("hemisphere", "classification", p, y, "accuracy", ["south", "north"])
    c = compare_encoders(["raw"], task, epochs=20, resolution=False)
    assert c.runs[0].scores["linear"] > 0.95 and c.runs[0].resolution is None
    fig = maps_figure(c, "linear")
    titles = [a.get_title() for a in fig.axes]
    assert any("agrees with truth" in t for t in titles)
    assert "accuracy" in scoreboard_html(c) and "resolved scale" in scoreboard_html(c)


def test_bad_input(sh_task):
    with pytest.raises(ValueError, match="at most"):
        compare_encoders(["sh:2", "sh:3", "raw", "wrap"], sh_task, resolution=False)
    with pytest.raises(ValueError, match="at least one"):
        compare_encoders([], sh_task)
    with pytest.raises(ValueError, match="unknown encoder spec"):
        compare_encoders(["nonsense"], sh_task, resolution=False)
    with pytest.raises(ValueError, match="unknown task"):
        compare_encoders(["raw"], "nonsense", resolution=False)
    with pytest.raises(ValueError, match="unknown probe"):
        compare_encoders(["raw"], sh_task, probes=["knn"], resolution=False)


def test_tab_runs_a_tiny_comparison():
    tab = CompareTab()
    assert set(available_encoders()) <= set(tab.encoders.options)
    assert tab.encoders.max_items == MAX_ENCODERS and tab.comparison is None and tab.scoreboard.object == ""
    tab.encoders.options = [*tab.encoders.options, "sh:3"]
    tab.encoders.value = ["sh:3", "raw"]
    tab.points.options = [100]
    tab.points.value = 100
    tab.task.value = "temperature"
    asyncio.run(tab.run())
    assert tab.error == "", tab.error
    assert "Done in" in tab.status.object and not tab.running and not tab.progress.visible
    c = tab.comparison
    assert [r.spec for r in c.runs] == ["sh:3", "raw"] and len(c.task) == 100
    html = tab.scoreboard.object
    assert "linear probe R²" in html and "mlp probe R²" in html and html.count("<tr><td") == 2
    for r in c.runs:
        assert set(r.scores) == {"linear", "mlp"} and r.resolution is not None
    for pane in (tab.maps, tab.truth, tab.curves):
        assert pane.object[:4] == b"\x89PNG"
    before = tab.maps.object
    tab.probe.value = "mlp"
    asyncio.run(tab.redraw_maps())
    assert tab.maps.object != before
    tab.encoders.value = []
    asyncio.run(tab.run())
    assert "at least one" in tab.error and tab.message.visible
