"""Species ranges tab: from presence-only observations to a range map (thin over :mod:`geoviz.species`).

A small set of **virtual species** (:func:`geoviz.species.make_virtual_species`: niches in
Köppen zones, land cover and climate bands, observed with the Flickr observer bias) is fitted
once per server by one multi-species :class:`~geoviz.species.SpeciesModel` (SH + Siren,
``an-full`` loss, land background) and scored against the species' true ranges, beside the
per-species kernel-density baseline (:class:`~geoviz.species.KDEBaseline`). The result, a
:class:`SpeciesDemo`, holds one probability map per species on a 1° grid; it is built in a
niced child process on the first visit (a progress bar shows meanwhile), kept for every
session of the server, and cached on disk under ``$GEOVIZ_CACHE_DIR/species/`` so the next
server start has it at once.

For the species of a selector, the tab shows its observations and the predicted probability
on the flat map (2:1, colour bar "P(present)", the true range outlined) and on the globe; a
threshold slider (acting on release) turns the probability into a range, drawn beside the
truth (agree / predicted only / missed), with the species' average precision and AUC against
the KDE baseline. Views are bare Bokeh figures (:mod:`geoviz.viz.live`) updated in place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

import numpy as np

from geoviz.species.demo import DEMO_SETTINGS, SpeciesDemo, build_and_save, demo_path, range_stats
from geoviz.species.figures import RANGE_MAP_COLORS, probability_rgba, range_rgba, truth_outline

__all__ = ["SpeciesTab", "demo_future"]

MAP_WIDTH = 620
"""Width of the flat maps' frames in pixels (height = width / 2)."""
GLOBE_SIZE = 320
NICE = 10
# ---------------------------------------------------------------------------- shared demo

_LOCK = threading.Lock()
_DEMOS: dict[str, concurrent.futures.Future] = {}


def demo_future(settings: dict[str, Any] | None = None) -> concurrent.futures.Future:
    """The server's :class:`SpeciesDemo` for ``settings`` (default :data:`DEMO_SETTINGS`): a
    finished future when built or cached on disk, else the one build (in a niced child process)
    every session waits on."""
    settings = dict(settings or DEMO_SETTINGS)
    key = str(demo_path(settings))
    with _LOCK:
        fut = _DEMOS.get(key)
        if fut is not None and not (fut.done() and fut.exception() is not None):
            return fut
        path = demo_path(settings)
        if path.is_file():
            try:
                fut = concurrent.futures.Future()
                fut.set_result(SpeciesDemo.load(path))
                _DEMOS[key] = fut
                return fut
            except ValueError:
                pass
        from geoviz.training.process import submit_in_child

        fut = submit_in_child(build_and_save, settings, str(path), nice=NICE)
        _DEMOS[key] = fut
        return fut


# ---------------------------------------------------------------------------- pure helpers


def _num(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, (int, float)) else "?"


def _metrics_table(demo: SpeciesDemo, s: int) -> str:
    mm, mk = demo.metrics["model"], demo.metrics["kde"]

    def cell(v: float) -> str:
        return "–" if not np.isfinite(v) else f"{v:.3f}"

    rows = [("this species", mm["ap"][s], mk["ap"][s], mm["auc"][s], mk["auc"][s]),
            (f"mean of {len(demo.names)}", np.nanmean(mm["ap"]), np.nanmean(mk["ap"]), np.nanmean(mm["auc"]),
             np.nanmean(mk["auc"]))]
    body = "".join(f"<tr><td style='text-align:left'>{r[0]}</td>" + "".join(f"<td>{cell(v)}</td>" for v in r[1:])
                   + "</tr>" for r in rows)
    return ('<table class="geoviz-results" style="border-collapse:collapse">'
            "<caption style='caption-side:top;text-align:left'>Against the true range "
            "(equal-area land points)</caption>"
            "<thead><tr><th></th><th>AP model</th><th>AP KDE</th><th>AUC model</th><th>AUC KDE</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


LESSON = (
    "### From observations to a range map\n"
    "Each dot is a **presence-only** observation: someone saw the species there. Nobody records "
    "where it is absent, and observers crowd near cities (this demo samples them with the density "
    "of 100k Flickr photos). One SH + Siren network with one output per species learns P(present) "
    "for all species at once from the observations and random points anywhere on the sphere as "
    "pseudo-absences (SINR's uniform background; it scored better than land-only on held-out "
    "observations, docs/results/species.md). "
    "A **threshold** turns the probability into a range: lower it and the range grows (fewer "
    "misses, more false alarms). The outline is the **true range** of the virtual species; AP and "
    "AUC score the map as a ranking of land locations against it, beside a per-species kernel "
    "density of the dots (KDE).")


class SpeciesTab:
    """Widgets and state of the *Species ranges* tab (one per session; the demo is shared).

    Args:
        demo: a ready :class:`SpeciesDemo` (tests, notebooks); None: the server's demo
            (:func:`demo_future`), loaded when the tab is built in a browser session, or by
            :meth:`load` from Python.
        autostart: in a browser session, start loading the demo at once.

    Attributes:
        demo: the :class:`SpeciesDemo` shown (None while it is built).
        species: the species ``Select``; threshold: the threshold slider (acts on release).
        flat_view, range_view: :class:`~geoviz.viz.live.ImageView` of P(present) and of the range;
        globe: :class:`~geoviz.viz.Globe` of P(present); stats: :func:`range_stats` of the current view.
        layout: the Panel object of the tab.
    """

    def __init__(self, demo: SpeciesDemo | None = None, *, autostart: bool = True) -> None:
        import panel as pn

        from geoviz.viz import Globe, GridField, coastline_paths, nan_join
        from geoviz.viz.colors import colormap_lut, hex_colors
        from geoviz.viz.live import ImageView

        from . import views

        views.ensure_extension()
        self.demo: SpeciesDemo | None = None
        self.stats: dict[str, float] = {}
        self.error = ""
        self.species = pn.widgets.Select(label="Species", options=[], width=280, disabled=True)
        self.threshold = pn.widgets.FloatSlider(label="Threshold: range where P(present) ≥", start=0.05, end=0.95,
                                                step=0.05, value=0.5, width=280, disabled=True)
        self.show_obs = pn.widgets.Checkbox(label="Show observations", value=True, width=280)
        self.show_truth = pn.widgets.Checkbox(label="Outline the true range", value=True, width=280)
        self.progress = pn.indicators.Progress(value=-1, active=True, bar_color="primary", width=280, visible=False)
        self.status = pn.pane.Markdown("", width=280)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.table = pn.pane.HTML("", width=300)
        self.range_text = pn.pane.Markdown("", width=280)
        blank = range_rgba(np.zeros((90, 180)), 0.5, np.zeros((90, 180), bool))  # all ocean
        coast = nan_join(coastline_paths())
        none = np.full((1, 2), np.nan)
        lut = colormap_lut("viridis")
        self.flat_view = ImageView(blank, views.FLAT_BOUNDS, width=MAP_WIDTH, height=MAP_WIDTH // 2 + 110,
                                   title="P(present)", lines={"truth": none, "coastlines": coast},
                                   line_styles={"coastlines": {"line_width": 0.6, "color": "#555555"},
                                                "truth": {"color": "#e7298a", "line_width": 1.6}},
                                   points=["observations"], save_tool=True,
                                   colorbar={"palette": hex_colors(lut[::4]), "low": 0.0, "high": 1.0,
                                             "title": "P(present)", "ticks": [0.0, 0.25, 0.5, 0.75, 1.0]})
        self.range_view = ImageView(blank, views.FLAT_BOUNDS, width=MAP_WIDTH, height=MAP_WIDTH // 2 + 60,
                                    title="Range", lines={"coastlines": coast},
                                    line_styles={"coastlines": {"line_width": 0.6, "color": "#555555"}}, save_tool=True)
        dots = self.flat_view.renderers["observations"].glyph
        dots.size, dots.line_width, dots.fill_alpha = 3, 0, 0.8
        for v in (self.flat_view, self.range_view):
            v.figure.frame_width, v.figure.frame_height = MAP_WIDTH - 60, (MAP_WIDTH - 60) // 2
        self.globe = Globe(GridField(blank[..., :3], kind="rgb"), size=GLOBE_SIZE, lon0=0.0, lat0=20.0)
        globe_fig = self.globe.figure()
        self.legend = pn.pane.HTML(self._legend_html(True), width=MAP_WIDTH)
        self.species.param.watch(lambda e: self.show(), "value")
        self.threshold.param.watch(lambda e: self.set_threshold(e.new), "value_throttled")
        self.show_obs.param.watch(lambda e: self.flat_view.set_visible("observations", e.new), "value")
        self.show_truth.param.watch(lambda e: self.flat_view.set_visible("truth", e.new), "value")
        controls = pn.Column(self.species, self.threshold, self.show_obs, self.show_truth, self.progress,
                             self.status, self.range_text, self.table, width=320)
        maps = pn.Column(pn.pane.Bokeh(self.flat_view.figure),
                         pn.Row(pn.Column(pn.pane.Bokeh(self.range_view.figure), self.legend),
                                pn.Column(pn.pane.Markdown("**P(present) on the globe** (drag to rotate)"),
                                          pn.pane.Bokeh(globe_fig))))
        body = pn.Column(self.message, pn.pane.Markdown(LESSON, max_width=MAP_WIDTH + 340,
                                                        styles={"font-size": "14px"}), maps)
        stack = getattr(views, "STACK_BELOW_CSS", "")
        self.layout = pn.FlexBox(controls, body, flex_wrap="nowrap", align_items="flex-start",
                                 stylesheets=[stack] if stack else [])
        if demo is not None:
            self.set_demo(demo)
        elif autostart:
            self._autostart()

    # ------------------------------------------------------------------ loading

    def _autostart(self) -> None:
        import panel as pn

        doc = pn.state.curdoc
        ctx = None if doc is None else doc.session_context
        if ctx is None or getattr(ctx, "server_context", None) is None:
            return
        pn.state.execute(self.load)

    async def load(self, settings: dict[str, Any] | None = None) -> None:
        """Wait for the server's demo (built in a child process on first use) and show it."""
        fut = await asyncio.to_thread(demo_future, settings)  # a cached demo is read off the loop
        if not fut.done():
            self.progress.visible = True
            n = (settings or DEMO_SETTINGS)["n_species"]
            self.status.object = (f"Training one model on {n} virtual species (about 20–60 s, once per "
                                  "server; later visits are instant)…")
        t0 = time.perf_counter()
        try:
            demo = await asyncio.wrap_future(fut)
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"Building the species demo failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self.progress.visible = False
        self.set_demo(demo)
        if time.perf_counter() - t0 > 1:
            self.status.object += f" Ready after {time.perf_counter() - t0:.0f} s."

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    def set_demo(self, demo: SpeciesDemo) -> None:
        """Show ``demo`` (fills the species list and draws its first species)."""
        self.demo = demo
        counts = demo.counts()
        options = {f"{n} ({c} observations)": n for n, c in zip(demo.names, counts)}
        st = demo.settings
        self.status.object = (f"{len(demo.names)} virtual species, {len(demo.lonlat):,} observations "
                              f"({st.get('bias', '?')} observer bias); SH(L={st.get('legendre_polys', '?')}) + "
                              f"Siren({st.get('hidden_dim', '?')}), λ = {_num(st.get('pos_weight_used'))}, "
                              f"{st.get('steps_run', st.get('epochs', '?'))} steps, "
                              f"{demo.train_seconds:.0f} s of training.")
        self.species.disabled = self.threshold.disabled = False
        first = demo.showcase_species()
        self.species.options = options
        if self.species.value == first:
            self.show()
        else:
            self.species.value = first

    # ------------------------------------------------------------------ views

    def _legend_html(self, truth: bool) -> str:
        items = [("agree", "predicted and true"), ("predicted", "predicted, not true"), ("missed", "true, missed")]
        if not truth:
            items = [("agree", "predicted range")]
        sw = "".join(f"<span style='display:inline-block;width:12px;height:12px;background:{RANGE_MAP_COLORS[k]};"
                     f"margin:0 4px 0 12px;vertical-align:middle'></span>{t}" for k, t in items)
        return f"<div style='font-size:13px'>{sw}</div>"

    def show(self, name: str | None = None) -> None:
        """Draw species ``name`` (default: the selector's) at the current threshold."""
        demo = self.demo
        if demo is None:
            return
        name = name or self.species.value
        if name is None:
            return
        s = demo.index(name)
        p, t = demo.probability[s], demo.truth[s]
        self.flat_view.update(probability_rgba(p, demo.land))
        obs = demo.observations(s)
        self.flat_view.set_points("observations", obs, ["#ff3b30"] * len(obs))
        self.flat_view.set_lines({"truth": truth_outline(t)})
        self.flat_view.set_title(f"{demo.names[s]}: P(present), {len(obs)} observations (red), "
                                 "true range outlined (pink)")
        self.globe.set_field(_rgba_field(probability_rgba(p, demo.land)))
        if len(obs):
            c = _mean_direction(obs)
            self.globe.param.update(lon0=c[0], lat0=float(np.clip(c[1], -60, 60)))
        self.table.object = _metrics_table(demo, s)
        self._draw_range()

    def set_threshold(self, value: float) -> None:
        """Use threshold ``value`` (what releasing the slider does) and redraw the range."""
        value = float(value)
        if self.threshold.value != value:
            self.threshold.value = value
        self._draw_range()

    def _draw_range(self) -> None:
        demo = self.demo
        if demo is None or self.species.value is None:
            return
        s = demo.index(self.species.value)
        thr = float(self.threshold.value)
        p, t = demo.probability[s], demo.truth[s]
        self.stats = range_stats(p, thr, demo.land, t)
        self.range_view.update(range_rgba(p, thr, demo.land, t))
        self.range_view.set_title(f"Range: P(present) ≥ {thr:.2f} beside the true range")
        st = self.stats
        self.range_text.object = (
            f"**Range at P ≥ {thr:.2f}:** {100 * st['range_fraction']:.1f} % of land "
            f"(true range: {100 * st['true_fraction']:.1f} %).  \n"
            f"Of the predicted range, {_pct(st['precision'])} is true (precision); "
            f"{_pct(st['recall'])} of the true range is found (recall); overlap (IoU) {_pct(st['iou'])}.")

    def close(self) -> None:
        """Nothing to stop: the demo is shared by the server's sessions."""


def _pct(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{100 * v:.0f} %"


def _mean_direction(lonlat: np.ndarray) -> tuple[float, float]:
    """(lon, lat) of the normalised mean unit vector of points (where a globe should look)."""
    lo, la = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    v = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]).mean(1)
    n = np.linalg.norm(v)
    if n < 1e-9:
        return (0.0, 20.0)
    v /= n
    return (float(np.degrees(np.arctan2(v[1], v[0]))), float(np.degrees(np.arcsin(np.clip(v[2], -1, 1)))))


def _rgba_field(rgba: np.ndarray) -> Any:
    """A :class:`~geoviz.viz.GridField` of an RGBA image (bilinear on the globe)."""
    from geoviz.viz import GridField

    return GridField(rgba[..., :3], kind="rgb", interpolation="bilinear")
