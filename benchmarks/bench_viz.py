"""Globe re-render timing: ms per orthographic render of a cached gridded field.

    python benchmarks/bench_viz.py [--repeats 20] [--resolution 0.5]

Measures :func:`geoviz.viz.render_globe` for a land/ocean probability field on a
0.5° grid (GridField, colours cached once) at a new rotation every call, for 400 and
600 px, with bilinear and nearest sampling; also the model-evaluated (FunctionField)
render of a Siren(SH, L=10) encoder at 400 px, and the projected line work.
Goal: 600 × 600 re-render ≤ 150 ms on CPU for a cached field.

``--browser`` also serves a :class:`geoviz.viz.Globe` with Panel in-process, opens it in
headless Chromium (Playwright, ``/usr/bin/chromium``), clicks the centre and drags 80 px
to the right, and prints the clicked lon/lat, the resulting (lon0, lat0), the
click→callback and drag→re-render latencies, and any non-local request (there should be
none); a screenshot goes to ``out/bench_viz_globe.png``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _time(fn, repeats: int) -> tuple[float, float]:
    fn(0)
    ts = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i + 1)
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), min(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--resolution", type=float, default=0.5)
    ap.add_argument("--browser", action="store_true", help="also run the headless-Chromium globe check")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from geoviz import build_location_encoder
    from geoviz.data import is_land, regular_grid
    from geoviz.viz import FunctionField, GridField, globe_lines, render_globe

    g = regular_grid(args.resolution)
    values = is_land(g.lonlat).astype(np.float64)
    print(f"field: {g.shape[0]}x{g.shape[1]} grid ({args.resolution} deg), torch threads 1, repeats {args.repeats}")
    for interp in ("bilinear", "nearest"):
        f = GridField(values, g.shape, interpolation=interp)
        for size in (400, 600):
            med, best = _time(lambda i: render_globe(f, 7.0 * i, 20.0 + i % 30, size), args.repeats)
            print(f"render_globe cached GridField {interp:8s} {size} px: median {med:6.1f} ms  (best {best:6.1f})")
    med, best = _time(lambda i: globe_lines(7.0 * i, 20.0), args.repeats)
    print(f"globe_lines (coastlines + graticule)        : median {med:6.1f} ms  (best {best:6.1f})")
    enc = build_location_encoder("sphericalharmonics", "siren", 1, legendre_polys=10, hidden_dim=64, num_layers=2)
    ff = FunctionField(lambda ll: torch.sigmoid(enc(torch.as_tensor(ll, dtype=torch.float32))[:, 0]).detach().numpy())
    med, best = _time(lambda i: render_globe(ff, 7.0 * i, 20.0, 400), max(3, args.repeats // 4))
    print(f"render_globe model (Siren SH L=10, float32) 400 px: median {med:6.1f} ms  (best {best:6.1f})")
    flat_points_check()
    if args.browser:
        browser_check(GridField(values, g.shape))


def flat_points_check(n: int = 1_000_000) -> None:
    """Datashader re-aggregation of 1M scattered points (what a zoom/pan costs in flat_map)."""
    from geoviz.viz import flat_map

    rng = np.random.default_rng(0)
    ll = np.stack([rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))], axis=1)
    m = flat_map(ll[:, 1], lonlat=ll, cmap="viridis", coastlines=False, width=800, height=400)
    t0 = time.perf_counter()
    m[()]
    first = (time.perf_counter() - t0) * 1000
    ts = []
    for k in range(5):  # zoomed views: new x/y ranges each time
        t0 = time.perf_counter()
        m.event(x_range=(-100 + k, 20 + k), y_range=(-40, 40))
        m[()]
        ts.append((time.perf_counter() - t0) * 1000)
    print(f"flat_map rasterize 1M points 800x400: first {first:7.1f} ms (incl. JIT), "
          f"re-aggregate on zoom median {statistics.median(ts):6.1f} ms")


def browser_check(field) -> None:
    """Serve a Globe, click and drag it in headless Chromium, print what Python saw."""
    import socket
    from pathlib import Path

    import holoviews as hv
    import panel as pn
    from playwright.sync_api import sync_playwright

    from geoviz.viz import Globe

    hv.extension("bokeh")
    globes: list = []

    def app():
        gl = Globe(field, size=400, lon0=0.0, lat0=0.0)
        globes.append(gl)
        return pn.pane.HoloViews(gl.element())

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = pn.serve(app, port=port, address="127.0.0.1", threaded=True, show=False,
                   websocket_origin=[f"127.0.0.1:{port}"])
    time.sleep(2)
    external: list[str] = []
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-extensions"]
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
            page = b.new_page()
            page.on("request", lambda r: external.append(r.url)
                    if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=60000)
            page.locator("canvas").first.wait_for(timeout=60000)
            time.sleep(1)
            box = page.locator(".bk-Canvas").first.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            gl = globes[-1]
            t0 = time.perf_counter()
            page.mouse.click(cx, cy)
            while gl.last_tap_lonlat is None and time.perf_counter() - t0 < 10:
                time.sleep(0.005)
            print(f"browser: click at the canvas centre -> lon/lat {gl.last_tap_lonlat} "
                  f"({(time.perf_counter() - t0) * 1000:.0f} ms to the Python callback)")
            time.sleep(1.0)  # keep the drag from being read as a double tap
            page.mouse.move(cx, cy)
            page.mouse.down()
            for k in range(1, 11):
                page.mouse.move(cx + 8 * k, cy, steps=2)
            t0 = time.perf_counter()
            page.mouse.up()
            last, stable, t_last_change = None, 0, t0
            while time.perf_counter() - t0 < 15 and stable < 10:  # settled: unchanged for 1 s
                cur = (gl.lon0, gl.lat0)
                if cur == last:
                    stable += 1
                else:
                    stable, last, t_last_change = 0, cur, time.perf_counter()
                time.sleep(0.1)
            print(f"browser: drag 80 px right -> lon0 {gl.lon0:.2f}, lat0 {gl.lat0:.2f} "
                  f"(last change {(t_last_change - t0) * 1000:.0f} ms after mouse-up)")
            Path("out").mkdir(exist_ok=True)
            page.screenshot(path="out/bench_viz_globe.png")
            b.close()
    finally:
        srv.stop()
    print(f"browser: non-local requests: {external or 'none'}")


if __name__ == "__main__":
    main()
