"""In-process tests of the dashboard (geoviz.app): build the app, drive widgets, check state.

No browser and no server: widgets are set from Python, coroutines run with asyncio, and
the Bokeh models are built with ``get_root`` to prove the page renders.
"""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

pytest.importorskip("panel")
pytest.importorskip("holoviews")

import bokeh.document  # noqa: E402
import torch  # noqa: E402

from geoviz.app import create_app  # noqa: E402
from geoviz.data import is_land, regular_grid  # noqa: E402
from geoviz.viz.colors import PLAND_CMAP, colorize  # noqa: E402


@pytest.fixture(scope="module")
def app():
    a = create_app(min_frame_interval=0.0)
    a.training.frame_seconds = 0.05  # class pace (the default speed), quicker for tests
    return a


def _pland(values):
    """P(land) coloured as every dashboard view colours it (independent of the tab's code)."""
    return colorize(values, "continuous", cmap=PLAND_CMAP, clim=(0.0, 1.0))


def _run(coro):
    return asyncio.run(coro)


def test_app_builds_and_renders(app):
    root = app.layout.get_root(bokeh.document.Document())
    assert root is not None
    titles = list(app.tabs._names)
    assert titles == ["Live training", "Smoothness", "Embeddings", "Species ranges", "Compare encoders", "Where on Earth?"]
    expected = "GPU" if torch.cuda.is_available() else "CPU"
    assert expected in app.training.status.object
    assert app.training.message.visible is False


def test_live_training_updates_map_globe_and_curves(app):
    tr = app.training
    tr.task.value, tr.pe.value, tr.nn.value = "landocean", "sphericalharmonics", "siren"
    tr.legendre_polys.value, tr.hidden_dim.value, tr.epochs.value, tr.lr.value = 10, 64, 4, 1e-2
    globe_view = tr.globe.views[0]
    globe0 = globe_view.image.copy()
    _run(tr.train())
    assert tr.error == ""
    assert [r.epoch for r in tr.records] == [1, 2, 3, 4]
    assert tr.records[-1].stopped == "max_epochs"
    # min_frame_interval=0: every epoch carries a map; epochs that arrive together draw only the newest
    assert 1 <= tr.frames <= 4
    curves = tr.curves.data
    assert list(curves["epoch"]) == [1, 2, 3, 4]
    np.testing.assert_allclose(curves["val_loss"], [r.val_loss for r in tr.records])
    # the flat map shows exactly the colour-mapped prediction of the last epoch ...
    pred = tr.last_prediction
    H = 180
    grid = regular_grid(shape=(H, 2 * H))
    flat = tr.flat_view.image  # what the Bokeh figure's source holds, row 0 = north
    np.testing.assert_array_equal(flat, _pland(pred.reshape(grid.shape)))
    # ... and that prediction is a land/ocean map (independent truth: the Natural Earth polygon)
    truth = is_land(grid.lonlat)
    acc = np.mean((pred > 0.5) == truth)
    assert acc > 0.8, acc
    # the globe shows the same field, rendered at the current view
    np.testing.assert_array_equal(tr.globe.field.rgba[..., :3], flat[..., :3])
    np.testing.assert_array_equal(globe_view.image, tr.globe.render())
    assert (np.abs(globe_view.image.astype(int) - globe0).max(axis=2) > 20).mean() > 0.3
    assert "epochs/s" in tr.status.object and "finished" in tr.status.object
    assert tr.start_button.disabled is False and tr.stop_button.disabled is True


def test_checkerboard_colours_are_stable_classes(app):
    tr = app.training
    tr.task.value, tr.epochs.value = "checkerboard", 2
    _run(tr.train())
    assert tr.error == ""
    pred = tr.last_prediction
    assert pred.dtype.kind == "i" and pred.max() < 16
    flat = tr.flat_view.image
    np.testing.assert_array_equal(flat, colorize(pred.reshape(flat.shape[:2]), "categorical", n_classes=16))
    tr.task.value = "landocean"


@pytest.mark.parametrize("lr, needle", [(-1.0, "Learning rate must be a positive"), (0.0, "positive"),
                                         (5.0, "too large")])
def test_bad_learning_rate_is_a_message_not_a_traceback(app, lr, needle):
    tr = app.training
    tr.records = []
    tr.lr.value = lr
    _run(tr.train())
    assert needle in tr.error
    assert tr.message.visible and needle in tr.message.object
    assert tr.records == [] and not tr.running
    tr.lr.value = 1e-2
    tr.epochs.value = 1
    _run(tr.train())
    assert tr.error == "" and tr.message.visible is False


def test_library_errors_are_shown(app, monkeypatch):
    # a setting the widgets cannot produce: the network builder rejects it in the training process
    tr = app.training
    good = tr.config

    def bad_config():
        cfg = good()
        cfg.nn_kwargs = {"hidden_dim": 0, "num_layers": 2}
        return cfg

    monkeypatch.setattr(tr, "config", bad_config)
    _run(tr.train())
    assert "Cannot train with these settings" in tr.error and "hidden_dim" in tr.error
    assert not tr.running and tr.start_button.disabled is False


def test_controls_that_do_not_apply_are_disabled(app):
    tr = app.training
    tr.pe.value = "spherec+"
    assert tr.legendre_polys.disabled
    tr.nn.value = "linear"
    assert tr.hidden_dim.disabled
    cfg = tr.config()
    assert cfg.pe_kwargs == {} and cfg.nn_kwargs == {}
    tr.pe.value, tr.nn.value = "sphericalharmonics", "siren"
    assert not tr.legendre_polys.disabled and not tr.hidden_dim.disabled
    assert tr.config().pe_kwargs == {"legendre_polys": tr.legendre_polys.value}


def test_stop_and_close_end_a_long_run(app):
    tr = app.training
    tr.epochs.value = 5000

    pids = []

    async def scenario():
        task = asyncio.ensure_future(tr.train())
        while len(tr.records) < 2 or not tr.running:
            await asyncio.sleep(0.02)
        pids.append(tr.process.pid)
        app.close()  # what the server does when the session ends
        await asyncio.wait_for(task, timeout=60)

    _run(scenario())
    assert tr.records[-1].stopped == "stopped"
    assert len(tr.records) < 50
    assert tr.process is None and not tr.running
    # the training ran in a child process, which has exited
    import psutil

    assert pids[0] != os.getpid()
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE


def test_a_second_start_while_preparing_is_ignored(app, monkeypatch):
    """Start clicked twice in a row: the task is built off the event loop (an await), and the
    second click must not launch a second run meanwhile."""
    tr = app.training
    tr.task.value, tr.epochs.value = "checkerboard", 2
    started = []

    import geoviz.training.process as tp

    real_start = tp.TrainingProcess.start

    def counting_start(self, *a, **k):
        started.append(self)
        return real_start(self, *a, **k)

    monkeypatch.setattr(tp.TrainingProcess, "start", counting_start)

    async def scenario():
        await asyncio.gather(tr.train(), tr.train())

    _run(scenario())
    assert len(started) == 1 and tr.error == ""
    assert [r.epoch for r in tr.records] == [1, 2] and not tr.running


def test_globe_rotation_follows_the_sliders(app):
    tr = app.training
    before = tr.globe.views[0].image.copy()
    tr.lon0.value = 100.0
    assert tr.globe.lon0 == 100.0
    # the Bokeh figure was re-rendered in place at the new centre
    np.testing.assert_array_equal(tr.globe.views[0].image, tr.globe.render())
    assert not np.array_equal(before, tr.globe.views[0].image)
    tr.globe.lat0 = -30.0
    assert tr.lat0.value == -30.0


def test_run_end_test_accuracy_replay_gif_and_previous_run(app):
    """After a run: test accuracy on the 51,156-point grid in the status, the epoch scrubber
    replays kept maps, the GIF holds them; a second run keeps the first for comparison."""
    import io
    from types import SimpleNamespace

    from PIL import Image

    from geoviz.data import equal_area_test_grid

    tr = app.training
    tr.task.value, tr.pe.value, tr.nn.value = "landocean", "sphericalharmonics", "siren"
    tr.legendre_polys.value, tr.epochs.value, tr.lr.value = 6, 3, 1e-2
    _run(tr.train())
    assert tr.error == "" and tr.history.epochs == [1, 2, 3]
    n_test = len(equal_area_test_grid())
    assert n_test == 51156
    acc = tr.test_metrics["accuracy"]
    assert f"test accuracy {100 * acc:.1f} %" in tr.status.object and "51,156-point test set" in tr.status.object
    assert abs(acc - tr.records[-1].val_metrics["accuracy"]) < 0.05  # test and val agree for a smooth fit
    # the scrubber replays a kept epoch on the flat map and the globe
    assert not tr.replay.disabled and (tr.replay.start, tr.replay.end, tr.replay.value) == (1, 3, 3)
    _run(tr._on_replay(SimpleNamespace(new=1)))
    first = tr.history.values(0)
    np.testing.assert_array_equal(tr.flat_view.image, _pland(first.reshape(tr.history.shape)))
    assert "Replay: epoch 1" in tr.flat_view.figure.title.text
    np.testing.assert_array_equal(tr.globe.views[0].image, tr.globe.render())
    # the GIF (made when the run ended) has one frame per kept map; the download is enabled
    gif = Image.open(io.BytesIO(tr._gif_file().read()))
    assert gif.n_frames == 3 and not tr.gif_download.disabled
    # a second run: the first stays as the previous run (small map, dashed curves)
    last_first = tr.history.values(len(tr.history) - 1)
    first_epochs = [r.epoch for r in tr.records]
    tr.epochs.value = 2
    _run(tr.train())
    assert list(tr.curves.previous_data["epoch"]) == first_epochs and list(tr.curves.data["epoch"]) == [1, 2]
    assert tr.previous_pane.visible and f"{100 * acc:.1f} %" in tr.previous_view.figure.title.text
    np.testing.assert_array_equal(tr.previous_view.image, _pland(last_first.reshape(tr.history.shape)))
    # the accuracy axis is in percent, like the status line
    assert tr.curves.accuracy_figure.left[0].formatter.format == "0%"


def test_task_legend_coastlines_truth_and_points(app):
    """Checkerboard: a class legend, no coastlines, the old land-ocean map cleared; ground
    truth and training points toggle on the flat map."""
    from types import SimpleNamespace

    from geoviz.data import get_task

    tr = app.training
    tr.task.value = "checkerboard"
    _run(tr._on_task(SimpleNamespace(new="checkerboard")))
    cb = tr.flat_view.color_bar
    assert cb.title == "class" and len(cb.color_mapper.palette) == 16 and list(cb.ticker.ticks) == list(range(16))
    assert tr.flat_view.renderers["coastlines"].visible is False and tr.globe.coastlines is False
    assert (tr.flat_view.image[..., :3] == 200).all()  # grey until the first frame: no stale land-ocean map
    # ground truth: the task's own labels at 1°
    tr.map_mode.value = "ground truth"
    _run(tr._on_map_mode(SimpleNamespace(new="ground truth")))
    task = get_task("checkerboard")
    grid = regular_grid(1.0)
    truth = colorize(np.asarray(task.label_fn(grid.lonlat)).reshape(grid.shape), "categorical", n_classes=16)
    np.testing.assert_array_equal(tr.flat_view.image, truth)
    tr.show_points.value = True
    _run(tr._on_points(SimpleNamespace(new=True)))
    pts = tr.flat_view.point_sources["train"].data
    assert len(pts["x"]) == min(5000, len(task.train.y)) and tr.flat_view.renderers["train"].visible
    # landocean again: P(land) colour bar, coastlines back, toggles reset
    tr.task.value = "landocean"
    _run(tr._on_task(SimpleNamespace(new="landocean")))
    assert tr.flat_view.color_bar.title.startswith("P(land)") and tr.flat_view.renderers["coastlines"].visible
    assert tr.globe.coastlines is True and tr.map_mode.value == "prediction" and tr.show_points.value is False


def test_alert_replaces_the_status_and_disabled_slider_looks_disabled(app):
    tr = app.training
    tr.lr.value = -1.0
    _run(tr.train())
    assert tr.message.visible and not tr.status.visible  # same reserved space: nothing moves down
    assert any(obj is tr.message for obj in tr.status_area.objects)
    tr.lr.value = 1e-2
    tr._show_error("")
    assert tr.status.visible and not tr.message.visible
    tr.pe.value = "direct"
    assert tr.legendre_polys.disabled and "geoviz-disabled" in tr.legendre_polys.css_classes
    tr.pe.value = "sphericalharmonics"
    assert "geoviz-disabled" not in tr.legendre_polys.css_classes
    # no lingering slider tooltips: the value is in the label
    assert tr.legendre_polys.tooltips is False and tr.lon0.tooltips is False and tr.replay.tooltips is False


# ---------------------------------------------------------------------------- fields and uploads


def test_field_task_draws_units_truth_beside_and_r2(app):
    """field:temperature: colour bar titled in °C over a range centred on 0 °C that covers the
    truth's 1st-99th percentiles, the truth map beside the prediction, R² curve, R²/RMSE in
    the status and at the end."""
    from types import SimpleNamespace

    from sklearn.metrics import r2_score

    from geoviz.app import views
    from geoviz.data import get_field

    tr = app.training
    assert tr.task.options["Temperature (°C)"] == "field:temperature" and "Upload CSV…" in tr.task.options
    assert tr.task.options["Land–ocean"] == "landocean"
    tr.task.value = "field:temperature"
    _run(tr._on_task(SimpleNamespace(new="field:temperature")))
    assert tr.error == "" and tr.truth_pane.visible
    truth_grid = np.asarray(get_field("temperature").grid(1.0)[0])
    p1, p99 = np.percentile(truth_grid[np.isfinite(truth_grid)], [1, 99])
    lo, hi = tr._styles["field:temperature"]["clim"]
    assert lo == -hi and lo <= p1 and hi >= p99 and hi <= 1.25 * max(abs(p1), abs(p99))  # 0 °C in the middle
    for view in (tr.flat_view, tr.truth_view):
        cb = view.color_bar
        assert cb.title == "temperature (°C)"
        np.testing.assert_allclose([cb.color_mapper.low, cb.color_mapper.high], [lo, hi])
    truth_rgba = colorize(truth_grid, "continuous", cmap="RdYlBu_r", clim=(lo, hi))
    np.testing.assert_array_equal(tr.truth_view.image, truth_rgba)
    tr.pe.value, tr.nn.value = "sphericalharmonics", "siren"
    tr.legendre_polys.value, tr.hidden_dim.value, tr.epochs.value, tr.lr.value = 6, 32, 3, 1e-2
    _run(tr.train())
    assert tr.error == "" and tr.history.epochs == [1, 2, 3]
    m = tr.test_metrics
    assert f"test R² {m['r2']:.3f}, RMSE {m['rmse']:.4g} °C" in tr.status.object
    assert "5,000-point test set" in tr.status.object and "val RMSE" in tr.status.object
    # the curves show R², equal to the records'
    assert tr.curves.accuracy_figure.title.text == "Validation R²" and tr.curves.metric == "r2"
    np.testing.assert_allclose(tr.curves.data["val_r2"], [r.val_metrics["r2"] for r in tr.records])
    # the map is the prediction in °C over the same fixed range, and it explains the truth
    pred = tr.last_prediction
    H, W = tr.history.shape
    np.testing.assert_array_equal(tr.flat_view.image, views.regression_rgba(pred, (H, W), tr._run_style))
    truth = get_field("temperature").grid(180.0 / H)[0].reshape(-1)
    assert r2_score(truth, pred) > 0.5
    assert tr.gif is not None and len(tr._gif_file().read()) > 0
    # back to a classification task: accuracy again, no truth pane
    tr.task.value = "landocean"
    _run(tr._on_task(SimpleNamespace(new="landocean")))
    assert not tr.truth_pane.visible and tr.flat_view.color_bar.title.startswith("P(land)")


def test_land_only_field_is_grey_at_sea(app):
    from geoviz.data import is_land

    tr = app.training
    tr._task("field:elevation")
    mask = tr._mask("field:elevation", (90, 180))
    grid = regular_grid(2.0)
    assert (mask == is_land(grid.lonlat)).mean() > 0.85  # independent: the Natural Earth polygon
    rgba = tr._render(np.zeros(90 * 180) + np.where(mask, 500.0, np.nan), (90, 180), "regression", None,
                      tr._styles["field:elevation"])[1]
    assert (rgba[~mask.reshape(90, 180)][:, :3] == 200).all() and (rgba[mask.reshape(90, 180)][:, :3] != 200).any()


def test_csv_upload_builds_a_task_in_a_temporary_folder(app, monkeypatch):
    """Upload CSV…: bytes → a task (target chosen from the columns), nothing left on disk;
    bad files, too large files and non-CSV names are clean alerts."""
    import tempfile
    from types import SimpleNamespace

    from geoviz.app import training_tab

    made = []
    real = tempfile.TemporaryDirectory

    def spy(*a, **k):
        d = real(*a, **k)
        made.append(d.name)
        return d

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    rng = np.random.default_rng(1)
    n = 200
    lat = rng.uniform(-60, 60, n)
    rows = "".join(f"{a:.3f},{b:.3f},{25 * np.cos(np.radians(b)):.3f},{'north' if b > 0 else 'south'}\n"
                   for a, b in zip(rng.uniform(-180, 180, n), lat))
    data = ("lon,lat,temp,hemisphere\n" + rows).encode()
    tr = app.training
    tr.task.value = training_tab.UPLOAD
    _run(tr._on_task(SimpleNamespace(new=training_tab.UPLOAD)))
    assert tr.upload.visible and tr.upload.accept == ".csv"
    tr.upload.filename = "stations.csv"
    _run(tr._on_upload(SimpleNamespace(new=data)))
    assert tr.error == "" and list(tr.target.options) == ["temp", "hemisphere"] and tr.target.value == "temp"
    task = tr._upload_task
    assert task.kind == "regression" and len(task.train.y) + len(task.val.y) + len(task.test.y) == n
    assert tr.flat_view.color_bar.title == "temp" and tr.truth_pane.visible
    assert len(tr.truth_view.point_sources["data"].data["x"]) == len(task.train.y)
    tr.target.value = "hemisphere"
    _run(tr._on_target(SimpleNamespace(new="hemisphere")))
    assert tr._upload_task.kind == "binary" and tr._upload_task.class_names == ["north", "south"]
    assert made and not any(os.path.exists(d) for d in made)  # the temporary folders are gone
    # bad input: the tab's alert line, naming the problem (not the temporary path)
    tr.upload.filename = "bad.csv"
    _run(tr._on_upload(SimpleNamespace(new=b"a,b\n1,2\n")))
    assert tr.message.visible and "longitude" in tr.error and "geoviz-upload" not in tr.error
    assert tr._upload_task is None
    _run(tr.train())
    assert "upload a CSV file" in tr.error
    with pytest.raises(ValueError, match="MiB"):
        training_tab.upload_task(data, "big.csv", None, max_bytes=100)
    with pytest.raises(ValueError, match="not a .csv"):
        training_tab.upload_task(data, "stations.xlsx", None)
    tr._show_error("")
    tr.task.value = "landocean"
    _run(tr._on_task(SimpleNamespace(new="landocean")))
    assert not tr.upload.visible


# ---------------------------------------------------------------------------- pacing


class _Rec:
    """A stand-in for an EpochRecord: an epoch and maybe a map."""

    def __init__(self, epoch, has_map=True):
        self.epoch = epoch
        self.prediction = np.zeros(1) if has_map else None

    def __repr__(self):
        return f"_Rec({self.epoch})"


class _FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_frame_pacer_shows_each_map_for_the_minimum_time_fake_clock():
    """Class pace: records that arrive together come out one map at a time, each map up for at
    least min_interval (fake clock); records without a map ride with the next map; fast hands
    out everything at once; hurry() (Stop) too; a long backlog skips its oldest maps."""
    from geoviz.viz.pacing import FramePacer

    clock = _FakeClock()
    p = FramePacer(0.2, clock=clock)
    assert p.due_in() is None and not p.done
    for e in range(1, 6):  # a fast child: five epochs at once
        p.push(_Rec(e, has_map=e != 2))
    shown = []
    while p.pending:
        wait = p.due_in()
        assert wait is not None
        clock.now += wait  # the driver sleeps this long
        shown.append((clock.now, [r.epoch for r in p.pop()]))
    assert [b for _, b in shown] == [[1], [2, 3], [4], [5]]
    times = [t for t, _ in shown]
    assert np.all(np.diff(times) >= 0.2 - 1e-9) and times[-1] - times[0] == pytest.approx(0.6)
    # a map-less record waits for the next map while the source goes on; at the end it comes alone
    p.push(_Rec(6, has_map=False))
    assert p.due_in() is None
    p.finish()
    assert p.due_in() == 0.0 and [r.epoch for r in p.pop()] == [6] and p.done
    # fast: everything that has arrived, in one batch (the view draws its newest map)
    fast = FramePacer(0.0, clock=clock)
    for e in range(1, 5):
        fast.push(_Rec(e))
    assert fast.due_in() == 0.0 and [r.epoch for r in fast.pop()] == [1, 2, 3, 4]
    # hurry (Stop): the rest at once, without waiting
    p = FramePacer(0.2, clock=clock)
    for e in range(1, 5):
        p.push(_Rec(e))
    p.pop()
    assert p.due_in() == pytest.approx(0.2)
    p.hurry()
    assert p.due_in() == 0.0 and [r.epoch for r in p.pop()] == [2, 3, 4]
    # a long fast run: at most max_backlog maps wait; older ones are skipped, not lost
    p = FramePacer(0.2, max_backlog=3, clock=clock)
    for e in range(1, 11):
        p.push(_Rec(e))
    batch = p.pop()
    assert [r.epoch for r in batch] == list(range(1, 8)) and p.pending_maps == 3 and p.skipped == 6
    with pytest.raises(ValueError):
        FramePacer(-1.0)
    with pytest.raises(ValueError):
        FramePacer(0.2, max_backlog=0)


def test_frame_pacer_async_buffers_a_fast_source_and_paces_it():
    """The asyncio driver: a source that finishes at once is shown over n * min_interval (real
    clock, short interval); set_interval(0) mid-way speeds up; errors come after the records."""
    import time

    from geoviz.viz.pacing import FramePacer

    async def source(n, fail=False):
        for e in range(1, n + 1):
            yield _Rec(e)
        if fail:
            raise RuntimeError("child died")

    async def consume(pacer, src, speed_up_after=None):
        out = []
        async for batch in pacer.apaced(src):
            out.append((time.monotonic(), [r.epoch for r in batch], pacer.finished))
            if speed_up_after is not None and len(out) == speed_up_after:
                pacer.set_interval(0.0)
        return out

    dt = 0.05
    out = _run(consume(FramePacer(dt), source(6)))
    assert [b for _, b, _ in out] == [[e] for e in range(1, 7)]  # every epoch's map
    gaps = np.diff([t for t, _, _ in out])
    assert (gaps >= dt - 0.005).all(), gaps
    assert out[2][2]  # the source had finished long before the display caught up
    out = _run(consume(FramePacer(dt), source(6), speed_up_after=2))
    assert [b for _, b, _ in out] == [[1], [2], [3, 4, 5, 6]]
    with pytest.raises(RuntimeError, match="child died"):
        _run(consume(FramePacer(0.0), source(3, fail=True)))
    # the plain-iterator driver (LiveTrainer): same pacing, pulled lazily
    pacer = FramePacer(dt)
    t0 = time.monotonic()
    batches = [[r.epoch for r in b] for b in pacer.paced(_Rec(e) for e in range(1, 5))]
    assert batches == [[1], [2], [3], [4]] and time.monotonic() - t0 >= 3 * dt - 0.005


def test_class_pace_draws_every_epoch_and_fast_is_fast(app):
    """The Speed toggle: class pace (default) draws every epoch's map, each up for at least
    frame_seconds, while the child runs ahead; fast draws only the newest of what has arrived."""
    import time

    tr = app.training
    assert tr.speed.value == "class pace" and list(tr.speed.options) == ["class pace", "fast"]
    tr.task.value, tr.pe.value, tr.nn.value = "landocean", "sphericalharmonics", "siren"
    tr.legendre_polys.value, tr.hidden_dim.value, tr.epochs.value, tr.lr.value = 6, 16, 8, 1e-2
    t0 = time.monotonic()
    _run(tr.train())
    assert tr.error == "" and [r.epoch for r in tr.records] == list(range(1, 9))
    assert tr.frames == 8 and time.monotonic() - t0 >= 7 * tr.frame_seconds
    assert tr.history.epochs == list(range(1, 9)) and tr.pacer is None
    tr.speed.value = "fast"
    try:
        _run(tr.train())
        assert tr.error == "" and [r.epoch for r in tr.records] == list(range(1, 9)) and 1 <= tr.frames <= 8
    finally:
        tr.speed.value = "class pace"


# ---------------------------------------------------------------------------- task switching, titles, colours


def test_switching_task_clears_status_curves_and_previous_run(app):
    """After a land-ocean run, choosing temperature leaves nothing of it up: the status, the
    curves and the dashed previous run are cleared and the metric figure says R²; a previous
    run is overlaid only when the next run is of the same task and metric."""
    from types import SimpleNamespace

    tr = app.training
    tr.task.value = "landocean"
    _run(tr._on_task(SimpleNamespace(new="landocean")))
    tr.pe.value, tr.nn.value, tr.legendre_polys.value, tr.hidden_dim.value = "sphericalharmonics", "siren", 4, 16
    tr.epochs.value, tr.lr.value, tr.speed.value = 2, 1e-2, "fast"
    try:
        _run(tr.train())
        assert "test accuracy" in tr.status.object and len(tr.curves.data["epoch"]) == 2
        items = tr.curves.legend_items
        assert items["train"].visible and items["this_run"].visible
        assert items["previous_loss"].visible == (tr.previous is not None)  # an earlier land-ocean run
        # temperature chosen: no land-ocean result, curves, previous run, replay or GIF left
        tr.task.value = "field:temperature"
        _run(tr._on_task(SimpleNamespace(new="field:temperature")))
        status = tr.status.object
        assert "Temperature (°C)" in status and "accuracy" not in status and "field:" not in status
        assert len(tr.curves.data["epoch"]) == 0 and len(tr.curves.previous_data["epoch"]) == 0
        assert not tr.previous_pane.visible and tr.previous is None
        assert tr.curves.accuracy_figure.title.text == "Validation R²"
        assert tr.replay.disabled and tr.gif_download.disabled
        # no legend entry without a glyph: nothing drawn, nothing listed
        assert not any(i.visible for i in tr.curves.legend_items.values())
        assert not tr.curves.loss_figure.legend[0].visible
        # the first temperature run: no previous run (the last one was land-ocean)
        tr.hidden_dim.value, tr.legendre_polys.value = 32, 6
        _run(tr.train())
        assert tr.error == "" and tr.previous is None and not tr.previous_pane.visible
        assert len(tr.curves.previous_data["epoch"]) == 0 and not items["previous_loss"].visible
        first_r2 = tr.test_metrics["r2"]
        # a second temperature run: the first one is the previous run (same task and metric)
        _run(tr.train())
        assert tr.previous is not None and tr.previous_pane.visible
        assert list(tr.curves.previous_data["epoch"]) == [1, 2] and items["previous_loss"].visible
        title = tr.previous_view.figure.title.text
        assert title.startswith(f"Previous: test R² {first_r2:.3f}") and "field:" not in title, title
        np.testing.assert_allclose(tr.curves.previous_data["val_r2"], [r.val_metrics["r2"] for r in
                                                                        tr.previous["records"]])
        # back to land-ocean: the temperature curves and previous run are gone, and the next run
        # (the last one was temperature) has no previous run either
        tr.task.value = "landocean"
        _run(tr._on_task(SimpleNamespace(new="landocean")))
        assert tr.curves.accuracy_figure.title.text == "Validation accuracy" and "R²" not in tr.status.object
        tr.hidden_dim.value, tr.legendre_polys.value = 16, 4
        _run(tr.train())
        assert tr.previous is None and len(tr.curves.previous_data["epoch"]) == 0
    finally:
        tr.speed.value = "class pace"


def test_titles_are_human_fixed_size_and_not_clipped(app):
    """Titles name tasks for people (no "field:temperature"), keep their size when another tab
    puts a HoloViews theme on the document, and the previous run's result comes first."""
    from types import SimpleNamespace

    import holoviews as hv

    from geoviz.viz.live import TITLE_FONT_SIZE

    tr = app.training
    tr.task.value = "field:temperature"
    _run(tr._on_task(SimpleNamespace(new="field:temperature")))
    titles = [tr.flat_view.figure.title.text, tr.truth_view.figure.title.text]
    assert all("field:" not in t for t in titles) and "Temperature (°C)" in titles[0], titles
    figs = [tr.flat_view.figure, tr.truth_view.figure, tr.curves.loss_figure, tr.curves.accuracy_figure]
    doc = bokeh.document.Document()
    doc.add_root(tr.layout.get_root(doc))
    before = [f.title.text_font_size for f in figs]
    assert before == [TITLE_FONT_SIZE] * 4
    # what a visit to the Smoothness tab does: HoloViews sets its theme (12pt titles) on the document
    doc.theme = hv.renderer("bokeh").theme
    assert [f.title.text_font_size for f in figs] == before
    tr.task.value = "landocean"
    _run(tr._on_task(SimpleNamespace(new="landocean")))
    assert "Land–ocean" in tr.flat_view.figure.title.text


def test_colour_bars_label_both_ends_and_centre_diverging_fields_on_zero(app):
    """Temperature: a diverging map whose neutral middle is 0 °C, ticks at both ends and at 0,
    each labelled; precipitation: a sequential map, both ends labelled."""
    from types import SimpleNamespace

    from geoviz.app import views
    from geoviz.data import get_task
    from geoviz.viz.animation import colorbar_ticks, legend_image, regression_style
    from geoviz.viz.colors import colormap_lut

    temp = regression_style(get_task("field:temperature"))
    lo, hi = temp["clim"]
    assert temp["center"] == 0.0 and lo == -hi
    # the colour of 0 °C is the colormap's middle (neutral) colour
    mid = colorize(np.array([0.0]), "continuous", cmap=temp["cmap"], clim=temp["clim"])[0, :3]
    np.testing.assert_array_equal(mid, colormap_lut(temp["cmap"])[128, :3])
    spec = views.colorbar_spec("regression", style=temp)
    assert spec["ticks"][0] == lo and spec["ticks"][-1] == hi and 0.0 in spec["ticks"]
    assert all(spec["labels"][t] for t in (lo, 0.0, hi)) and spec["labels"][hi] == f"{hi:.3g}"
    tr = app.training
    tr.task.value = "field:temperature"
    _run(tr._on_task(SimpleNamespace(new="field:temperature")))
    cb = tr.flat_view.color_bar
    ticks = list(cb.ticker.ticks)
    assert ticks[0] == cb.color_mapper.low and ticks[-1] == cb.color_mapper.high and 0.0 in ticks
    precip = regression_style(get_task("field:precipitation"))
    assert precip["center"] is None and precip["cmap"] == "YlGnBu"
    t = precip["ticks"]
    assert (t[0], t[-1]) == precip["clim"] and len(t) >= 3 and np.all(np.diff(t) > 0)
    assert colorbar_ticks(-37.0, 4325.0)[:2] == [-37.0, 1000.0]  # no "0" crowding the "-37" end
    # the PNG legend (GIFs, notebooks) has the ticks too: labels under both ends of the ramp
    img = legend_image("continuous", 400, label="temperature (°C)", cmap=temp["cmap"], clim=temp["clim"])
    text = (img[-12:, :, :3].min(axis=2) < 100)  # dark label pixels below the ramp
    cols = np.flatnonzero(text.any(axis=0))
    assert cols.min() < 50 and cols.max() > 350
    tr.task.value = "landocean"
    _run(tr._on_task(SimpleNamespace(new="landocean")))


def test_one_p_land_palette_on_the_training_and_smoothness_tabs(app):
    from geoviz.app import views
    from geoviz.viz import lsweep
    from geoviz.viz.colors import colormap_lut, hex_colors

    assert lsweep.SWEEP_CMAP == PLAND_CMAP
    assert views.colorbar_spec("binary")["palette"] == hex_colors(colormap_lut(PLAND_CMAP))
    tr = app.training
    assert tr.flat_view.color_bar.color_mapper.palette == hex_colors(colormap_lut(PLAND_CMAP))
    values = np.linspace(0, 1, 8).reshape(2, 4)
    np.testing.assert_array_equal(views.prediction_rgba(values.reshape(-1), (2, 4), "binary"), _pland(values))


# ---------------------------------------------------------------------------- smoothness


def test_smoothness_tab_shows_linear_above_siren(app):
    """The tab is built on first access; Linear(SH) comes first; the fits themselves are
    tested in tests/test_smoothness.py (they run in child processes)."""
    sm = app.smoothness
    assert sm is not None and app.tabs[1].objects == [sm.layout]
    assert list(sm.captions) == ["linear", "siren"] and sm.L.value == 5
    assert "Linear(SH), L = 5" in sm.captions["linear"].object and "18°" in sm.captions["linear"].object
    assert "f_max = 180°/(2L)" in sm.lesson.object
    sm.epochs.value = 0
    _run(sm.run())
    assert "Epochs must be" in sm.error and sm.message.visible
    assert sm.layout.get_root(bokeh.document.Document()) is not None


# ---------------------------------------------------------------------------- embeddings


@pytest.fixture(scope="module")
def emb(app, tmp_path_factory):
    import os

    os.environ["GEOVIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("geoviz-cache"))
    tab = app.embeddings
    assert tab is not None
    _run(tab.load())
    assert tab.error == "", tab.error
    return tab


def test_embeddings_load_default_model(emb):
    prep = emb.prepared
    g = prep.grid
    assert prep.label == "geoviz-bluemarble-l10"
    assert g.embeddings.shape == (g.shape[0] * g.shape[1], g.embedding_dim)
    assert prep.rgb.shape == (len(g.embeddings), 3) and prep.rgb.min() >= 0 and prep.rgb.max() <= 1
    assert emb.flat_pipe.data.shape == g.shape + (4,)
    assert "embeddings on a" in emb.status.object
    assert 0.0 < emb.agreement["koppen"] <= 1.0 and "Köppen" in emb.agreement_md.object
    # 0.5° maps; the Köppen legend lists the classes on the map (never the ocean)
    assert g.shape == (360, 720) and emb.cluster_pipe.data.shape == (360, 720, 4)
    legend = emb.koppen_legend.object
    assert all(f"> {c}</span>" in legend for c in ("Af", "BWh", "Cfb", "Dfc", "EF")) and "Ocean" not in legend


def test_flat_tap_queries_match_brute_force(emb):
    """Default: far-away look-alikes (>= 1,000 km from the query and from each other), checked
    against numpy cosine + haversine + a greedy spread; 0 km gives the plain top-k."""
    from geoviz.app.embeddings_tab import _release
    from geoviz.embed import embed_points

    _release(emb.top_k, 6)
    assert emb.min_km.value == 1000
    emb.flat_tap.event(x=2.35, y=48.86)  # Paris
    res = emb.result
    assert emb.clicked == (2.35, 48.86)
    q = np.asarray(embed_points(emb.prepared.model, np.array([[2.35, 48.86]])), dtype=np.float64)[0]
    E = emb.prepared.grid.embeddings.astype(np.float64)
    cos = E @ q / (np.linalg.norm(E, axis=1) * np.linalg.norm(q))
    ll = emb.prepared.grid.lonlat

    def km(a, b):
        a, b = np.radians(a), np.radians(np.atleast_2d(b))
        h = np.sin((b[:, 1] - a[1]) / 2) ** 2 + np.cos(a[1]) * np.cos(b[:, 1]) * np.sin((b[:, 0] - a[0]) / 2) ** 2
        return 2 * 6371.0088 * np.arcsin(np.sqrt(h))

    import shapely

    from geoviz.data import land_polygon

    d = km(np.array([2.35, 48.86]), ll)
    cell = emb.prepared.index.nearest_point((2.35, 48.86))
    # the default model is learnt from images: land only, hits beyond 1,000 km + max(100 km, 2 cells)
    assert emb.land_only.value is True
    land = shapely.contains_xy(land_polygon(), ll[:, 0], ll[:, 1])
    beyond = 1000 + max(100.0, 2 * np.pi * 6371.0088 / 360)
    expected: list[int] = []
    for i in np.argsort(-cos, kind="stable"):
        if i == cell or d[i] < beyond or not land[i] or (expected and km(ll[i], ll[expected]).min() < 1000):
            continue
        expected.append(int(i))
        if len(expected) == 6:
            break
    np.testing.assert_array_equal(res.index, expected)
    assert not res.in_margin.any() and res.margin_km == pytest.approx(beyond - 1000)
    np.testing.assert_allclose(res.similarity, cos[res.index], atol=1e-5)
    np.testing.assert_allclose(res.distance_km, d[res.index], rtol=1e-9)
    html = emb.results_html.object
    assert "<table" in html and html.count("<img") == 7 and "distance (km)" in html
    assert emb.marker_pipe.data["hits"].shape == (6, 2)
    sim, clim = emb.sim_pipe.data  # the heat map: the similarity of every cell, with its colour range
    np.testing.assert_allclose(sim.ravel(), cos, atol=1e-5)
    assert clim[0] < clim[1] <= 1.0 + 1e-6
    # 0 km: the nearest look-alikes at any distance, never the clicked cell itself
    _release(emb.min_km, 0)
    top = emb.result.index
    np.testing.assert_array_equal(top, [i for i in np.argsort(-cos, kind="stable") if i != cell and land[i]][:6])
    _release(emb.min_km, 1000)


def test_typed_coordinates_query(emb):
    emb.lon_in.value, emb.lat_in.value = "10", "23"
    emb.find_button.clicks += 1  # the button's on_click
    assert emb.clicked == (10.0, 23.0) and (emb.result.distance_km >= 1000).all()
    for lon, lat, needle in (("abc", "1", "numbers"), ("200", "0", "Longitude"), ("0", "-95", "Latitude")):
        emb.lon_in.value, emb.lat_in.value = lon, lat
        emb.find_button.clicks += 1
        assert needle in emb.error and emb.message.visible
    emb.lon_in.value, emb.lat_in.value = "-62", "-4"
    emb.find_button.clicks += 1
    assert emb.error == "" and emb.clicked == (-62.0, -4.0)


def test_look_alikes_teach_land_only_margin_note_and_legends(emb):
    """The teacher's walk: Amazon (-62, -4) found open Pacific with the former model and Sahara
    hits sat on the 1,000 km ring. Land only is on for the image-derived default model (a check box turns it
    off), hits lie beyond the limit plus the margin, a note says what the model can and cannot
    tell apart, the PCA colours are explained and the cluster map has a legend."""
    import shapely

    from geoviz.analysis import PCA_RGB_EXPLANATION
    from geoviz.app.embeddings_tab import _release
    from geoviz.data import land_polygon
    from geoviz.viz.colors import categorical_palette

    assert emb.prepared.image_derived and emb.land_only.value is True
    assert emb.land_only in emb.layout.objects[0].objects and emb.note_md in emb.layout.objects[0].objects
    assert "open ocean" in emb.note_md.object and "deserts" in emb.note_md.object
    _release(emb.top_k, 8)
    beyond = 1000 + emb.prepared.index.default_margin_km(1000)

    def on_land(ll):
        return shapely.contains_xy(land_polygon(), ll[:, 0], ll[:, 1])

    for q in ((-62.0, -4.0), (10.0, 23.0)):
        res = emb.query(*q)
        assert len(res.index) == 8 and on_land(res.lonlat).all(), res.lonlat
        assert (res.distance_km >= beyond).all(), res.distance_km
        assert "on land only" in emb.results_html.object and "margin" in emb.results_html.object
    emb.query(-62.0, -4.0)
    amazon_land = emb.result.lonlat.copy()
    emb.land_only.value = False  # unticking re-runs the query over every cell (the retrained model stays on land)
    assert "on land only" not in emb.results_html.object and len(emb.result.index) == 8
    assert on_land(emb.result.lonlat).sum() >= 6, emb.result.lonlat
    emb.land_only.value = True
    assert on_land(emb.result.lonlat).all() and np.array_equal(emb.result.lonlat, amazon_land)
    # the colours of the main map explained, per mode
    assert emb.map_note in emb.plots.objects and emb.map_note.object == PCA_RGB_EXPLANATION
    assert "red, green and blue" in PCA_RGB_EXPLANATION and "mean nothing fixed" in PCA_RGB_EXPLANATION
    emb.colour_by.value = "Clusters"
    assert "legend" in emb.map_note.object
    emb.colour_by.value = "PCA-RGB"
    assert emb.map_note.object == PCA_RGB_EXPLANATION
    # the cluster legend: one swatch per cluster in the map's colours, each with its Köppen class
    k = int(emb.k.value)
    legend = emb.cluster_legend.object
    assert emb.cluster_legend in emb.zones_row.objects and f"k = {k}" in legend
    for i, (r, g, b, _) in enumerate(categorical_palette(k)[:k]):
        assert f"background:rgb({r},{g},{b})" in legend and f"<b>{i}</b>" in legend
    assert legend.count(" %</div>") == k and any(f" {c} " in legend for c in ("Af", "BWh", "ET", "Dfc"))
    assert all(f"<b>{i}</b> {z}</div>" in legend for i, z in enumerate(emb.prepared.cluster_zones[k]))
    # hits filled from the margin band are starred and explained under the table
    from geoviz.analysis import QueryResult

    emb.clicked = (-62.0, -4.0)
    res = QueryResult(np.array([[10.0, 0.0], [20.0, 0.0]]), np.array([0.9, 0.8], np.float32), np.array([1, 2]),
                      np.array([1500.0, 1050.0]), np.array([False, True]), 111.2)
    table = emb._table_html(res, None)
    assert table.count("*</span>") == 1 and "between 1,000 and 1,111 km" in table
    assert "*</span>" not in emb._table_html(res._replace(in_margin=np.array([False, False])), None)


def test_globe_tap_maps_screen_centre_to_projection_centre(emb):
    emb.globe.lon0, emb.globe.lat0 = 40.0, -10.0
    emb.globe.streams["tap"].event(x=0.0, y=0.0)
    assert emb.clicked == pytest.approx((40.0, -10.0))
    before = emb.clicked
    emb.globe.streams["tap"].event(x=0.99, y=0.99)  # outside the disk: ignored
    assert emb.clicked == before


def test_clusters_follow_k_and_colour_modes(emb):
    from geoviz.app.embeddings_tab import _release

    emb.k.value = 4  # dragging: nothing recomputed until release (value_throttled)
    assert "k = 4" not in emb.agreement_md.object
    _release(emb.k, 5)
    lab = emb.clusters
    assert set(np.unique(lab[emb.prepared.land])) == set(range(5))
    assert (lab[~emb.prepared.land] == -1).all()
    assert "k = 5" in emb.agreement_md.object
    emb.colour_by.value = "Clusters"
    img = emb.flat_pipe.data.reshape(-1, 4)
    assert (img[~emb.prepared.land, 3] == 0).all() and (img[emb.prepared.land, 3] == 255).all()
    emb.colour_by.value = "Similarity"
    emb.colour_by.value = "PCA-RGB"


def test_bad_checkpoints_are_messages(emb, tmp_path):
    from geoviz.app.embeddings_tab import SATCLIP_FILE

    emb.model.value = SATCLIP_FILE
    assert emb.path.disabled is False
    cases = [("", "Enter the path"), (str(tmp_path / "missing.ckpt"), "does not exist"),
             (str(tmp_path), "is not a file")]
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    cases.append((str(junk), f"{junk}: not a PyTorch checkpoint, or corrupted"))  # one clean line
    for path, needle in cases:
        emb.path.value = path
        _run(emb.load())
        assert needle in emb.error, (path, emb.error)
        assert emb.message.visible and "Traceback" not in emb.error and "weights_only" not in emb.error
        assert emb.message.object == emb.error and "\n" not in emb.error
        assert emb.prepared.label == "geoviz-bluemarble-l10"  # the previous model stays
    emb.model.value = "satclip-resnet18-l10"
    _run(emb.load())
    assert "not downloaded yet" in emb.error
    emb.model.value = "geoviz-bluemarble-l10"


def test_download_needs_consent_and_reports_failures(emb, monkeypatch):
    import geoviz.pretrained.download as dl

    calls = []

    def fake(name, **kw):
        calls.append((name, kw))
        raise dl.DownloadError("network unreachable")

    monkeypatch.setattr(dl, "ensure_checkpoint", fake)
    assert "satclip-resnet18-l10" in emb.download_name.options
    assert emb.download_button.disabled
    _run(emb.download())
    assert calls == [] and "consent" in emb.error
    emb.consent.value = True
    assert not emb.download_button.disabled
    _run(emb.download())
    assert calls and calls[0][1]["download"] is True
    assert "network unreachable" in emb.error and emb.consent.value is False
    assert "satclip-resnet18-l10" in emb.models_table.object


def test_deferred_page_is_built_in_small_steps():
    """defer=True: a light first page; the training tab enters in steps, each adding a few
    Bokeh models (what the server runs one per event-loop callback), then on_built runs."""
    from geoviz.app.training_tab import TrainingTab

    built = []
    deferred = create_app(defer=True, on_built=lambda: built.append(True))
    doc = bokeh.document.Document()
    doc.add_root(deferred.layout.get_root(doc))
    first_page = len(list(doc.models))
    assert 0 not in deferred._tab_objects and not built

    tab = TrainingTab(defer_plots=True)
    assert tab.controls.objects == [] and tab.flat_view is None
    doc2 = bokeh.document.Document()
    doc2.add_root(tab.layout.get_root(doc2))
    steps = tab.build_steps()
    assert [s.__name__ for s in steps] == ["controls_0", "controls_1", "controls_2", "controls_3", "flat", "globe", "previous", "loss",
                                           "accuracy", "truth"]
    counts = [len(list(doc2.models))]
    for step in steps:
        step()
        counts.append(len(list(doc2.models)))
    added = np.diff(counts)
    assert (added > 0).all() and added.max() <= 45, counts  # every step adds something, none much
    assert len(tab.controls.objects) == 4 and tab.flat_view is not None and len(tab.curve_panes.objects) == 2
    for step in steps:  # running them again changes nothing
        step()
    assert len(list(doc2.models)) == counts[-1]

    # outside a server session show_deferred builds everything at once and reports it
    deferred.show_deferred()
    assert built == [True]
    assert deferred.training.flat_view is not None and len(deferred.training.controls.objects) == 4
    assert first_page < 30


def test_warm_start_session_builds_the_whole_page(monkeypatch):
    """``panel serve --warm`` (make serve) runs apps/dashboard.py once before serving, in a
    session without a server context: the page must be built completely then (imports and
    first-use code paths paid before the first visitor), on_built called, and the training
    processes' fork server ready."""
    import gc
    from pathlib import Path

    from bokeh.command.util import build_single_handler_applications
    from panel.io.session import generate_session

    import geoviz.app.dashboard as dashboard
    from geoviz.training import process as training_process

    import sys

    import panel as pn

    frozen = []
    monkeypatch.setattr(dashboard, "freeze_gc_once", lambda: frozen.append(True))  # not in pytest's process
    from geoviz.app import smoothness_tab

    prefit = []  # the Smoothness tab's default sweep starts at warm-up (not in pytest's process)
    monkeypatch.setattr(smoothness_tab, "prefit_default", lambda: prefit.append(True))
    # the script configures the server process: undo it afterwards (the thread pool ends
    # when nthreads returns to None)
    monkeypatch.setattr(pn.config, "nthreads", None)
    monkeypatch.setattr(sys, "setswitchinterval", lambda interval: None)
    script = str(Path(__file__).resolve().parent.parent / "apps" / "dashboard.py")
    before = set(dashboard.LIVE_APPS)
    apps = build_single_handler_applications([script])
    session = generate_session(next(iter(apps.values())))
    (app,) = set(dashboard.LIVE_APPS) - before
    try:
        assert frozen == [True]  # on_built ran: the page is complete
        assert prefit == [True]
        tab = app._tab_objects[0]
        assert tab.flat_view is not None and len(tab.controls.objects) == 4 and len(tab.curve_panes.objects) == 2
        assert app._holders[0].objects == [tab.layout]  # the spinner is gone
        assert training_process._WARM is not None and not training_process._WARM.is_alive()
        assert gc.isenabled()
    finally:
        app.close()
        session.destroy()


def test_live_curves_tick_whole_epochs():
    """Early in a run the epoch axis showed 1.5, 2.5: its ticker must step by whole epochs."""
    from geoviz.viz.live import CurvesView

    v = CurvesView()
    for fig in (v.loss_figure, v.accuracy_figure):
        ticker = fig.below[0].ticker
        assert ticker.min_interval == 1
