"""Real-browser test of the dashboard: Playwright drives Debian's Chromium against the app
served in this process (pn.serve, threaded), so the test can also assert on Python state.

Checks: the page renders a map; Start trains a few epochs and the map visibly changes;
a click on the globe produces a result table; the page makes no request outside the
server. Screenshots are saved under test-artifacts/.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from _browser_fixtures import ARTIFACTS, RequestLog, chromium, chromium_available, serve_dashboard, wait_until

_reason = chromium_available()
pytestmark = [pytest.mark.skipif(_reason is not None, reason=_reason or ""), pytest.mark.timeout(600),
              pytest.mark.slow]


def _canvases(page) -> list[dict]:
    """Bounding boxes of the visible Bokeh canvases (Playwright pierces the shadow DOM)."""
    out = []
    loc = page.locator(".bk-Canvas")
    for i in range(loc.count()):
        box = loc.nth(i).bounding_box()
        if box and box["width"] > 50 and box["height"] > 50:
            out.append(box)
    return out


def _shot(page, box: dict) -> np.ndarray:
    from PIL import Image

    png = page.screenshot(clip={k: box[k] for k in ("x", "y", "width", "height")})
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def _flat_map_box(page) -> dict:
    boxes = [b for b in _canvases(page) if b["width"] > 1.6 * b["height"] and b["height"] > 200]
    assert boxes, f"no flat map canvas among {_canvases(page)}"
    return min(boxes, key=lambda b: (b["y"], b["x"]))


def _globe_box(page) -> dict:
    boxes = [b for b in _canvases(page) if abs(b["width"] - b["height"]) < 40 and b["width"] > 200]
    assert boxes, f"no globe canvas among {_canvases(page)}"
    return boxes[0]


def test_dashboard_in_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path / "cache"))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve_dashboard(min_frame_interval=0.2) as served, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1150})
        log = RequestLog(page)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(served.url, wait_until="networkidle", timeout=120_000)
        page.locator(".bk-Canvas").first.wait_for(timeout=120_000)
        app = wait_until(lambda: served.apps and served.apps[-1], what="the session's DashboardApp")
        box = wait_until(lambda: _flat_map_box(page), timeout=60, what="the flat map")
        time.sleep(1.0)
        before = _shot(page, box)
        page.screenshot(path=str(ARTIFACTS / "dashboard_training_idle.png"))

        # --- Start trains: the map changes, the curves and status follow
        page.get_by_role("button", name="Start").click()
        tr = app.training
        wait_until(lambda: len(tr.records) >= 3, timeout=180, what="3 training epochs")
        page.get_by_role("button", name="Stop").click()
        wait_until(lambda: not tr.running, timeout=120, what="training to stop")
        assert tr.records[-1].stopped in ("stopped", "max_epochs")
        assert tr.error == ""
        page.get_by_text("epochs/s").first.wait_for(timeout=30_000)
        time.sleep(1.5)  # let the last frame reach the canvas
        after = _shot(page, box)
        changed = np.abs(after - before).max(axis=2) > 30
        assert changed.mean() > 0.2, f"only {changed.mean():.1%} of the map pixels changed"
        # the trained map shows land (green) and ocean (blue) where the old one was grey
        g, b = after[..., 1], after[..., 2]
        assert (b > g + 40).mean() > 0.2 and (g > b + 20).mean() > 0.05
        page.screenshot(path=str(ARTIFACTS / "dashboard_training.png"))

        # --- Embeddings: the default model loads when the tab opens; a globe click queries
        page.locator(".bk-tab", has_text="Embeddings").first.click()
        emb = app.embeddings
        assert emb is not None
        # the tab starts loading the default model by itself; the button is the documented fallback
        # (auto-load is not reliable when other tests ran in this process first, see docs/dashboard.md)
        page.get_by_role("button", name="Load model").click()
        wait_until(lambda: emb.prepared is not None or emb.error, timeout=240, what="the embeddings to load")
        assert emb.error == "", emb.error
        page.get_by_text("embeddings on a").first.wait_for(timeout=60_000)
        time.sleep(1.5)
        gbox = _globe_box(page)
        page.mouse.click(gbox["x"] + gbox["width"] / 2, gbox["y"] + gbox["height"] / 2)
        wait_until(lambda: emb.result is not None, timeout=60, what="the globe click to reach Python")
        lon, lat = emb.clicked
        # the centre of the globe is the projection centre (lon0, lat0), up to a few pixels
        assert abs(lon - emb.globe.lon0) < 5 and abs(lat - emb.globe.lat0) < 5, (lon, lat)
        table = page.locator("table.geoviz-results")
        table.wait_for(timeout=60_000)
        assert table.locator("tbody tr").count() == emb.top_k.value + 1
        assert table.locator("img").count() == emb.top_k.value + 1  # Blue Marble thumbnails
        page.screenshot(path=str(ARTIFACTS / "dashboard_embeddings.png"), full_page=True)

        # --- Smoothness: a small sweep renders one map per L, titled with f_max = 180°/(2L)
        page.locator(".bk-tab", has_text="Smoothness").first.click()
        sm = app.smoothness
        assert sm is not None
        page.get_by_role("button", name="Run sweep").wait_for(timeout=60_000)
        sm.Ls.value, sm.epochs.value = [1, 5], 3  # Panel forwards cross-thread changes to the session
        page.get_by_role("button", name="Run sweep").click()
        wait_until(lambda: len(sm.results) == 2 and not sm.running, timeout=240, what="the L sweep")
        assert sm.error == ""
        page.get_by_text("f_max = 180°/(2L)").first.wait_for(timeout=60_000)
        time.sleep(1.0)
        page.screenshot(path=str(ARTIFACTS / "dashboard_smoothness.png"))

        # --- offline: nothing but the local server was contacted
        assert log.urls, "the request logger saw nothing"
        assert log.external == [], f"external requests: {log.external[:5]}"
        assert not errors, f"JavaScript errors: {errors[:3]}"
        page.close()
