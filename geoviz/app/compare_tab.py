"""Compare encoders tab: which location encoder for my task? (thin over :mod:`geoviz.evaluation.compare`).

Pick up to three frozen encoders (:func:`geoviz.evaluation.get_encoder` specs) and a task of
the suite (:func:`geoviz.evaluation.get_eval_task`, a small ``N``); *Compare* runs
:func:`geoviz.evaluation.compare.run_encoder` per encoder and its checkerboards, then draws.
The tab shows

- the scoreboard (encoders × probes, best per probe in bold, the resolved scale);
- for the chosen probe, one column per encoder: predicted values and residuals (prediction −
  truth, in the task's units) at the test points on 2:1 maps with colour bars, or for
  classification tasks the predicted class and whether it agrees with the truth;
- the resolution curves (accuracy vs cell size, resolved scale marked: the smallest cell still
  classified ≥ 75 % right, :data:`geoviz.evaluation.resolution.RESOLVED_ACCURACY`; on land for
  image-derived models).

Nothing runs at page load: the tab is built when first opened and a comparison runs when
*Compare* is pressed, step by step in one niced child process (a ``ChildPool``), with a
progress bar; the page only receives the results and PNGs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from geoviz.app.server import schedule as _schedule
from geoviz.evaluation.compare import (DEFAULT_POINTS, DEFAULT_SELECTION, DEFAULT_TASK, GEOCLIP_MAX_POINTS,
                                       MAX_ENCODERS, POINT_OPTIONS, RESOLUTION_SETTINGS, Comparison,
                                       available_encoders, build_task, draw_all, maps_png, new_comparison,
                                       one_thread, run_encoder, scoreboard_html)

__all__ = ["CompareTab", "LESSON", "NICE"]

NICE = 10
"""Niceness of the child that runs a comparison: pages win over it."""

# ---------------------------------------------------------------------------- the tab

LESSON = (
    "### Which encoder for my task?\n"
    "An encoder turns (lon, lat) into features; a **probe** learns the task from them with the "
    "encoder frozen. The **linear** probe (ridge) only finds what the features already make "
    "linearly readable; the **MLP** probe (2 × 64 ReLU) can bend them. A big gap between the two "
    "means the information is there but not laid out linearly. The **resolution curve** asks "
    "the same question at every scale: how small a checkerboard can a linear probe still draw "
    "from the features? Its **resolved scale** is the cell size, going from coarse to fine boards, "
    "down to which the linear probe stays at least 75 % right (where the curve first drops below "
    "75 %; a later rise on a finer board, often noise at this N, does not count; one absolute "
    "threshold, so a curve that is lower at every cell never resolves finer); image-derived models (Blue Marble, GeoCLIP, SatCLIP) are tested "
    "on land only, where their imagery varies. It is not the Smoothness tab's f_max = 180°/(2L): "
    "f_max bounds what a degree-L expansion draws in one direction, while a checkerboard cell c "
    "needs degree ≈ 360°/c, so Linear(SH L) resolves about 360°/L = 4 × f_max (`sh:10`: about "
    "36°, f_max 9°). Pick up to three encoders and a task, then press **Compare** "
    "(small N: a run takes seconds to half a minute on a 2-core CPU).")


class CompareTab:
    """Widgets and state of the *Compare encoders* tab (one per session).

    Attributes:
        encoders: ``MultiChoice`` (at most :data:`MAX_ENCODERS`); task: ``Select``;
        points: ``Select`` of N; probe: which probe the maps show; button: *Compare*.
        comparison: the last :class:`Comparison` (None before the first run).
        cache: this session's :class:`~geoviz.evaluation.EmbeddingCache`.
        scoreboard: HTML pane; maps, truth, curves: PNG panes.
        layout: the Panel object of the tab.
    """

    def __init__(self) -> None:
        import panel as pn

        from geoviz.evaluation import EmbeddingCache, list_eval_tasks

        from . import views

        views.ensure_extension()
        self.cache = EmbeddingCache()
        self.comparison: Comparison | None = None
        self.running = False
        self.error = ""
        options = available_encoders()
        self.encoders = pn.widgets.MultiChoice(
            label="Encoders (up to 3)", options=options, max_items=MAX_ENCODERS, width=290,
            value=[s for s in DEFAULT_SELECTION if s in options][:MAX_ENCODERS])
        self.task = pn.widgets.Select(label="Task", options=list_eval_tasks(), value=DEFAULT_TASK, width=290)
        self.points = pn.widgets.Select(label="Points (half train, half test)", options=list(POINT_OPTIONS),
                                        value=DEFAULT_POINTS, width=290)
        self.probe = pn.widgets.RadioButtonGroup(options=["linear", "mlp"],
                                                 value="linear", width=200)
        self.button = pn.widgets.Button(label="Compare", color="primary", width=290)
        self.progress = pn.indicators.Progress(value=0, max=1, bar_color="primary", width=290, visible=False)
        self.status = pn.pane.Markdown("Nothing computed yet: choose encoders and a task, then **Compare**.",
                                       width=290)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.scoreboard = pn.pane.HTML("", min_width=420)
        self.truth = pn.pane.PNG(None, width=460)
        self.maps = pn.pane.PNG(None, sizing_mode="stretch_width", max_width=1400)
        self.curves = pn.pane.PNG(None, width=560)
        self.button.on_click(lambda e: self._schedule())
        self.probe.param.watch(lambda e: self._schedule_maps(), "value")
        note = (f"GeoCLIP is slow on a CPU (≈ 13 s per 10,000 points): with it, N is at most {GEOCLIP_MAX_POINTS}."
                if "geoclip" in options else "")
        controls = pn.Column(self.encoders, self.task, self.points, self.button, self.progress, self.status,
                             pn.pane.Markdown("**Maps show the probe**", margin=(10, 10, 0, 10)), self.probe,
                             pn.pane.Markdown(note, width=290, styles={"font-size": "12px"}), width=320)
        body = pn.Column(self.message, pn.pane.Markdown(LESSON, max_width=1000, styles={"font-size": "14px"}),
                         pn.Row(self.scoreboard, self.truth), self.maps, self.curves)
        stack = getattr(views, "STACK_BELOW_CSS", "")
        self.layout = pn.FlexBox(controls, body, flex_wrap="nowrap", align_items="flex-start",
                                 stylesheets=[stack] if stack else [])

    # ------------------------------------------------------------------ running

    def _schedule(self) -> None:
        _schedule(self.run)

    def _schedule_maps(self) -> None:
        _schedule(self.redraw_maps)

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    async def run(self) -> None:
        """Compare the selected encoders on the selected task (each step in a worker thread)."""
        if self.running:
            return
        specs = list(self.encoders.value)[:MAX_ENCODERS]
        task_name, n = self.task.value, int(self.points.value)
        if not specs:
            self._show_error("Pick at least one encoder.")
            return
        if "geoclip" in specs and n > GEOCLIP_MAX_POINTS:  # ~13 s per 10k points on a CPU
            n = GEOCLIP_MAX_POINTS
        self._show_error("")
        self.running = True
        self.button.disabled = True
        self.progress.max, self.progress.value, self.progress.visible = 2 * len(specs) + 2, 0, True
        t_start = time.perf_counter()
        from geoviz.training.process import ChildPool

        pool = ChildPool(1, nice=NICE)  # one child for every step: its imports are paid once
        try:
            self.status.object = f"Sampling **{task_name}** ({n} points)…"
            task = await _step(pool, build_task, task_name, n)
            comp = new_comparison(task)
            train, test = comp.train, comp.test
            self.progress.value += 1
            for s in specs:
                self.status.object = f"Embedding and probing with **{s}**…"
                run = await _step(pool, one_thread, run_encoder, s, task, train, test, resolution=False)
                self.progress.value += 1
                self.status.object = f"Checkerboards for **{s}**…"
                from geoviz.evaluation.resolution import resolution_diagnostics

                t0 = time.perf_counter()
                run.resolution = await _step(pool, one_thread, resolution_diagnostics, s,
                                                 **RESOLUTION_SETTINGS)
                run.seconds["resolution"] = time.perf_counter() - t0
                comp.runs.append(run)
                self.progress.value += 1
            self.status.object = "Drawing…"
            pngs = await _step(pool, draw_all, comp, self.probe.value)
        except (ValueError, FileNotFoundError) as exc:
            self._show_error(str(exc))
            self.status.object = "Comparison failed."
            return
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"Comparison failed: {type(exc).__name__}: {exc}")
            self.status.object = "Comparison failed."
            return
        finally:
            pool.shutdown(wait=False)
            self.running = False
            self.button.disabled = False
            self.progress.visible = False
        self.comparison = comp
        self._show(comp, pngs)
        self.status.object = (f"Done in {time.perf_counter() - t_start:.1f} s: {len(specs)} encoder(s) on "
                              f"**{task_name}**, N = {n}.")

    async def redraw_maps(self) -> None:
        """Redraw the maps for the probe now selected (worker thread)."""
        comp = self.comparison
        if comp is None or self.running:
            return
        from geoviz.training.process import submit_in_child

        self.maps.object = await asyncio.wrap_future(submit_in_child(maps_png, comp, self.probe.value, nice=NICE))

    def _show(self, comp: Comparison, pngs: dict[str, bytes]) -> None:
        self.scoreboard.object = scoreboard_html(comp)
        self.truth.object = pngs["truth"]
        self.maps.object = pngs["maps"]
        self.curves.object = pngs["curves"]

    def close(self) -> None:
        """Drop the session's comparison."""
        self.comparison = None



def _step(pool: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "asyncio.Future[Any]":
    """``fn(*args, **kwargs)`` in the run's child (``pool``), awaitable on the event loop."""
    return asyncio.wrap_future(pool.submit(fn, *args, **kwargs))
