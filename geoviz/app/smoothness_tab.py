"""Smoothness tab: what L does to Linear(SH) and to Siren(SH), one L at a time.

The tab fits the task with SH(L) + Linear and SH(L) + Siren for every L of
:data:`geoviz.viz.lsweep.SWEEP_LS` (1 … 40) with the recommended settings of
:data:`~geoviz.viz.lsweep.SWEEP_SETTINGS`, then shows, for the L of a slider, a large
Linear(SH) map above a large Siren(SH) map (equirectangular at 2:1, P(land) colourbar),
captioned with f_max = 180°/(2L) and the test accuracy, plus test accuracy versus L for
both networks and the three-sentence lesson (:data:`~geoviz.viz.lsweep.SMOOTHNESS_LESSON`; its last sentence
relates f_max to the Compare tab's resolved scale: Linear(SH L) resolves about 360°/L = 4 × f_max).

Fits run in child processes (:func:`geoviz.viz.lsweep.fit_executor`: forked from the
training fork server, one torch thread, niceness 10) shared by every session of the server
and cached in :data:`FITS` (each ``(spec) -> LFit`` once per server process). ``panel serve
--warm`` starts the default sweep at server start (:func:`prefit_default`), so the first
visitor sees it at once; otherwise the first visit starts it and the maps fill in as the fits
finish (the slider's L first), with a progress bar.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from geoviz.training.lsweep import (NETWORK_LABELS, SMOOTHNESS_LESSON, SWEEP_LS, SWEEP_NETWORKS, SWEEP_SETTINGS,
                                    LFit, LFitSpec, LSweep, f_max_deg, sweep_specs)
from geoviz.viz.lsweep import fit_caption

__all__ = ["SmoothnessTab", "FITS", "submit_fit", "prefit_default", "DEFAULT_L", "MAP_WIDTH"]

DEFAULT_L = 5
"""L shown first (f_max = 18°: blurry continents for Linear, coastlines for Siren)."""
MAP_WIDTH = 620
"""Width of each map's frame in pixels (height = width / 2)."""
RESOLUTION = 1.0
"""Map grid cell size in degrees (L = 40 draws 2.25° features)."""
SWEEP_TASKS = ("landocean", "checkerboard")
"""Tasks offered (classification tasks: the tab reports test accuracy)."""
WORKERS = 2
"""Child processes fitting at once (shared by all sessions)."""
NICE = 10

FITS: "OrderedDict[LFitSpec, LFit]" = OrderedDict()
"""Every finished fit of this server process, by spec (at most :data:`_CACHE_MAX`, oldest dropped)."""
_CACHE_MAX = 96
_PENDING: dict[LFitSpec, concurrent.futures.Future] = {}
_LOCK = threading.RLock()
_EXECUTOR: concurrent.futures.ProcessPoolExecutor | None = None


def _finished(spec: LFitSpec, fut: concurrent.futures.Future) -> None:
    global _EXECUTOR
    with _LOCK:
        _PENDING.pop(spec, None)
        if not fut.cancelled() and fut.exception() is None:
            FITS[spec] = fut.result()
            while len(FITS) > _CACHE_MAX:
                FITS.popitem(last=False)
        if not _PENDING and _EXECUTOR is not None:  # idle: the children go (they hold torch)
            _EXECUTOR.shutdown(wait=False)
            _EXECUTOR = None


def submit_fit(spec: LFitSpec) -> concurrent.futures.Future:
    """The fit of ``spec``: a finished future when cached, the running one when another session
    asked for it already, else a new fit in a child process."""
    global _EXECUTOR
    from geoviz.training.lsweep import _fit_in_child, fit_executor

    with _LOCK:
        if spec in FITS:
            FITS.move_to_end(spec)
            done: concurrent.futures.Future = concurrent.futures.Future()
            done.set_result(FITS[spec])
            return done
        if spec in _PENDING:
            return _PENDING[spec]
        if _EXECUTOR is None:
            _EXECUTOR = fit_executor(WORKERS, nice=NICE)
        try:
            fut = _EXECUTOR.submit(_fit_in_child, spec)
        except RuntimeError:  # a pool broken by a killed child: start a fresh one
            _EXECUTOR = fit_executor(WORKERS, nice=NICE)
            fut = _EXECUTOR.submit(_fit_in_child, spec)
        _PENDING[spec] = fut
    fut.add_done_callback(lambda f, s=spec: _finished(s, f))
    return fut


def default_specs(task: str = "landocean", settings: dict[str, dict[str, Any]] | None = None,
                  first_L: int = DEFAULT_L) -> list[LFitSpec]:
    """The specs of the tab's sweep (Linear and Siren, every L of ``SWEEP_LS``, ``first_L`` first)."""
    return sweep_specs(task, SWEEP_LS, SWEEP_NETWORKS, resolution=RESOLUTION, settings=settings, first_L=first_L)


def prefit_default() -> list[concurrent.futures.Future]:
    """Start the default sweep in the background (``panel serve --warm`` calls it at start);
    returns the futures. Children run at niceness 10, so pages are served first."""
    return [submit_fit(s) for s in default_specs()]


def _task_info(task: str) -> tuple[int | None, bool, str]:
    """``(n_classes or None for binary, coastlines?, test-set description)`` of a task."""
    from geoviz.data import get_task

    t = get_task(task)
    n = None if t.kind == "binary" else int(t.num_classes)
    where = "land–ocean test grid" if t.name == "landocean" else f"{t.name} test split"
    return n, t.name == "landocean", f"{where}, {len(t.test.y):,} points"


def _accuracy_table(sweep: LSweep, L: int, test_set: str) -> str:
    """HTML table of test accuracy per L (the current L in bold)."""
    head = "".join(f"<th>{NETWORK_LABELS.get(nn, nn)}</th>" for nn in sweep.networks)
    rows = []
    for L_ in sweep.Ls:
        cells = []
        for nn in sweep.networks:
            fit = sweep.get(nn, L_)
            cells.append(f"<td>{100 * fit.test_accuracy:.1f} %</td>" if fit else "<td>…</td>")
        style = ' style="font-weight:bold;background:#eef3fb"' if L_ == L else ""
        rows.append(f"<tr{style}><td>{L_}</td><td>{f_max_deg(L_):.3g}°</td>{''.join(cells)}</tr>")
    return ('<table class="geoviz-accuracy" style="border-collapse:collapse">'
            f'<caption style="caption-side:top;text-align:left">Test accuracy ({test_set})</caption>'
            f"<thead><tr><th>L</th><th>f_max</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "<style>table.geoviz-accuracy td, table.geoviz-accuracy th"
            "{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}</style>")


class SmoothnessTab:
    """Widgets and state of the *Smoothness* tab (one per session; fits are shared).

    Args:
        device: accepted for symmetry with the other tabs; the fits are small and run on the CPU.
        autostart: start the sweep when the tab is built inside a running server (a browser
            session); in Python, call :meth:`run`.

    Attributes:
        sweep: :class:`~geoviz.viz.lsweep.LSweep` of the current settings (fits arrive as they finish).
        results: ``{L: prediction}`` of the Linear(SH) fits (kept for old callers).
        error: message shown for bad input, or ``""``.
        layout: the Panel object of the tab.
    """

    def __init__(self, *, device: str = "auto", autostart: bool = True) -> None:
        import panel as pn

        from geoviz.data import list_tasks

        from .views import ensure_extension

        ensure_extension()
        self.device = device
        self.error = ""
        self.running = False
        self._rerun = False
        self._cancel = threading.Event()
        self.sweep = LSweep(task="landocean", Ls=tuple(SWEEP_LS), networks=tuple(SWEEP_NETWORKS))
        tasks = [t for t in SWEEP_TASKS if t in list_tasks()]
        self.task = pn.widgets.Select(label="Task", options=tasks, value="landocean", width=280)
        self.L = pn.widgets.DiscreteSlider(label="L (degrees 0 … L−1)", options=list(SWEEP_LS), value=DEFAULT_L,
                                           width=280)
        lin, sir = SWEEP_SETTINGS["linear"], SWEEP_SETTINGS["siren"]
        self.linear_lr = pn.widgets.FloatInput(label="Linear(SH) learning rate", value=lin["lr"], step=1e-2,
                                               format="0.0000", width=280)
        self.siren_lr = pn.widgets.FloatInput(label="Siren(SH) learning rate", value=sir["lr"], step=1e-4,
                                              format="0.0000", width=280)
        self.epochs = pn.widgets.IntInput(label="Epochs per fit", value=int(lin["epochs"]), start=1, end=2000,
                                          width=280)
        self.hidden_dim = pn.widgets.Select(label="Siren hidden size", options=[32, 64, 128],
                                            value=int(sir["hidden_dim"]), width=280)
        self.run_button = pn.widgets.Button(label="Fit with these settings", color="primary", width=280)
        self.reset_button = pn.widgets.Button(label="Recommended settings", width=280)
        self.progress = pn.indicators.Progress(value=0, max=len(SWEEP_LS) * len(SWEEP_NETWORKS),
                                               bar_color="primary", width=280, visible=False)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.status = pn.pane.Markdown("", width=280)
        self.lesson = pn.pane.Markdown(
            "### What L does\n" + SMOOTHNESS_LESSON + "\n\n*Move the L slider: the top map is Linear(SH), "
            "the bottom one Siren(SH), both fitted to the same 5,000 points.*",
            sizing_mode="stretch_width", max_width=MAP_WIDTH + 260, styles={"font-size": "14px"})
        self.captions = {nn: pn.pane.Markdown("", margin=(0, 10)) for nn in SWEEP_NETWORKS}
        self._version = 0
        self.map_panes = {nn: pn.pane.HoloViews(None, linked_axes=False) for nn in SWEEP_NETWORKS}
        self._make_maps()
        self.curve = pn.pane.HoloViews(None, linked_axes=False)
        self.table = pn.pane.HTML("", width=360)
        self.run_button.on_click(self._on_run)
        self.reset_button.on_click(self._on_reset)
        self.L.param.watch(self._on_L, "value")
        self.task.param.watch(self._on_task, "value")
        settings = pn.Card(self.linear_lr, self.siren_lr, self.epochs, self.hidden_dim, self.run_button,
                           self.reset_button, title="Training settings", collapsed=True, width=300)
        controls = pn.Column(self.task, self.L, self.progress, self.status, settings, width=320)
        maps = pn.Column(*(pn.Column(self.captions[nn], self.map_panes[nn]) for nn in SWEEP_NETWORKS))
        body = pn.Column(self.message, self.lesson, maps, pn.Row(self.curve, self.table))
        from . import views

        stack = getattr(views, "STACK_BELOW_CSS", "")  # controls above the maps on narrow screens
        self.layout = pn.FlexBox(controls, body, flex_wrap="nowrap", align_items="flex-start",
                                 stylesheets=[stack] if stack else [])
        self._refresh_text()
        if autostart:
            self._autostart()

    # ------------------------------------------------------------------ views

    @property
    def results(self) -> dict[int, np.ndarray]:
        return self.sweep.predictions("linear")

    def _make_maps(self) -> None:
        """One DynamicMap per network, driven by a stream of (L, version); made again when the
        task changes (its first frame fixes the colour bar: P(land) or classes, coastlines or not)."""
        import holoviews as hv

        self._n_classes, self._coastlines, self._test_set = _task_info(self.task.value)
        self._maps_task = self.task.value
        self._view = hv.streams.Stream.define("SmoothnessView", L=int(self.L.value), version=0)()
        for nn, pane in self.map_panes.items():
            pane.object = hv.DynamicMap(lambda L, version, nn=nn: self._map(nn, L), streams=[self._view])

    def _map(self, nn: str, L: int) -> Any:
        from geoviz.viz.lsweep import comparison_map

        return comparison_map(self.sweep.get(nn, L), nn=nn, L=int(L), grid_shape=(180, 360), width=MAP_WIDTH,
                              title="", coastlines=self._coastlines, n_classes=self._n_classes)

    def _refresh_maps(self) -> None:
        self._version += 1
        self._view.event(L=int(self.L.value), version=self._version)

    def _refresh_text(self) -> None:
        from geoviz.viz.lsweep import accuracy_curve

        L = int(self.L.value)
        status = "fitting…" if self.running else "not fitted"
        for nn, pane in self.captions.items():
            pane.object = f"**{fit_caption(nn, L, self.sweep.get(nn, L), status)}**"
        self.table.object = _accuracy_table(self.sweep, L, self._test_set)
        if self.sweep.fits:
            self.curve.object = accuracy_curve(self.sweep, L=L, width=420, height=260)

    def _on_L(self, event: Any = None) -> None:
        self._refresh_text()
        self._refresh_maps()

    # ------------------------------------------------------------------ runs

    def _autostart(self) -> None:
        """Start :meth:`run` on the session's event loop when the tab is built in a browser session
        (Panel schedules coroutines as unlocked next-tick callbacks of the document, from any
        thread); elsewhere (Python, tests, the ``--warm`` start-up session) do nothing."""
        import panel as pn

        doc = pn.state.curdoc
        ctx = None if doc is None else doc.session_context
        if ctx is None or getattr(ctx, "server_context", None) is None:
            return
        pn.state.execute(self.run)

    def _on_task(self, event: Any = None) -> None:
        """A new task: new (empty) maps now, in this UI callback; the fits start on the loop."""
        self.sweep = LSweep(task=self.task.value, Ls=tuple(SWEEP_LS), networks=tuple(SWEEP_NETWORKS))
        self._make_maps()
        self._refresh_text()
        if self.running:  # the running sweep stops at its next fit and starts this one
            self._rerun = True
            self._cancel.set()
        else:
            self._autostart()

    async def _on_run(self, event: Any = None) -> None:
        await self.run()

    async def _on_reset(self, event: Any = None) -> None:
        lin, sir = SWEEP_SETTINGS["linear"], SWEEP_SETTINGS["siren"]
        self.linear_lr.value, self.siren_lr.value = lin["lr"], sir["lr"]
        self.epochs.value, self.hidden_dim.value = int(lin["epochs"]), int(sir["hidden_dim"])
        await self.run()

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    def settings(self) -> dict[str, dict[str, Any]]:
        """Per-network overrides of ``SWEEP_SETTINGS`` from the widgets (ValueError on bad input)."""
        ep, llr, slr = self.epochs.value, self.linear_lr.value, self.siren_lr.value
        if ep is None or int(ep) < 1:
            raise ValueError(f"Epochs must be a positive whole number, got {ep!r}.")
        for name, lr in (("Linear(SH)", llr), ("Siren(SH)", slr)):
            if lr is None or not np.isfinite(lr) or not 0 < lr <= 1:
                raise ValueError(f"{name} learning rate must be in (0, 1], got {lr!r}.")
        return {"linear": {"lr": float(llr), "epochs": int(ep)},
                "siren": {"lr": float(slr), "epochs": int(ep), "hidden_dim": int(self.hidden_dim.value)}}

    def close(self) -> None:
        """Stop waiting for fits (the shared fits themselves finish and stay cached)."""
        self._cancel.set()

    async def run(self) -> None:
        """Fit every (network, L) of the current settings (cached fits are instant) and show them
        as they finish, the slider's L first."""
        if self.running:
            return
        try:
            specs = default_specs(self.task.value, self.settings(), first_L=int(self.L.value))
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self._show_error("")
        self.running = True
        self._cancel.clear()
        self.run_button.disabled = True
        self.sweep = sweep = LSweep(task=self.task.value, Ls=tuple(SWEEP_LS), networks=tuple(SWEEP_NETWORKS))
        if self._maps_task != self.task.value:  # (the UI does this in _on_task)
            self._make_maps()
        self.progress.max, self.progress.value = len(specs), 0
        self._refresh_text()
        self._refresh_maps()
        futures = {asyncio.wrap_future(submit_fit(s)): s for s in specs}
        done_at_once = sum(f.done() for f in futures)
        self.progress.visible = done_at_once < len(specs)
        self.status.object = f"Fitting {len(specs)} models in the background ({done_at_once} cached)…"
        try:
            for coro in asyncio.as_completed(list(futures)):
                if self._cancel.is_set():
                    break
                try:
                    fit = await coro
                except Exception as exc:  # a failed child: say which fit, keep the others
                    self._show_error(f"A fit failed: {type(exc).__name__}: {exc}")
                    continue
                if self._cancel.is_set() or sweep is not self.sweep:  # the task changed meanwhile
                    break
                sweep.fits[(fit.spec.nn, fit.spec.L)] = fit
                n = len(sweep.fits)
                self.progress.value = n
                self.status.object = (f"Fitted {n} of {len(specs)}: {fit.spec.label}, L = {fit.spec.L} "
                                      f"({100 * fit.test_accuracy:.1f} %)")
                if fit.spec.L == int(self.L.value):
                    self._refresh_maps()
                if n == len(specs) or fit.spec.L == int(self.L.value) or n % 4 == 0:
                    self._refresh_text()
            self._refresh_text()
            self.status.object = self._summary(len(specs))
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"The sweep failed: {type(exc).__name__}: {exc}")
        finally:
            self.running = False
            self.progress.visible = False
            self.run_button.disabled = False
            self._refresh_text()
        if self._rerun:  # the task changed while this sweep ran
            self._rerun = False
            await self.run()

    def _summary(self, total: int) -> str:
        parts = []
        for nn in self.sweep.networks:
            best = self.sweep.best_L(nn)
            if best is not None:
                parts.append(f"{NETWORK_LABELS[nn]} best at L = {best} "
                             f"({100 * self.sweep.get(nn, best).test_accuracy:.1f} %)")
        done = len(self.sweep.fits)
        head = f"{done} of {total} fits on **{self.sweep.task}**" if done < total else \
            f"All {total} fits on **{self.sweep.task}** done"
        return head + (": " + "; ".join(parts) + "." if parts else ".")
