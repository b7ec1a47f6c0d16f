"""Live training tab: pick a task, encoder and hyperparameters, train, watch the map change.

Training runs in a child process per run (:class:`geoviz.training.process.TrainingProcess`,
one torch thread), so the training loop never competes with the server for the GIL: the
event loop only receives finished epochs and stays responsive for every other session.
The display is paced by a :class:`geoviz.viz.pacing.FramePacer` (the *Speed* toggle): at
*class pace* (the default) the child sends a map every epoch and each map stays up at least
``frame_seconds`` (0.2 s), the records waiting in a buffer while the child runs ahead, so a
class sees the field form over a 50-epoch run in about 10 s; *fast* draws the newest map of
whatever has arrived, the child's maps rate-limited to one every ``min_frame_interval``
seconds (the first and the last epoch always carry one). The loss and accuracy curves and the
status line follow the displayed map. Stop shows the end of the run at once.

Choosing another task clears the status line, the curves, the previous run and the replay:
a previous run is kept (small map, dashed curves) only when the next run is of the same task
and metric. Titles use human task names (:func:`geoviz.viz.animation.task_title`).

Every map frame of a run is kept (:class:`geoviz.viz.animation.FrameHistory`, at most
``max_replay_frames`` maps, spread over the run) for the epoch scrubber and the GIF
download; the previous run stays visible for comparison (a small map and dashed curves);
the final weights are evaluated on the task's test split (51,156 points for landocean).

Besides the classification tasks the selector offers the built-in global fields
(``field:temperature`` …, regression, labelled with their units) and an uploaded CSV file
(``Upload CSV…``: at most :data:`MAX_UPLOAD_BYTES`, read by :func:`geoviz.data.load_points`
from a ``tempfile.TemporaryDirectory`` that is removed at once; the target column is chosen
from the file's columns). Regression maps are drawn in the target's units with a fixed colour
range (the truth's 1st–99th percentiles) and the truth beside the prediction; cells where a
land-only field has no value are grey; the curves show R² and the status R²/RMSE in units.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import numpy as np

from geoviz.training.process import device_label
from geoviz.viz import GridField, render_globe
from geoviz.viz.animation import SYNTHETIC_TASKS, task_title
from geoviz.viz.colors import PLAND_CMAP
from geoviz.viz.pacing import CLASS_PACE, SPEEDS, FramePacer

from . import views
from .views import batched_updates

__all__ = ["TrainingTab", "map_resolution", "device_label", "task_options", "upload_task", "MAX_UPLOAD_BYTES",
           "SYNTHETIC_TASKS"]

_MAP_FEATURE_BUDGET = 64e6  # bytes of cached PE features for the map grid
UPLOAD = "upload"  # the task selector's value for "Upload CSV…"
MAX_UPLOAD_BYTES = 10 * 2**20
"""Largest CSV the tab accepts (10 MiB: the browser sends it base64-encoded in one websocket
message, and Bokeh's default limit for a message is 20 MiB)."""
_TRUTH_RES = 1.0  # degrees of the ground-truth map
_MAX_TRAIN_POINTS = 5000  # training points drawn on the map (a random subset beyond)
_GIF_FRAMES = 60  # frames in the downloadable GIF (evenly spread over the kept ones)
_BLANK_GREY = (200, 200, 200, 255)

# stylesheets (inline: nothing is fetched from a CDN)
_DISABLED_SLIDER_CSS = """
:host(.geoviz-disabled) { opacity: 0.45; }
:host(.geoviz-disabled) .noUi-connect { background: #999 !important; }
"""
_STATUS_CSS = ":host { min-height: 56px; }"


def task_options() -> dict[str, str]:
    """The task selector's ``{label: value}`` with human labels: the classification tasks
    (``"Land–ocean": "landocean"``), the built-in fields (``"Temperature (°C)":
    "field:temperature"``, …; no field data is loaded) and ``"Upload CSV…"``."""
    from geoviz.data import get_field, list_fields, list_tasks

    opts = {task_title(name): name for name in list_tasks()}
    for name in list_fields():
        opts[task_title(f"field:{name}", get_field(name).units)] = f"field:{name}"
    opts["Upload CSV…"] = UPLOAD
    return opts


def upload_task(data: bytes, filename: str, target: str | None, *,
                max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[Any, list[str], str]:
    """A task from an uploaded CSV file's bytes (what the *Upload CSV…* choice trains on).

    The bytes are written to a ``tempfile.TemporaryDirectory`` (removed before returning) and
    read by :func:`geoviz.data.load_points`; :func:`geoviz.data.task_from_points` makes the
    task (kind inferred from the target; seeded random split).

    Args:
        data: the file's content.
        filename: its name (only the extension and a label are used; no path is kept).
        target: the column to model; ``None``: the first column that is not a coordinate,
            preferring numeric ones.
        max_bytes: size limit.

    Returns:
        ``(task, columns, target)``: the :class:`geoviz.data.Task` (``name``
        ``"upload:<filename>"``), the file's non-coordinate columns (choices for the target)
        and the target column used.

    Raises:
        ValueError: empty or too large file, not a ``.csv``, no lon/lat columns, and every
            problem :func:`~geoviz.data.load_points` / :func:`~geoviz.data.task_from_points`
            reports (missing columns, NaN targets, swapped coordinates, one class, ...).
    """
    import os
    import tempfile

    from geoviz.data import load_points, task_from_points

    if not data:
        raise ValueError("The uploaded file is empty.")
    if len(data) > max_bytes:
        raise ValueError(f"The file is {len(data) / 2**20:.1f} MiB; the dashboard accepts CSV files up to "
                         f"{max_bytes / 2**20:.0f} MiB (use `geoviz fit FILE` for larger ones).")
    base = os.path.basename(str(filename or "upload.csv")).strip() or "upload.csv"
    if not base.lower().endswith(".csv"):
        raise ValueError(f"{base!r} is not a .csv file; the dashboard reads CSV uploads (lon, lat and a target column).")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)
    with tempfile.TemporaryDirectory(prefix="geoviz-upload-") as tmp:
        path = os.path.join(tmp, safe)
        with open(path, "wb") as f:
            f.write(data)
        try:
            head = load_points(path)  # columns, coordinate detection, coordinate checks
            lon_c, lat_c = head.lon_col, head.lat_col
            columns = [str(c) for c in head.frame.columns if c not in (lon_c, lat_c)]
            if not columns:
                raise ValueError(f"no column besides the coordinates ({lon_c!r}, {lat_c!r}) to model")
            if target is None or target not in columns:
                numeric = [c for c in columns if head.frame[c].dtype.kind in "fiu"]
                target = (numeric or columns)[0]
            pts = load_points(path, target=target, lon=lon_c, lat=lat_c)
            task = task_from_points(pts.lonlat, pts.y, name=f"upload:{base}", target_names=[str(target)])
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            # the message names the file the user chose, not the temporary copy
            msg = str(exc).replace(f"{path}: ", "").replace(path, base)
            for c in ("lon", "lat"):  # the loader's hint names command-line options
                msg = msg.replace(f"name it with --{c} / {c}=", f"rename the column to {c}")
            raise ValueError(msg) from None
    return task, columns, str(target)


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
        max_replay_frames: map frames kept per run for replay and GIF export (bounded memory:
            a 1° map is 64 KB).
        frame_seconds: seconds each map stays up at *class pace* (the Speed toggle's default).
        max_backlog: maps waiting for display at class pace before the oldest are skipped
            (bounds memory and the display's lag behind a long run).

    Attributes:
        records: every :class:`geoviz.training.EpochRecord` of the latest run.
        frames: number of map frames drawn in the latest run.
        last_prediction: ``(H*W,)`` latest map prediction (probabilities or classes), or None.
        history: :class:`geoviz.viz.animation.FrameHistory` of the latest run's maps (or None).
        previous: ``{"label", "history", "records", "key"}`` of the run shown as the previous
            one (same task and metric as the latest), or None.
        speed: the *Speed* toggle (``"class pace"`` or ``"fast"``); ``pacer`` the running
            run's :class:`geoviz.viz.pacing.FramePacer` (None when idle).
        test_metrics: the latest finished run's ``{"loss", "accuracy", ...}`` on the test split.
        gif: bytes of the latest run's GIF (made when the run ends), or None.
        error: the message shown for bad input, or ``""``.
        layout: the Panel object of the tab.
    """

    def __init__(self, *, device: str = "auto", globe_size: int = 300, min_frame_interval: float = 0.5,
                 dtype: str = "float32", defer_plots: bool = False, max_replay_frames: int = 120,
                 frame_seconds: float = CLASS_PACE, max_backlog: int = 60) -> None:
        import panel as pn

        from .views import ensure_extension

        ensure_extension()

        import geoviz
        from geoviz.viz import Globe, GridField

        self.device = device
        self.dtype = dtype
        self.globe_size = int(globe_size)
        self.min_frame_interval = float(min_frame_interval)
        self.frame_seconds = float(frame_seconds)
        self.max_backlog = int(max_backlog)
        self.pacer: FramePacer | None = None
        self.records: list[Any] = []
        self.frames = 0
        self.last_prediction: np.ndarray | None = None
        self.error = ""
        self.running = False
        self.process: Any = None  # the running geoviz.training.process.TrainingProcess
        self._stop_requested = threading.Event()
        self._closed = False
        self._flat = self._blank_flat()
        self.max_replay_frames = int(max_replay_frames)
        self.history: Any = None
        self.previous: dict[str, Any] | None = None
        self.test_metrics: dict[str, float] | None = None
        self.gif: bytes | None = None
        self._run_label = ""
        self._run_config = ""
        self._run_task: Any = None
        self._run_task_name = ""
        self._flat_title = "Prediction (flat, equirectangular)"
        self._task_cache: dict[str, Any] = {}
        self._layers: dict[str, Any] = {}  # task name -> (truth rgba, train lonlat, train colours)
        self._styles: dict[str, dict[str, Any]] = {}  # regression task name -> views.regression_style
        self._masks: dict[tuple[str, tuple[int, int]], Any] = {}  # (field task, grid shape) -> defined cells
        self._run_style: dict[str, Any] | None = None
        self._upload_task: Any = None
        self._upload_data: tuple[bytes, str] | None = None

        self.task = pn.widgets.Select(label="Task", options=task_options(), value="landocean")
        # "Upload CSV…": the file (read in memory / a temporary folder) and its target column
        self.upload = pn.widgets.FileInput(accept=".csv", multiple=False, visible=False, sizing_mode="stretch_width")
        self.target = pn.widgets.Select(label="Target column", options=[], visible=False)
        self.upload_note = pn.pane.Markdown(
            f"CSV with lon/lat columns and a target column, at most {MAX_UPLOAD_BYTES // 2**20} MiB.",
            visible=False, margin=(0, 10))
        self.pe = pn.widgets.Select(label="Positional encoding", options=geoviz.list_positional_encodings(),
                                    value="sphericalharmonics")
        self.nn = pn.widgets.Select(label="Network", options=geoviz.list_networks(), value="siren")
        self.legendre_polys = pn.widgets.IntSlider(label="L (Legendre polynomials)", start=1, end=40, value=10,
                                                   tooltips=False, stylesheets=[_DISABLED_SLIDER_CSS])
        self.hidden_dim = pn.widgets.Select(label="Hidden size", options=[16, 32, 64, 128, 256], value=64)
        self.epochs = pn.widgets.IntInput(label="Epochs", value=50, start=1, end=5000)
        self.lr = pn.widgets.FloatInput(label="Learning rate", value=1e-3, step=1e-4, format="0.00000")
        self.speed = pn.widgets.RadioButtonGroup(label="Speed", options=list(SPEEDS), value="class pace")
        self.start_button = pn.widgets.Button(label="Start", color="primary")
        self.stop_button = pn.widgets.Button(label="Stop", disabled=True)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, margin=(0, 10),
                                     sizing_mode="stretch_width")
        self.status = pn.pane.Markdown(f"Idle. Training will run on **{device_label(device)}**.",
                                       sizing_mode="stretch_width", margin=(0, 10))
        # what the flat map shows, training points on it, replay of a finished run, GIF of it
        self.map_mode = pn.widgets.RadioButtonGroup(label="Map shows", options=["prediction", "ground truth"],
                                                    value="prediction")
        self.show_points = pn.widgets.Checkbox(label="Show training points", value=False)
        self.replay = pn.widgets.IntSlider(label="Replay epoch (after a run)", start=0, end=1, value=0,
                                           disabled=True, tooltips=False, stylesheets=[_DISABLED_SLIDER_CSS],
                                           css_classes=["geoviz-disabled"])
        self.gif_download = pn.widgets.FileDownload(label="Download the run as GIF", filename="geoviz_run.gif",
                                                    disabled=True, embed=False,
                                                    auto=True, callback=self._gif_file)

        # grey until a run draws its first map (as the flat map)
        self.globe = Globe(GridField(self._flat[..., :3], kind="rgb"), size=self.globe_size, lon0=10.0, lat0=20.0)
        self.lon0 = pn.widgets.FloatSlider.from_param(self.globe.param.lon0, label="Globe longitude", step=5,
                                                      tooltips=False)
        self.lat0 = pn.widgets.FloatSlider.from_param(self.globe.param.lat0, label="Globe latitude", step=5,
                                                      tooltips=False)
        # plain Bokeh figures updated in place: a frame costs milliseconds, not a HoloViews re-render.
        # make_figures() makes them; build_steps() puts them and the controls in the page.
        self.flat_view: Any = None
        self.truth_view: Any = None  # regression: the truth beside the prediction
        self.curves: Any = None
        self._globe_figure: Any = None
        self.previous_view: Any = None
        self._figures_lock = threading.Lock()
        # responsive: the flat map and the curves take the width there is; the globe wraps
        # below the map, the curves below each other, on narrow screens
        self.flat_pane = pn.Column(sizing_mode="stretch_width", min_width=340, styles={"flex": "2 1 340px"})
        self.truth_pane = pn.Column(sizing_mode="stretch_width", min_width=340, styles={"flex": "2 1 340px"},
                                    visible=False)
        self.globe_pane = pn.Column(width=310, styles={"flex": "0 0 310px"})
        self.previous_pane = pn.Column(width=310, visible=False)  # shown once there is a previous run
        self.curve_panes = pn.FlexBox(flex_wrap="wrap", sizing_mode="stretch_width", stylesheets=[views.WRAP_ITEMS_CSS])

        self.pe.param.watch(self._sync_enabled, "value")
        self.nn.param.watch(self._sync_enabled, "value")
        self.task.param.watch(self._on_task, "value")
        self.upload.param.watch(self._on_upload, "value")
        self.target.param.watch(self._on_target, "value")
        self.map_mode.param.watch(self._on_map_mode, "value")
        self.show_points.param.watch(self._on_points, "value")
        self.replay.param.watch(self._on_replay, "value_throttled")
        self.speed.param.watch(self._on_speed, "value")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(lambda event: self.stop())
        self._sync_enabled()

        # with defer_plots the controls enter the page in these groups, one per build step
        self._control_groups = [[self.task, self.upload_note, self.upload, self.target, self.pe, self.nn],
                                [self.legendre_polys, self.hidden_dim, self.epochs, self.lr],
                                [pn.Row(self.start_button, self.stop_button),
                                 pn.pane.Markdown(f"**Speed** (class pace: each epoch's map stays up "
                                                  f"{self.frame_seconds:g} s)", margin=(5, 10, 0, 10)),
                                 self.speed, self.lon0, self.lat0],
                                [pn.pane.Markdown("**Map shows**", margin=(5, 10, 0, 10)), self.map_mode,
                                 self.show_points, self.replay, self.gif_download]]
        # one column of control groups beside the plots; stacked above them (narrow screens)
        # the groups flow side by side
        self.controls = pn.FlexBox(flex_wrap="wrap", styles={"flex": "0 0 320px", "width": "320px", "max-width": "320px",
                                                             "align-content": "flex-start"})
        self._group_columns = [pn.Column(width=310) for _ in self._control_groups]
        self.plots = pn.Column(pn.FlexBox(self.flat_pane, self.truth_pane, self.globe_pane, flex_wrap="wrap",
                                          sizing_mode="stretch_width"),
                               self.curve_panes, sizing_mode="stretch_width")
        # the status line and the red alert share a reserved space: an alert replaces the
        # status instead of pushing the maps down
        self.status_area = pn.Column(self.status, self.message, sizing_mode="stretch_width",
                                     stylesheets=[_STATUS_CSS])
        # controls beside the plots on wide screens, above them below 1,200 px (views.RESPONSIVE_CSS)
        self.layout = pn.FlexBox(self.controls, pn.Column(self.status_area, self.plots, sizing_mode="stretch_width",
                                                          styles={"flex": "1 1 600px", "min-width": "0"}),
                                 flex_wrap="nowrap", sizing_mode="stretch_width",
                                 stylesheets=[views.STACK_BELOW_CSS], css_classes=["geoviz-training"])
        if not defer_plots:
            for step in self.build_steps():
                step()

    # ------------------------------------------------------------------ page building

    def make_figures(self) -> None:
        """Make the Bokeh figures (flat map, globe, curves) that are not made yet, without
        putting them in the page (the build steps add them; each step makes its own)."""
        self._make_flat()
        self._make_truth()
        self._make_globe()
        self._make_curves()

    def _make_flat(self) -> None:
        from geoviz.viz import coastline_paths, nan_join
        from geoviz.viz.live import ImageView

        with self._figures_lock:
            if self.flat_view is None:
                self.flat_view = ImageView(self._flat, views.FLAT_BOUNDS, width=620, height=415,
                                           title="Prediction (flat, equirectangular)",
                                           lines={"coastlines": nan_join(coastline_paths())},
                                           line_styles={"coastlines": {"line_width": 0.7}}, points=["train"],
                                           colorbar=views.colorbar_spec("binary"), save_tool=True,
                                           responsive=True)
                self._apply_task_look(self.task.value)

    def _make_truth(self) -> None:
        from geoviz.viz import coastline_paths, nan_join
        from geoviz.viz.live import ImageView

        with self._figures_lock:
            if self.truth_view is None:
                self.truth_view = ImageView(self._blank_flat(), views.FLAT_BOUNDS, width=620, height=415,
                                            title="Truth", lines={"coastlines": nan_join(coastline_paths())},
                                            line_styles={"coastlines": {"line_width": 0.7}}, points=["data"],
                                            colorbar=views.colorbar_spec("binary"), save_tool=True,
                                            responsive=True)

    def _make_globe(self) -> None:
        from geoviz.viz.live import ImageView

        with self._figures_lock:
            if self._globe_figure is None:
                self._globe_figure = self.globe.figure()
            if self.previous_view is None:
                self.previous_view = ImageView(self._blank_flat(), views.FLAT_BOUNDS, width=300, height=180,
                                               title="Previous run", axes=False, responsive=True,
                                               title_font_size="9pt")

    def _make_curves(self) -> None:
        from geoviz.viz.live import CurvesView

        with self._figures_lock:
            if self.curves is None:
                self.curves = CurvesView(width=340, height=230, save_tool=True, responsive=True)
                self.curves.set_metric(self._metric(self.task.value))

    def build_steps(self) -> list[Callable[[], None]]:
        """Callables that each add one small part of the tab to the page: the four control
        groups, the flat map, the globe, the previous run's map, the loss and the accuracy
        figure, and the truth map (shown beside the prediction for regression tasks); each
        does nothing if its part is already there.

        Running them all builds the whole tab; a server runs one per event-loop callback with
        pauses between, so that building one session's page never holds the loop for long (each
        step is a few Bokeh models: their creation and their document patch, 20-50 ms).
        """
        import panel as pn

        def controls(group: list[Any]) -> Callable[[], None]:
            def step() -> None:
                col = self._group_columns[self._control_groups.index(group)]
                if not col.objects:
                    col.objects = list(group)
                    self.controls.append(col)
            step.__name__ = f"controls_{self._control_groups.index(group)}"
            return step

        def flat() -> None:
            if not self.flat_pane.objects:
                self._make_flat()
                self.flat_pane.objects = [pn.pane.Bokeh(self.flat_view.figure)]

        def truth() -> None:
            if not self.truth_pane.objects:
                self._make_truth()
                self.truth_pane.objects = [pn.pane.Bokeh(self.truth_view.figure)]
                self._apply_task_look(self.task.value)

        def globe() -> None:
            if not self.globe_pane.objects:
                self._make_globe()
                self.globe_pane.objects = [
                    pn.pane.Markdown("**Prediction (globe)** — drag to rotate", margin=(0, 10)),
                    pn.pane.Bokeh(self._globe_figure), self.previous_pane]

        def previous() -> None:
            if not self.previous_pane.objects:
                globe()
                self.previous_pane.objects = [pn.pane.Bokeh(self.previous_view.figure, sizing_mode="stretch_width")]

        def curve(fig: Any) -> Any:
            return pn.pane.Bokeh(fig, sizing_mode="stretch_width", min_width=300)

        def loss() -> None:
            if not self.curve_panes.objects:
                self._make_curves()
                self.curve_panes.objects = [curve(self.curves.loss_figure)]

        def accuracy() -> None:
            if len(self.curve_panes.objects) < 2:
                loss()
                self.curve_panes.append(curve(self.curves.accuracy_figure))

        return [*(controls(g) for g in self._control_groups), flat, globe, previous, loss, accuracy, truth]

    def build_plots(self) -> None:
        """Put every part of the tab that is not in the page yet into it (all build steps)."""
        for step in self.build_steps():
            step()

    def _blank_flat(self) -> np.ndarray:
        img = np.zeros((90, 180, 4), np.uint8)
        img[...] = _BLANK_GREY
        return img

    # ------------------------------------------------------------------ widgets

    def _sync_enabled(self, *_: Any) -> None:
        self.legendre_polys.disabled = self.pe.value != "sphericalharmonics"
        # Bokeh draws a disabled slider like an enabled one: a class greys it out
        _set_disabled_look(self.legendre_polys, self.legendre_polys.disabled)
        self.hidden_dim.disabled = self.nn.value == "linear"

    def _apply_task_look(self, task_name: str) -> None:
        """Colour bar and coastlines for ``task_name`` (no coastlines over a synthetic task).
        The task must be loaded (:meth:`_task`) for its class count; until then a task other
        than ``landocean`` is drawn as classes of ``checkerboard``'s 16."""
        if self.flat_view is None:
            return
        task = self._task_cache.get(task_name) if task_name != UPLOAD else self._upload_task
        regression = _is_regression_name(task_name) or (task is not None and task.kind == "regression")
        style = self._styles.get(task_name)
        if regression and style is not None:
            spec = views.colorbar_spec("regression", style=style)
        elif regression:  # not loaded yet: the colour bar waits for the data (grey map meanwhile)
            spec = dict(views.colorbar_spec("binary"), title="loading…", ticks=[], labels={})
        elif task is not None:
            spec = views.colorbar_spec("binary" if task.kind == "binary" else "multiclass", task.num_classes)
        elif task_name == UPLOAD:  # no file yet: no legend to show
            spec = dict(views.colorbar_spec("binary"), title="upload a CSV file", ticks=[], labels={})
        else:
            spec = views.colorbar_spec("binary" if task_name in ("landocean", UPLOAD) else "multiclass", 16)
        self.flat_view.set_colorbar(**spec)
        self.truth_pane.visible = regression
        if self.truth_view is not None:
            self.truth_view.set_colorbar(**spec)
        geographic = task_name not in SYNTHETIC_TASKS
        self.flat_view.set_visible("coastlines", geographic)
        if self.globe.coastlines != geographic:
            self.globe.coastlines = geographic

    def _metric(self, task_name: str) -> str:
        """The curves' metric of selector value ``task_name``: ``"r2"`` (regression) or ``"accuracy"``."""
        task = self._task_cache.get(task_name) if task_name != UPLOAD else self._upload_task
        regression = _is_regression_name(task_name) or (task is not None and task.kind == "regression")
        return "r2" if regression else "accuracy"

    def _clear_run_context(self, task_name: str) -> None:
        """Another task was chosen: nothing of the last run stays up (status line, curves,
        previous run, replay, GIF); the curves get the new task's metric."""
        self.status.object = (f"Ready: **{self._task_label(task_name)}**. Press Start to train on "
                              f"**{device_label(self.device)}**.")
        if self.curves is not None:
            self.curves.reset()
            self.curves.set_metric(self._metric(task_name))
        self.previous = None
        self.previous_pane.visible = False
        self._set_replay(None)
        self.gif_download.disabled = True

    async def _on_task(self, event: Any) -> None:
        """A new task: its legend and coastlines, and the old task's map cleared (not left up),
        with the last run's status, curves, previous run and replay."""
        if self.running:
            return  # the run keeps its task; its end applies the new choice
        self._clear_run_context(event.new)
        self.show_points.value = False
        self.map_mode.value = "prediction"
        upload = event.new == UPLOAD
        for w in (self.upload, self.upload_note):
            w.visible = upload
        self.target.visible = upload and bool(self.target.options)
        self._flat = self._blank_flat()
        blank = await asyncio.to_thread(self._render, None, (90, 180), "binary", None)
        with batched_updates():  # the old task's map leaves the flat map and the globe
            self._install_frame(blank, "Upload a CSV file to train on it" if upload and self._upload_task is None
                                else f"Press Start to train on {self._task_label(event.new)}")
        self._show_error("")
        self._apply_task_look(event.new)
        if upload and self._upload_task is None:
            return
        try:
            # first use builds its data (~0.4 s; a field's grid loads here, not at page load)
            await asyncio.to_thread(self._task, event.new)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            if self.task.value == event.new:
                self._show_error(f"Cannot load {event.new}: {exc}")
            return
        if self.task.value == event.new:
            self._apply_task_look(event.new)
            if self.curves is not None:  # the kind of an upload is known now
                self.curves.set_metric(self._metric(event.new))
            await self._show_truth(event.new)

    async def _show_truth(self, task_name: str) -> None:
        """Regression: the truth map (or the data points of an upload) beside the prediction."""
        task = self._task(task_name)
        if task.kind != "regression" or self.truth_view is None:
            return
        rgba, lonlat, colors = await self._ensure_layers(task_name)
        field = self._styles[task_name].get("field")
        self.truth_view.update(rgba)
        if field is None:  # points: no truth grid, the data themselves
            self.truth_view.set_points("data", lonlat, colors)
            self.truth_view.set_title(f"Data: {len(task.train.y):,} training points ({task_title(task.name)})")
        else:
            self.truth_view.set_points("data", np.zeros((0, 2)), [])
            self.truth_view.set_title(f"Truth: {self._task_label(task_name)}, 1° grid")
        self.truth_view.set_visible("data", field is None)

    async def _on_upload(self, event: Any) -> None:
        """A file was chosen: build its task in a worker thread (errors: the alert line)."""
        if event.new is None:
            return
        self._upload_data = (bytes(event.new), str(self.upload.filename or "upload.csv"))
        self.target.param.update(options=[], visible=False)
        await self._build_upload(None)

    async def _on_target(self, event: Any) -> None:
        if self._upload_data is None or event.new is None or self._building_upload:
            return
        if self._upload_task is not None and self._upload_target == event.new:
            return
        await self._build_upload(event.new)

    _building_upload = False
    _upload_target: str | None = None

    async def _build_upload(self, target: str | None) -> None:
        data, name = self._upload_data
        self._upload_task = None
        self._layers.pop(UPLOAD, None)
        self._styles.pop(UPLOAD, None)
        self._show_error("")
        self.status.object = f"Reading **{name}**…"
        try:
            task, columns, chosen = await asyncio.to_thread(upload_task, data, name, target)
        except (ValueError, TypeError, KeyError, OSError, UnicodeDecodeError) as exc:
            self._show_error(f"Cannot use {name}: {exc}")
            return
        self._upload_task = task
        if task.kind == "regression":
            self._styles[UPLOAD] = views.regression_style(task)
        self._upload_target = chosen
        self._building_upload = True
        try:
            self.target.param.update(options=columns, value=chosen, visible=self.task.value == UPLOAD)
        finally:
            self._building_upload = False
        kind = task.kind if task.kind != "binary" else "binary classification"
        self.status.object = (f"**{name}**: {len(task.train.y) + len(task.val.y) + len(task.test.y):,} points, "
                              f"target **{chosen}** ({kind}). Press Start.")
        if self.task.value == UPLOAD and not self.running:
            self._show_flat(f"Press Start to train on {name}")
            self._apply_task_look(UPLOAD)
            await self._show_truth(UPLOAD)

    def _show_flat(self, title: str | None = None) -> None:
        """Put the flat image the mode asks for on the flat map (prediction or ground truth)."""
        if self.flat_view is None:
            return
        layers = self._layers.get(self.task.value)
        if self.map_mode.value == "ground truth" and layers is not None:
            self.flat_view.update(layers[0])
            self.flat_view.set_title(f"Ground truth: {self._task_label(self.task.value)}")
        else:
            self.flat_view.update(self._flat)
            if title is not None:
                self._flat_title = title
            self.flat_view.set_title(self._flat_title)

    async def _ensure_layers(self, task_name: str) -> Any:
        """The ground-truth image and training points of ``task_name`` (built in a worker thread)."""
        if task_name not in self._layers:
            self._layers[task_name] = await asyncio.to_thread(self._task_layers, task_name)
        return self._layers[task_name]

    def _task(self, name: str) -> Any:
        """The task behind selector value ``name`` (built on first use; the upload's task).
        Regression tasks also get their colour style (:func:`views.regression_style`)."""
        from geoviz.data import get_task

        if name == UPLOAD:
            if self._upload_task is None:
                raise ValueError("upload a CSV file (lon, lat and a target column) first")
            return self._upload_task
        if name not in self._task_cache:
            task = get_task(name)
            if task.kind == "regression":
                self._styles[name] = views.regression_style(task)
            self._task_cache[name] = task
        return self._task_cache[name]

    def _task_label(self, name: str) -> str:
        """Human task name (:func:`task_title`): ``"Land–ocean"``, a field with its units
        (``"Temperature (°C)"``), the uploaded file's name."""
        if name == UPLOAD:
            return task_title(self._upload_task.name) if self._upload_task is not None else "Upload CSV"
        style = self._styles.get(name)
        return task_title(name, style["units"] if style else None)

    def _mask(self, task_name: str, shape: tuple[int, int]) -> Any:
        """Worker thread: ``(H*W,)`` bool, True where a land-only field has a value on the
        ``shape`` map grid (None when every cell has one)."""
        style = self._styles.get(task_name)
        if not style or not style.get("land_only") or not style.get("field"):
            return None
        key = (task_name, tuple(shape))
        if key not in self._masks:
            from geoviz.data import get_field

            values, _, _ = get_field(style["field"]).grid(180.0 / shape[0])
            self._masks[key] = np.isfinite(values).reshape(-1)
        return self._masks[key]

    def _task_layers(self, task_name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Worker thread: ``(truth RGBA at 1°, (N, 2) training lon/lat, N hex colours)``."""
        from geoviz.data import regular_grid
        from geoviz.viz.colors import categorical_palette, colormap_lut, hex_colors

        task = self._task(task_name)
        grid = regular_grid(_TRUTH_RES)
        if task.kind == "regression":
            style = self._styles[task_name]
            meta_grid = task.meta.get("grid")
            if meta_grid is not None and np.asarray(meta_grid[0]).shape == grid.shape:
                rgba = views.regression_rgba(np.asarray(meta_grid[0]).reshape(-1), grid.shape, style)
            else:  # points: no truth grid (a nearest-point map would invent one)
                rgba = views.regression_rgba(np.full(grid.shape[0] * grid.shape[1], np.nan), grid.shape, style)
            y = np.asarray(task.train.y, dtype=np.float64).reshape(len(task.train.y), -1)[:, 0]
            colors = hex_colors(views.field_rgba(y, (1, len(y)), "continuous", cmap=style["cmap"],
                                                 clim=style["clim"])[0])
        elif task.kind == "binary":
            truth = np.asarray(task.label_fn(grid.lonlat))
            rgba = views.prediction_rgba(truth.astype(np.float64), grid.shape, "binary")
            lut = colormap_lut(PLAND_CMAP)
            colors = hex_colors(lut[np.where(task.train.y > 0.5, len(lut) - 1, 0)])
        else:
            truth = np.asarray(task.label_fn(grid.lonlat))
            rgba = views.field_rgba(truth, grid.shape, "categorical", n_classes=task.num_classes)
            colors = hex_colors(categorical_palette(task.num_classes)[np.asarray(task.train.y, dtype=np.int64)])
        lonlat = np.asarray(task.train.lonlat)
        if len(lonlat) > _MAX_TRAIN_POINTS:
            keep = np.sort(np.random.default_rng(0).choice(len(lonlat), _MAX_TRAIN_POINTS, replace=False))
            lonlat, colors = lonlat[keep], [colors[i] for i in keep]
        return rgba, lonlat, colors

    async def _on_map_mode(self, event: Any) -> None:
        if event.new == "ground truth":
            await self._ensure_layers(self.task.value)
        self._show_flat()

    async def _on_points(self, event: Any) -> None:
        if self.flat_view is None:
            return
        if event.new:
            _, lonlat, colors = await self._ensure_layers(self.task.value)
            self.flat_view.set_points("train", lonlat, colors)
        self.flat_view.set_visible("train", bool(event.new))

    async def _on_replay(self, event: Any) -> None:
        """Show the kept map nearest to the chosen epoch (flat map and globe)."""
        h = self.history
        if self.running or h is None or not len(h) or event.new is None:
            return
        epochs = np.asarray(h.epochs)
        i = int(np.argmin(np.abs(epochs - int(event.new))))
        task = self._run_task
        frame = await asyncio.to_thread(self._render, h.values(i), h.shape, task.kind, task.num_classes,
                                        self._run_style)
        with batched_updates():
            self._install_frame(frame, f"Replay: epoch {epochs[i]} of {epochs[-1]}")

    def _gif_file(self) -> Any:
        """FileDownload callback: the GIF made when the run ended (no work on the event loop)."""
        import io

        return io.BytesIO(self.gif or b"")

    def _make_gif(self, h: Any, task: Any, task_name: str, label: str) -> bytes | None:
        """Worker thread: the GIF of a run's :class:`FrameHistory` ``h`` (:meth:`FrameHistory.run_gif`)."""
        if h is None:
            return None
        return h.run_gif(task, task_name, style=self._run_style, max_frames=_GIF_FRAMES, title=label)

    def _show_error(self, text: str) -> None:
        """Show ``text`` in the red alert in place of the status line (``""`` hides it): the
        two share a reserved space, so an alert never pushes the maps down."""
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)
        self.status.visible = not text

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
        if self.pe.value == "sphericalharmonics" and int(self.legendre_polys.value) < 1:
            raise ValueError(f"L must be ≥ 1, got {int(self.legendre_polys.value)}.")
        return TrainConfig.from_spec(self.encoder_spec(), lr=float(lr), max_epochs=int(epochs), patience=None,
                                     dtype=self.dtype, device=self.device)

    def encoder_spec(self) -> Any:
        """The :class:`geoviz.spec.EncoderSpec` of the encoder widgets (SH: L; siren/fcnet: width × 2)."""
        from geoviz.spec import EncoderSpec

        pe_kwargs = {"legendre_polys": int(self.legendre_polys.value)} if self.pe.value == "sphericalharmonics" else {}
        nn_kwargs = {"hidden_dim": int(self.hidden_dim.value), "num_layers": 2} if self.nn.value != "linear" else {}
        return EncoderSpec.from_parts(self.pe.value, self.nn.value, pe_kwargs, nn_kwargs)

    # ------------------------------------------------------------------ training

    async def _on_start(self, event: Any = None) -> None:
        await self.train()

    def stop(self) -> None:
        """Ask the running training to stop after the current epoch and show its end at once,
        without the rest of a paced display (no-op when idle)."""
        self._stop_requested.set()
        if self.process is not None:
            self.process.stop()
        if self.pacer is not None:
            self.pacer.hurry()

    def _frame_seconds(self) -> float:
        """Seconds each map stays up at the chosen speed (0: fast)."""
        return self.frame_seconds if self.speed.value == "class pace" else SPEEDS.get(self.speed.value, 0.0)

    def _on_speed(self, event: Any) -> None:
        """The Speed toggle: the running display changes pace from its next map on."""
        if self.pacer is not None:
            self.pacer.set_interval(self._frame_seconds())

    def close(self) -> None:
        """Stop the run and make sure its child process ends (session closed)."""
        self._closed = True  # no GIF for a closed page
        self.stop()  # also ends a paced display at once
        proc = self.process
        if proc is not None:  # the child ends within an epoch; terminate it if it does not
            threading.Thread(target=proc.close, kwargs={"timeout": 5.0}, daemon=True).start()

    def _grid_resolution(self, cfg: Any) -> float:
        """Map grid spacing for ``cfg`` (raises ValueError for an unknown encoding)."""
        dim = cfg.spec.positional_encoding().embedding_dim
        return map_resolution(dim, 4)  # the child predicts maps in float32

    def _render(self, pred: np.ndarray | None, shape: tuple[int, int], kind: str, n_classes: int | None,
                style: dict[str, Any] | None = None) -> tuple:
        """Worker thread: colour one prediction for the flat map and render the globe image
        (``pred=None``: a blank grey map, while a run prepares). Regression maps use
        ``style`` (:func:`views.regression_style`: units, fixed range; NaN grey)."""
        flat = self._blank_flat() if pred is None else views.prediction_rgba(pred, shape, kind, n_classes, style)
        globe = GridField(flat[..., :3], kind="rgb",
                          interpolation="bilinear" if kind in ("binary", "regression") else "nearest")
        g = self.globe
        return pred, flat, globe, render_globe(globe, g.lon0, g.lat0, g.size)

    def _install_frame(self, frame: tuple, title: str) -> None:
        pred, flat, globe, globe_img = frame
        self._flat = flat
        self._show_flat(title)
        # the globe image was rendered in the worker thread: install the field without a second
        # render (a rotation in between is drawn by the next frame or the next drag)
        self.globe.field = globe
        for v in self.globe.views:
            v.update(globe_img)

    def _show_frame(self, frame: tuple | None, rec: Any, pending: list, cfg: Any, dev: str,
                    grid_shape: tuple[int, int], n_test: int = 0, catching_up: bool = False) -> None:
        """Show a display batch: ``frame`` (None: no new map), the curves' ``pending`` rows and
        the status of its last record ``rec``; ``catching_up``: the run has finished and the
        display is still showing it at class pace."""
        label = self._task_label(self._run_task_name)
        if frame is not None:
            self.last_prediction = frame[0]
            self._install_frame(frame, f"{label}: prediction at epoch {rec.epoch}")
            self.frames += 1
        self.curves.stream(pending)
        rate = rec.epoch / rec.elapsed if rec.elapsed > 0 else float("nan")
        if rec.stopped:
            state = f"finished ({rec.stopped})"
        elif catching_up:
            state = "showing the finished run at class pace (Stop: its end now)"
        else:
            state = "training"
        style = self._run_style
        test = ""
        if style is not None:  # regression: R² and RMSE in the target's units
            units = f" {style['units']}" if style["units"] else ""
            val = (f"val R² {rec.val_metrics.get('r2', float('nan')):.3f} · "
                   f"val RMSE {rec.val_metrics.get('rmse', float('nan')):.4g}{units}")
            if rec.stopped and self.test_metrics is not None:
                test = (f" · **test R² {self.test_metrics['r2']:.3f}, RMSE {self.test_metrics['rmse']:.4g}{units}** "
                        f"on the {n_test:,}-point test set")
        else:
            val = f"val accuracy {100 * rec.val_metrics.get('accuracy', float('nan')):.1f} %"
            if rec.stopped and self.test_metrics is not None:
                test = (f" · **test accuracy {100 * self.test_metrics['accuracy']:.1f} %** "
                        f"on the {n_test:,}-point test set")
        self.status.object = (
            f"**{state}** · {label} · epoch {rec.epoch}/{cfg.max_epochs} · train loss {rec.train_loss:.4f} · "
            f"val loss {rec.val_loss:.4f} · {val} · "
            f"**{rate:.1f} epochs/s** on **{dev}** · map {grid_shape[1]}×{grid_shape[0]}{test}")

    async def train(self) -> None:
        """Run one training with the current settings, updating maps, curves and status.

        The run happens in a child process (:class:`geoviz.training.process.TrainingProcess`,
        one torch thread); this coroutine only waits on its pipe, so the server's event loop
        and the other sessions are not slowed by the training loop. The display is paced by a
        :class:`~geoviz.viz.pacing.FramePacer` (Speed: class pace shows every epoch's map for
        ``frame_seconds``, with asyncio waits; fast draws only the newest map when epochs
        pile up). Returns when the run has ended and been shown (max epochs, Stop, or an
        error shown in the app); a second call while a run is active returns immediately.
        """
        from geoviz.training.process import TrainingError, TrainingProcess
        from geoviz.viz.animation import FrameHistory

        if self.running:
            return
        try:
            cfg = self.config()
        except (ValueError, TypeError) as exc:
            self._show_error(str(exc))
            return
        self.running = True  # before the first await: a second Start click returns above
        self._closed = False  # a run started from Python after close() is a live tab again
        try:
            res = self._grid_resolution(cfg)
            task_name = self.task.value
            # the first use builds the task's data (land mask look-ups, ~0.4 s): not on the loop
            task = await asyncio.to_thread(self._task, task_name)
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
        self._set_replay(None)
        self.gif_download.disabled = True
        dev = device_label(cfg.device)
        label = self._task_label(task_name)
        self.status.object = f"Preparing **{_config_label(cfg)}** on {label} (caching features) on **{dev}**…"
        regression = task.kind == "regression"
        self._keep_previous(task_name, task)
        self._run_style = self._styles.get(task_name) if regression else None
        self.curves.set_metric("r2" if regression else "accuracy")
        self._apply_task_look(task_name)
        await self._show_truth(task_name)
        # the old map must not stay up while the new run prepares
        self._flat = self._blank_flat()
        blank = await asyncio.to_thread(self._render, None, (90, 180), "binary", None)
        with batched_updates():
            self._install_frame(blank, f"Preparing {label}…")
        self._run_task, self._run_task_name = task, task_name
        self._run_label = _run_label(cfg, self._task_label(task_name))
        self._run_config = _config_label(cfg)
        self.test_metrics = None
        self.gif = None
        self.history = None
        seconds = self._frame_seconds()
        pacer = FramePacer(seconds, max_backlog=self.max_backlog)
        # class pace: a map every epoch (buffered here while the child runs ahead); fast: maps
        # rate-limited in the child, only the newest drawn
        # registered names are built in the child (a field's Task holds an unpicklable lock);
        # an upload's Task is sent as it is
        proc = TrainingProcess(task if task_name == UPLOAD else task_name, cfg, grid_resolution=res,
                               min_frame_interval=0.0 if seconds > 0 else self.min_frame_interval,
                               threads=1, nice=10, evaluate_test=True)
        self.process = proc
        self.pacer = pacer
        try:
            await asyncio.to_thread(proc.start)  # the first start also launches the fork server
            if self._stop_requested.is_set():
                proc.stop()
                pacer.hurry()
            self.records = []
            self.frames = 0
            grid_shape = None
            mask = None
            try:
                async for batch in pacer.apaced(proc.arecords()):
                    if grid_shape is None and proc.info is not None:
                        grid_shape = proc.info.grid_shape
                        dev = proc.info.device_label
                        self.history = FrameHistory(grid_shape, "categorical" if task.kind == "multiclass" else "continuous",
                                                    max_frames=self.max_replay_frames,
                                                    clim=self._run_style["clim"] if regression else None)
                        mask = await asyncio.to_thread(self._mask, task_name, grid_shape) if regression else None
                    pending: list[dict[str, float]] = []
                    newest: Any = None  # the batch's newest record with a map: the one drawn
                    for rec in batch:
                        if mask is not None and rec.prediction is not None:  # land-only field: no value at sea
                            rec.prediction = np.where(mask, np.asarray(rec.prediction, dtype=np.float64).reshape(-1),
                                                      np.nan)
                        self.records.append(rec)
                        if rec.prediction is not None:
                            self.history.add(rec.epoch, rec.prediction)
                            newest = rec
                        if rec.stopped:
                            self.test_metrics = proc.test_metrics
                        pending.append(_curve_row(rec))
                    frame = None
                    if newest is not None:
                        frame = await asyncio.to_thread(self._render, newest.prediction, grid_shape, task.kind,
                                                        task.num_classes, self._run_style)
                    with batched_updates():
                        self._show_frame(frame, batch[-1], pending, cfg, dev, grid_shape, len(task.test.y),
                                         catching_up=pacer.finished and pacer.pending > 0)
            except TrainingError as exc:
                if self.records:
                    self._show_error(f"Training failed: {exc}")
                else:
                    self._show_error(f"Cannot train with these settings: {exc}")
                    self.status.object = "Idle."
        finally:
            self.process = None
            self.pacer = None
            await asyncio.to_thread(proc.close)
            self.running = False
            self.start_button.disabled = False
            self.stop_button.disabled = True
        if self.task.value != task_name and not self._closed:  # chosen while the run was shown
            from types import SimpleNamespace

            await self._on_task(SimpleNamespace(new=self.task.value))
            return
        history = self.history
        if history is not None and len(history) and not self._closed:
            self._set_replay(history)
            # the GIF is made in a worker thread after the run (Start works meanwhile); a run
            # started before it is done keeps its own state
            self.gif_download.label = "Making the GIF…"
            try:
                gif = await asyncio.to_thread(self._make_gif, history, self._run_task, self._run_task_name,
                                              self._run_label)
            except Exception as exc:  # a GIF failure must not hide the run's result
                gif = None
                self._show_error(f"Could not make the GIF: {exc}")
            self.gif_download.label = "Download the run as GIF"
            if self.history is history:
                self.gif = gif
                self.gif_download.disabled = gif is None

    def _set_replay(self, history: Any) -> None:
        """Enable the epoch scrubber over ``history``'s epochs (disable it for None)."""
        if history is None or len(history) < 2:
            self.replay.disabled = True
            _set_disabled_look(self.replay, True)
            return
        e = history.epochs
        self.replay.param.update(start=e[0], end=e[-1], value=e[-1], disabled=False)
        _set_disabled_look(self.replay, False)

    def _run_key(self, task_name: str, task: Any) -> tuple:
        """What makes two runs comparable: the same task (an upload: the same file and target)
        and so the same loss and metric."""
        return (task_name, getattr(task, "name", task_name), getattr(task, "kind", None))

    def _keep_previous(self, task_name: str, task: Any) -> None:
        """A run of ``task_name`` starts: the latest run becomes the previous one (a small map
        of its last frame, dashed curves) if it is of the same task and metric; otherwise no
        previous run is shown (a land–ocean BCE curve on a temperature loss axis compares
        nothing)."""
        key = self._run_key(task_name, task)
        same = (self.records and self.history is not None and len(self.history) and self._run_task is not None
                and self._run_key(self._run_task_name, self._run_task) == key)
        if not same:
            self.previous = None
            self.curves.reset()
            self.previous_pane.visible = False
            return
        h, task = self.history, self._run_task
        last = h.values(len(h) - 1)
        which = "test" if self.test_metrics else "val"
        metrics = self.test_metrics or self.records[-1].val_metrics
        config = self._run_config
        if task.kind == "regression" and self._run_style is not None:
            r2 = metrics.get("r2")
            result = f"{which} R² {r2:.3f}" if r2 is not None else ""
        else:
            acc = metrics.get("accuracy")
            result = f"{which} {100 * acc:.1f} %" if acc is not None else ""
        # the result first: a narrow figure clips the end of its title, not the number
        label = f"Previous: {result} · {config}" if result else f"Previous: {config}"
        rgba = views.prediction_rgba(last, h.shape, task.kind, task.num_classes, self._run_style)
        self.previous = {"label": label, "history": h, "records": self.records, "key": key}
        self.curves.keep_as_previous([_curve_row(r) for r in self.records])
        if self.previous_view is not None:
            self.previous_view.update(rgba)
            self.previous_view.set_title(label)
            self.previous_pane.visible = True


def _curve_row(rec: Any) -> dict[str, float]:
    """The curves' row of one record (:class:`geoviz.viz.live.CurvesView` columns)."""
    return {"epoch": rec.epoch, "train_loss": rec.train_loss, "val_loss": rec.val_loss,
            "val_accuracy": rec.val_metrics.get("accuracy", np.nan), "val_r2": rec.val_metrics.get("r2", np.nan)}


def _is_regression_name(task_name: str) -> bool:
    """True for a built-in field's selector value (``"field:..."``)."""
    return str(task_name).startswith("field:")


def _config_label(cfg: Any) -> str:
    """A run's model as its encoder spec, e.g. ``"sh:10+siren(64x2)"`` (:class:`geoviz.spec.EncoderSpec`)."""
    return str(cfg.spec)


def _run_label(cfg: Any, task_name: str) -> str:
    """Short description of a run, e.g. ``"sh:10+siren(64x2), Land–ocean"`` (``task_name``: the
    human task name)."""
    return f"{_config_label(cfg)}, {task_name}"


def _set_disabled_look(widget: Any, disabled: bool) -> None:
    """Add or remove the ``geoviz-disabled`` class that greys out a disabled slider."""
    classes = [c for c in widget.css_classes if c != "geoviz-disabled"]
    widget.css_classes = classes + ["geoviz-disabled"] if disabled else classes
