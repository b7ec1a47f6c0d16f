"""Live training tab: pick a task, encoder and hyperparameters, train, watch the map change.

Training runs epoch by epoch in a worker thread (``asyncio.to_thread``; torch limited to
one intra-op thread there), so the server's event loop only receives finished frames and
stays responsive for every other session. Map frames are rate-limited to one every
``min_frame_interval`` seconds (the first and the last epoch are always drawn); the loss
and accuracy curves receive every epoch.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

from geoviz.viz import GridField

from . import views
from .views import batched_updates

__all__ = ["TrainingTab", "map_resolution", "device_label"]

_MAP_FEATURE_BUDGET = 64e6  # bytes of cached PE features for the map grid
_CURVE_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy"]


def map_resolution(feature_dim: int, dtype_bytes: int = 4, budget: float = _MAP_FEATURE_BUDGET) -> float:
    """Finest map grid spacing (degrees, from 1, 1.5, 2, 3, 4, 5, 6) whose cached features fit ``budget`` bytes.

    Args:
        feature_dim: positional-encoding width (``L²`` for spherical harmonics).
        dtype_bytes: 4 (float32) or 8 (float64).
        budget: bytes allowed for the ``(n_cells, feature_dim)`` feature matrix.
    """
    for res in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0):
        n = (180.0 / res) * (360.0 / res)
        if n * feature_dim * dtype_bytes <= budget:
            return res
    return 6.0


def device_label(device: Any = "auto") -> str:
    """Human-readable name of the device training will use, e.g. ``"CPU"`` or ``"GPU (NVIDIA H100)"``."""
    import torch

    from geoviz.training import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        try:
            return f"GPU ({torch.cuda.get_device_name(dev)})"
        except Exception:  # pragma: no cover - driver oddities
            return "GPU"
    return "CPU"


class TrainingTab:
    """Widgets, streams and the training coroutine of the *Live training* tab (one per session).

    Args:
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``.
        globe_size: globe image side in pixels.
        min_frame_interval: seconds between two map frames (curves get every epoch).
        dtype: training precision, ``"float32"`` (default, fast) or ``"float64"``.

    Attributes:
        records: every :class:`geoviz.training.EpochRecord` of the latest run.
        frames: number of map frames drawn in the latest run.
        last_prediction: ``(H*W,)`` latest map prediction (probabilities or classes), or None.
        error: the message shown for bad input, or ``""``.
        layout: the Panel object of the tab.
    """

    def __init__(self, *, device: str = "auto", globe_size: int = 300, min_frame_interval: float = 0.5,
                 dtype: str = "float32") -> None:
        import holoviews as hv
        import panel as pn

        from .views import ensure_extension

        ensure_extension()

        import geoviz
        from geoviz.data import list_tasks
        from geoviz.viz import Globe, GridField, coastlines_element

        self.device = device
        self.dtype = dtype
        self.globe_size = int(globe_size)
        self.min_frame_interval = float(min_frame_interval)
        self.records: list[Any] = []
        self.frames = 0
        self.last_prediction: np.ndarray | None = None
        self.error = ""
        self.running = False
        self.trainer: Any = None
        self._stop_requested = threading.Event()
        self._last_frame_t = 0.0
        self._flat = self._blank_flat()

        self.task = pn.widgets.Select(label="Task", options=list_tasks(), value="landocean")
        self.pe = pn.widgets.Select(label="Positional encoding", options=geoviz.list_positional_encodings(),
                                    value="sphericalharmonics")
        self.nn = pn.widgets.Select(label="Network", options=geoviz.list_networks(), value="siren")
        self.legendre_polys = pn.widgets.IntSlider(label="L (Legendre polynomials)", start=1, end=40, value=10)
        self.hidden_dim = pn.widgets.Select(label="Hidden size", options=[16, 32, 64, 128, 256], value=64)
        self.epochs = pn.widgets.IntInput(label="Epochs", value=50, start=1, end=5000)
        self.lr = pn.widgets.FloatInput(label="Learning rate", value=1e-3, step=1e-4, format="0.00000")
        self.start_button = pn.widgets.Button(label="Start", color="primary")
        self.stop_button = pn.widgets.Button(label="Stop", disabled=True)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.status = pn.pane.Markdown(f"Idle. Training will run on **{device_label(device)}**.")

        self.flat_pipe = hv.streams.Pipe(data=self._flat)
        self.globe = Globe(GridField(np.full((90, 180), 0.5)), size=self.globe_size, lon0=10.0, lat0=20.0)
        self.lon0 = pn.widgets.FloatSlider.from_param(self.globe.param.lon0, label="Globe longitude", step=5)
        self.lat0 = pn.widgets.FloatSlider.from_param(self.globe.param.lat0, label="Globe latitude", step=5)
        self.curves = hv.streams.Buffer(pd.DataFrame({c: pd.Series(dtype=float) for c in _CURVE_COLUMNS}),
                                        length=100_000, index=False)

        flat = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                             streams=[self.flat_pipe]).opts(
            width=620, height=330, xlim=(-180, 180), ylim=(-90, 90), title="Prediction (flat)")
        coast = coastlines_element(line_width=0.7)
        loss = hv.DynamicMap(self._loss_plot, streams=[self.curves])
        acc = hv.DynamicMap(self._acc_plot, streams=[self.curves])

        self.flat_pane = pn.pane.HoloViews(flat * coast, linked_axes=False)
        self.globe_pane = pn.Column(pn.pane.Markdown("**Prediction (globe)** — drag to rotate", margin=(0, 10)),
                                    pn.pane.HoloViews(self.globe.element(), linked_axes=False))
        self.curve_panes = pn.Row(pn.pane.HoloViews(loss, linked_axes=False),
                                  pn.pane.HoloViews(acc, linked_axes=False))

        self.pe.param.watch(self._sync_enabled, "value")
        self.nn.param.watch(self._sync_enabled, "value")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(lambda event: self.stop())
        self._sync_enabled()

        controls = pn.Column(self.task, self.pe, self.nn, self.legendre_polys, self.hidden_dim, self.epochs,
                             self.lr, pn.Row(self.start_button, self.stop_button), self.lon0, self.lat0,
                             width=300)
        self.plots = pn.Column(pn.Row(self.flat_pane, self.globe_pane), self.curve_panes)
        self.layout = pn.Row(controls, pn.Column(self.message, self.status, self.plots))

    # ------------------------------------------------------------------ plots

    @staticmethod
    def _loss_plot(data: pd.DataFrame) -> Any:
        import holoviews as hv

        tr = hv.Curve(data, "epoch", "train_loss", label="train loss")
        va = hv.Curve(data, "epoch", "val_loss", label="val loss")
        return (tr * va).opts(width=460, height=220, title="Loss", legend_position="top_right", ylabel="loss",
                              framewise=True, toolbar=None, default_tools=[])

    @staticmethod
    def _acc_plot(data: pd.DataFrame) -> Any:
        import holoviews as hv

        return hv.Curve(data, "epoch", "val_accuracy", label="val accuracy").opts(
            width=460, height=220, title="Validation accuracy", framewise=True, color="#2a7", toolbar=None,
            default_tools=[])

    def _blank_flat(self) -> np.ndarray:
        img = np.zeros((90, 180, 4), np.uint8)
        img[...] = (200, 200, 200, 255)
        return img

    # ------------------------------------------------------------------ widgets

    def _sync_enabled(self, *_: Any) -> None:
        self.legendre_polys.disabled = self.pe.value != "sphericalharmonics"
        self.hidden_dim.disabled = self.nn.value == "linear"

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    def config(self) -> Any:
        """The :class:`geoviz.training.TrainConfig` of the current widget values.

        Raises:
            ValueError: impossible or out-of-range settings (the message is shown in the app).
        """
        from geoviz.training import TrainConfig

        epochs, lr = self.epochs.value, self.lr.value
        if epochs is None or int(epochs) < 1:
            raise ValueError(f"Epochs must be a positive whole number, got {epochs!r}.")
        if lr is None or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"Learning rate must be a positive number, got {lr!r}.")
        if lr > 1.0:
            raise ValueError(f"Learning rate {lr} is too large (Adam diverges); use a value ≤ 1.")
        pe_kwargs: dict[str, Any] = {}
        if self.pe.value == "sphericalharmonics":
            L = int(self.legendre_polys.value)
            if L < 1:
                raise ValueError(f"L must be ≥ 1, got {L}.")
            pe_kwargs["legendre_polys"] = L
        nn_kwargs: dict[str, Any] = {}
        if self.nn.value != "linear":
            nn_kwargs = {"hidden_dim": int(self.hidden_dim.value), "num_layers": 2}
        return TrainConfig(pe=self.pe.value, nn=self.nn.value, pe_kwargs=pe_kwargs, nn_kwargs=nn_kwargs,
                           lr=float(lr), max_epochs=int(epochs), patience=None, dtype=self.dtype,
                           device=self.device)

    # ------------------------------------------------------------------ training

    async def _on_start(self, event: Any = None) -> None:
        await self.train()

    def stop(self) -> None:
        """Ask the running training to stop after the current epoch (no-op when idle)."""
        self._stop_requested.set()
        if self.trainer is not None:
            self.trainer.stop()

    def _make_trainer(self, cfg: Any, task_name: str) -> tuple[Any, Any, Any]:
        """Worker thread: build the task, grid and Trainer (PE features are cached here)."""
        import torch

        from geoviz.data import get_task, regular_grid
        from geoviz.encoders import get_positional_encoding
        from geoviz.training import Trainer

        torch.set_num_threads(1)
        dim = get_positional_encoding(cfg.pe, **cfg.pe_kwargs).embedding_dim
        grid = regular_grid(map_resolution(dim, 4 if cfg.dtype == "float32" else 8))
        task = get_task(task_name)
        trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=cfg.max_epochs + 1)
        return trainer, task, grid

    def _step(self, it: Any, trainer: Any, task: Any, grid: Any) -> tuple[Any, tuple | None] | None:
        """Worker thread: one epoch, plus a rendered frame when one is due."""
        import torch

        torch.set_num_threads(1)
        rec = next(it, None)
        if rec is None:
            return None
        now = time.perf_counter()
        frame = None
        if rec.stopped or rec.epoch == 1 or now - self._last_frame_t >= self.min_frame_interval:
            pred = rec.prediction if rec.prediction is not None else trainer.predict()
            if task.kind == "binary":
                flat = views.field_rgba(pred, grid.shape, "continuous")
            else:
                flat = views.field_rgba(pred, grid.shape, "categorical", n_classes=task.num_classes)
            globe = GridField(flat[..., :3], kind="rgb",
                              interpolation="bilinear" if task.kind == "binary" else "nearest")
            frame = (pred, flat, globe)
            self._last_frame_t = now
        return rec, frame

    def _show_frame(self, frame: tuple, rec: Any, pending: list, cfg: Any, dev: str, grid: Any) -> None:
        pred, flat, globe = frame
        self.last_prediction = pred
        self._flat = flat
        self.flat_pipe.send(flat)
        self.globe.set_field(globe)
        self.curves.send(pd.DataFrame(pending))
        self.frames += 1
        rate = rec.epoch / rec.elapsed if rec.elapsed > 0 else float("nan")
        acc = rec.val_metrics.get("accuracy", float("nan"))
        state = f"finished ({rec.stopped})" if rec.stopped else "training"
        self.status.object = (
            f"**{state}** · epoch {rec.epoch}/{cfg.max_epochs} · train loss {rec.train_loss:.4f} · "
            f"val loss {rec.val_loss:.4f} · val accuracy {100 * acc:.1f} % · "
            f"**{rate:.1f} epochs/s** on **{dev}** · map {grid.shape[1]}×{grid.shape[0]}")

    async def train(self) -> None:
        """Run one training with the current settings, updating maps, curves and status.

        Returns when the run ends (max epochs, Stop, or an error shown in the app). A second
        call while a run is active returns immediately.
        """
        if self.running:
            return
        try:
            cfg = self.config()
        except (ValueError, TypeError) as exc:
            self._show_error(str(exc))
            return
        self._show_error("")
        self.running = True
        self._stop_requested.clear()
        self.start_button.disabled = True
        self.stop_button.disabled = False
        dev = device_label(cfg.device)
        self.status.object = f"Preparing **{cfg.pe} + {cfg.nn}** on {self.task.value} (caching features) on **{dev}**…"
        try:
            try:
                trainer, task, grid = await asyncio.to_thread(self._make_trainer, cfg, self.task.value)
            except (ValueError, TypeError, KeyError, RuntimeError) as exc:
                self._show_error(f"Cannot train with these settings: {exc}")
                self.status.object = "Idle."
                return
            self.trainer = trainer
            if self._stop_requested.is_set():
                trainer.stop()
            self.records = []
            self.frames = 0
            self.curves.clear()
            self._last_frame_t = 0.0
            it = trainer.run()
            pending: list[dict[str, float]] = []
            while True:
                try:
                    step = await asyncio.to_thread(self._step, it, trainer, task, grid)
                except RuntimeError as exc:  # e.g. CUDA out of memory
                    self._show_error(f"Training failed: {exc}")
                    break
                if step is None:
                    break
                rec, frame = step
                self.records.append(rec)
                pending.append({"epoch": rec.epoch, "train_loss": rec.train_loss, "val_loss": rec.val_loss,
                                "val_accuracy": rec.val_metrics.get("accuracy", np.nan)})
                if frame is not None:
                    with batched_updates():
                        self._show_frame(frame, rec, pending, cfg, dev, grid)
                    pending = []
                if rec.stopped:
                    break
        finally:
            self.trainer = None  # frees the cached features; the records and maps stay
            self.running = False
            self.start_button.disabled = False
            self.stop_button.disabled = True
