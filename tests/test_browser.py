"""Real-browser test of the dashboard: Playwright drives Debian's Chromium against
``panel serve apps/dashboard.py`` (the ``make serve`` command) run as a child process; every
assertion is on what the page shows.

Checks: the page renders a map; Start trains a few epochs and the map visibly changes;
a click on the globe produces a result table whose hits lie at least 1,000 km away (the
default), typed coordinates query too, and the similarity heat map has a colour bar; the
page makes no request outside the server. Screenshots are saved under test-artifacts/.
"""

from __future__ import annotations

import io
import re
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
    # the flat map's canvas holds the 2:1 map plus title, axes and its colour bar (about 1.5:1)
    boxes = [b for b in _canvases(page) if b["width"] > 1.3 * b["height"] and b["height"] > 200]
    assert boxes, f"no flat map canvas among {_canvases(page)}"
    return min(boxes, key=lambda b: (b["y"], b["x"]))


def _globe_box(page) -> dict:
    boxes = [b for b in _canvases(page) if abs(b["width"] - b["height"]) < 40 and b["width"] > 200]
    assert boxes, f"no globe canvas among {_canvases(page)}"
    return boxes[0]


def _text(page, pattern: str) -> str | None:
    """Inner text of the first element matching the regex ``pattern`` (shadow DOM pierced), or None."""
    loc = page.get_by_text(re.compile(pattern))
    try:
        return loc.first.inner_text(timeout=500) if loc.count() else None
    except Exception:
        return None


def _assert_colourbar(img: np.ndarray) -> None:
    """The P(land) colour bar is drawn: both ends of the P(land) ramp (``PLAND_CMAP``, as on the
    Smoothness tab) appear in a row of pixels of the flat map's canvas below the map (the map
    itself is grey before a run)."""
    from geoviz.viz.colors import PLAND_CMAP, colormap_lut

    lower = img[int(0.6 * img.shape[0]):]
    ends = colormap_lut(PLAND_CMAP)[[0, -1], :3].astype(float)
    near = [(np.abs(lower - c).sum(axis=2) < 25).any(axis=1) for c in ends]
    assert (near[0] & near[1]).any(), "no P(land) colour bar below the flat map"


def _epoch(page) -> int:
    """The epoch number in the training status line (0 before the first frame)."""
    txt = _text(page, r"epoch \d+/\d+")
    m = re.search(r"epoch (\d+)/\d+", txt or "")
    return int(m.group(1)) if m else 0


def _smoothness_colour_bar(img: np.ndarray) -> bool:
    """A P(land) colour bar in the right 15 % of a Smoothness map canvas: a pixel column that runs
    from land brown (top, P = 1) to ocean teal (bottom, P = 0) of the BrBG_r ramp."""
    right = img[:, int(0.85 * img.shape[1]):]
    for x in range(right.shape[1]):
        col = right[:, x]
        brown = np.nonzero(col[:, 0] > col[:, 2] + 40)[0]
        teal = np.nonzero(col[:, 1] > col[:, 0] + 40)[0]
        if len(brown) > 20 and len(teal) > 20 and brown.mean() < teal.mean():
            return True
    return False


def _check_smoothness_tab(page) -> None:
    """Smoothness: the Linear(SH) map above the Siren(SH) map at the slider's L (5), each with a
    P(land) colour bar and its test accuracy; the lesson; the accuracy table fills in for every L
    (Linear improves with L); the slider moves to L = 20 and the Linear map changes."""
    acc = lambda t: float(re.search(r"test accuracy ([\d.]+) %", t).group(1))  # noqa: E731
    page.locator(".bk-tab", has_text="Smoothness").first.click()
    t0 = time.monotonic()
    lin = wait_until(lambda: _text(page, r"Linear\(SH\), L = 5 \(f_max.*test accuracy \d"), timeout=TAB_SECONDS["smoothness"],
                     what="the Linear(SH) fit at L = 5")
    sir = wait_until(lambda: _text(page, r"Siren\(SH\), L = 5 \(f_max.*test accuracy \d"), timeout=TAB_SECONDS["smoothness"],
                     what="the Siren(SH) fit at L = 5")
    assert "f_max = 180°/(2L) = 18°" in lin, lin
    assert acc(lin) < 90 < acc(sir), (lin, sir)  # f_max = 18° bounds Linear(SH); Siren(SH) draws past it
    y = [page.get_by_text(re.compile(p)).first.bounding_box()["y"] for p in (r"Linear\(SH\), L = 5 \(f_max",
                                                                             r"Siren\(SH\), L = 5 \(f_max")]
    assert y[0] < y[1], y  # Linear first
    assert _text(page, r"cannot draw anything finer than about f_max = 180°/\(2L\)")
    time.sleep(1.5)
    maps = sorted((b for b in _canvases(page) if b["width"] > 1.3 * b["height"] and b["height"] > 300),
                  key=lambda b: b["y"])
    assert len(maps) == 2, _canvases(page)
    before = [_shot(page, b) for b in maps]
    assert all(_smoothness_colour_bar(img) for img in before), "no P(land) colour bar on a Smoothness map"
    table = page.locator("table.geoviz-accuracy").first
    wait_until(lambda: "…" not in table.inner_text(), timeout=TAB_SECONDS["smoothness"], what="all 14 fits of the L sweep")
    print(f"smoothness tab: {time.monotonic() - t0:.1f} s")
    rows = table.locator("tbody tr")
    cells = [[c.inner_text() for c in rows.nth(i).locator("td").all()] for i in range(rows.count())]
    assert [r[0] for r in cells] == ["1", "2", "3", "5", "10", "20", "40"], cells
    linear = {int(r[0]): float(r[2].rstrip(" %")) for r in cells}
    assert linear[1] < linear[5] < linear[20] and linear[20] > 93, cells
    page.locator(".noUi-handle >> visible=true").first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # L = 5 -> 10 -> 20
    wait_until(lambda: _text(page, r"Linear\(SH\), L = 20 \(f_max = 180°/\(2L\) = 4.5°\).*test accuracy"),
               timeout=60, what="the L = 20 maps")
    time.sleep(1.5)
    changed = np.abs(_shot(page, maps[0]) - before[0]).max(axis=2) > 30
    assert changed.mean() > 0.05, f"only {changed.mean():.1%} of the Linear map changed from L = 5 to 20"
    page.screenshot(path=str(ARTIFACTS / "dashboard_smoothness.png"), full_page=True)


def _check_species_tab(page) -> None:
    """Species ranges: the tab builds on first selection, shows its virtual species and the
    P(present) map with a viridis colour bar (purple at 0 left of yellow at 1)."""
    page.locator(".bk-tab", has_text="Species ranges").first.click()
    t0 = time.monotonic()
    wait_until(lambda: _text(page, r"virtual species, [\d,]+ observations") or _text(page, r"(?i)failed"),
               timeout=TAB_SECONDS["species"], what="the species demo (cold cache: built once per server)")
    print(f"species tab: {time.monotonic() - t0:.1f} s")
    assert _text(page, r"Range at P ≥ 0\.50"), _text(page, r"(?i)failed")
    time.sleep(1.5)
    img = _shot(page, _flat_map_box(page))
    bar = img[int(img.shape[0] * 0.85):]
    yellow = (bar[..., 0] > 200) & (bar[..., 1] > 190) & (bar[..., 2] < 110)
    purple = (bar[..., 0] < 100) & (bar[..., 1] < 40) & (bar[..., 2] > 60)
    assert yellow.sum() > 20 and purple.sum() > 20, (yellow.sum(), purple.sum())
    assert np.nonzero(purple)[1].mean() < np.nonzero(yellow)[1].mean()
    page.screenshot(path=str(ARTIFACTS / "dashboard_species.png"), full_page=True)


def _check_compare_tab(page) -> None:
    """Compare encoders: built when first selected (nothing computed before), controls render,
    a small comparison (N = 500, the three default encoders) fills the scoreboard with both probes."""
    page.locator(".bk-tab", has_text="Compare encoders").first.click()
    wait_until(lambda: _text(page, r"Nothing computed yet"), timeout=120, what="the Compare encoders tab")
    assert _text(page, r"Encoders \(up to 3\)") and page.get_by_role("button", name="Compare").count() >= 1
    page.locator("select", has=page.locator("option", has_text="2000")).first.select_option("500")
    time.sleep(0.5)
    page.get_by_role("button", name="Compare").first.click()
    t0 = time.monotonic()
    wait_until(lambda: _text(page, r"Done in [\d.]+ s") or _text(page, r"(?i)comparison failed"),
               timeout=TAB_SECONDS["compare"], what="the comparison")
    print(f"compare tab: {time.monotonic() - t0:.1f} s")
    assert _text(page, r"Done in"), _text(page, r"(?i)failed")
    table = page.locator("table.geoviz-results").last
    head = table.locator("thead").inner_text()
    assert "linear probe R²" in head and "mlp probe R²" in head, head
    assert table.locator("tbody tr").count() == 3
    assert page.locator("img[src^='data:image/png']").count() >= 3
    page.screenshot(path=str(ARTIFACTS / "dashboard_compare.png"), full_page=True)


# How long each tab may take to show its content on a cold cache (a new user's first visit,
# 2 cores, the suite's own process idle meanwhile); measured times are printed with -s.
TAB_SECONDS = {"training": 60, "embeddings": 120, "smoothness": 180, "species": 180, "compare": 300}


def test_dashboard_in_chromium(tmp_path):
    """The whole walk on a cold cache: the server gets a new, empty ``GEOVIZ_CACHE_DIR`` (no
    cached embeddings, species demo or fits), as on a new user's first ``make serve``; each tab
    reaches its content within :data:`TAB_SECONDS`; SIGTERM stops the server and its children."""
    ARTIFACTS.mkdir(exist_ok=True)
    cold = tmp_path / "cold-cache"
    with serve_dashboard(env={"GEOVIZ_CACHE_DIR": str(cold)}) as served, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1150})
        log = RequestLog(page)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.monotonic()
        page.goto(served.url, wait_until="networkidle", timeout=TAB_SECONDS["training"] * 1000)
        page.locator(".bk-Canvas").first.wait_for(timeout=TAB_SECONDS["training"] * 1000)
        box = wait_until(lambda: _flat_map_box(page), timeout=TAB_SECONDS["training"], what="the flat map")
        print(f"training tab: {time.monotonic() - t0:.1f} s")
        time.sleep(1.0)
        before = _shot(page, box)
        page.screenshot(path=str(ARTIFACTS / "dashboard_training_idle.png"))
        assert page.get_by_text("Training will run on").count() >= 1
        # the task choice offers the built-in fields (with units) and an upload
        task_select = page.locator("select").first
        assert task_select.locator("option", has_text="temperature (°C)").count() == 1
        assert task_select.locator("option", has_text="Upload CSV").count() == 1
        _assert_colourbar(before)  # the idle map is grey: the ramp's two ends come from the P(land) bar

        # --- 900 px wide: no sideways scrolling, the controls stack above the maps
        page.set_viewport_size({"width": 900, "height": 1150})
        time.sleep(1.5)
        scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client + 1, f"the page scrolls sideways at 900 px ({scroll} > {client})"
        narrow = _flat_map_box(page)
        assert page.get_by_role("button", name="Start").bounding_box()["y"] < narrow["y"]
        assert narrow["x"] + narrow["width"] <= 900
        _assert_colourbar(_shot(page, narrow))
        page.screenshot(path=str(ARTIFACTS / "dashboard_training_900.png"), full_page=True)
        page.set_viewport_size({"width": 1500, "height": 1150})
        time.sleep(1.5)
        box = _flat_map_box(page)
        before = _shot(page, box)

        # --- Start trains (in a child process of the server): the map changes, status follows
        others = {p.pid for p in served.training_processes()}  # e.g. the smoothness tab's pool
        page.get_by_role("button", name="Start").click()
        wait_until(lambda: _epoch(page) >= 3, timeout=180, what="3 training epochs in the status line")
        page.screenshot(path=str(ARTIFACTS / "dashboard_training_paced.png"))  # mid-run, at class pace
        # the run lives in its own process
        assert len([p for p in served.training_processes() if p.pid not in others]) == 1
        page.get_by_role("button", name="Stop").click()
        status = wait_until(lambda: _text(page, r"finished \((stopped|max_epochs)\).*epochs/s"), timeout=120,
                            what="training to stop")
        assert "CPU" in status or "GPU" in status, status
        time.sleep(1.5)  # let the last frame reach the canvas
        after = _shot(page, box)
        changed = np.abs(after - before).max(axis=2) > 30
        assert changed.mean() > 0.2, f"only {changed.mean():.1%} of the map pixels changed"
        # the trained map shows ocean (teal) and land (brown) where the old one was grey
        r, g, b = after[..., 0], after[..., 1], after[..., 2]
        assert (g > r + 30).mean() > 0.2 and (r > b + 40).mean() > 0.05
        page.screenshot(path=str(ARTIFACTS / "dashboard_training.png"))

        # --- Embeddings: the default model loads when the tab opens; a globe click queries
        page.locator(".bk-tab", has_text="Embeddings").first.click()
        t0 = time.monotonic()
        wait_until(lambda: _text(page, r"embeddings on a") or _text(page, r"(?i)error|failed|cannot"),
                   timeout=TAB_SECONDS["embeddings"], what="the embeddings to load")
        print(f"embeddings tab: {time.monotonic() - t0:.1f} s")
        assert _text(page, r"embeddings on a"), _text(page, r"(?i)error|failed|cannot")
        assert "0.5° grid" in _text(page, r"embeddings on a")  # not the blocky 2° grid
        time.sleep(1.5)
        gbox = _globe_box(page)
        page.mouse.click(gbox["x"] + gbox["width"] / 2, gbox["y"] + gbox["height"] / 2)
        table = page.locator("table.geoviz-results")
        table.wait_for(timeout=60_000)
        rows = table.locator("tbody tr")
        assert rows.count() == 8 + 1  # the query + the default top-k
        assert table.locator("img").count() == 8 + 1  # Blue Marble thumbnails
        # the centre of the globe is the projection centre (lon0, lat0) = (10, 30), up to a few pixels
        cells = rows.first.locator("td")
        lon, lat = float(cells.nth(1).inner_text()), float(cells.nth(2).inner_text())
        assert abs(lon - 10.0) < 5 and abs(lat - 30.0) < 5, (lon, lat)
        heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        assert heads[3:5] == ["distance (km)", "similarity"], heads
        sims = [float(rows.nth(i).locator("td").nth(4).inner_text()) for i in range(1, 9)]
        assert sims == sorted(sims, reverse=True) and all(-1.0 <= v <= 1.0 for v in sims)
        # far-away look-alikes by default: every hit at least 1,000 km from the click
        dists = [float(rows.nth(i).locator("td").nth(3).inner_text().replace(",", "")) for i in range(1, 9)]
        assert min(dists) >= 1000.0, dists
        # typed coordinates: the Sahara; hits far away, some in another continent
        page.get_by_placeholder("-180…180").fill("12.5")
        page.get_by_placeholder("-180…180").press("Enter")  # commits the value (blur or Enter)
        page.get_by_placeholder("-90…90").fill("23")
        page.get_by_placeholder("-90…90").press("Enter")
        time.sleep(0.5)
        typed = lambda: rows.first.locator("td").nth(1).inner_text() == "12.50"  # noqa: E731
        page.get_by_role("button", name="Find similar").click()
        try:
            wait_until(typed, timeout=30, what="the typed query")
        except BaseException:
            # keep what the page showed, then click once more (a click can land while the
            # first query's views are still joining the page and moving the button)
            page.screenshot(path=str(ARTIFACTS / "dashboard_typed_query_retry.png"), full_page=True)
            page.get_by_role("button", name="Find similar").click()
            wait_until(typed, timeout=60, what="the typed query (second click)")
        assert rows.first.locator("td").nth(2).inner_text() == "23.00"
        dists = [float(rows.nth(i).locator("td").nth(3).inner_text().replace(",", "")) for i in range(1, 9)]
        assert min(dists) >= 1000.0 and max(dists) > 5000.0, dists
        # the similarity heat map carries a colour bar (viridis, yellow above purple) right of the map
        time.sleep(1.5)
        maps = sorted((b for b in _canvases(page) if b["width"] > 1.6 * b["height"] and b["height"] > 200),
                      key=lambda b: (b["y"], b["x"]))
        assert len(maps) >= 2, maps
        sim = _shot(page, maps[1])
        right = sim[:, int(sim.shape[1] * 0.78):]
        yellow = (right[..., 0] > 200) & (right[..., 1] > 190) & (right[..., 2] < 110)
        purple = (right[..., 0] < 100) & (right[..., 1] < 40) & (right[..., 2] > 60)
        assert yellow.sum() > 30 and purple.sum() > 30, (yellow.sum(), purple.sum())
        ys, yp = np.nonzero(yellow)[0].mean(), np.nonzero(purple)[0].mean()
        assert ys < yp, (ys, yp)  # high similarity at the top of the bar
        page.screenshot(path=str(ARTIFACTS / "dashboard_embeddings.png"), full_page=True)

        # --- Smoothness: Linear(SH) above Siren(SH) for one L, colour bars, accuracy per L, the slider
        _check_smoothness_tab(page)

        # --- Species ranges: built when first selected, P(present) map with its colour bar
        _check_species_tab(page)

        # --- Compare encoders: lazy tab, a small comparison with both probes
        _check_compare_tab(page)

        # --- offline: nothing but the local server was contacted
        assert log.urls, "the request logger saw nothing"
        assert log.external == [], f"external requests: {log.external[:5]}"
        assert not errors, f"JavaScript errors: {errors[:3]}"
        page.close()
        # SIGTERM to the server alone (not its process group): it exits promptly with its children
        import signal

        import psutil

        kids = psutil.Process(served.proc.pid).children(recursive=True)
        t0 = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        served.proc.wait(timeout=30)
        assert time.monotonic() - t0 < 15, f"the server took {time.monotonic() - t0:.1f} s to exit on SIGTERM"
        _, alive = psutil.wait_procs(kids, timeout=10)
        assert not alive, f"children outlived the server: {[(p.pid, p.name()) for p in alive]}"
    assert served.proc.returncode is not None
