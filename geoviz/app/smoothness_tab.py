"""Smoothness tab: the same task fitted with SH of several orders L, side by side.

Each ``(task, L, network, epochs, hidden, lr)`` fit runs once per server process
(a child process per fit, :func:`geoviz.training_process.train_in_process`, one torch thread) and is cached in :data:`SWEEP_CACHE`, so other sessions
and repeated runs reuse it. Every panel is titled with the talk's resolution limit
``f_max = 180° / (2L)`` (:func:`geoviz.viz.f_max_deg`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["SmoothnessTab", "SWEEP_CACHE", "fit_one"]

SWEEP_CACHE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
"""``(task, L, nn, epochs, hidden, lr, resolution) -> (H*W,) prediction`` (at most 64 entries)."""
_CACHE_MAX = 64
_CACHE_LOCK = threading.Lock()
L_CHOICES = [1, 2, 3, 5, 10, 15, 20, 30, 40]


def fit_one(task: str, L: int, nn: str, epochs: int, hidden: int, lr: float, resolution: float,
            device: str = "auto") -> np.ndarray:
    """Fit one SH(L) + ``nn`` model on ``task`` and predict on ``regular_grid(resolution)`` (cached).

    Returns:
        ``(H*W,)`` prediction: land probabilities (float) or class indices (int).
    """
    from geoviz.training import TrainConfig
    from geoviz.training_process import train_in_process

    key = (task, int(L), nn, int(epochs), int(hidden), float(lr), float(resolution))
    with _CACHE_LOCK:
        if key in SWEEP_CACHE:
            SWEEP_CACHE.move_to_end(key)
            return SWEEP_CACHE[key]
    # the same run as geoviz.viz.fit_l_sweep, in a child process (the server keeps the GIL)
    nn_kwargs = {} if nn == "linear" else {"hidden_dim": int(hidden), "num_layers": 2}
    cfg = TrainConfig(pe="sphericalharmonics", nn=nn, pe_kwargs={"legendre_polys": int(L)}, nn_kwargs=nn_kwargs,
                      lr=float(lr), max_epochs=int(epochs), patience=None, dtype="float32", device=device)
    last, _ = train_in_process(task, cfg, grid_resolution=resolution, threads=1, predict_dtype=None,
                             nice=10)
    pred = last.prediction
    with _CACHE_LOCK:
        SWEEP_CACHE[key] = pred
        while len(SWEEP_CACHE) > _CACHE_MAX:
            SWEEP_CACHE.popitem(last=False)
    return pred


class SmoothnessTab:
    """Widgets and state of the *Smoothness* tab (one per session; fits are shared).

    Attributes:
        results: ``{L: prediction}`` of the last run, in the order of the selected Ls.
        error: message shown for bad input, or ``""``.
        layout: the Panel object of the tab.
    """

    def __init__(self, *, device: str = "auto", resolution: float = 2.0) -> None:
        import panel as pn

        from .views import ensure_extension

        ensure_extension()

        from geoviz.data import list_tasks

        self.device = device
        self.resolution = float(resolution)
        self.results: dict[int, np.ndarray] = {}
        self.error = ""
        self.running = False
        self._cancel = threading.Event()
        self.task = pn.widgets.Select(label="Task", options=list_tasks(), value="landocean")
        self.Ls = pn.widgets.MultiChoice(label="L values (degrees 0..L-1)", options=L_CHOICES, value=[1, 3, 10, 20])
        self.nn = pn.widgets.Select(label="Network", options=["siren", "linear"], value="siren")
        self.epochs = pn.widgets.IntInput(label="Epochs per fit", value=30, start=1, end=1000)
        self.hidden_dim = pn.widgets.Select(label="Hidden size", options=[32, 64, 128], value=64)
        self.lr = pn.widgets.FloatInput(label="Learning rate", value=1e-2, step=1e-3, format="0.0000")
        self.run_button = pn.widgets.Button(label="Run sweep", color="primary")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.status = pn.pane.Markdown(
            "Fits the task once per L (cached). The finest feature SH of order L can draw is about "
            "**f_max = 180° / (2L)** (L = 10 → 9°, L = 40 → 2.25°); each map states it.")
        self.maps = pn.pane.HoloViews(None, linked_axes=False)
        self.run_button.on_click(self._on_run)
        self.nn.param.watch(lambda e: setattr(self.hidden_dim, "disabled", e.new == "linear"), "value")
        controls = pn.Column(self.task, self.Ls, self.nn, self.hidden_dim, self.epochs, self.lr, self.run_button,
                             width=320)
        self.layout = pn.Row(controls, pn.Column(self.message, self.status, self.maps))

    async def _on_run(self, event: Any = None) -> None:
        await self.run()

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    def _check(self) -> list[int]:
        Ls = sorted({int(v) for v in (self.Ls.value or [])})
        if not Ls:
            raise ValueError("Pick at least one L value.")
        if len(Ls) > 6:
            raise ValueError(f"Pick at most 6 L values (got {len(Ls)}); each one is a separate fit.")
        ep, lr = self.epochs.value, self.lr.value
        if ep is None or int(ep) < 1:
            raise ValueError(f"Epochs must be a positive whole number, got {ep!r}.")
        if lr is None or not np.isfinite(lr) or not 0 < lr <= 1:
            raise ValueError(f"Learning rate must be in (0, 1], got {lr!r}.")
        return Ls

    def close(self) -> None:
        """Cancel the remaining fits of a running sweep."""
        self._cancel.set()

    async def run(self) -> None:
        """Fit every selected L (cached ones are instant) and show the maps as they finish."""
        from geoviz.data import regular_grid
        from geoviz.viz import f_max_deg, l_sweep_layout

        if self.running:
            return
        try:
            Ls = self._check()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self._show_error("")
        self.running = True
        self._cancel.clear()
        self.run_button.disabled = True
        self.results = {}
        grid = regular_grid(self.resolution)
        args = (self.task.value, self.nn.value, int(self.epochs.value), int(self.hidden_dim.value),
                float(self.lr.value), self.resolution, self.device)
        try:
            for i, L in enumerate(Ls):
                if self._cancel.is_set():
                    break
                self.status.object = f"Fitting L = {L} ({i + 1}/{len(Ls)}; f_max = {f_max_deg(L):.2f}°)…"
                task, nn, ep, hid, lr, res, dev = args
                try:
                    pred = await asyncio.to_thread(fit_one, task, L, nn, ep, hid, lr, res, dev)
                except (ValueError, TypeError, RuntimeError) as exc:  # TrainingError is a RuntimeError
                    self._show_error(f"Cannot fit L = {L}: {exc}")
                    break
                self.results[L] = pred
                self.maps.object = l_sweep_layout(self.results, grid, cols=3, width=330, height=165)
            done = ", ".join(f"L={L}: f_max {f_max_deg(L):.2f}°" for L in self.results)
            self.status.object = (f"**{self.task.value}**, {self.nn.value}, {args[2]} epochs per fit. "
                                  f"Resolution limit f_max = 180°/(2L): {done}.")
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"The sweep failed: {type(exc).__name__}: {exc}")
        finally:
            self.running = False
            self.run_button.disabled = False
