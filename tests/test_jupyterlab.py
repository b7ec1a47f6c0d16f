"""The teaching notebooks in a real JupyterLab 4, driven in Debian Chromium (Playwright).

``jupyter lab`` runs on 127.0.0.1 with a token and no browser, in a temporary copy of the
notebooks, with ``GEOVIZ_NOTEBOOK_SMALL=1`` in the kernels' environment. The test opens
notebook 06 (the ipyleaflet ``EmbeddingExplorer``) and notebook 02 (the Panel globe), runs
them, clicks the explorer's map and the globe (twice, and drags it: Panel's comm updates
are what used to fetch stylesheets from its CDN), and checks:

* JupyterLab does not mark a freshly opened notebook as modified (complete metadata);
* no error output, no request leaving 127.0.0.1, no console error;
* the explorer's hits are at least ``min_distance_km`` (great circle) from the click;
* after saving, the notebook file holds the explorer's last map as a plain image (the static
  fallback a reopened notebook shows when the widget's kernel model is gone).

Screenshots go to ``test-artifacts/``. About 2 minutes on two cores.
"""

from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
import pytest

from _browser_fixtures import ARTIFACTS, RequestLog, chromium, chromium_available, wait_until

_skip = chromium_available()
pytestmark = pytest.mark.skipif(_skip is not None, reason=_skip or "")
pytest.importorskip("jupyterlab")
pytest.importorskip("ipyleaflet")

from _jupyterlab import dirty_tabs, error_outputs, is_dirty, jupyter_lab, open_notebook, run_all, save  # noqa: E402

NB_EXPLORER = "06_query_by_click"
NB_GLOBE = "02_spherical_harmonics_and_L"
DEFAULT_MIN_DISTANCE_KM = 1000.0


def _haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _explorer_table(cell) -> tuple[tuple[float, float], list[tuple[float, float]]] | None:
    """(query lon, lat) and the hits' (lon, lat) from the explorer's result list, or None."""
    text = cell.locator(".widget-html-content").all_inner_texts()
    text = "\n".join(text)
    m = re.search(r"query\D*?(-?\d+(?:\.\d+)?)°?\s*[, ]\s*(?:lat\s*)?(-?\d+(?:\.\d+)?)", text)
    if not m:
        return None
    rows = cell.locator(".widget-html-content table tr")
    header = [h.strip().lower() for h in rows.first.locator("th").all_inner_texts()] if rows.count() else []
    if "lon" not in header or "lat" not in header:
        return None
    i_lon, i_lat = header.index("lon"), header.index("lat")
    hits = []
    for r in range(1, rows.count()):
        cells = rows.nth(r).locator("td").all_inner_texts()
        if len(cells) > max(i_lon, i_lat):
            hits.append((float(cells[i_lon].replace("°", "")), float(cells[i_lat].replace("°", ""))))
    return (float(m.group(1)), float(m.group(2))), hits


def _min_distance_km(cell) -> float:
    """The explorer's minimum-distance control value (km), or the documented default."""
    for inp in cell.locator("input[type=number], input[type=text]").all():
        label = inp.evaluate("e => (e.closest('.widget-inline-hbox')||e.parentElement).innerText")
        if re.search(r"km|distance", label or "", re.I):
            try:
                return float(inp.input_value())
            except ValueError:
                pass
    return DEFAULT_MIN_DISTANCE_KM


@pytest.mark.timeout(600)
def test_notebooks_in_jupyterlab(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with jupyter_lab(tmp_path, [NB_EXPLORER, NB_GLOBE]) as lab, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log = RequestLog(page)
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(f"pageerror: {e}"))

        # --- notebook 06: opens unmodified, runs, the explorer answers a click with far hits
        open_notebook(page, lab, f"{NB_EXPLORER}.ipynb")
        time.sleep(1.5)
        assert not is_dirty(page, f"{NB_EXPLORER}.ipynb"), f"modified on open: {dirty_tabs(page)}"
        run_all(page)
        assert error_outputs(page) == []
        cell = page.locator(".jp-CodeCell", has=page.locator(".leaflet-container")).first
        cell.scroll_into_view_if_needed()
        time.sleep(1.0)
        before = _explorer_table(cell)
        leaflet = cell.locator(".leaflet-container").first
        box = leaflet.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.53, box["y"] + box["height"] * 0.38)   # North Africa
        got = wait_until(lambda: (t := _explorer_table(cell)) and t != before and t, timeout=60,
                         what="the explorer to answer the click")
        (qlon, qlat), hits = got
        assert len(hits) >= 3, got
        dist = _haversine_km(qlon, qlat, np.array([h[0] for h in hits]), np.array([h[1] for h in hits]))
        min_km = _min_distance_km(cell)
        assert dist.min() >= min_km - 1.0, f"hits closer than {min_km} km to the click: {sorted(dist)[:3]}"
        time.sleep(1.0)
        cell.screenshot(path=str(ARTIFACTS / "jupyterlab_explorer.png"))

        # saved: the notebook file holds the widget's last map as a plain image output
        save(page)
        from geoviz.widgets import EmbeddingExplorer, _Displayable

        if EmbeddingExplorer._static_png is not _Displayable._static_png:
            nb = json.loads((lab.root / f"{NB_EXPLORER}.ipynb").read_text())
            outs = [o for c in nb["cells"] if "EmbeddingExplorer(" in "".join(c["source"]) for o in c.get("outputs", [])]
            widget_views = [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
            images = [o for o in outs if "image/png" in o.get("data", {})]
            assert widget_views and images, [list(o.get("data", {})) for o in outs]
            assert base64.b64decode(images[-1]["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"

        # --- notebook 02: the Panel globe, clicked twice and dragged, loads nothing from outside
        open_notebook(page, lab, f"{NB_GLOBE}.ipynb")
        time.sleep(1.5)
        assert not is_dirty(page, f"{NB_GLOBE}.ipynb"), f"modified on open: {dirty_tabs(page)}"
        run_all(page)
        assert error_outputs(page) == []
        gcell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell", has_text="viz.Globe(").first
        gcell.scroll_into_view_if_needed()
        time.sleep(1.0)
        canvases = gcell.locator(".bk-Canvas")
        boxes = [canvases.nth(i).bounding_box() for i in range(canvases.count())]
        b = max((bb for bb in boxes if bb), key=lambda bb: bb["width"] * bb["height"])
        cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
        status = gcell.get_by_text(re.compile(r"click(ed lon=| the globe)"))   # in Bokeh's shadow DOM

        def status_text() -> str:
            return status.first.inner_text() if status.count() else ""

        for dx in (0.0, -b["width"] / 6):
            old = status_text()
            page.mouse.click(cx + dx, cy)
            wait_until(lambda: status_text().startswith("clicked lon=") and status_text() != old, timeout=60,
                       what="the globe's click status")
            time.sleep(1.0)
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 40, cy + 10, steps=6)
        page.mouse.up()
        time.sleep(2.0)
        gcell.screenshot(path=str(ARTIFACTS / "jupyterlab_globe.png"))

        assert log.urls, "the request logger saw nothing"
        assert log.external == [], f"requests leaving 127.0.0.1: {log.external[:5]}"
        assert console_errors == [], f"console errors: {console_errors[:5]}"

        # --- reopened after the kernel is gone: the explorer's last map is still on the page
        if EmbeddingExplorer._static_png is not _Displayable._static_png:
            lab.shutdown_kernels()
            open_notebook(page, lab, f"{NB_EXPLORER}.ipynb")
            cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell", has_text="EmbeddingExplorer(").first
            cell.scroll_into_view_if_needed()
            wait_until(lambda: cell.locator(".jp-RenderedImage img").count() >= 1, timeout=30,
                       what="the explorer's saved image after reopening")
            cell.screenshot(path=str(ARTIFACTS / "jupyterlab_explorer_reopened.png"))
        page.close()
