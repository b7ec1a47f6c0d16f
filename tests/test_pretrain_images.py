"""Tests for pretraining on one's own imagery: ``geoviz pretrain --images INDEX.csv``
(geoviz.training.image_index, the backbones, Pretrainer's fixed-dataset mode, checkpoints).

Every test builds its own tiny patch set offline: uint16 13-band 32×32 GeoTIFFs written with
tifffile (and a few PNGs), at locations chosen against the held-out cells. References: the
raw arrays written (band selection and scaling by hand), torchvision's ResNet-18 parameter
names and count (11,689,512 with a 1000-way head, a published figure), a run without
interruption (resume equality), a 1-process run (2 gloo ranks).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch

tifffile = pytest.importorskip("tifffile")

from geoviz.training.backbones import resnet18  # noqa: E402
from geoviz.training.image_index import (ImageIndex, crop_resize, load_patches, normalize, parse_bands,  # noqa: E402
                                         patches_for_tower, read_image, read_index, split_index)
from geoviz.training.pretraining import (PretrainConfig, Pretrainer, latest_checkpoint,  # noqa: E402
                                         load_full_checkpoint)
from geoviz.training.regions import HeldOutCells  # noqa: E402

N_VAL, N_TRAIN, N_BUF = 8, 40, 2
BANDS, PX = 13, 32


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _locations(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``N_VAL`` points inside held-out cells (default HeldOutCells), ``N_BUF`` within 0.04° outside
    one, ``N_TRAIN`` at least 1° away from all; and their role (0 train, 1 val, 2 buffer)."""
    held = HeldOutCells()
    rng = np.random.default_rng(seed)
    x = np.stack([rng.uniform(-180, 180, 200_000), np.degrees(np.arcsin(rng.uniform(-1, 1, 200_000)))], 1)
    inside, near, far = held.contains(x, 0.0), held.contains(x, 0.04), ~held.contains(x, 1.0)
    val, buf, train = x[inside][:N_VAL], x[near & ~inside][:N_BUF], x[far][:N_TRAIN]
    assert len(buf) == N_BUF
    pts = np.concatenate([train, val, buf])
    role = np.repeat([0, 1, 2], [N_TRAIN, N_VAL, N_BUF])
    order = rng.permutation(len(pts))  # roles interleaved in the CSV
    return pts[order], role[order]


def _image(lon: float, lat: float, rng: np.random.Generator, bands: int = BANDS, px: int = PX) -> np.ndarray:
    """A uint16 patch whose bands vary smoothly with the location (learnable), plus noise."""
    b = np.arange(bands)[:, None, None] + 1.0
    base = 3000 + 2500 * np.sin(np.radians(lat) * b) + 2000 * np.cos(np.radians(lon) + b)
    ramp = np.linspace(-400, 400, px)[None, None, :] * np.sign(lat + 1e-9)
    return np.clip(base + ramp + rng.normal(0, 200, (bands, px, px)), 0, 65535).astype(np.uint16)


def _write_set(root: Path, pts: np.ndarray, seed: int = 0, bands: int = BANDS) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = ["fn,lon,lat,note"]
    for i, (lon, lat) in enumerate(pts):
        tifffile.imwrite(root / "images" / f"patch_{i}.tif", _image(lon, lat, rng, bands), photometric="minisblack",
                         planarconfig="separate")
        lines.append(f"patch_{i}.tif,{lon:.6f},{lat:.6f},x")  # S2-100K layout: index.csv beside images/
    (root / "index.csv").write_text("\n".join(lines) + "\n")
    return root / "index.csv"


@pytest.fixture(scope="module")
def patch_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    pts, role = _locations()
    return _write_set(tmp_path_factory.mktemp("s2"), pts), pts, role


def _cfg(csv: Path, **kw) -> PretrainConfig:
    base = dict(images=str(csv), legendre_polys=3, hidden_dim=16, embed_dim=16, cnn_channels=(4, 4, 8, 8),
                resnet_channels=(4, 8, 8, 16), pixels=16, batch_size=8, epochs=1, lr=3e-3, jitter_deg=0.0,
                eval_n=100, seed=0, bands=(4, 3, 2))
    base.update(kw)
    return PretrainConfig(**base)


# ----------------------------------------------------------------------------- the index


def test_read_index_band_selection_and_normalisation(patch_set, tmp_path: Path) -> None:
    csv, pts, _ = patch_set
    ix = read_index(csv)
    assert len(ix) == len(pts) and ix.bands_in_file == BANDS and ix.channels == BANDS and ix.dtype == "uint16"
    assert ix.scale == 10_000.0 and ix.paths[0] == csv.parent / "images" / "patch_0.tif"
    np.testing.assert_allclose(ix.lonlat, np.round(pts, 6), atol=1e-9)
    raw = tifffile.imread(ix.paths[3])  # (13, 32, 32) as written
    assert np.array_equal(read_image(ix.paths[3]), raw)
    sel = read_index(csv, bands="4,3,2")
    assert sel.channels == 3 and sel.bands == (4, 3, 2)
    want = np.clip(raw[[3, 2, 1]].astype(np.float32) / 10_000, 0, 1)
    assert torch.equal(sel.load(3), torch.from_numpy(want))
    # scaling by hand: values above the scale clip to 1
    assert float(normalize(np.full((1, 2, 2), 20_000, np.uint16), None, 10_000).max()) == 1.0
    assert torch.equal(read_index(csv, bands=[1], scale=65535.0).load(3)[0], torch.from_numpy(raw[0] / np.float32(65535)))
    # absolute paths and pixel-interleaved (H, W, C) TIFFs work as well
    hwc = np.moveaxis(raw, 0, -1)
    tifffile.imwrite(tmp_path / "hwc.tif", hwc, photometric="minisblack", planarconfig="contig")
    (tmp_path / "abs.csv").write_text(f"lon,lat,fn\n1.5,2.5,{tmp_path / 'hwc.tif'}\n")
    ab = read_index(tmp_path / "abs.csv")
    assert ab.bands_in_file == BANDS and np.array_equal(read_image(ab.paths[0]), raw)


def test_png_and_jpeg_index(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    rows = ["fn,lon,lat"]
    for i, suffix in enumerate(["png", "jpg", "png"]):
        arr = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"im{i}.{suffix}")
        rows.append(f"im{i}.{suffix},{10 * i},{-5 * i}")
    (tmp_path / "i.csv").write_text("\n".join(rows))
    ix = read_index(tmp_path / "i.csv")
    assert ix.channels == 3 and ix.scale == 255.0 and ix.sizes.tolist() == [[20, 24]] * 3
    x = ix.load(0)
    assert x.shape == (3, 20, 24) and torch.equal(x, torch.from_numpy(np.array(Image.open(tmp_path / "im0.png")))
                                                  .permute(2, 0, 1).float() / 255)
    assert load_patches(ix, [0, 1, 2], 16).shape == (3, 3, 16, 16)


def _bad(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    return p


@pytest.mark.parametrize("case, match", [
    ("missing_col", r"missing column\(s\) \['lat'\]"),
    ("missing_file", r"row 2 \(line 3\), column 'fn': file not found"),
    ("lon_range", r"row 2 \(line 3\), column 'lon': 181 is outside \[-180, 180\]"),
    ("lat_nan", r"row 1 \(line 2\), column 'lat': 'north' is not a number"),
    ("lat_nan2", r"row 1 \(line 2\), column 'lat': nan is outside"),
    ("band_count", r"row 3 \(line 4\), column 'fn': b12\.tif has 12 band\(s\), but the file of row 1 has 13"),
    ("dtype", r"row 2 \(line 3\), column 'fn': u8\.tif is uint8, but the file of row 1 is uint16"),
    ("bands", r"bands 4,14: the files of .* have 13 band\(s\)"),
    ("empty", r"has no rows"),
    ("not_image", r"row 1 \(line 2\), column 'fn': .*not a readable"),
])
def test_index_errors_name_row_and_column(tmp_path: Path, case: str, match: str) -> None:
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "a.tif", _image(0, 0, rng), photometric="minisblack", planarconfig="separate")
    tifffile.imwrite(tmp_path / "b12.tif", _image(0, 0, rng, bands=12), photometric="minisblack",
                     planarconfig="separate")
    tifffile.imwrite(tmp_path / "u8.tif", np.zeros((13, 8, 8), np.uint8), photometric="minisblack",
                     planarconfig="separate")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    texts = {
        "missing_col": "fn,lon\na.tif,1\n",
        "missing_file": "fn,lon,lat\na.tif,1,2\nnope.tif,1,2\n",
        "lon_range": "fn,lon,lat\na.tif,1,2\na.tif,181,2\n",
        "lat_nan": "fn,lon,lat\na.tif,1,north\n",
        "lat_nan2": "fn,lon,lat\na.tif,1,nan\n",
        "band_count": "fn,lon,lat\na.tif,1,2\na.tif,1,2\nb12.tif,1,2\n",
        "dtype": "fn,lon,lat\na.tif,1,2\nu8.tif,1,2\n",
        "bands": "fn,lon,lat\na.tif,1,2\n",
        "empty": "fn,lon,lat\n",
        "not_image": "fn,lon,lat\njunk.tif,1,2\n",
    }
    with pytest.raises(ValueError, match=match):
        read_index(_bad(tmp_path, texts[case]), bands="4,14" if case == "bands" else None)


def test_parse_bands_and_config_checks() -> None:
    assert parse_bands("4, 3,2") == (4, 3, 2) and parse_bands(None) is None and parse_bands([1]) == (1,)
    for bad in ("0,1", "a", "1,1", "-2"):
        with pytest.raises(ValueError, match="band"):
            parse_bands(bad)
    with pytest.raises(ValueError, match="backbone"):
        PretrainConfig(backbone="vit")
    with pytest.raises(ValueError, match="crop_min"):
        PretrainConfig(crop_min=0.0)


def test_crop_resize_and_inference_input_match_validation(patch_set) -> None:
    csv, _, _ = patch_set
    ix = read_index(csv, bands="4,3,2")
    x = ix.load(0)
    assert torch.equal(crop_resize(x, PX), x)  # whole square patch at its own size: unchanged
    assert torch.equal(crop_resize(x, 16, 0.5, 0.0, 1.0), x[:, :16, 16:])  # top-right quarter, no resize
    assert crop_resize(x, 16).shape == (3, 16, 16)
    # what geolocate-style inference computes from raw files equals what validation feeds the tower
    cfg = {"pixels": 16, "bands": [4, 3, 2], "bands_in_file": BANDS, "normalization": {"scale": 10_000.0}}
    assert torch.equal(patches_for_tower([read_image(ix.paths[i]) for i in (0, 5)], cfg), load_patches(ix, [0, 5], 16))
    with pytest.raises(ValueError, match="13-band"):
        patches_for_tower([np.zeros((12, 8, 8), np.uint16)], cfg)


def test_split_by_held_out_cells(patch_set) -> None:
    csv, pts, role = patch_set
    sp = split_index(pts, HeldOutCells(), None, 0.05)
    assert sorted(sp.train) == sorted(np.flatnonzero(role == 0))
    assert sorted(sp.validation) == sorted(np.flatnonzero(role == 1))
    assert sorted(sp.buffer) == sorted(np.flatnonzero(role == 2))  # within 0.05° of a held-out cell
    assert sp.summary() == {"train": N_TRAIN, "validation": N_VAL, "dropped_in_buffer": N_BUF, "outside_region": 0,
                            "buffer_deg": 0.05}
    from geoviz.training.regions import Region

    east = split_index(pts, HeldOutCells(), Region("0,-90,180,90"), 0.05)  # --region: the eastern hemisphere
    assert sorted(east.outside) == sorted(np.flatnonzero(pts[:, 0] < 0))
    assert sorted(east.train) == sorted(np.flatnonzero((role == 0) & (pts[:, 0] >= 0)))
    assert sorted(east.validation) == sorted(np.flatnonzero((role == 1) & (pts[:, 0] >= 0)))


# ----------------------------------------------------------------------------- backbones


def test_resnet18_has_torchvision_layout() -> None:
    m = resnet18(1000, in_channels=3)
    names = set(m.state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
              "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var", "layer4.1.conv2.weight",
              "fc.weight", "fc.bias"):
        assert k in names, k
    assert "layer1.0.downsample.0.weight" not in names
    assert sum(p.numel() for p in m.parameters()) == 11_689_512  # torchvision's resnet18
    assert len(names) == 122  # 62 parameters + 60 BatchNorm buffers, as torchvision's state dict
    g = resnet18(16, (4, 8, 8, 16), in_channels=13, norm="group")
    assert not any("running" in k for k in g.state_dict())
    assert g(torch.rand(2, 13, 32, 32)).shape == (2, 16)
    with pytest.raises(ValueError, match=r"\(B, 13, P, P\)"):
        g(torch.rand(2, 3, 32, 32))


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("backbone", ["cnn", "resnet18"])
def test_one_epoch_trains_only_outside_held_out_cells(patch_set, monkeypatch, backbone: str) -> None:
    csv, _, role = patch_set
    loaded: list[tuple[str, int]] = []
    phase = ["train"]
    orig = ImageIndex.load

    def spy(self, row):
        loaded.append((phase[0], int(row)))
        return orig(self, row)

    monkeypatch.setattr(ImageIndex, "load", spy)
    tr = Pretrainer(_cfg(csv, backbone=backbone))
    assert tr.cfg.in_channels == 3 and tr.cfg.image_scale == 10_000.0
    assert tr.steps_per_epoch == N_TRAIN // 8 and sorted(tr.val_rows) == sorted(np.flatnonzero(role == 1))
    init = copy.deepcopy(tr.model.state_dict())
    losses = [tr.train_step() for _ in range(tr.steps_per_epoch)]
    phase[0] = "eval"
    res = tr.evaluate()
    trained = [r for p, r in loaded if p == "train"]
    assert len(trained) == N_TRAIN and sorted(trained) == sorted(np.flatnonzero(role == 0))  # one pass, each once
    assert not set(trained) & set(np.flatnonzero(role != 0))  # validation and buffer rows never trained on
    assert all(np.isfinite(losses))
    assert set(r for p, r in loaded if p == "eval") >= set(np.flatnonzero(role == 1))
    assert res["n"] == N_VAL and res["by_region"] == 1.0 and {"top1", "top10", "seen_top1"} <= set(res)
    moved = sum(float((v.float() - init[k].float()).norm()) for k, v in tr.model.state_dict().items())
    assert moved > 1e-3
    # the next epoch visits the same rows in another order
    order1, order2 = tr.epoch_order(1), tr.epoch_order(2)
    assert sorted(order1) == sorted(order2) and not np.array_equal(order1, order2)


def test_prefetching_threads_change_nothing_but_time(patch_set) -> None:
    csv, _, _ = patch_set
    a, b = Pretrainer(_cfg(csv, eval_n=0)), Pretrainer(_cfg(csv, eval_n=0, loader_threads=2))
    assert [a.train_step() for _ in range(4)] == [b.train_step() for _ in range(4)]
    assert b._prefetch is not None and b._prefetch[0] == 4  # the next batch is being read
    b.close()
    for k, v in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[k], v), k


def test_validation_errors(patch_set, tmp_path: Path) -> None:
    csv, pts, role = patch_set
    with pytest.raises(ValueError, match="--holdout-fraction > 0, or --eval-n 0"):
        Pretrainer(_cfg(csv, holdout_fraction=0.0))
    lines = ["fn,lon,lat"] + [f"{csv.parent / 'images' / f'patch_{i}.tif'},{pts[i, 0]},{pts[i, 1]}"
                              for i in np.flatnonzero(role == 0)]
    (tmp_path / "train_only.csv").write_text("\n".join(lines))
    with pytest.raises(ValueError, match="0 row.* lie in the held-out cells.*--holdout-block-deg"):
        Pretrainer(_cfg(tmp_path / "train_only.csv"))
    with pytest.raises(ValueError, match="smaller --batch-size"):
        Pretrainer(_cfg(csv, batch_size=64))
    with pytest.raises(ValueError, match="--bands"):
        Pretrainer(_cfg(csv, in_channels=3, bands=None))
    tr = Pretrainer(_cfg(csv, holdout_fraction=0.0, eval_n=0))  # no validation: trains on all but nothing held
    assert len(tr.split.train) == N_TRAIN + N_VAL + N_BUF


def test_resume_equals_uninterrupted_run(patch_set, tmp_path: Path) -> None:
    csv, _, _ = patch_set
    cfg = _cfg(csv, epochs=3, backbone="resnet18", jitter_deg=0.01)
    ref = Pretrainer(cfg)
    ref_hist = [r.loss for r in ref.run()]
    a = Pretrainer(cfg)
    it = a.run(checkpoint_dir=tmp_path / "ck", keep=2)
    next(it)
    next(it)  # two epochs, then "interrupted"
    last = latest_checkpoint(tmp_path / "ck")
    assert last.name == "epoch-0002.safetensors"
    b = Pretrainer(cfg)
    b.resume(last)
    assert (b.epoch, b.step) == (2, 2 * b.steps_per_epoch)
    rest = [r.loss for r in b.run(checkpoint_dir=tmp_path / "ck", keep=2)]
    assert [h["loss"] for h in b.history] == ref_hist and len(rest) == 1
    for k, v in ref.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[k], v), k
    for s_ref, s_b in zip(ref.opt.state_dict()["state"].values(), b.opt.state_dict()["state"].values()):
        assert all(torch.equal(s_ref[k], s_b[k]) for k in s_ref)
    assert [p.name for p in sorted((tmp_path / "ck").iterdir())] == ["epoch-0002.safetensors", "epoch-0003.safetensors"]
    # a checkpoint is also a full model checkpoint, and refuses a run with other settings
    model, c2 = load_full_checkpoint(tmp_path / "ck" / "epoch-0003.safetensors")
    assert c2.backbone == "resnet18" and c2.in_channels == 3
    with pytest.raises(ValueError, match="other settings.*'lr'"):
        Pretrainer(_cfg(csv, epochs=3, backbone="resnet18", jitter_deg=0.01, lr=1e-3)).resume(last)


def test_cli_images_model_loads_and_embeds(patch_set, tmp_path: Path) -> None:
    from geoviz.cli import main
    from geoviz.embed import embed_points
    from geoviz.pretrained import load_encoder
    from geoviz.pretrained.geoviz_model import load_geoviz_model, load_image_tower

    csv, pts, _ = patch_set
    out = tmp_path / "m.safetensors"
    argv = ["pretrain", "--images", str(csv), "--bands", "4,3,2", "--backbone", "resnet18", "--channels", "4,8,8,16",
            "--norm", "group", "--legendre-polys", "3", "--hidden-dim", "16", "--pixels", "32", "--epochs", "1",
            "--batch-size", "8", "--threads", "1", "--checkpoint-dir", str(tmp_path / "ck"), "--save", str(out)]
    assert main(argv) == 0
    enc, meta = load_geoviz_model(path=out, return_meta=True)
    assert meta["config"]["lr"] == 1e-4 and meta["config"]["jitter_deg"] == 0.0  # the SatCLIP defaults
    assert meta["retrieval"]["n"] == N_VAL and meta["training_data"]["split"]["train"] == N_TRAIN
    enc2, _ = load_encoder(out)
    e = embed_points(enc2, pts[:3])
    assert e.shape == (3, 256) and np.isfinite(e).all()
    tower = load_image_tower(out)
    assert tower.config["backbone"] == "resnet18" and tower.config["normalization"]["scale"] == 10_000.0
    assert tower.config["bands"] == [4, 3, 2] and tower.config["in_channels"] == 3
    img = patches_for_tower([read_image(csv.parent / "images" / "patch_0.tif")], tower.config)
    assert tower.encoder(img).shape == (1, 256)
    # every surface that takes a pretrained model: load_pretrained(PATH), and geolocation of its own GeoTIFF
    from geoviz import geolocate, load_pretrained

    assert torch.equal(load_pretrained(str(out))(torch.from_numpy(pts[:3])), enc2(torch.from_numpy(pts[:3])))
    res = geolocate(csv.parent / "images" / "patch_0.tif", out, top_k=3, max_refined=64)
    assert abs(float(res.probability.sum()) - 1.0) < 1e-6 and len(res.top) == 3
    with pytest.raises(TypeError, match="own imagery"):
        geolocate(object(), out)
    # --resume of a finished run trains nothing more and writes the same model again
    assert main(argv + ["--resume"]) == 0
    assert load_geoviz_model(path=out, return_meta=True)[1]["steps"] == meta["steps"]


# ----------------------------------------------------------------------------- 2 ranks


def _rank_worker(rank: int, store: str, out: str, csv: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        tr = Pretrainer(_cfg(Path(csv), eval_n=0))
        read: list[int] = []
        orig = ImageIndex.load
        ImageIndex.load = lambda self, row: (read.append(int(row)), orig(self, row))[1]  # this rank's reads
        losses = [tr.train_step() for _ in range(3)]
        ImageIndex.load = orig
        plans = [tr.plan_step(s).rows.tolist() for s in range(3)]
        torch.save({"losses": losses, "state": tr.model.state_dict(), "read": read, "plans": plans},
                   os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_ranks_equal_one_on_the_same_global_batch(patch_set, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    csv, _, _ = patch_set
    mp.start_processes(_rank_worker, args=(str(tmp_path / "store"), str(tmp_path), str(csv)), nprocs=2, join=True,
                       start_method="spawn")
    res = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    tr = Pretrainer(_cfg(csv, eval_n=0))
    losses = [tr.train_step() for _ in range(3)]
    assert res[0]["losses"] == res[1]["losses"] and res[0]["losses"] == pytest.approx(losses, rel=1e-5)
    # every rank planned the same global batches and read only its half of each
    plans = [tr.plan_step(s).rows.tolist() for s in range(3)]
    assert res[0]["plans"] == res[1]["plans"] == plans
    for r in range(2):
        assert res[r]["read"] == [row for p in plans for row in p[4 * r:4 * r + 4]]
    for k, v in tr.model.state_dict().items():
        for r in res:
            assert torch.allclose(r["state"][k], v, rtol=1e-5, atol=1e-6), k
