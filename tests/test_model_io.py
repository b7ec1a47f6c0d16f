"""save_model / load_model: bit-identical round trip, metadata, no code execution, versions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import geoviz
from geoviz.data import task_from_points, uniform_sphere
from geoviz.model_io import FORMAT, ModelFileError, load_model, predict_with, read_metadata, save_model
from geoviz.training import TrainConfig, Trainer

from _model_file_helpers import rewrite_header

PTS = uniform_sphere(500, 7)


@pytest.mark.parametrize("pe,nn,kw,dtype", [
    ("sphericalharmonics", "siren", {"legendre_polys": 8, "hidden_dim": 16}, torch.float32),
    ("sphericalharmonics", "linear", {"legendre_polys": 5}, torch.float64),
    ("spherec+", "fcnet", {"frequency_num": 4, "hidden_dim": 8, "num_layers": 2}, torch.float32),
])
def test_round_trip_is_bit_identical(tmp_path, pe, nn, kw, dtype):
    torch.manual_seed(0)
    model = geoviz.build_location_encoder(pe, nn, 3, **kw).to(dtype).eval()
    path = save_model(model, tmp_path / "m.gvz", extra={"note": "hello"})
    loaded, meta = load_model(path)
    x = torch.tensor(PTS, dtype=dtype)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert a.dtype == b.dtype == dtype
    assert torch.equal(a, b)
    assert meta["format"] == FORMAT and meta["encoding"] == pe and meta["network"] == nn
    assert meta["geoviz_version"] == geoviz.__version__ and meta["extra"] == {"note": "hello"}
    assert not loaded.training


def test_trainer_round_trip_keeps_task_and_scaling(tmp_path):
    y = 15 + 10 * np.cos(np.radians(PTS[:, 1])) + PTS[:, 0] / 50
    task = task_from_points(PTS, y, kind="regression", units="°C", target_names=["tmean"])
    tr = Trainer(task, TrainConfig(max_epochs=3, dtype="float32", pe_kwargs={"legendre_polys": 4},
                                   nn_kwargs={"hidden_dim": 8, "num_layers": 1}))
    list(tr.run())
    path = save_model(tr, tmp_path / "reg.gvz")
    model, meta = load_model(path)
    assert meta["task"]["kind"] == "regression" and meta["task"]["units"] == "°C"
    assert meta["task"]["target_names"] == ["tmean"] and meta["scaling"] == tr.scaling
    assert meta["config"]["max_epochs"] == 3
    pred = predict_with(model, meta, task.test.lonlat)["prediction"]
    feats = tr._encode(task.test.lonlat)
    # same raw outputs; the unit conversion runs in float64 here, in float32 in the trainer
    np.testing.assert_allclose(pred, tr.predict(feats), rtol=1e-6)
    # classification: names and probabilities
    lab = np.where(PTS[:, 1] > 0, "N", "S")
    ctask = task_from_points(PTS, lab)
    ctr = Trainer(ctask, TrainConfig(max_epochs=2, dtype="float32", pe_kwargs={"legendre_polys": 3},
                                     nn_kwargs={"hidden_dim": 8, "num_layers": 1}))
    list(ctr.run())
    cmodel, cmeta = load_model(save_model(ctr, tmp_path / "cls.gvz"))
    res = predict_with(cmodel, cmeta, ctask.test.lonlat)
    assert set(res["prediction"]) <= {"N", "S"} and res["probabilities"].shape == (len(ctask.test), 2)
    np.testing.assert_allclose(res["probabilities"][:, 1], ctr.predict(ctr._encode(ctask.test.lonlat)), atol=1e-6)


def test_regression_without_scaling_is_refused(tmp_path):
    model = geoviz.build_location_encoder("sh", "linear", 1, legendre_polys=3)
    with pytest.raises(ValueError, match="scaling"):
        save_model(model, tmp_path / "x.gvz", kind="regression")


def test_newer_format_is_refused_clearly(tmp_path):
    model = geoviz.build_location_encoder("sh", "linear", 1, legendre_polys=3)
    path = save_model(model, tmp_path / "m.gvz")

    def newer(h):
        h["format_version"] = 99

    rewrite_header(path, tmp_path / "new.gvz", newer)
    with pytest.raises(ModelFileError, match="newer geoviz.*upgrade"):
        load_model(tmp_path / "new.gvz")
    assert read_metadata(path)["encoding"] == "sphericalharmonics"


def test_loading_never_executes_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": FORMAT, "metadata": json.dumps({}), "state_dict": {}, "x": Evil()}, tmp_path / "evil.gvz")
    with pytest.raises(ModelFileError, match="not a readable geoviz model"):
        load_model(tmp_path / "evil.gvz")
    (tmp_path / "junk.gvz").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "junk.gvz")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.gvz")


def test_mismatched_weights_are_refused(tmp_path):
    model = geoviz.build_location_encoder("sh", "siren", 1, legendre_polys=3, hidden_dim=8)
    path = save_model(model, tmp_path / "m.gvz")

    def wider(h):
        h["encoder"]["nn_kwargs"]["hidden_dim"] = 16
        h["encoder"]["spec"] = h["encoder"]["spec"].replace("siren(8x", "siren(16x")

    rewrite_header(path, tmp_path / "bad.gvz", wider)
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(tmp_path / "bad.gvz")
