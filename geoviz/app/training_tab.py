"""Live training tab: pick a task, encoder and hyperparameters, train, watch the map change.

Training runs in a child process per run (:class:`geoviz.training_process.TrainingProcess`,
one torch thread), so the training loop never competes with the server for the GIL: the
event loop only receives finished epochs and stays responsive for every other session.
Map predictions are rate-limited to one every ``min_frame_interval`` seconds (the first
and the last epoch always carry one); the loss and accuracy curves receive every epoch.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import numpy as np

from geoviz.training_process import device_label
from geoviz.viz import GridField, render_globe

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


class TrainingTab:
    """Widgets, streams and the training coroutine of the *Live training* tab (one per session).

    Args:
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``.
        globe_size: globe image side in pixels.
        min_frame_interval: seconds between two map frames (curves get every epoch).
        dtype: training precision, ``"float32"`` (default, fast) or ``"float64"``.
        defer_plots: leave the controls and figures out of the page until :meth:`build_steps`
            (or :meth:`build_plots`) adds them; the dashboard adds them step by step.

    Attributes:
        records: every :class:`geoviz.training.EpochRecord` of the latest run.
        frames: number of map frames drawn in the latest run.
        last_prediction: ``(H*W,)`` latest map prediction (probabilities or classes), or None.
        error: the message shown for bad input, or ``""``.
        layout: the Panel object of the tab.
    """

    def __init__(self, *, device: str = "auto", globe_size: int = 300, min_frame_interval: float = 0.5,
                 dtype: str = "float32", defer_plots: bool = False) -> None:
        import panel as pn

        from .views import ensure_extension

        ensure_extension()

        import geoviz
        from geoviz.data import list_tasks
        from geoviz.viz import Globe, GridField

        self.device = device
        self.dtype = dtype
        self.globe_size = int(globe_size)
        self.min_frame_interval = float(min_frame_interval)
        self.records: list[Any] = []
        self.frames = 0
        self.last_prediction: np.ndarray | None = None
        self.error = ""
        self.running = False
        self.process: Any = None  # the running geoviz.training_process.TrainingProcess
        self._stop_requested = threading.Event()
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

        self.globe = Globe(GridField(np.full((90, 180), 0.5)), size=self.globe_size, lon0=10.0, lat0=20.0)
        self.lon0 = pn.widgets.FloatSlider.from_param(self.globe.param.lon0, label="Globe longitude", step=5)
        self.lat0 = pn.widgets.FloatSlider.from_param(self.globe.param.lat0, label="Globe latitude", step=5)
        # plain Bokeh figures updated in place: a frame costs milliseconds, not a HoloViews re-render.
        # make_figures() makes them; build_steps() puts them and the controls in the page.
        self.flat_view: Any = None
        self.curves: Any = None
        self._globe_figure: Any = None
        self._figures_lock = threading.Lock()
        self.flat_pane = pn.Column(width=630, height=340)
        self.globe_pane = pn.Column(width=310, height=340)
        self.curve_panes = pn.Row(height=230)

        self.pe.param.watch(self._sync_enabled, "value")
        self.nn.param.watch(self._sync_enabled, "value")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(lambda event: self.stop())
        self._sync_enabled()

        # with defer_plots the controls enter the page in these groups, one per build step
        self._control_groups = [[self.task, self.pe, self.nn],
                                [self.legendre_polys, self.hidden_dim, self.epochs, self.lr],
                                [pn.Row(self.start_button, self.stop_button), self.lon0, self.lat0]]
        self.controls = pn.Column(width=320)
        self.plots = pn.Column(pn.Row(self.flat_pane, self.globe_pane), self.curve_panes)
        self.layout = pn.Row(self.controls, pn.Column(self.message, self.status, self.plots))
        if not defer_plots:
            for step in self.build_steps():
                step()

    # ------------------------------------------------------------------ page building

    def make_figures(self) -> None:
        """Make the Bokeh figures (flat map, globe, curves) that are not made yet, without
        putting them in the page (the build steps add them; each step makes its own)."""
        self._make_flat()
        self._make_globe()
        self._make_curves()

    def _make_flat(self) -> None:
        from geoviz.viz import coastline_paths, nan_join
        from geoviz.viz.live import ImageView

        with self._figures_lock:
            if self.flat_view is None:
                self.flat_view = ImageView(self._flat, views.FLAT_BOUNDS, width=620, height=330,
                                           title="Prediction (flat)", lines={"coastlines": nan_join(coastline_paths())},
                                           line_styles={"coastlines": {"line_width": 0.7}})

    def _make_globe(self) -> None:
        with self._figures_lock:
            if self._globe_figure is None:
                self._globe_figure = self.globe.figure()

    def _make_curves(self) -> None:
        from geoviz.viz.live import CurvesView

        with self._figures_lock:
            if self.curves is None:
                self.curves = CurvesView(width=460, height=220)

    def build_steps(self) -> list[Callable[[], None]]:
        """Callables that each add one small part of the tab to the page: the control groups,
        the flat map, the globe, the loss and the accuracy figure; each does nothing if its
        part is already there.

        Running them all builds the whole tab; a server runs one per event-loop callback with
        pauses between, so that building one session's page never holds the loop for long (each
        step is a few Bokeh models: their creation and their document patch, 20-50 ms).
        """
        import panel as pn

        def controls(group: list[Any]) -> Callable[[], None]:
            def step() -> None:
                if not any(obj is group[0] for obj in self.controls.objects):
                    self.controls.extend(group)
            step.__name__ = f"controls_{self._control_groups.index(group)}"
            return step

        def flat() -> None:
            if not self.flat_pane.objects:
                self._make_flat()
                self.flat_pane.objects = [pn.pane.Bokeh(self.flat_view.figure)]

        def globe() -> None:
            if not self.globe_pane.objects:
                self._make_globe()
                self.globe_pane.objects = [
                    pn.pane.Markdown("**Prediction (globe)** — drag to rotate", margin=(0, 10)),
                    pn.pane.Bokeh(self._globe_figure)]

        def loss() -> None:
            if not self.curve_panes.objects:
                self._make_curves()
                self.curve_panes.objects = [pn.pane.Bokeh(self.curves.loss_figure)]

        def accuracy() -> None:
            if len(self.curve_panes.objects) < 2:
                loss()
                self.curve_panes.append(pn.pane.Bokeh(self.curves.accuracy_figure))

        return [*(controls(g) for g in self._control_groups), flat, globe, loss, accuracy]

    def build_plots(self) -> None:
        """Put every part of the tab that is not in the page yet into it (all build steps)."""
        for step in self.build_steps():
            step()

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
        if self.process is not None:
            self.process.stop()

    def close(self) -> None:
        """Stop the run and make sure its child process ends (session closed)."""
        self.stop()
        proc = self.process
        if proc is not None:  # the child ends within an epoch; terminate it if it does not
            threading.Thread(target=proc.close, kwargs={"timeout": 5.0}, daemon=True).start()

    def _grid_resolution(self, cfg: Any) -> float:
        """Map grid spacing for ``cfg`` (raises ValueError for an unknown encoding)."""
        from geoviz.encoders import get_positional_encoding

        dim = get_positional_encoding(cfg.pe, **cfg.pe_kwargs).embedding_dim
        return map_resolution(dim, 4)  # the child predicts maps in float32

    def _render(self, pred: np.ndarray, shape: tuple[int, int], kind: str, n_classes: int | None) -> tuple:
        """Worker thread: colour one prediction for the flat map and render the globe image."""
        if kind == "binary":
            flat = views.field_rgba(pred, shape, "continuous")
        else:
            flat = views.field_rgba(pred, shape, "categorical", n_classes=n_classes)
        globe = GridField(flat[..., :3], kind="rgb", interpolation="bilinear" if kind == "binary" else "nearest")
        g = self.globe
        return pred, flat, globe, render_globe(globe, g.lon0, g.lat0, g.size)

    def _show_frame(self, frame: tuple, rec: Any, pending: list, cfg: Any, dev: str,
                    grid_shape: tuple[int, int]) -> None:
        pred, flat, globe, globe_img = frame
        self.last_prediction = pred
        self._flat = flat
        self.flat_view.update(flat)
        # the globe image was rendered in the worker thread: install the field without a second
        # render (a rotation in between is drawn by the next frame or the next drag)
        self.globe.field = globe
        for v in self.globe.views:
            v.update(globe_img)
        self.curves.stream(pending)
        self.frames += 1
        rate = rec.epoch / rec.elapsed if rec.elapsed > 0 else float("nan")
        acc = rec.val_metrics.get("accuracy", float("nan"))
        state = f"finished ({rec.stopped})" if rec.stopped else "training"
        self.status.object = (
            f"**{state}** · epoch {rec.epoch}/{cfg.max_epochs} · train loss {rec.train_loss:.4f} · "
            f"val loss {rec.val_loss:.4f} · val accuracy {100 * acc:.1f} % · "
            f"**{rate:.1f} epochs/s** on **{dev}** · map {grid_shape[1]}×{grid_shape[0]}")

    async def train(self) -> None:
        """Run one training with the current settings, updating maps, curves and status.

        The run happens in a child process (:class:`geoviz.training_process.TrainingProcess`,
        one torch thread); this coroutine only waits on its pipe, so the server's event loop
        and the other sessions are not slowed by the training loop. When several epochs
        arrive at once only the newest map is drawn. Returns when the run ends (max epochs,
        Stop, or an error shown in the app); a second call while a run is active returns
        immediately.
        """
        from geoviz.data import get_task
        from geoviz.training_process import TrainingError, TrainingProcess

        if self.running:
            return
        try:
            cfg = self.config()
        except (ValueError, TypeError) as exc:
            self._show_error(str(exc))
            return
        self.running = True  # before the first await: a second Start click returns above
        try:
            res = self._grid_resolution(cfg)
            task_name = self.task.value
            # the first use builds the task's data (land mask look-ups, ~0.4 s): not on the loop
            task = await asyncio.to_thread(get_task, task_name)
        except (ValueError, TypeError, KeyError) as exc:
            self.running = False
            self._show_error(f"Cannot train with these settings: {exc}")
            return
        except BaseException:
            self.running = False
            raise
        self._show_error("")
        self.build_plots()
        self._stop_requested.clear()
        self.start_button.disabled = True
        self.stop_button.disabled = False
        dev = device_label(cfg.device)
        self.status.object = f"Preparing **{cfg.pe} + {cfg.nn}** on {task_name} (caching features) on **{dev}**…"
        proc = TrainingProcess(task_name, cfg, grid_resolution=res, min_frame_interval=self.min_frame_interval,
                               threads=1, nice=10)
        self.process = proc
        try:
            await asyncio.to_thread(proc.start)  # the first start also launches the fork server
            if self._stop_requested.is_set():
                proc.stop()
            self.records = []
            self.frames = 0
            self.curves.clear()
            pending: list[dict[str, float]] = []
            newest: Any = None  # latest record with a map not drawn yet
            grid_shape = None
            try:
                async for rec in proc.arecords():
                    if grid_shape is None and proc.info is not None:
                        grid_shape = proc.info.grid_shape
                        dev = proc.info.device_label
                    self.records.append(rec)
                    pending.append({"epoch": rec.epoch, "train_loss": rec.train_loss, "val_loss": rec.val_loss,
                                    "val_accuracy": rec.val_metrics.get("accuracy", np.nan)})
                    if rec.prediction is not None:
                        newest = rec
                    if newest is None or (proc.has_pending() and not rec.stopped):
                        continue  # more epochs are waiting: draw only the newest map
                    frame = await asyncio.to_thread(self._render, newest.prediction, grid_shape, task.kind,
                                                    task.num_classes)
                    with batched_updates():
                        self._show_frame(frame, rec, pending, cfg, dev, grid_shape)
                    pending, newest = [], None
            except TrainingError as exc:
                if self.records:
                    self._show_error(f"Training failed: {exc}")
                else:
                    self._show_error(f"Cannot train with these settings: {exc}")
                    self.status.object = "Idle."
        finally:
            self.process = None
            await asyncio.to_thread(proc.close)
            self.running = False
            self.start_button.disabled = False
            self.stop_button.disabled = True
