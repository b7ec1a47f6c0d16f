"""Regression in the training engine: standardised targets, metrics equal to sklearn's,
early stopping, streamed records, stop(), grid predictions (separable path) in units."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from geoviz.data import regular_grid, task_from_points, uniform_sphere
from geoviz.training import TrainConfig, Trainer, regression_metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one torch thread (two spin-wait for each other on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def smooth_field(lonlat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return 30.0 * np.cos(lat) - 10.0 + 6.0 * np.sin(2 * lon) * np.cos(lat) ** 2


def _task(n=1500, multi=False, seed=0):
    p = uniform_sphere(n, seed)
    y = smooth_field(p)
    if multi:
        y = np.column_stack([y, 1000.0 + 50.0 * np.sin(np.radians(p[:, 1]))])
    return task_from_points(p, y, kind="regression", split="random", units="°C", seed=seed)


CFG = dict(pe_kwargs={"legendre_polys": 6}, nn_kwargs={"hidden_dim": 32, "num_layers": 1}, lr=3e-3,
           weight_decay=0.0, batch_size=500, dtype="float32")


@pytest.mark.parametrize("k", [1, 3])
def test_regression_metrics_equal_sklearn(k):
    rng = np.random.default_rng(k)
    y = rng.normal(5, 3, size=(300, k))
    pred = y + rng.normal(0, 1, size=y.shape) * np.arange(1, k + 1)
    m = regression_metrics(torch.tensor(pred), torch.tensor(y))
    yy, pp = (y[:, 0], pred[:, 0]) if k == 1 else (y, pred)
    assert m["r2"] == pytest.approx(sklearn_metrics.r2_score(yy, pp), rel=1e-12)
    assert m["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(yy, pp), rel=1e-12)
    assert m["rmse"] == pytest.approx(sklearn_metrics.root_mean_squared_error(yy, pp), rel=1e-12)


def test_trainer_standardises_and_reports_metrics_in_units():
    task = _task()
    tr = Trainer(task, TrainConfig(max_epochs=40, patience=None, **CFG))
    y = task.train.y.astype(np.float64)
    assert tr.scaling["mean"][0] == pytest.approx(y.mean(), rel=1e-9)
    assert tr.scaling["std"][0] == pytest.approx(y.std(), rel=1e-9)
    recs = list(tr.run())
    assert len(recs) == 40 and recs[-1].stopped == "max_epochs"
    assert set(recs[-1].val_metrics) == {"r2", "rmse", "mae"}
    assert recs[-1].val_loss < recs[0].val_loss
    test = tr.evaluate("test")
    # metrics in target units, equal to sklearn on the model's predictions
    with torch.no_grad():
        pred = tr.model(torch.tensor(task.test.lonlat, dtype=torch.float32)).double().numpy()[:, 0]
    pred = pred * tr.scaling["std"][0] + tr.scaling["mean"][0]
    assert test["r2"] == pytest.approx(sklearn_metrics.r2_score(task.test.y, pred), abs=1e-5)
    assert test["rmse"] == pytest.approx(sklearn_metrics.root_mean_squared_error(task.test.y, pred), rel=1e-4)
    assert test["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(task.test.y, pred), rel=1e-4)
    assert test["r2"] > 0.95  # a smooth field is easy


def test_grid_predictions_in_units_separable_equals_dense():
    task = _task(800)
    grid = regular_grid(10.0)
    cfg = TrainConfig(max_epochs=5, patience=None, **CFG)
    sep = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=5)
    assert sep._grid_predictor is not None
    last = list(sep.run())[-1]
    dense = Trainer(task, cfg, predict_lonlat=grid.lonlat, separable_grid=False)
    dense.model.load_state_dict(sep.model.state_dict())
    assert last.prediction.shape == (grid.lonlat.shape[0],)
    ref = dense.predict()  # °C, float32: tolerance relative to the values' scale (~1e-3 °C at 40 °C)
    np.testing.assert_allclose(last.prediction, ref, rtol=0, atol=256 * np.finfo(np.float32).eps * np.abs(ref).max())
    # the prediction is in units: its mean is near the field's, not near 0
    assert abs(last.prediction.mean() - smooth_field(grid.lonlat).mean()) < 10


def test_early_stopping_and_stop():
    task = _task(600)
    tr = Trainer(task, TrainConfig(max_epochs=500, patience=3, lr=0.05, pe_kwargs={"legendre_polys": 3},
                                   nn_kwargs={"hidden_dim": 8, "num_layers": 1}, dtype="float32", batch_size=600))
    recs = list(tr.run())
    assert recs[-1].stopped == "early_stopping" and len(recs) < 500
    tr2 = Trainer(task, TrainConfig(max_epochs=500, **CFG))
    out = []
    for rec in tr2.run():
        out.append(rec)
        if rec.epoch == 2:
            threading.Thread(target=tr2.stop).start()
    assert out[-1].stopped == "stopped" and len(out) <= 5


def test_multi_output_and_huber():
    task = _task(1000, multi=True)
    assert task.output_dim == 2
    tr = Trainer(task, TrainConfig(max_epochs=30, patience=None, loss="huber", **CFG),
                 predict_lonlat=regular_grid(30.0).lonlat, predict_every=30)
    last = list(tr.run())[-1]
    assert last.prediction.shape == (regular_grid(30.0).lonlat.shape[0], 2)
    assert abs(last.prediction[:, 1].mean() - 1000) < 30  # second output in its own units
    assert len(tr.scaling["mean"]) == 2
    m = tr.evaluate("test")
    assert m["r2"] > 0.8
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="l1")


def test_constant_training_target_is_refused():
    task = _task(200)
    task.train.y[:] = 3.0
    with pytest.raises(ValueError, match="constant"):
        Trainer(task, TrainConfig(max_epochs=1, **CFG))


def test_training_process_runs_a_regression_task_object():
    """A points task (picklable NearestValue label function) trains in a child process."""
    from geoviz.training.process import TrainingProcess

    task = _task(400)
    cfg = TrainConfig(max_epochs=3, patience=None, **CFG)
    with TrainingProcess(task, cfg, grid_resolution=30.0, min_frame_interval=0.0) as proc:
        recs = list(proc.records(timeout=120))
    assert [r.epoch for r in recs] == [1, 2, 3] and recs[-1].stopped == "max_epochs"
    assert set(recs[-1].val_metrics) == {"r2", "rmse", "mae"}
    assert recs[-1].prediction.shape == (6 * 12,) and abs(recs[-1].prediction.mean() - 12) < 15  # °C
