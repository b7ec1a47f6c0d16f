"""geoviz.model_file: one safetensors model file for every kind geoviz writes.

Round trips are compared bit for bit (tensor bytes viewed as uint8, dtypes, header dicts);
damaged, edited, truncated, foreign, newer and old-pickle files must be refused with a
message naming the file and the problem, and no file may ever be unpickled.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _model_file_helpers import join, rewrite_header, split

import geoviz
from geoviz.data import task_from_points, uniform_sphere
from geoviz.model_file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    KINDS,
    ModelFileError,
    encoder_spec_of,
    load_encoder,
    read_header,
    read_model_file,
    save_encoder,
    save_model_file,
)
from geoviz.model_io import load_model, predict_with, read_metadata, save_model
from geoviz.spec import EncoderSpec

PTS = uniform_sphere(400, 11)
ROOT = Path(__file__).resolve().parents[1]


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    fa, fb = a.contiguous().reshape(-1), b.contiguous().reshape(-1)
    return fa.numel() == 0 or torch.equal(fa.view(torch.uint8), fb.view(torch.uint8))


def assert_same_tensors(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k in want:
        assert bits_equal(got[k], want[k]), k


def _converter():
    spec = importlib.util.spec_from_file_location("convert_model_files", ROOT / "scripts" / "convert_model_files.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------- the container


def test_generic_round_trip_is_bit_identical_and_keeps_the_name(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 4, generator=g), "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "f16": torch.randn(7, generator=g).half(), "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "i64": torch.arange(-3, 3), "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8), "b": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4),
        "nan": torch.tensor([float("nan"), -0.0, float("inf")]),
        "strided": torch.arange(12.0).reshape(3, 4).T,  # non-contiguous in
    }
    header = {"kind": "location-encoder", "extra": {"note": "ünïcode ✓", "nested": [1, 2.5, None, True]}}
    for name in ("model", "m.pt", "weird.name.v2", "sub/dir/x.safetensors"):
        p = save_model_file(tmp_path / name, tensors, header)
        assert p == tmp_path / name and p.is_file()
        back, h = read_model_file(p)
        assert_same_tensors(back, tensors)
        assert h == read_header(p)
        assert {k: h[k] for k in header} == header
        assert h["format"] == FORMAT_NAME and h["format_version"] == FORMAT_VERSION
        assert h["geoviz_version"] == geoviz.__version__ and h["created"].endswith("Z")
        assert h["tensors"]["count"] == len(tensors) and len(h["tensors"]["sha256"]) == 64
    # written atomically: no temporary files are left behind; an existing file is replaced
    save_model_file(tmp_path / "model", {"w": torch.ones(2)}, header)
    assert_same_tensors(read_model_file(tmp_path / "model")[0], {"w": torch.ones(2)})
    assert sorted(os.listdir(tmp_path)) == ["m.pt", "model", "sub", "weird.name.v2"]
    # a header that is not JSON or without a kind is refused before anything is written
    with pytest.raises(TypeError, match="JSON"):
        save_model_file(tmp_path / "bad", {}, {"kind": "species", "x": object()})
    with pytest.raises(ValueError, match="kind"):
        save_model_file(tmp_path / "bad", {}, {"kind": "mystery"})
    with pytest.raises(TypeError, match="torch.Tensor"):
        save_model_file(tmp_path / "bad", {"w": np.zeros(2)}, header)
    assert not (tmp_path / "bad").exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert set(KINDS) >= {"regressor", "classifier", "species", "location-encoder", "pretraining-checkpoint"}


def test_a_header_length_that_looks_like_pickle_magic_is_read(tmp_path):
    """A safetensors header of 640 bytes starts the file with b"\\x80\\x02", a pickle's magic:
    it is still a model file, not an old pickle."""
    for pad in range(0, 800):
        p = save_model_file(tmp_path / "h", {"w": torch.zeros(1)}, {"kind": "location-encoder", "extra": {"p": "x" * pad}})
        if p.read_bytes()[:2] == b"\x80\x02":
            break
    else:  # pragma: no cover
        pytest.fail("no padding gave a 640-byte header")
    assert read_header(p)["extra"]["p"] == "x" * pad and bits_equal(read_model_file(p)[0]["w"], torch.zeros(1))


def test_the_file_is_plain_safetensors(tmp_path):
    """Any safetensors reader opens it; the geoviz header is one JSON string in __metadata__."""
    from safetensors import safe_open

    model = geoviz.build_location_encoder("sh", "siren", 2, legendre_polys=3, hidden_dim=8)
    p = save_encoder(tmp_path / "enc.safetensors", model, {"extra": {}})
    with safe_open(str(p), framework="pt") as f:
        meta = f.metadata()
        assert set(f.keys()) == set(model.state_dict())
    h = json.loads(meta["geoviz"])
    assert h["kind"] == "location-encoder" and h["encoder"]["spec"].startswith("sh:3(convention=standard)+siren(8x")
    assert h == read_header(p)


# ----------------------------------------------------------------------------- every kind round trips


def _regression_trainer():
    from geoviz.training import TrainConfig, Trainer

    y = np.stack([10 * np.cos(np.radians(PTS[:, 1])), PTS[:, 0] / 90], axis=1)
    task = task_from_points(PTS, y, kind="regression", units="m", target_names=["a", "b"])
    tr = Trainer(task, TrainConfig(max_epochs=2, dtype="float64", pe_kwargs={"legendre_polys": 4},
                                   nn_kwargs={"hidden_dim": 8, "num_layers": 1}))
    list(tr.run())
    return tr


def test_regressor_and_classifier_round_trip_and_predict_identically(tmp_path):
    from geoviz.training import TrainConfig, Trainer

    tr = _regression_trainer()
    p = save_model(tr, tmp_path / "reg", extra={"r2": 0.5})
    model, meta = load_model(p)
    assert meta["kind"] == "regressor" and meta["task"]["units"] == "m" and meta["task"]["target_names"] == ["a", "b"]
    assert meta["training_data"]["n_train"] == len(tr.task.train) and len(meta["training_data"]["lat_range"]) == 2
    assert meta["encoder"]["spec"] == str(EncoderSpec.from_dict(meta["encoder"])) == str(encoder_spec_of(tr.model))
    assert meta["dtype"] == "float64" and meta["output_dim"] == 2
    assert_same_tensors(model.state_dict(), tr.model.state_dict())
    a = predict_with(tr.model.eval(), meta, PTS)["prediction"]
    b = predict_with(model, meta, PTS)["prediction"]
    assert a.shape == (len(PTS), 2) and np.array_equal(a, b)
    assert read_metadata(p) == meta
    # multiclass: class names and probabilities identical
    lab = np.where(PTS[:, 1] > 30, "N", np.where(PTS[:, 1] < -30, "S", "T"))
    ctask = task_from_points(PTS, lab)
    ctr = Trainer(ctask, TrainConfig(max_epochs=2, dtype="float32", pe_kwargs={"legendre_polys": 3},
                                     nn_kwargs={"hidden_dim": 8, "num_layers": 1}))
    list(ctr.run())
    cm, cmeta = load_model(save_model(ctr, tmp_path / "cls.gvz"))
    assert cmeta["kind"] == "classifier" and cmeta["task"]["class_names"] == ["N", "S", "T"]
    assert cmeta["training_data"]["class_counts"] == ctask.meta["class_counts"]
    ra, rb = predict_with(ctr.model.eval(), cmeta, PTS), predict_with(cm, cmeta, PTS)
    assert np.array_equal(ra["probabilities"], rb["probabilities"]) and (ra["prediction"] == rb["prediction"]).all()
    # a model without a task is a plain location encoder
    raw = geoviz.build_location_encoder("spherec+", "fcnet", 3, frequency_num=4, hidden_dim=8, num_layers=1)
    rm, rmeta = load_model(save_model(raw, tmp_path / "raw"))
    assert rmeta["kind"] == "location-encoder" and rmeta["encoding"] == "spherec+" and rmeta["network"] == "fcnet"
    assert_same_tensors(rm.state_dict(), raw.state_dict())


def test_location_encoder_round_trip(tmp_path):
    from geoviz.pretrained.geoviz_model import load_geoviz_model, save_geoviz_model

    torch.manual_seed(1)
    enc = geoviz.build_location_encoder("sh", "siren", 6, legendre_polys=5, hidden_dim=12, num_layers=2,
                                        w0_initial=20.0)
    meta = {"data_source": "test", "steps": 3, "history": [{"epoch": 1, "loss": 1.25}]}
    p = save_geoviz_model(tmp_path / "enc.safetensors", enc, meta)
    back, m = load_geoviz_model(path=p, return_meta=True)
    assert m == meta
    assert_same_tensors(back.state_dict(), enc.state_dict())
    x = torch.tensor(PTS, dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(back(x), enc(x))
    h = read_header(p)
    assert h["kind"] == "location-encoder" and h["encoder"]["nn_kwargs"]["w0_initial"] == 20.0
    assert h["training_data"] == {"source": "test", "steps": 3}
    # the generic reader and model_io read the same file
    g, gh = load_encoder(p)
    assert_same_tensors(g.state_dict(), enc.state_dict()) and gh == h
    assert load_model(p)[1]["extra"] == meta


def test_species_model_round_trip_with_tensors_in_meta(tmp_path):
    from geoviz.species import SpeciesModel, load_species_model

    torch.manual_seed(2)
    m = SpeciesModel(["Vulpes vulpes", "Lynx lynx", "Ursus arctos"], pe_kwargs={"legendre_polys": 4},
                     nn_kwargs={"hidden_dim": 8, "num_layers": 2}).double()
    obs = {"lonlat": torch.randn(20, 2, dtype=torch.float32), "species": torch.randint(0, 3, (20,), dtype=torch.int32)}
    m.meta.update({"source": "test", "num_observations": 20, "observations": obs, "config": {"lr": 0.01},
                   "np": np.float32(1.5)})
    p = m.save(tmp_path / "sp")
    back = load_species_model(p)
    assert back.names == m.names and back.meta["source"] == "test" and back.meta["np"] == 1.5
    assert_same_tensors(back.meta["observations"], obs)
    assert_same_tensors(back.encoder.state_dict(), m.encoder.state_dict())
    assert np.array_equal(back.logits(PTS), m.logits(PTS)) and back.logits(PTS).dtype == np.float64
    h = read_header(p)
    assert h["kind"] == "species" and h["species"] == m.names and h["output_dim"] == 3
    assert h["training_data"] == {"n_species": 3, "n_observations": 20, "source": "test"}
    assert h["extra"]["observations"]["lonlat"] == {"__tensor__": "extra.observations.lonlat"}
    # the file's tensors are the weights plus exactly the referenced meta tensors
    names = set(read_model_file(p)[0])
    assert names == set(m.encoder.state_dict()) | {"extra.observations.lonlat", "extra.observations.species"}


def test_pretraining_checkpoint_round_trip(tmp_path):
    from geoviz.training.pretraining import PretrainConfig, build_model, load_full_checkpoint, save_full_checkpoint

    cfg = PretrainConfig(legendre_polys=3, hidden_dim=8, embed_dim=8, cnn_channels=(2, 2, 2, 2), pixels=16,
                         batch_size=4, eval_n=0)
    torch.manual_seed(3)
    model = build_model(cfg)
    with torch.no_grad():  # non-default buffers and temperature, so that they are seen to round-trip
        for mod in model.image.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
                mod.num_batches_tracked.fill_(7)
        model.logit_scale.fill_(2.5)
    p = save_full_checkpoint(tmp_path / "full.pt", model, cfg, training_data={"source": "test"})
    back, cfg2 = load_full_checkpoint(p)
    assert cfg2 == cfg
    assert_same_tensors(back.state_dict(), model.state_dict())
    model.eval()
    x, img = torch.tensor(PTS[:8], dtype=torch.float32), torch.rand(8, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(back.location(x), model.location(x)) and torch.equal(back.image(img), model.image(img))
    h = read_header(p)
    assert h["kind"] == "pretraining-checkpoint" and h["config"]["cnn_channels"] == [2, 2, 2, 2]
    assert h["encoder"]["pe_kwargs"]["legendre_polys"] == 3


def test_species_demo_round_trip(tmp_path):
    from geoviz.species.demo import SpeciesDemo

    rng = np.random.default_rng(0)
    demo = SpeciesDemo(["a", "b"], rng.uniform(-90, 90, (5, 2)), np.array([0, 1, 1, 0, 1]),
                       rng.random((2, 3, 6)) > 0.5, rng.random((2, 3, 6)).astype(np.float32), rng.random((3, 6)) > 0.3,
                       60.0, {"model": {"ap": rng.random(2), "auc": rng.random(2)}, "kde": {"ap": rng.random(2)}},
                       {"seed": 1, "bias": "uniform"}, float("nan"))
    p = demo.save(tmp_path / "demo.npz")
    back = SpeciesDemo.load(p)
    assert back.names == demo.names and back.settings == demo.settings and back.resolution == 60.0
    assert np.isnan(back.train_seconds)
    for f in ("lonlat", "species", "truth", "probability", "land"):
        a, b = getattr(back, f), getattr(demo, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    for who, d in demo.metrics.items():
        for k, v in d.items():
            assert np.array_equal(back.metrics[who][k], v)
    assert read_header(p)["kind"] == "species-demo"


# ----------------------------------------------------------------------------- refusals


@pytest.fixture()
def model_file(tmp_path):
    torch.manual_seed(0)
    model = geoviz.build_location_encoder("sh", "siren", 2, legendre_polys=3, hidden_dim=8)
    return save_model(model, tmp_path / "m.gvz"), model


def _refused(path, match, fn=load_model):
    with pytest.raises(ModelFileError, match=match) as ei:
        fn(path)
    text = str(ei.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    assert ei.value.path == str(path)
    return text


def test_edited_header_is_refused(tmp_path, model_file):
    p, _ = model_file

    def edit(h):
        h["task"]["units"] = "°F"

    rewrite_header(p, tmp_path / "edited.gvz", edit, resign=False)
    _refused(tmp_path / "edited.gvz", "header was edited or damaged")
    _refused(tmp_path / "edited.gvz", "header was edited or damaged", read_header)
    # an edit of the raw bytes that keeps the JSON valid (one character) is caught too
    data = bytearray(p.read_bytes())
    i = data.index(b"sphericalharmonics")
    data[i] = ord("S")
    (tmp_path / "byte.gvz").write_bytes(bytes(data))
    _refused(tmp_path / "byte.gvz", "header was edited or damaged")


def test_altered_weights_are_refused(tmp_path, model_file):
    p, _ = model_file
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x01  # one bit of the last tensor
    (tmp_path / "w.gvz").write_bytes(bytes(data))
    _refused(tmp_path / "w.gvz", "weights were altered or damaged")
    # the tensor table edited (dtype F32 → I32, same size): the weights no longer match their SHA-256
    st, body = split(p)
    name = next(k for k in st if k != "__metadata__")
    st[name]["dtype"] = "I32"
    (tmp_path / "dtype.gvz").write_bytes(join(st, body))
    _refused(tmp_path / "dtype.gvz", "weights were altered or damaged")


def test_damaged_header_length_and_truncation_are_refused(tmp_path, model_file):
    p, _ = model_file
    data = p.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    for bad_n, match in [(len(data) * 4, "header length field says"), (2**40, "header length field says"),
                         (n - 40, "not valid JSON"), (n + 16, "not valid JSON"), (0, "header length field says")]:
        (tmp_path / "len.gvz").write_bytes(struct.pack("<Q", bad_n) + data[8:])
        _refused(tmp_path / "len.gvz", match)
        _refused(tmp_path / "len.gvz", match, read_header)
    (tmp_path / "cut.gvz").write_bytes(data[:-10])
    _refused(tmp_path / "cut.gvz", r"truncated: the tensors need \d+ bytes of data but the file holds")
    (tmp_path / "cut2.gvz").write_bytes(data[: 8 + n // 2])
    _refused(tmp_path / "cut2.gvz", "header length field says")
    (tmp_path / "long.gvz").write_bytes(data + b"\0" * 8)
    _refused(tmp_path / "long.gvz", "8 unexpected bytes after the tensors")


@pytest.mark.parametrize("content", [b"", b"abc", b"hello, not a model\n" * 20, bytes(range(256)) * 4,
                                     b'{"a": 1}' + b" " * 40])
def test_not_a_model_file_is_refused(tmp_path, content):
    p = tmp_path / "junk.gvz"
    p.write_bytes(content)
    _refused(p, "not a readable geoviz model file")


def test_foreign_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "hf.safetensors"), metadata={"format": "pt"})
    _refused(tmp_path / "hf.safetensors", "without a geoviz header")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_model_file(tmp_path / "nope.gvz")


def test_unknown_and_missing_tensors_are_refused(tmp_path, model_file):
    p, _ = model_file
    tensors, header = read_model_file(p)
    save_model_file(tmp_path / "more.gvz", {**tensors, "network.extra_w": torch.zeros(3)}, header)
    _refused(tmp_path / "more.gvz",
             r"do not match .*missing tensor\(s\) \[\], unknown tensor\(s\) \['network.extra_w'\]")
    less = dict(tensors)
    del less["network.layers.0.bias"]
    save_model_file(tmp_path / "less.gvz", less, header)
    _refused(tmp_path / "less.gvz", r"missing tensor\(s\) \['network.layers.0.bias'\]")
    # a species model with an extra or a missing tensor
    from geoviz.species import SpeciesModel

    sp = SpeciesModel(["a", "b"], pe_kwargs={"legendre_polys": 3}, nn_kwargs={"hidden_dim": 8, "num_layers": 1})
    sp.save(tmp_path / "sp.gvz")
    t, h = read_model_file(tmp_path / "sp.gvz")
    save_model_file(tmp_path / "sp2.gvz", {**t, "stray": torch.zeros(1)}, h)
    _refused(tmp_path / "sp2.gvz", r"unknown tensor\(s\) \['stray'\]", SpeciesModel.load)
    # a header whose tensor reference points nowhere
    h["extra"] = {"obs": {"__tensor__": "extra.obs"}}
    save_model_file(tmp_path / "sp3.gvz", t, h)
    _refused(tmp_path / "sp3.gvz", "refers to a tensor 'extra.obs' that the file lacks", SpeciesModel.load)


def test_newer_and_older_versions_and_other_kinds(tmp_path, model_file):
    p, _ = model_file

    def newer(h):
        h["format_version"] = FORMAT_VERSION + 1

    rewrite_header(p, tmp_path / "new.gvz", newer)
    text = _refused(tmp_path / "new.gvz", f"format version {FORMAT_VERSION + 1} by a newer geoviz")
    assert "upgrade geoviz" in text
    _refused(tmp_path / "new.gvz", "upgrade geoviz", read_header)

    def older(h):
        h["format_version"] = 1

    rewrite_header(p, tmp_path / "old.gvz", older)
    _refused(tmp_path / "old.gvz", "unsupported format version 1")

    def other(h):
        h["format"] = "someone-else"

    rewrite_header(p, tmp_path / "other.gvz", other)
    _refused(tmp_path / "other.gvz", "unsupported format 'someone-else'")
    # a model of another kind names the loader to use
    from geoviz.species import SpeciesModel, load_species_model

    text = _refused(p, "holds a 'location-encoder' model .*expected 'species'", load_species_model)
    sp = SpeciesModel(["a"], pe_kwargs={"legendre_polys": 3}, nn_kwargs={"hidden_dim": 8, "num_layers": 1})
    _refused(sp.save(tmp_path / "sp.gvz"), "load it with geoviz.species.load_species_model", load_model)


class _Evil:
    """Unpickling this would create the marker file."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_files(tmp_path):
    marker = tmp_path / "PWNED"
    evil = _Evil()
    evil.marker = str(marker)
    zipped = tmp_path / "evil_zip.pt"
    torch.save({"format": "geoviz-model/1", "metadata": "{}", "state_dict": {}, "x": evil}, zipped)
    legacy = tmp_path / "evil_legacy.pt"
    legacy.write_bytes(pickle.dumps({"format": "geoviz-species", "x": evil}, protocol=2))
    return marker, [zipped, legacy]


def test_pickles_are_never_unpickled(tmp_path):
    from geoviz.pretrained.geoviz_model import load_geoviz_model
    from geoviz.training.pretraining import load_full_checkpoint
    from geoviz.species import load_species_model
    from geoviz.species.demo import SpeciesDemo

    marker, files = _evil_files(tmp_path)
    loaders = [load_model, read_metadata, read_header, read_model_file, load_species_model,
               lambda p: load_geoviz_model(path=p), load_full_checkpoint, SpeciesDemo.load,
               lambda p: load_full_checkpoint(p, weights_only=False)]
    for f in files:
        for fn in loaders:
            with pytest.raises(ValueError) as ei:
                fn(f)
            assert "convert_model_files.py" in str(ei.value) and "weights_only" not in str(ei.value)
            assert str(f) in str(ei.value)
    # the converter reads old files with weights_only=True: it refuses these too
    conv = _converter()
    for f in files:
        assert conv.main([str(f), str(tmp_path / "out.gvz")]) == 2
    assert not marker.exists() and not (tmp_path / "out.gvz").exists()


def test_old_files_name_the_conversion_command(tmp_path):
    old = tmp_path / "old.gvz"
    torch.save({"format": "geoviz-model/1", "metadata": "{}", "state_dict": {"w": torch.zeros(2)}}, old)
    text = _refused(old, "old torch.save file")
    assert f"python scripts/convert_model_files.py {old} NEW" in text
    np.savez(tmp_path / "demo.npz", names=np.array(["a"]))
    from geoviz.species.demo import SpeciesDemo

    with pytest.raises(ValueError, match="NumPy .npz archive.*convert_model_files.py"):
        SpeciesDemo.load(tmp_path / "demo.npz")


# ----------------------------------------------------------------------------- conversion of old files


def _old_model_io_file(path, model, meta):
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"format": "geoviz-model/1", "metadata": json.dumps(meta), "state_dict": sd}, path)


def test_converter_turns_each_old_format_into_an_identical_model(tmp_path, capsys):
    conv = _converter()
    # model_io, format 1
    torch.manual_seed(4)
    reg = geoviz.build_location_encoder("sh", "siren", 1, legendre_polys=4, hidden_dim=8).double()
    meta = {"format": "geoviz-model/1", "encoding": "sphericalharmonics", "encoding_args": {"legendre_polys": 4},
            "network": "siren", "network_args": dict(reg.network.hparams), "output_dim": 1, "dtype": "float64",
            "task": {"kind": "regression", "name": "t", "units": "K", "class_names": None, "num_classes": 0,
                     "target_names": ["t"]},
            "scaling": {"mean": [280.0], "std": [10.0]}, "config": {"lr": 0.01}, "extra": {"n": 1}}
    _old_model_io_file(tmp_path / "reg.gvz", reg, meta)
    assert conv.main([str(tmp_path / "reg.gvz"), str(tmp_path / "reg.new")]) == 0
    assert "bit-identical" in capsys.readouterr().out
    model, m = load_model(tmp_path / "reg.new")
    assert_same_tensors(model.state_dict(), reg.state_dict())
    assert m["kind"] == "regressor" and m["scaling"] == meta["scaling"] and m["extra"] == {"n": 1}
    assert m["converted_from"] == {"format": "geoviz-model/1", "file": "reg.gvz"}
    assert np.array_equal(predict_with(model, m, PTS)["prediction"], predict_with(reg.eval(), meta, PTS)["prediction"])
    # species, format "geoviz-species"
    from geoviz.species import SpeciesModel, load_species_model

    sp = SpeciesModel(["a", "b"], pe_kwargs={"legendre_polys": 3}, nn_kwargs={"hidden_dim": 8, "num_layers": 1})
    obs = {"lonlat": torch.randn(4, 2), "species": torch.tensor([0, 1, 1, 0], dtype=torch.int32)}
    torch.save({"format": "geoviz-species", "version": 1, "names": ["a", "b"], "pe": "sphericalharmonics",
                "nn": "siren", "pe_kwargs": {"legendre_polys": 3}, "nn_kwargs": {"hidden_dim": 8, "num_layers": 1},
                "dtype": "float32", "meta": {"source": "x", "observations": obs},
                "state_dict": {k: v.detach() for k, v in sp.encoder.state_dict().items()}}, tmp_path / "sp.pt")
    assert conv.main([str(tmp_path / "sp.pt"), str(tmp_path / "sp.safetensors")]) == 0
    back = load_species_model(tmp_path / "sp.safetensors")
    assert np.array_equal(back.logits(PTS), sp.logits(PTS)) and back.meta["source"] == "x"
    assert_same_tensors(back.meta["observations"], obs)
    # pretraining --save-full
    from dataclasses import asdict

    from geoviz.training.pretraining import PretrainConfig, build_model, load_full_checkpoint

    cfg = PretrainConfig(legendre_polys=3, hidden_dim=8, embed_dim=8, cnn_channels=(2, 2, 2, 2), pixels=16,
                         batch_size=4, eval_n=0)
    full = build_model(cfg)
    cd = asdict(cfg)
    cd["cnn_channels"] = list(cfg.cnn_channels)
    torch.save({"config": cd, "state_dict": full.state_dict()}, tmp_path / "full.pt")
    assert conv.main([str(tmp_path / "full.pt"), str(tmp_path / "full.gvz")]) == 0
    fb, _ = load_full_checkpoint(tmp_path / "full.gvz")
    assert_same_tensors(fb.state_dict(), full.state_dict())
    # the species demo's .npz cache
    from geoviz.species.demo import SpeciesDemo

    rng = np.random.default_rng(1)
    np.savez_compressed(tmp_path / "demo.npz", names=np.array(["a", "b"]), lonlat=rng.random((3, 2)),
                        species=np.array([0, 1, 0]), truth=rng.random((2, 2, 4)) > 0.5,
                        probability=rng.random((2, 2, 4)).astype(np.float32), land=rng.random((2, 4)) > 0.5,
                        resolution=90.0, m_model_ap=rng.random(2), m_kde_auc=rng.random(2),
                        settings=json.dumps({"seed": 1}), train_seconds=2.5)
    assert conv.main([str(tmp_path / "demo.npz"), str(tmp_path / "demo.gvz")]) == 0
    d = SpeciesDemo.load(tmp_path / "demo.gvz")
    assert d.names == ["a", "b"] and d.train_seconds == 2.5 and d.metrics["kde"]["auc"].shape == (2,)
    # refusals: a file already converted, an existing output, something that is not an old geoviz file
    capsys.readouterr()
    assert conv.main([str(tmp_path / "demo.gvz"), str(tmp_path / "again.gvz")]) == 2
    assert "already a geoviz model file" in capsys.readouterr().err
    assert conv.main([str(tmp_path / "sp.pt"), str(tmp_path / "sp.safetensors")]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    torch.save({"state_dict": {"model.visual.w": torch.zeros(2)}}, tmp_path / "satclip.ckpt")
    assert conv.main([str(tmp_path / "satclip.ckpt"), str(tmp_path / "s.gvz")]) == 2
    assert "not an old geoviz model file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the shipped models


@pytest.mark.parametrize("name,L", [("geoviz-bluemarble-l10", 10), ("geoviz-bluemarble-l40", 40)])
def test_shipped_models_are_model_files_and_load(name, L):
    from geoviz.pretrained import get_model_info, is_available, load_pretrained
    from geoviz.pretrained.geoviz_model import default_weights_path

    path = default_weights_path(name.rsplit("-", 1)[1])
    assert path.name == f"{name}.safetensors" and path.is_file() and is_available(name)
    assert ".safetensors" in get_model_info(name).source
    assert not list(path.parent.glob("*.pt")), "the former torch.save weights must not ship"
    h = read_header(path)
    assert h["kind"] == "location-encoder" and h["dtype"] == "float32" and h["output_dim"] == 256
    assert h["encoder"]["spec"] == f"sh:{L}(convention=standard)+siren(256x2,dropout=0.0,w0=1.0,w0_initial=30.0)"
    # retrained for issue 27 by `geoviz results pretrained`, with the image tower beside the encoder
    assert h["extra"]["made_by"] == "geoviz results pretrained" and h["image_encoder"]["backbone"] == "cnn"
    from geoviz.model_file import location_tensors

    enc = load_pretrained(name)
    tensors, header = read_model_file(path)
    assert_same_tensors(enc.state_dict(), location_tensors(header, tensors))
    with torch.no_grad():
        e = enc(torch.tensor(PTS[:50], dtype=torch.float64))
    assert e.shape == (50, 256) and e.dtype == torch.float32 and torch.isfinite(e).all()


def test_nothing_else_names_the_old_weight_files():
    hits = []
    for folder in ("geoviz", "docs", "notebooks", "scripts", "tests", "benchmarks"):
        for f in (ROOT / folder).rglob("*"):
            if f.is_file() and f.suffix in (".py", ".md", ".ipynb", ".toml", ".txt") and f.name != Path(__file__).name:
                text = f.read_text(encoding="utf-8", errors="replace")
                if "bluemarble-l10.pt" in text or "bluemarble-l40.pt" in text or "-l40.pt`" in text:
                    hits.append(str(f.relative_to(ROOT)))
    # listed in the model-file report for their owners; geoviz's own code must not name them
    assert not [h for h in hits if h.startswith("geoviz/")], hits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_one_resolver_for_names_model_files_and_checkpoints(tmp_path):
    """geoviz.pretrained.load_encoder: a pretrained name, a geoviz model file and an old
    torch.save file (refused with the conversion command) through one function, used by
    `geoviz embed` and `geoviz evaluate` alike."""
    import pickle

    import numpy as np
    import torch

    from geoviz.commands.embed import resolve_encoder
    from geoviz.evaluation.encoders import get_encoder
    from geoviz.model_file import ModelFileError, looks_like_model_file
    from geoviz.pretrained import load_encoder
    from geoviz.pretrained.geoviz_model import default_weights_path

    named, what = load_encoder("geoviz-bluemarble-l10")
    assert what == "pretrained geoviz-bluemarble-l10"
    path = default_weights_path("l10")
    assert looks_like_model_file(path)
    from_file, what = load_encoder(path)
    assert what.startswith("geoviz location encoder") and "sh:10" in what
    x = torch.tensor([[2.35, 48.86], [-70.0, -33.0]], dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_array_equal(named(x).numpy(), from_file(x).numpy())
        np.testing.assert_array_equal(resolve_encoder(str(path))[0](x).numpy(), named(x).numpy())
    assert get_encoder(str(path)).kind == "checkpoint"
    old = tmp_path / "old.pt"
    torch.save({"format": "geoviz-model/1", "state_dict": {}}, old)
    assert not looks_like_model_file(old)
    with pytest.raises(ModelFileError, match="convert_model_files.py"):
        load_encoder(old)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_encoder(junk)
    with pytest.raises(ValueError, match="neither a pretrained name"):
        load_encoder(tmp_path / "missing.safetensors")
