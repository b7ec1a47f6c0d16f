"""Jupyter widgets: :class:`LiveTrainer` and :class:`EmbeddingExplorer` (ipywidgets + ipyleaflet).

Everything is offline: maps are PNG images made here (data: URLs), coastlines come from
the shipped Natural Earth polygon, and the Leaflet map has no tile layer unless a basemap
is asked for explicitly. Outside a Jupyter kernel the objects can still be built and
driven from Python (tests do), and displaying them prints a short message instead of
failing.

    >>> from geoviz.widgets import LiveTrainer
    >>> LiveTrainer()          # in a notebook cell: controls, a live map and a loss plot
"""

from __future__ import annotations

import base64
import threading
from typing import Any, Callable, Sequence

import numpy as np

from geoviz import render

__all__ = ["in_jupyter", "png_bytes", "png_data_url", "LiveTrainer", "EmbeddingExplorer"]

_NOT_JUPYTER = (
    "{name} is a Jupyter widget: run it in a notebook (JupyterLab / Notebook / VS Code) with "
    "ipywidgets{extra} installed. Outside Jupyter use {alt}."
)


def in_jupyter() -> bool:
    """True when running inside an IPython kernel that can display widgets."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _require(module: str, name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{name} needs the package {module!r}: pip install {module}") from exc


png_bytes = render.png_bytes
"""PNG bytes of an ``(H, W, 3|4)`` uint8 image (:func:`geoviz.render.png_bytes`)."""

png_data_url = render.png_data_url
"""``data:image/png;base64,...`` URL of an ``(H, W, 3|4)`` uint8 image (:func:`geoviz.render.png_data_url`)."""


def _map_png(values: np.ndarray, shape: tuple[int, int], kind: str, scale: int = 2, *, coastlines: bool = True,
             n_classes: int | None = None, class_names: Sequence[str] | None = None, title: str | None = None,
             label: str = "P(land)", cmap: str | None = None, clim: Sequence[float] | None = None) -> bytes:
    """PNG of a flat map (2:1, rows north → south) with its legend (P(land) colourbar, classes,
    or a field's colourbar in its units: ``label``, ``cmap``, ``clim``): :func:`geoviz.render.map_image`."""
    return render.png_bytes(render.map_image(values, shape, kind, n_classes=n_classes, class_names=class_names,
                                             coastlines=coastlines, scale=scale, title=title, label=label, cmap=cmap,
                                             clim=clim))


def _loss_png(epochs: Sequence[int], train: Sequence[float], val: Sequence[float], width: int = 360, height: int = 220,
              previous: tuple[Sequence[int], Sequence[float], Sequence[float]] | None = None) -> bytes:
    """PNG of the loss curves (``width`` × ``height`` pixels); ``previous`` = the previous run's
    (epochs, train, val), drawn dashed."""
    fig = render.new_figure((width / 100, height / 100), dpi=100, layout="tight")
    ax = fig.add_subplot(111)
    if previous is not None and len(previous[0]):
        ax.plot(previous[0], previous[1], "--", color="C0", alpha=0.5, label="previous train")
        ax.plot(previous[0], previous[2], "--", color="C1", alpha=0.5, label="previous val")
    if len(epochs):
        ax.plot(epochs, train, color="C0", label="train")
        ax.plot(epochs, val, color="C1", label="val")
    if len(epochs) or previous is not None:
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    return render.figure_png(fig)


class _Displayable:
    """Base of the widgets: display in Jupyter, with a static image that survives saving.

    A live ipywidget exists only in the running kernel: a saved notebook stores its model
    id, and JupyterLab 4 (``@jupyter-widgets/jupyterlab-manager``) renders the widget-view
    output of a reopened notebook as "Error displaying widget: model not found" when the
    model is gone (it never falls back to another type in the same output). So
    :meth:`show` displays, below the widget, a second, plain output with a ``display_id``:
    the widget's last state as a PNG (:meth:`_static_png`, e.g. the map with its legend).
    Subclasses call :meth:`_refresh_static` when a run or a query finishes; the output is
    then replaced in place (``update_display_data``), so the saved notebook holds the last
    map and shows it anywhere (JupyterLab without a kernel, nbviewer, GitHub).
    """

    _alt = "the Python API"
    _extra = ""
    _static_width = 540   # display width (px) of the static image

    widget: Any

    def _static_png(self) -> bytes | None:
        """PNG bytes of the widget's current state (its map with legend), or None if none yet.

        Overridden by subclasses; the base class has no static view.
        """
        return None

    def _static_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(data, metadata)`` of the static output: the PNG, or an empty text before there is one."""
        try:
            png = self._static_png()
        except Exception as exc:  # the live widget matters more than its snapshot
            return {"text/plain": f"({type(self).__name__}: no static image: {type(exc).__name__}: {exc})"}, {}
        if not png:
            return {"text/plain": ""}, {}
        data = {"image/png": base64.b64encode(png).decode("ascii"),
                "text/plain": f"<{type(self).__name__}: last state as an image, kept when the notebook is saved>"}
        return data, {"image/png": {"width": self._static_width}}

    def show(self) -> None:
        """Display the widget in Jupyter (plus its static image output), or print why it cannot be displayed here."""
        if in_jupyter():
            from IPython.display import display

            display(self.widget)
            data, metadata = self._static_bundle()
            handle = display(data, raw=True, metadata=metadata, display_id=True)
            self.__dict__.setdefault("_static_handles", []).append(handle)
        else:
            print(_NOT_JUPYTER.format(name=type(self).__name__, extra=self._extra, alt=self._alt))

    def _refresh_static(self) -> None:
        """Replace every displayed static output of this widget by the current :meth:`_static_png`.

        Call it when a run or a query finishes (not per epoch: it encodes a PNG and sends it
        to the front end). Safe from a worker thread; a no-op when nothing was displayed.
        """
        handles = self.__dict__.get("_static_handles", [])
        if not handles:
            return
        data, metadata = self._static_bundle()
        for handle in handles:
            handle.update(data, raw=True, metadata=metadata)

    def _ipython_display_(self) -> None:
        self.show()


class LiveTrainer(_Displayable):
    """Train a location encoder in a background thread with live map and loss plot.

    Controls: positional encoding, network, ``L`` (legendre_polys, SH only), epochs,
    learning rate, Start/Stop, a replay slider and a GIF button. Each epoch the background
    thread consumes one record of :meth:`geoviz.training.Trainer.run` and pushes the
    prediction map (a 2:1 PNG with its legend: the P(land) colourbar or the class swatches;
    coastlines unless the task is synthetic) and the loss curves to the widgets; the
    notebook stays responsive. Stop calls :meth:`Trainer.stop`, which ends the run after
    the current epoch. At the end the final weights are evaluated on the task's test split
    (51,156 points for ``landocean``) and the accuracy shown. The maps of the run are kept
    (:class:`geoviz.viz.animation.FrameHistory`, at most ``max_frames``) for the replay
    slider and :meth:`save_gif`; the previous run's loss curves stay dashed.

    A *task* dropdown offers ``landocean``, ``checkerboard`` and the built-in fields
    (``field:temperature`` …, regression; a field's data load when its run starts). Regression
    maps are drawn in the target's units with a fixed colour range (the truth's 1st–99th
    percentiles), the truth map beside the prediction (built-in fields), cells where a
    land-only field has no value grey; the status shows R² and RMSE in units, and the test
    R²/RMSE at the end. Your own points: :meth:`from_csv`.

    Args:
        task: task name (``"landocean"``, ``"checkerboard"``, ``"field:temperature"``, …) or
            :class:`geoviz.data.Task` (default ``"landocean"``).
        resolution: prediction grid cell size in degrees.
        pe, nn, legendre_polys, epochs, lr: initial control values.
        config_kwargs: extra :class:`geoviz.training.TrainConfig` fields (e.g. ``nn_kwargs``,
            ``dtype``, ``patience``).
        num_threads: if set, ``torch.set_num_threads`` for the training thread's run.
        gif_path: file the GIF button writes.
        max_frames: maps kept per run for replay and GIF.
        speed: ``"class pace"`` (default: each epoch's map stays up at least
            :data:`geoviz.viz.pacing.CLASS_PACE` seconds, the training waiting meanwhile, so a
            class sees the field form) or ``"fast"``; the *speed* toggle changes it, also
            during a run (a :class:`geoviz.viz.pacing.FramePacer`, as in the dashboard).

    Attributes:
        widget: the ``ipywidgets.VBox``; ``records``: EpochRecords received so far;
        trainer: the current :class:`Trainer`; ``thread``: the worker thread;
        history: the run's :class:`~geoviz.viz.animation.FrameHistory` (or None);
        test_metrics: the final weights' loss and metrics on the test split (or None).
    """

    _alt = "geoviz.training.Trainer or `geoviz train` on the command line"

    def __init__(self, task: Any = "landocean", *, resolution: float = 2.0, pe: str = "sphericalharmonics",
                 nn: str = "siren", legendre_polys: int = 10, epochs: int = 100, lr: float = 1e-3,
                 config_kwargs: dict | None = None, num_threads: int | None = None,
                 gif_path: str = "geoviz_run.gif", max_frames: int = 120, speed: str = "class pace") -> None:
        from geoviz.viz.pacing import SPEEDS

        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {list(SPEEDS)}, got {speed!r}")
        w = _require("ipywidgets", "LiveTrainer")
        from geoviz import list_networks, list_positional_encodings
        from geoviz.data import regular_grid

        from geoviz.data import get_field, list_fields, list_tasks

        self.task = task
        self.grid = regular_grid(resolution)
        self.style: dict[str, Any] | None = None  # regression colouring of the latest run
        self.config_kwargs = dict(config_kwargs or {})
        self.num_threads = num_threads
        self.records: list[Any] = []
        self.trainer: Any = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[Any], Any]] = []
        self._lock = threading.Lock()
        self.gif_path = gif_path
        self.max_frames = int(max_frames)
        self.history: Any = None
        self.test_metrics: dict[str, float] | None = None
        self._previous: tuple[list, list, list] | None = None
        self._look: dict[str, Any] = self._task_look(task)

        options: list[tuple[str, str]] = [(t, t) for t in list_tasks()]
        options += [(f"{f} ({get_field(f).units})", f"field:{f}") for f in list_fields()]
        # a Task object (e.g. from_csv) is one more choice, under its name
        self._custom_task = None if isinstance(task, str) else task
        key = task if isinstance(task, str) else f"custom:{getattr(task, 'name', 'task')}"
        if key not in [v for _, v in options]:
            options.append((key.split(":", 1)[1] if key.startswith("custom:") else key, key))
        self.task_select = w.Dropdown(options=options, value=key, description="task")
        self.task_select.observe(self._on_task, names="value")
        self.pe = w.Dropdown(options=list(list_positional_encodings()), value=pe, description="encoder")
        self.nn = w.Dropdown(options=list(list_networks()), value=nn, description="network")
        self.L = w.IntSlider(value=legendre_polys, min=1, max=60, description="L")
        self.epochs = w.BoundedIntText(value=epochs, min=1, max=100000, description="epochs")
        self.lr = w.FloatLogSlider(value=lr, base=10, min=-5, max=-1, step=0.1, description="lr", readout_format=".1e")
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.speed = w.ToggleButtons(options=list(SPEEDS), value=speed, description="speed")
        self._pacer: Any = None  # the running run's FramePacer
        self.speed.observe(lambda change: self._pacer is not None and self._pacer.set_interval(SPEEDS[change["new"]]),
                           names="value")
        self.status = w.HTML("idle")
        self.map = w.Image(format="png", value=self._blank_png(), layout=w.Layout(width="540px"))
        # regression on a built-in field: the truth beside the prediction (hidden otherwise)
        self.truth_map = w.Image(format="png", value=b"", layout=w.Layout(width="540px", display="none"))
        self.loss_plot = w.Image(format="png", value=_loss_png([], [], []), layout=w.Layout(width="360px"))
        self.replay = w.IntSlider(value=0, min=0, max=0, description="replay", disabled=True,
                                  continuous_update=False)
        self.gif_button = w.Button(description="Save GIF", icon="film", disabled=True,
                                   tooltip=f"write the run as an animated GIF to {gif_path}")
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.gif_button.on_click(lambda _b: self._on_gif())
        self.replay.observe(self._on_replay, names="value")
        self.pe.observe(self._on_pe, names="value")
        self._on_pe({"new": self.pe.value})
        controls = w.VBox([self.task_select, self.pe, self.nn, self.L, self.epochs, self.lr,
                           w.HBox([self.start_button, self.stop_button]), self.speed, self.replay, self.gif_button,
                           self.status])
        self.widget = w.VBox([w.HBox([controls, self.loss_plot]), w.HBox([self.map, self.truth_map],
                                                                          layout=w.Layout(flex_flow="row wrap"))])

    @classmethod
    def from_csv(cls, path: Any, target: str | Sequence[str], *, lon: str | None = None, lat: str | None = None,
                 kind: str | None = None, split: Any = "random", dropna: bool = False, units: str | None = None,
                 **kwargs: Any) -> "LiveTrainer":
        """A LiveTrainer on your own points: :func:`geoviz.data.load_points` reads ``path``
        (CSV, Parquet, GeoJSON, GeoPackage; lon/lat columns detected), and
        :func:`geoviz.data.task_from_points` makes the task.

        Args:
            path: the file.
            target: the column to model.
            lon, lat, dropna: see :func:`~geoviz.data.load_points`.
            kind, split: see :func:`~geoviz.data.task_from_points` (kind inferred by default).
            units: units of a regression target (shown on the colourbar and in the status).
            **kwargs: the other :class:`LiveTrainer` arguments.

        Raises:
            ValueError / FileNotFoundError: the loader's clear errors (missing columns, NaN
                targets, swapped coordinates, ...).
        """
        from pathlib import Path

        from geoviz.data import load_points, task_from_points

        pts = load_points(path, target=target, lon=lon, lat=lat, dropna=dropna)
        names = [pts.target] if isinstance(pts.target, str) else list(pts.target)
        task = task_from_points(pts.lonlat, pts.y, kind=kind, split=split, name=Path(path).name, units=units,
                                target_names=names)
        return cls(task=task, **kwargs)

    def _on_task(self, change: dict) -> None:
        if self.running:  # the run keeps its task; the next Start uses the new one
            return
        new = change["new"]
        self.task = self._custom_task if new.startswith("custom:") else new
        self._look = self._task_look(self.task)
        self.map.value = self._blank_png()
        self.truth_map.layout.display = "none"

    @staticmethod
    def _task_look(task: Any, style: dict[str, Any] | None = None) -> dict[str, Any]:
        """Map colouring of ``task``: kind, classes, coastlines (none over a synthetic task);
        regression: ``style`` (:func:`geoviz.viz.animation.regression_style`: colormap,
        fixed range, colourbar title in units)."""
        from geoviz.viz.animation import FIELD_CMAPS, SYNTHETIC_TASKS

        name = task if isinstance(task, str) else getattr(task, "name", "")
        look = {"coastlines": str(name) not in SYNTHETIC_TASKS, "label": "P(land)", "cmap": None, "clim": None}
        regression = (str(name).startswith("field:") if isinstance(task, str) else task.kind == "regression")
        if regression:
            field = str(name).split(":", 1)[1] if isinstance(task, str) else None
            look.update(kind="continuous", n_classes=None, class_names=None, regression=True,
                        cmap=FIELD_CMAPS.get(field, "viridis"), label=field or "value")
            if style is not None:
                look.update(cmap=style["cmap"], clim=style["clim"], label=style["label"])
            return look
        if isinstance(task, str):
            binary = task != "checkerboard"
            n, names = (None, None) if binary else (16, None)
        else:
            binary = task.kind == "binary"
            n, names = (None, None) if binary else (task.num_classes, task.class_names)
        look.update(kind="continuous" if binary else "categorical", n_classes=n, class_names=names, regression=False)
        return look

    @property
    def _scale(self) -> int:
        """Pixels per grid cell: the map PNG is about 540 px wide (its display width)."""
        return max(2, -(-540 // self.grid.shape[1]))

    def _png(self, values: Any, title: str | None = None) -> bytes:
        lk = self._look
        return _map_png(values, self.grid.shape, lk["kind"], self._scale, coastlines=lk["coastlines"],
                        n_classes=lk["n_classes"], class_names=lk["class_names"], title=title, label=lk["label"],
                        cmap=lk["cmap"], clim=lk["clim"])

    def _blank_png(self) -> bytes:
        return self._png(np.full(self.grid.shape, np.nan), "no run yet")  # light grey: no prediction

    def _static_png(self) -> bytes | None:
        """The current map as PNG, legend included (the static fallback shown in a saved
        notebook); None before a run has drawn one (a blank map would only repeat the live one)."""
        if self.history is None or not len(self.history):
            return None
        return self.map.value or None

    def save_gif(self, path: Any = None, fps: float = 5.0) -> Any:
        """Write the kept maps of the latest run as an animated GIF (legend and epoch on each
        frame); returns the ``Path``. Raises ValueError when no run has recorded a map."""
        from pathlib import Path

        if self.history is None or not len(self.history):
            raise ValueError("no run to save yet: press Start first")
        lk = self._look
        data = self.history.gif(fps=fps, n_classes=lk["n_classes"], class_names=lk["class_names"],
                                coastlines=lk["coastlines"], scale=max(1, -(-360 // self.grid.shape[1])),
                                label=lk["label"], cmap=lk["cmap"])
        out = Path(path if path is not None else self.gif_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return out

    def _on_gif(self) -> None:
        try:
            out = self.save_gif()
            self.status.value = f"GIF written to <code>{out}</code> ({len(self.history)} frames)"
        except Exception as exc:  # shown in the widget
            self.status.value = f"<b style='color:#b00'>GIF failed:</b> {type(exc).__name__}: {exc}"

    def _on_replay(self, change: dict) -> None:
        h = self.history
        if self.running or h is None or not len(h):
            return
        epochs = np.asarray(h.epochs)
        i = int(np.argmin(np.abs(epochs - int(change["new"]))))
        self.map.value = self._png(h.values(i), f"replay: epoch {epochs[i]} of {epochs[-1]}")

    def _on_pe(self, change: dict) -> None:
        self.L.disabled = change["new"] != "sphericalharmonics"
        self.L.style.handle_color = "#bbbbbb" if self.L.disabled else None  # a disabled slider looks disabled

    def on_epoch(self, fn: Callable[[Any], Any]) -> None:
        """Register ``fn(record)`` called from the worker thread after each epoch's widget update."""
        self._callbacks.append(fn)

    @property
    def running(self) -> bool:
        """Whether a training thread is alive."""
        return self.thread is not None and self.thread.is_alive()

    def config(self) -> Any:
        """The :class:`TrainConfig` built from the current control values."""
        from geoviz.training import TrainConfig

        kw = dict(self.config_kwargs)
        pe_kwargs = dict(kw.pop("pe_kwargs", {}))
        if self.pe.value == "sphericalharmonics":
            pe_kwargs["legendre_polys"] = int(self.L.value)
        kw.setdefault("patience", None)
        return TrainConfig(pe=self.pe.value, nn=self.nn.value, pe_kwargs=pe_kwargs, max_epochs=int(self.epochs.value),
                           lr=float(self.lr.value), **kw)

    def start(self) -> None:
        """Start training in a background thread (no-op while a run is in progress)."""
        with self._lock:
            if self.running:
                return
            if self.records:  # the latest run's curves stay, dashed, for comparison
                self._previous = ([r.epoch for r in self.records], [r.train_loss for r in self.records],
                                  [r.val_loss for r in self.records])
            self.records = []
            self.error = None
            self.trainer = None
            self.test_metrics = None
            self.replay.disabled = True
            self.gif_button.disabled = True
            self.start_button.disabled = True
            self.stop_button.disabled = False
            self.status.value = "preparing…"
            self._stop_requested = False
            self.thread = threading.Thread(target=self._work, name="geoviz-LiveTrainer", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        """Ask the run to stop after the current epoch."""
        self._stop_requested = True
        if self.trainer is not None:
            self.trainer.stop()
        if self._pacer is not None:  # no more waiting for the display
            self._pacer.hurry()
        self.status.value = "stopping…"

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker thread to finish (for scripts and tests)."""
        if self.thread is not None:
            self.thread.join(timeout)

    def _work(self) -> None:
        import torch

        from geoviz.data import get_task
        from geoviz.training import Trainer

        old_threads = torch.get_num_threads()
        try:
            if self.num_threads:
                torch.set_num_threads(int(self.num_threads))
            from geoviz.viz.animation import FrameHistory

            from geoviz.viz.animation import regression_style

            task = get_task(self.task) if isinstance(self.task, str) else self.task
            self.style = regression_style(task) if task.kind == "regression" else None
            self._look = self._task_look(task, self.style)
            kind = self._look["kind"]
            self._mask = self._field_mask(task)
            self.map.value = self._blank_png()  # the previous task's map does not stay up
            self._show_truth(task)
            self.history = FrameHistory(self.grid.shape, kind, max_frames=self.max_frames,
                                        clim=self.style["clim"] if self.style else None)
            self.trainer = Trainer(task, self.config(), predict_lonlat=self.grid.lonlat, predict_every=1)
            if self._stop_requested:
                self.trainer.stop()
            self.status.value = "training…"
            from geoviz.viz.pacing import SPEEDS, FramePacer

            self._pacer = FramePacer(SPEEDS[self.speed.value])
            if self._stop_requested:
                self._pacer.hurry()
            # class pace: each map stays up its time (the trainer, pulled lazily, waits meanwhile)
            for batch in self._pacer.paced(self.trainer.run()):
                for rec in batch:
                    self.records.append(rec)
                    self._update(rec, kind)
                    for fn in list(self._callbacks):
                        fn(rec)
            last = self.records[-1] if self.records else None
            if last is not None:
                self.test_metrics = self.trainer.evaluate("test")
                n_test = len(task.test.y)
                m = self.test_metrics
                if self.style is not None:
                    u = f" {self.style['units']}" if self.style["units"] else ""
                    result = f"test R² {m['r2']:.3f}, RMSE {m['rmse']:.4g}{u}"
                else:
                    result = f"test accuracy {100 * m['accuracy']:.1f} %"
                self.status.value = (f"done ({last.stopped}) after {last.epoch} epochs · <b>{result}</b> "
                                     f"on the {n_test:,}-point test set")
            else:
                self.status.value = "done"
            if len(self.history):
                e = self.history.epochs
                self.replay.min, self.replay.max = 0, e[-1]  # min first: max may be below the old min
                self.replay.min, self.replay.value = e[0], e[-1]
                self.replay.disabled = len(e) < 2
                self.gif_button.disabled = False
        except Exception as exc:  # shown in the widget; the notebook keeps running
            self.error = exc
            self.status.value = f"<b style='color:#b00'>error:</b> {type(exc).__name__}: {exc}"
        finally:
            self._pacer = None
            if self.num_threads:
                torch.set_num_threads(old_threads)
            self.start_button.disabled = False
            self.stop_button.disabled = True
            self._refresh_static()  # the saved notebook keeps this run's last map

    def _field_mask(self, task: Any) -> np.ndarray | None:
        """``(H*W,)`` bool: where a land-only built-in field has a value on the map grid (None
        for other tasks): predictions elsewhere are drawn grey."""
        meta = task.meta or {}
        if task.kind != "regression" or not meta.get("land_only") or not meta.get("field"):
            return None
        from geoviz.data import get_field

        return np.isfinite(get_field(meta["field"]).sample(self.grid.lonlat))

    def _show_truth(self, task: Any) -> None:
        """A built-in field's truth on the map grid, beside the prediction (same colours)."""
        meta = task.meta or {}
        if task.kind != "regression" or not meta.get("field"):
            self.truth_map.layout.display = "none"
            return
        from geoviz.data import get_field

        truth = get_field(meta["field"]).sample(self.grid.lonlat)
        self.truth_map.value = self._png(truth, f"truth: {meta['field']}")
        self.truth_map.layout.display = None

    def _update(self, rec: Any, kind: str) -> None:
        if rec.prediction is not None and getattr(self, "_mask", None) is not None:
            rec.prediction = np.where(self._mask, np.asarray(rec.prediction, dtype=np.float64).reshape(-1), np.nan)
        if rec.prediction is not None:
            self.history.add(rec.epoch, rec.prediction)
            self.map.value = self._png(rec.prediction, f"prediction, epoch {rec.epoch}")
        ep = [r.epoch for r in self.records]
        self.loss_plot.value = _loss_png(ep, [r.train_loss for r in self.records], [r.val_loss for r in self.records],
                                         previous=self._previous)
        if self.style is not None:
            u = f" {self.style['units']}" if self.style["units"] else ""
            vm = rec.val_metrics
            metrics = (f"R² {vm.get('r2', float('nan')):.3f}, RMSE {vm.get('rmse', float('nan')):.4g}{u}, "
                       f"MAE {vm.get('mae', float('nan')):.4g}{u}")
        else:
            metrics = ", ".join(f"{k} {100 * v:.1f} %" if k == "accuracy" else f"{k} {v:.3f}"
                                for k, v in rec.val_metrics.items())
        self.status.value = (f"epoch {rec.epoch}/{self.epochs.value} · train {rec.train_loss:.4f} · "
                             f"val {rec.val_loss:.4f} · {metrics} · {rec.elapsed:.1f} s")


def _mercator_rows(img: np.ndarray, max_lat: float = 85.0511287798) -> np.ndarray:
    """Resample a global equirectangular image (rows north→south) to Web-Mercator rows."""
    H = img.shape[0]
    y = np.linspace(1.0, -1.0, H, endpoint=False) - 1.0 / H  # row centres in mercator units (±pi scaled to ±1)
    lat = np.degrees(np.arctan(np.sinh(y * np.pi)))
    rows = np.clip(((90.0 - lat) * (H / 180.0)).astype(np.int64), 0, H - 1)
    return img[rows]


def _marker_icon_html(rank: int) -> str:
    """A numbered yellow disc (HTML for an ipyleaflet ``DivIcon``)."""
    return (f'<div style="width:18px;height:18px;border-radius:9px;background:#ffd400;border:1px solid #000;'
            f'font:bold 11px/18px sans-serif;text-align:center;color:#000">{rank}</div>')


def _similarity_colorbar_png(lo: float, hi: float, cmap: str = render.SEQUENTIAL_CMAP, width: float = 4.2) -> bytes:
    """PNG of a horizontal colour bar (``width`` inches at 100 px per inch) for cosine similarity
    from ``lo`` to ``hi``, both ends labelled (:func:`geoviz.render.colorbar_image`)."""
    return render.png_bytes(render.colorbar_image(int(round(width * 100)), cmap=cmap, clim=(lo, hi),
                                                  label="cosine similarity to the query"))


class EmbeddingExplorer(_Displayable):
    """An ipyleaflet map of location embeddings with click-to-find-similar-places.

    Shows the PCA→RGB image of the embeddings (:func:`geoviz.analysis.pca_rgb`) as an
    ``ImageOverlay`` (PNG data URL) with coastlines. A click on the map, or a typed lon/lat
    and *Find similar*, places numbered markers at the ``k`` most similar grid locations at
    least ``min_distance_km`` away from the query and from each other
    (:meth:`geoviz.analysis.SimilarityIndex.query`; by default 1,000 km: far-away
    look-alikes rather than the query's neighbours) and lists them with their great-circle
    distance. *Similarity* switches the map to the cosine-similarity heat map of the last
    query, with a colour bar. Sliders act on release. Hits lie beyond the distance limit plus
    a margin (max(10 % of it, 2 grid cells)) unless too few do (those are starred), and on
    land only while *land only* is ticked; a note says what the model can and cannot tell
    apart (:func:`geoviz.pretrained.lookalike_note`) and one what the PCA colours mean.

    Args:
        model: a location encoder; its embeddings are computed on a grid with
            :func:`geoviz.embed.embed_grid` (``spacing`` degrees, cached on disk).
        grid: instead of ``model``: an :class:`geoviz.embed.EmbeddingGrid` (anything with
            ``lonlat`` (H*W, 2), ``shape`` (H, W), ``embeddings`` (H*W, D)).
        embeddings, shape: instead of both: ``(H*W, D)`` embeddings of
            ``geoviz.data.regular_grid(shape=shape)`` cell centres.
        k: number of similar locations per query (1–50).
        min_distance_km: minimum great-circle distance (km) of the hits from the query and
            from each other (0 = the plain top-k; the query's own cell is never a hit).
        basemap: None (default: no tiles, plate-carrée CRS, fully offline) or an ipyleaflet
            basemap / TileLayer (needs the internet; the map switches to Web Mercator and the
            overlay is resampled to it).
        spacing: grid spacing for ``model`` (default: embed_grid's choice).
        land_only: start with *land only* ticked (hits on land, Natural Earth 1:110m);
            ``None`` (default): ticked for a model learnt from images, or a ``grid`` embedded
            from one (:func:`geoviz.pretrained.is_image_derived`: SatCLIP, GeoCLIP, the Blue
            Marble models), unticked otherwise and for ``embeddings=``.

    Attributes:
        widget: ``ipywidgets.VBox`` (controls, map, colour bar, result list); ``map``: the
        ``ipyleaflet.Map``; ``index``: the SimilarityIndex; ``rgb``: ``(H*W, 3)`` PCA colours;
        ``last_result``: the last :class:`QueryResult` (or None); ``last_query``: its (lon, lat);
        ``similarity``: its ``(H*W,)`` similarity map; controls ``k_slider``, ``min_km``,
        ``lon_text``, ``lat_text``, ``find_button``, ``view``, ``land_only``; ``note``
        (what the model can tell apart) and ``map_note`` (what the colours mean).
    """

    _alt = "geoviz.analysis.SimilarityIndex / pca_rgb with geoviz.viz.flat_map"
    _extra = " and ipyleaflet"

    def __init__(self, model: Any = None, *, grid: Any = None, embeddings: Any = None, shape: Sequence[int] | None = None,
                 k: int = 5, min_distance_km: float = 1000.0, basemap: Any = None, spacing: float | None = None,
                 center: tuple[float, float] = (20.0, 0.0), zoom: int = 1, land_only: bool | None = None) -> None:
        import html
        from types import SimpleNamespace

        w = _require("ipywidgets", "EmbeddingExplorer")
        L = _require("ipyleaflet", "EmbeddingExplorer")
        from geoviz.analysis import PCA_RGB_EXPLANATION, SimilarityIndex, pca_rgb
        from geoviz.pretrained import is_image_derived, lookalike_note

        if sum(x is not None for x in (model, grid, embeddings)) != 1:
            raise ValueError("pass exactly one of model=, grid= or embeddings= (with shape=)")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 50:
            raise ValueError(f"k must be an int in [1, 50], got {k!r}")
        if isinstance(min_distance_km, bool) or not isinstance(min_distance_km, (int, float, np.integer, np.floating)) \
                or not (np.isfinite(min_distance_km) and 0 <= min_distance_km <= 20_000):
            raise ValueError(f"min_distance_km must be a number of km in [0, 20000], got {min_distance_km!r}")
        if land_only is not None and not isinstance(land_only, (bool, np.bool_)):
            raise TypeError(f"land_only must be True, False or None (automatic), got {type(land_only).__name__}")
        land_default = bool(land_only) if land_only is not None else is_image_derived(model if model is not None
                                                                                        else grid)
        if model is not None:
            from geoviz.embed import embed_grid

            grid = embed_grid(model, spacing)
        if grid is not None:
            lonlat, shp, emb = np.asarray(grid.lonlat), tuple(grid.shape), grid.embeddings
        else:
            if shape is None:
                raise ValueError("embeddings= needs shape=(H, W) of the regular grid they were computed on")
            from geoviz.data import regular_grid

            g = regular_grid(shape=tuple(int(s) for s in shape))
            lonlat, shp, emb = g.lonlat, g.shape, embeddings
        emb = emb.detach().cpu().numpy() if hasattr(emb, "detach") else np.asarray(emb)
        if emb.ndim != 2 or emb.shape[0] != shp[0] * shp[1]:
            raise ValueError(f"embeddings must be (H*W, D) = ({shp[0] * shp[1]}, D), got {emb.shape}")
        self.lonlat, self.shape = lonlat, (int(shp[0]), int(shp[1]))
        # as a grid (the tab's cell look-up and cell size) when the rows are a standard regular grid
        self.index = SimilarityIndex(SimpleNamespace(embeddings=emb, lonlat=lonlat, shape=self.shape), model=model)
        self.rgb = pca_rgb(emb)
        self.last_result: Any = None
        self.last_query: tuple[float, float] | None = None
        self.similarity: np.ndarray | None = None
        self._callbacks: list[Callable[[Any], Any]] = []
        self._mercator = basemap is not None

        img = self._rgb_image()
        if basemap is None:
            self.map = L.Map(center=center, zoom=zoom, layers=(), crs=L.projections.EPSG4326, scroll_wheel_zoom=True,
                             world_copy_jump=False, attribution_control=False)
            bounds = ((-90.0, -180.0), (90.0, 180.0))
        else:
            self.map = L.Map(center=center, zoom=max(zoom, 1), basemap=basemap, scroll_wheel_zoom=True)
            bounds = ((-85.0511287798, -180.0), (85.0511287798, 180.0))
        self.overlay = L.ImageOverlay(url=self._overlay_url(img), bounds=bounds, name="PCA RGB",
                                      opacity=0.9 if basemap else 1.0)
        self.map.add(self.overlay)
        coast = [[[float(la), float(lo)] for lo, la in p] for p in render.coastline_paths(simplify=0.2)]
        self.coastlines = L.Polyline(locations=coast, color="black", weight=1, fill=False, name="coastlines")
        self.map.add(self.coastlines)
        self.markers = L.LayerGroup(name="similar")
        self.map.add(self.markers)

        self.k_slider = w.IntSlider(value=int(k), min=1, max=max(20, int(k)), description="top-k",
                                    continuous_update=False)
        self.min_km = w.IntSlider(value=int(round(min_distance_km)), min=0, max=max(5000, int(min_distance_km)),
                                  step=250, description="≥ km apart", continuous_update=False,
                                  tooltip="far-away look-alikes: hits at least this far from the query and each other",
                                  style={"description_width": "75px"})
        self.lon_text = w.Text(placeholder="lon °E", description="lon", layout=w.Layout(width="140px"),
                               style={"description_width": "30px"})
        self.lat_text = w.Text(placeholder="lat °N", description="lat", layout=w.Layout(width="140px"),
                               style={"description_width": "30px"})
        self.find_button = w.Button(description="Find similar", layout=w.Layout(width="110px"))
        self.land_only = w.Checkbox(value=land_default, description="land only", indent=False,
                                    tooltip="hits on land only (Natural Earth 1:110m)", layout=w.Layout(width="110px"))
        self.note = w.HTML(f"<div style='font-size:12px;color:#333;max-width:720px'>"
                           f"{html.escape(lookalike_note(model if model is not None else grid))}</div>")
        self._pca_note = PCA_RGB_EXPLANATION
        self.map_note = w.HTML(f"<div style='font-size:12px;color:#333;max-width:720px'>"
                               f"{html.escape(PCA_RGB_EXPLANATION)}</div>")
        self.view = w.ToggleButtons(options=["PCA-RGB", "Similarity"], value="PCA-RGB",
                                    style={"button_width": "90px"})
        # fixed width (the PNG's 420 px): an Image without one is stretched to the page width
        self.colorbar = w.Image(format="png", width=420, layout=w.Layout(display="none", width="420px"))
        self.results = w.HTML("click the map (or type a lon/lat) to find the most similar far-away locations")
        self.map.on_interaction(self._on_interaction)
        self.k_slider.observe(self._requery, "value")
        self.min_km.observe(self._requery, "value")
        self.land_only.observe(self._requery, "value")
        self.find_button.on_click(self._on_find)
        self.view.observe(lambda change: self._show_view(), "value")
        controls = w.HBox([self.k_slider, self.min_km, self.land_only])
        typed = w.HBox([self.lon_text, self.lat_text, self.find_button, self.view])
        self.widget = w.VBox([controls, typed, self.map, self.map_note, self.colorbar, self.results, self.note])

    @property
    def k(self) -> int:
        """Number of hits per query (the top-k slider)."""
        return int(self.k_slider.value)

    @k.setter
    def k(self, value: int) -> None:
        self.k_slider.value = int(value)

    # ------------------------------------------------------------------ images

    def _rgb_image(self) -> np.ndarray:
        return render.grid_rgb(self.rgb, self.shape, "rgb")

    def _overlay_url(self, img: np.ndarray) -> str:
        return png_data_url(_mercator_rows(img) if self._mercator else img)

    def _sim_clim(self) -> tuple[float, float]:
        s = self.similarity
        lo, hi = float(np.percentile(s, 1.0)), float(s.max())
        return lo, hi if hi > lo else lo + 1e-6

    def _sim_image(self) -> np.ndarray:
        return render.grid_rgb(self.similarity.reshape(self.shape), cmap=render.SEQUENTIAL_CMAP, clim=self._sim_clim())

    def _show_view(self) -> None:
        import html

        sim = self.view.value == "Similarity" and self.similarity is not None
        self.overlay.url = self._overlay_url(self._sim_image() if sim else self._rgb_image())
        self.overlay.name = "cosine similarity" if sim else "PCA RGB"
        text = ("Colours: cosine similarity of every cell's embedding to the query's (colour bar below); "
                "yellow = most similar.") if sim else self._pca_note
        self.map_note.value = f"<div style='font-size:12px;color:#333;max-width:720px'>{html.escape(text)}</div>"
        if sim:
            self.colorbar.value = _similarity_colorbar_png(*self._sim_clim())
        self.colorbar.layout.display = None if sim else "none"

    def _static_png(self) -> bytes | None:
        """The PCA-RGB map (720 px wide, coastlines) with the last query marked: a red cross at
        the query and numbered yellow discs at its hits (the saved notebook's static image)."""
        from PIL import Image, ImageDraw, ImageFont

        img = Image.fromarray(render.draw_coastlines(render.resize_nearest(self._rgb_image(), 360, 720)), mode="RGB")
        if self.last_result is not None and self.last_query is not None:
            d = ImageDraw.Draw(img)
            try:
                font = ImageFont.load_default(size=11)
            except TypeError:  # Pillow < 10.1
                font = ImageFont.load_default()

            def xy(lon: float, lat: float) -> tuple[float, float]:
                return (lon + 180.0) * 2.0, (90.0 - lat) * 2.0

            for rank, (lon, lat) in enumerate(self.last_result.lonlat, start=1):
                x, y = xy(float(lon), float(lat))
                d.ellipse((x - 8, y - 8, x + 8, y + 8), fill=(255, 212, 0), outline=(0, 0, 0))
                d.text((x, y), str(rank), fill=(0, 0, 0), font=font, anchor="mm")
            x, y = xy(*self.last_query)
            d.line((x - 6, y - 6, x + 6, y + 6), fill=(220, 0, 0), width=3)
            d.line((x - 6, y + 6, x + 6, y - 6), fill=(220, 0, 0), width=3)
        return render.png_bytes(img)

    # ------------------------------------------------------------------ queries

    def on_query(self, fn: Callable[[Any], Any]) -> None:
        """Register ``fn(result)`` called after every query (a QueryResult)."""
        self._callbacks.append(fn)

    def _on_interaction(self, **kw: Any) -> None:
        if kw.get("type") != "click" or "coordinates" not in kw:
            return
        lat, lon = kw["coordinates"]  # Leaflet sends [lat, lon]
        self.query(float(lon), float(lat))

    def _requery(self, change: Any = None) -> None:
        if self.last_query is not None:
            self.query(*self.last_query)

    def _on_find(self, button: Any = None) -> Any:
        """Query the typed lon/lat; an unreadable or out-of-range value is reported in the list."""
        try:
            lon, lat = float(self.lon_text.value.strip()), float(self.lat_text.value.strip())
        except ValueError:
            self.results.value = (f"<b style='color:#b00'>Type a longitude and a latitude in degrees (numbers), got "
                                  f"{self.lon_text.value!r} and {self.lat_text.value!r}.</b>")
            return None
        if not (np.isfinite(lon) and -180.0 <= lon <= 180.0 and np.isfinite(lat) and -90.0 <= lat <= 90.0):
            self.results.value = (f"<b style='color:#b00'>lon must be in [-180, 180] and lat in [-90, 90] degrees, "
                                  f"got {lon:g}, {lat:g}.</b>")
            return None
        return self.query(lon, lat)

    def query(self, lon: float, lat: float) -> Any:
        """Find the ``k`` locations most similar to ``(lon, lat)`` degrees at least ``min_km``
        away from it and from each other; mark them (numbered) and list them.

        Returns:
            :class:`geoviz.analysis.QueryResult` (``lonlat`` (k, 2), ``similarity`` (k,),
            ``distance_km`` (k,)).
        """
        import ipyleaflet as L

        lon = (float(lon) + 180.0) % 360.0 - 180.0
        lat = float(np.clip(lat, -90.0, 90.0))
        km = float(self.min_km.value)
        res = self.index.query(lonlat=np.array([lon, lat]), k=self.k, min_distance_km=km, min_separation_km=km,
                               land_only=bool(self.land_only.value))
        self.last_result, self.last_query = res, (lon, lat)
        self.similarity = self.index.similarity_map(lonlat=np.array([lon, lat]))
        layers = [L.CircleMarker(location=(lat, lon), radius=7, color="white", fill_color="red", fill_opacity=1.0,
                                 weight=2, name="query")]
        for rank, ((plon, plat), d, s) in enumerate(zip(res.lonlat, res.distance_km, res.similarity), start=1):
            icon = L.DivIcon(html=_marker_icon_html(rank), icon_size=[20, 20], icon_anchor=[10, 10])
            layers.append(L.Marker(location=(float(plat), float(plon)), icon=icon, draggable=False,
                                   title=f"#{rank}: cos {s:.3f}, {d:,.0f} km", name=f"#{rank}"))
        self.markers.clear()
        for layer in layers:
            self.markers.add(layer)
        td = "<td style='padding:1px 8px;text-align:right'>"
        band = res.in_margin if res.in_margin is not None else np.zeros(len(res.index), dtype=bool)
        rows = "".join(f"<tr>{td}{i}{' *' if b else ''}</td>{td}{plon:.2f}</td>{td}{plat:.2f}</td>{td}{d:,.0f}</td>"
                       f"{td}{s:.3f}</td></tr>"
                       for i, ((plon, plat), d, s, b) in enumerate(zip(res.lonlat, res.distance_km, res.similarity,
                                                                       band), start=1))
        where = (f"at least {km + res.margin_km:,.0f} km from the query (the {km:,.0f} km limit plus a "
                 f"{res.margin_km:,.0f} km margin) and {km:,.0f} km from each other" if km else "any distance")
        if self.land_only.value:
            where += ", on land only"
        more = f"; only {len(res.index)} qualify" if len(res.index) < self.k else ""
        if band.any():
            more += f"; * inside the margin: too few qualify beyond {km + res.margin_km:,.0f} km"
        self.results.value = (f"<b>query</b> lon {lon:.2f}, lat {lat:.2f} — most similar locations ({where}{more})"
                              f"<table class='geoviz-results'><tr><th>#</th><th>lon</th><th>lat</th>"
                              f"<th>distance (km)</th><th>cosine</th></tr>{rows}</table>")
        if self.view.value == "Similarity":
            self._show_view()
        self._refresh_static()  # the saved notebook keeps this query's map
        for fn in list(self._callbacks):
            fn(res)
        return res
