"""Where on Earth? tab (geoviz.app.geogame_tab), in-process, no browser: a tiny model trained
here plays; a new round shows a held-out patch, a click (the tap handler and the guess method)
draws the model's map, its top places, the truth, the guess and both errors; the score is the
game's; an uploaded image is located under the warning; the tab says so when no model can play."""

from __future__ import annotations

import io

import numpy as np
import pytest

from geoviz.app.geogame_tab import COLORS, DECADES, GeoGameTab
from geoviz.geolocation import GeoGame, great_circle_km, probability_rgba, train_small_model


@pytest.fixture(scope="module")
def game(tmp_path_factory) -> GeoGame:
    path = train_small_model(tmp_path_factory.mktemp("gg") / "tiny.safetensors", legendre_polys=4, hidden_dim=32,
                             embed_dim=32, steps=2, batch_size=32)
    return GeoGame(path, seed=3)


def _points(tab: GeoGameTab, name: str) -> np.ndarray:
    d = tab.map_view.point_sources[name].data
    return np.stack([np.asarray(d["x"], float), np.asarray(d["y"], float)], 1) if len(d["x"]) else np.zeros((0, 2))


def test_a_round_click_answer_and_score(game):
    tab = GeoGameTab(game)
    assert tab.error == "" and tab.patch.object is None
    assert tab.guess(0.0, 0.0) is None                         # nothing to guess before a round
    tab.new_round()
    rnd = game.current
    assert rnd is not None and tab.patch.object[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(_points(tab, "truth")) == 0                     # the truth is hidden until the guess
    blank = tab.map_view.image.copy()
    tab._on_click(10.0, 20.0)                                  # the map's tap handler (runs now outside a server)
    res = tab.last
    assert res is not None and res.guess == (10.0, 20.0) and game.current is None
    assert res.user_km == pytest.approx(float(great_circle_km(np.array([10.0, 20.0]), np.array([rnd.lon, rnd.lat]))))
    np.testing.assert_allclose(_points(tab, "truth"), [[rnd.lon, rnd.lat]])
    np.testing.assert_allclose(_points(tab, "guess"), [[10.0, 20.0]])
    np.testing.assert_allclose(_points(tab, "top"), [[q.lon, q.lat] for q in res.result.top])
    assert tab.map_view.point_sources["truth"].data["color"] == [COLORS["truth"]]
    np.testing.assert_array_equal(tab.map_view.image, probability_rgba(res.result, decades=DECADES,
                                                                       background=tab.background))
    assert not np.array_equal(tab.map_view.image, blank)
    assert f"{res.user_km:,.0f} km" in tab.answer.object and f"{res.model_km:,.0f} km" in tab.answer.object
    assert "top places" in tab.places.object and tab.places.object.count("\n| ") == len(res.result.top) + 1
    assert tab.score.object == game.score_text() and "After **1** round" in tab.score.object
    # a second round by the globe's click handler: the score counts both
    tab.new_round()
    assert len(_points(tab, "truth")) == 0 and tab.map_view.image.shape == blank.shape
    tab.globe._tap_callbacks[-1](-60.0, -10.0)
    assert game.score()["rounds"] == 2 and "After **2** round" in tab.score.object
    tab._on_click(float("nan"), 0.0)                           # a click outside the map does nothing
    assert game.score()["rounds"] == 2


def test_an_upload_is_located_under_the_warning(game):
    from PIL import Image

    from geoviz.data.imagery import blue_marble_patch

    tab = GeoGameTab(game)
    buf = io.BytesIO()
    Image.fromarray(blue_marble_patch(np.array([[25.0, 23.0]]), 3.0, 64)[0]).save(buf, format="PNG")
    res = tab.locate_upload(buf.getvalue(), "sahara.png")
    assert tab.warning.visible and "4 km" in tab.warning.object and "objects" in tab.warning.object
    assert res.probability.sum() == pytest.approx(1.0) and len(_points(tab, "top")) == len(res.top)
    assert len(_points(tab, "truth")) == 0 and "sahara.png" in tab.status.object
    # the widget path: a new FileInput value is located the same way
    tab.upload.filename = "again.png"
    tab.upload.value = buf.getvalue()
    assert "again.png" in tab.status.object and tab.last is not res
    np.testing.assert_array_equal(tab.last.probability, res.probability)
    # a bad upload is an error shown in the page, not raised
    tab.upload.filename = "junk.png"
    tab.upload.value = b"not an image"
    assert "not a readable image" in tab.error and tab.message.visible


def test_no_model_with_a_tower_is_a_note(monkeypatch):
    from geoviz.app import geogame_tab

    monkeypatch.setattr(geogame_tab, "available_models", lambda: {})
    tab = GeoGameTab()
    assert tab.game is None and "image tower" in tab.error and tab.new_button.disabled


def test_the_dashboard_registers_the_tab():
    """(Building a DashboardApp starts the fork server: tests/test_dashboard.py does that; here
    the registration is read off the source.)"""
    import inspect

    from geoviz.app.dashboard import DashboardApp

    src = inspect.getsource(DashboardApp.__init__)
    assert '("Where on Earth?", _geogame)' in src and "GeoGameTab()" in src
