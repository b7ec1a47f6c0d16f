"""geoviz.pretrained: registry, SatCLIP checkpoint loader, GeoCLIP adapter, geoviz models.

SatCLIP parity is checked against an independent evaluation of the same formula: scipy's
``sph_harm_y`` at SatCLIP's literal angles (θ = lat + 90°, φ = lon + 180°, m = 0 × π) and a
numpy Siren forward (reference-implementations.md §1, §2, §5). GeoCLIP parity is checked
against GeoCLIP's own ``LocationEncoder`` imported with the package ``__init__`` bypassed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import geoviz
from geoviz.pretrained import (
    MODELS,
    UntrustedCheckpointError,
    get_model_info,
    is_available,
    list_pretrained,
    load_pretrained,
    load_satclip,
)
from geoviz.pretrained.geoclip import convert_geoclip_state_dict, equal_earth, geoclip_weights_path

if str(Path(__file__).resolve().parent) not in sys.path:  # shared helpers live next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pretrained_helpers import (
    make_satclip_checkpoint,
    random_lonlat,
    satclip_sh_reference,
    siren_reference,
)

HAS_GEOCLIP = importlib.util.find_spec("geoclip") is not None


# ----------------------------------------------------------------------------- registry


def test_registry_names_and_metadata() -> None:
    names = list_pretrained()
    for b in ("resnet18", "resnet50", "vit16"):
        for L in (10, 40):
            n = f"satclip-{b}-l{L}"
            assert n in names
            info = get_model_info(n)
            assert info.legendre_polys == L and info.embedding_dim == 256 and info.dtype == "float64"
            assert info.downloadable and info.filename == f"{n}.ckpt"
            assert info.source == f"https://satclip.z13.web.core.windows.net/satclip/{n}.ckpt"
            assert any("huggingface.co/microsoft/SatCLIP-" in s for s in info.alternative_sources)
            assert "MIT" in info.licence and "lon, lat" in info.coordinate_order
    assert {"geoclip", "geoviz-bluemarble-l10", "geoviz-bluemarble-l40"} <= set(names)
    assert get_model_info("geoclip").embedding_dim == 512
    assert not get_model_info("geoclip").downloadable
    assert list_pretrained("satclip") == sorted(n for n in names if n.startswith("satclip"))
    assert names == sorted(MODELS)
    assert get_model_info(" SatCLIP-ViT16-L40 ").name == "satclip-vit16-l40"  # case/space-insensitive


def test_registry_errors() -> None:
    with pytest.raises(ValueError, match="unknown pretrained model 'satclip-resnet101-l10'.*valid names"):
        get_model_info("satclip-resnet101-l10")
    with pytest.raises(TypeError, match="must be a str"):
        get_model_info(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown model family"):
        list_pretrained("clip")
    with pytest.raises(ValueError, match="unknown pretrained model"):
        load_pretrained("nope")


def test_image_derived_models_and_lookalike_notes(tmp_path: Path) -> None:
    """Every registered model was learnt from images (land-only look-alikes by default); loaded
    models carry that (a private tag, outside the fingerprint); a raw SH encoder does not."""
    from geoviz.embed import model_fingerprint
    from geoviz.pretrained import is_image_derived, lookalike_note

    for n in list_pretrained():
        info = get_model_info(n)
        assert info.image_derived and info.imagery and is_image_derived(n), n
    assert "Blue Marble" in get_model_info("geoviz-bluemarble-l10").imagery
    assert "Sentinel-2" in get_model_info("satclip-resnet18-l10").imagery
    assert "photos" in get_model_info("geoclip").imagery
    make_satclip_checkpoint(tmp_path / "satclip-vit16-l10.ckpt", L=10, capacity=16, embed_dim=8)
    named = load_pretrained("satclip-vit16-l10", cache_dir=tmp_path)
    from_file = load_satclip(tmp_path / "satclip-vit16-l10.ckpt")
    assert is_image_derived(named) and is_image_derived(from_file)
    assert model_fingerprint(named) == model_fingerprint(from_file)  # the tag is not hashed
    bm = load_pretrained("geoviz-bluemarble-l10")
    assert is_image_derived(bm)
    from geoviz.embed import embed_grid

    grid = embed_grid(bm, 30.0, cache=False)  # a grid remembers the pretrained model it came from
    assert grid.model_name == "geoviz-bluemarble-l10" and is_image_derived(grid)
    raw = geoviz.build_location_encoder("sphericalharmonics", "linear", 4, legendre_polys=3)
    assert not is_image_derived(raw) and not is_image_derived(object())
    raw_grid = embed_grid(raw, 30.0, cache=False)
    assert raw_grid.model_name is None and not is_image_derived(raw_grid)
    with pytest.raises(ValueError, match="unknown pretrained model"):
        is_image_derived("raw-sh")
    note = lookalike_note(bm)
    assert note == lookalike_note("geoviz-bluemarble-l10")
    assert "Blue Marble" in note and "open ocean" in note and "land only" in note and "deserts" in note
    assert "Sentinel-2" in lookalike_note(from_file) and "land only" in lookalike_note(from_file)
    assert "photos" in lookalike_note("geoclip")
    assert "Blue Marble" not in lookalike_note(raw) and lookalike_note(raw)


def test_load_pretrained_satclip_from_cache(tmp_path: Path) -> None:
    make_satclip_checkpoint(tmp_path / "satclip-vit16-l10.ckpt", L=10, capacity=16, embed_dim=8)
    assert is_available("satclip-vit16-l10", cache_dir=tmp_path)
    enc = load_pretrained("satclip-vit16-l10", cache_dir=tmp_path)
    assert enc(torch.zeros(3, 2, dtype=torch.float64)).shape == (3, 8)
    with pytest.raises(TypeError, match=r"unexpected keyword\(s\) \['hidden_dim'\]"):
        load_pretrained("satclip-vit16-l10", cache_dir=tmp_path, hidden_dim=3)


def test_load_pretrained_not_cached_names_file_and_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as ei:
        load_pretrained("satclip-resnet50-l40", cache_dir=tmp_path)
    msg = str(ei.value)
    assert str(tmp_path / "satclip-resnet50-l40.ckpt") in msg
    assert "geoviz download satclip-resnet50-l40" in msg and "download=True" in msg
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_default_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from geoviz.pretrained import default_cache_dir

    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "checkpoints"
    monkeypatch.delenv("GEOVIZ_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "geoviz" / "checkpoints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "geoviz" / "checkpoints"


# ----------------------------------------------------------------------------- SatCLIP


@pytest.mark.parametrize("L,capacity,layers,embed_dim", [(10, 32, 2, 16), (4, 8, 1, 5), (40, 8, 3, 4)])
def test_satclip_parity_with_independent_reference(tmp_path: Path, L: int, capacity: int, layers: int, embed_dim: int) -> None:
    path = tmp_path / "m.ckpt"
    loc = make_satclip_checkpoint(path, L=L, capacity=capacity, layers=layers, embed_dim=embed_dim, seed=L)
    enc = load_satclip(path)
    assert isinstance(enc, geoviz.LocationEncoder)
    assert not enc.training
    assert all(p.dtype == torch.float64 for p in enc.parameters())
    assert enc.positional_encoding.convention == "satclip" and enc.positional_encoding.legendre_polys == L
    pts = random_lonlat(60 if L == 40 else 200, seed=L)
    ref = siren_reference(satclip_sh_reference(pts, L), loc, layers)
    with torch.no_grad():
        got = enc(torch.from_numpy(pts))
    assert got.dtype == torch.float64 and got.shape == (len(pts), embed_dim)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-9)
    # numpy in works too, and float32 input is promoted to the model's float64
    with torch.no_grad():
        np.testing.assert_allclose(enc(pts.astype(np.float32)).numpy(), enc(torch.from_numpy(pts.astype(np.float32)).double()).numpy())
    assert enc.pretrained_config["legendre_polys"] == L and enc.pretrained_config["capacity"] == capacity


def test_satclip_features_match_reference_directly(tmp_path: Path) -> None:
    """The loader's SH stage alone equals SatCLIP's literal SH definition (π bug included)."""
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path, L=12)
    enc = load_satclip(path)
    pts = random_lonlat(100, seed=3)
    feats = enc.features(torch.from_numpy(pts)).numpy()
    ref = satclip_sh_reference(pts, 12)
    np.testing.assert_allclose(feats, ref, atol=1e-11)
    assert abs(ref[0, 0] - np.pi / (2 * np.sqrt(np.pi))) < 1e-15  # Y00 × π = 0.8862


def test_satclip_eval_mode_is_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path)
    enc = load_satclip(path)
    x = torch.from_numpy(random_lonlat(50))
    with torch.no_grad():
        assert torch.equal(enc(x), enc(x))


def test_satclip_ignores_visual_and_prefers_location_prefix(tmp_path: Path) -> None:
    # model.nnet.* carries different (wrong) tensors: the loader must use model.location.nnet.*
    path = tmp_path / "m.ckpt"
    loc = make_satclip_checkpoint(path, L=5, capacity=8, embed_dim=4,
                                  replace={"model.nnet.last_layer.bias": torch.full((4,), 99.0, dtype=torch.float64)})
    enc = load_satclip(path)
    assert torch.equal(enc.network.last_layer.bias, loc["last_layer.bias"])
    assert not any("visual" in k for k in enc.state_dict())


def test_satclip_only_model_nnet_prefix(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    keys = [f"model.location.nnet.{k}" for k in ("layers.0.weight", "layers.0.bias", "layers.1.weight",
                                                 "layers.1.bias", "last_layer.weight", "last_layer.bias")]
    loc = make_satclip_checkpoint(path, L=5, capacity=8, embed_dim=4, drop=tuple(keys))
    enc = load_satclip(path)
    assert torch.equal(enc.network.layers[1].weight, loc["layers.1.weight"])


def test_satclip_device_argument(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path)
    assert next(load_satclip(path, device="cpu").parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match="invalid device 'gpu0'"):
        load_satclip(path, device="gpu0")
    assert next(load_satclip(path, device="auto").parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_satclip(path, device="cuda")


def test_satclip_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path, drop=("model.location.nnet.layers.1.bias",))
    with pytest.raises(ValueError, match=r"missing location-encoder key\(s\) \['model.location.nnet.layers.1.bias'\]"):
        load_satclip(path)


def test_satclip_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path, L=10, capacity=32,
                            replace={"model.location.nnet.layers.1.weight": torch.zeros(32, 31, dtype=torch.float64)})
    with pytest.raises(ValueError, match=r"'model.location.nnet.layers.1.weight' has shape \(32, 31\), expected \(32, 32\)"):
        load_satclip(path)


def test_satclip_hparams_contradict_shapes(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path, L=10, hparams={"legendre_polys": 12})
    with pytest.raises(ValueError, match=r"layers.0.weight' has shape \(32, 100\), expected \(32, 144\).*legendre_polys=12"):
        load_satclip(path)
    make_satclip_checkpoint(path, layers=2, hparams={"num_hidden_layers": 1})
    with pytest.raises(ValueError, match=r"unexpected location-encoder key\(s\).*layers.1.bias.*num_hidden_layers=1"):
        load_satclip(path)


def test_satclip_unsupported_encoder(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path, hparams={"le_type": "spherec"})
    with pytest.raises(ValueError, match="le_type.*'spherec'"):
        load_satclip(path)
    make_satclip_checkpoint(path, hparams={"harmonics_calculation": "closed-form"})
    with pytest.raises(ValueError, match="harmonics_calculation.*'closed-form'"):
        load_satclip(path)


def test_satclip_without_hyper_parameters_infers_from_shapes(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    loc = make_satclip_checkpoint(path, L=6, capacity=8, layers=3, embed_dim=5)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["hyper_parameters"]
    torch.save(ckpt, path)
    enc = load_satclip(path)
    assert enc.positional_encoding.legendre_polys == 6 and len(enc.network.layers) == 3
    pts = random_lonlat(30)
    with torch.no_grad():
        np.testing.assert_allclose(enc(torch.from_numpy(pts)).numpy(),
                                   siren_reference(satclip_sh_reference(pts, 6), loc, 3), rtol=1e-9, atol=1e-9)


_GARBAGE = [b"", b"hello, not a checkpoint\n" * 10, bytes(range(256)) * 4,
            np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
            b"\x80\x02" + bytes(range(200, 256)) * 8]  # a pickle header, then garbage opcodes


def _assert_clean_line(exc: BaseException, path: Path) -> None:
    """Issue 17: one clean line, never torch's advice to use weights_only=False."""
    text = str(exc)
    assert text == f"{path}: not a PyTorch checkpoint, or corrupted", text
    assert "\n" not in text and "weights_only" not in text
    assert exc.__cause__ is None and exc.__suppress_context__  # not relayed through the chain either


@pytest.mark.parametrize("content", _GARBAGE)
def test_satclip_not_a_checkpoint(tmp_path: Path, content: bytes) -> None:
    from geoviz.pretrained.satclip import NotACheckpointError

    path = tmp_path / "bad.ckpt"
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError) as ei:
        load_satclip(path)
    assert isinstance(ei.value, ValueError)
    _assert_clean_line(ei.value, path)


def test_satclip_truncated_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as ei:
        load_satclip(path)
    _assert_clean_line(ei.value, path)


@pytest.mark.parametrize("content", _GARBAGE[2:])
def test_every_checkpoint_reader_gives_the_clean_line(tmp_path: Path, content: bytes) -> None:
    from geoviz.pretrained.checkpoint_file import NotACheckpointError, load_torch_file
    from geoviz.pretrained.geoviz_model import read_geoviz_model_file

    from geoviz.model_file import ModelFileError

    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    for fn in (load_torch_file, lambda p: load_pretrained("geoclip", path=p)):
        with pytest.raises(NotACheckpointError) as ei:
            fn(path)
        text = str(ei.value)
        assert text.startswith(f"{path}: not a PyTorch checkpoint, or corrupted"), text
        assert "\n" not in text and "weights_only" not in text and ei.value.__cause__ is None
    # geoviz's own model files are safetensors now (geoviz.model_file): the same clean line, in its words
    with pytest.raises(ModelFileError) as ei:
        read_geoviz_model_file(path)
    text = str(ei.value)
    assert isinstance(ei.value, ValueError) and text.startswith(f"{path}: not a readable geoviz model file"), text
    assert "\n" not in text and "weights_only" not in text and ei.value.__cause__ is None


def test_satclip_wrong_structure(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="holds a list"):
        load_satclip(path)
    torch.save({"model": {}}, path)
    with pytest.raises(ValueError, match="missing key 'state_dict'"):
        load_satclip(path)
    torch.save({"state_dict": {"model.visual.w": torch.zeros(2)}}, path)
    with pytest.raises(ValueError, match="no SatCLIP location-encoder weights"):
        load_satclip(path)


def test_satclip_missing_file_and_bad_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_satclip(tmp_path / "nope.ckpt")
    with pytest.raises(ValueError, match="is a directory"):
        load_satclip(tmp_path)
    with pytest.raises(TypeError, match="path must be"):
        load_satclip(123)  # type: ignore[arg-type]


def test_satclip_pickled_object_is_refused_unless_trusted(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    # Lightning can save argparse.Namespace hyper-parameters: an arbitrary pickled class.
    loc = make_satclip_checkpoint(path, L=4, capacity=8, embed_dim=4, hparams={"args": argparse.Namespace(lr=1e-4)})
    with pytest.raises(UntrustedCheckpointError, match=r"trust_pickle=True") as ei:
        load_satclip(path)
    assert "argparse.Namespace" in str(ei.value)
    assert isinstance(ei.value, ValueError)
    enc = load_satclip(path, trust_pickle=True)
    assert torch.equal(enc.network.layers[0].weight, loc["layers.0.weight"])


def test_satclip_numpy_scalars_are_allowed(tmp_path: Path) -> None:
    """Lightning callbacks may hold numpy scalars; those are safe and load without opt-in."""
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path, L=4, capacity=8, embed_dim=4, hparams={"min_radius": np.float64(1.0)})
    assert load_satclip(path).positional_encoding.legendre_polys == 4


def test_loading_does_not_touch_global_rng(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    make_satclip_checkpoint(path)
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    load_satclip(path)
    assert torch.equal(torch.rand(3), a)


# ----------------------------------------------------------------------------- GeoCLIP


def _geoclip_reference_module():
    """GeoCLIP's own LocationEncoder class, imported with the package __init__ bypassed."""
    root = importlib.util.find_spec("geoclip").submodule_search_locations[0]
    saved = {k: v for k, v in sys.modules.items() if k == "geoclip" or k.startswith("geoclip.")}
    try:
        for name, sub in (("geoclip", ""), ("geoclip.model", "/model")):
            m = types.ModuleType(name)
            m.__path__ = [root + sub]
            sys.modules[name] = m
        from geoclip.model.location_encoder import LocationEncoder

        return LocationEncoder
    finally:
        for k in [k for k in sys.modules if k == "geoclip" or k.startswith("geoclip.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_equal_earth_known_values() -> None:
    # Equal Earth (Šavrič et al. 2018): at the equator y = 0 and x = 2√3·λ/(3·A1);
    # at the poles θ = asin(√3/2) = π/3 and y = A1θ + A2θ³ + A3θ⁷ + A4θ⁹
    t = torch.tensor([[0.0, 0.0], [180.0, 0.0], [0.0, 90.0], [-90.0, -90.0]], dtype=torch.float64)
    xy = equal_earth(t) * 180 / 66.50336
    A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
    th = np.pi / 3
    y_pole = A1 * th + A2 * th**3 + A3 * th**7 + A4 * th**9
    np.testing.assert_allclose(xy[1, 0].item(), 2 * np.sqrt(3) * np.pi / (3 * A1), rtol=1e-12)
    np.testing.assert_allclose(xy[:, 1].numpy(), [0, 0, y_pole, -y_pole], atol=1e-12)
    # Equal Earth has a flat pole line: x = 2√3·λ·cosθ / (3(9A4θ⁸ + 7A3θ⁶ + 3A2θ² + A1)), cosθ = 1/2
    x_pole = 2 * np.sqrt(3) * (-np.pi / 2) * 0.5 / (3 * (9 * A4 * th**8 + 7 * A3 * th**6 + 3 * A2 * th**2 + A1))
    np.testing.assert_allclose(xy[[2, 3], 0].numpy(), [0.0, x_pole], atol=1e-12)


@pytest.mark.skipif(not HAS_GEOCLIP, reason="optional package geoclip not installed")
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_geoclip_parity_with_original() -> None:
    before = "geoclip" in sys.modules
    enc = load_pretrained("geoclip")
    assert ("geoclip" in sys.modules) == before  # located, never imported
    Ref = _geoclip_reference_module()
    ref = Ref().eval()  # loads the shipped weights itself
    pts = random_lonlat(150, seed=7).astype(np.float32)
    with torch.no_grad():
        got = enc(torch.from_numpy(pts))
        want = ref(torch.from_numpy(pts[:, ::-1].copy()))  # GeoCLIP takes (lat, lon)
    assert got.shape == (len(pts), 512) and got.dtype == torch.float32
    scale = want.abs().max().item()
    err = (got - want).abs().max().item()
    assert err <= 1e-6 * scale, (err, scale)  # same float32 operation order: equal to rounding
    # the column order matters: feeding (lat, lon) to ours gives something else
    with torch.no_grad():
        swapped = enc(torch.from_numpy(pts[:, ::-1].copy()[np.abs(pts[:, 0]) <= 90]))
    assert (swapped - want[np.abs(pts[:, 0]) <= 90]).abs().max().item() > 1e-2 * scale
    # float64 variant agrees with float32 up to float32 rounding of large RFF phases
    enc64 = load_pretrained("geoclip", dtype=torch.float64)
    with torch.no_grad():
        got64 = enc64(torch.from_numpy(pts.astype(np.float64)))
    assert (got64 - want.double()).abs().max().item() <= 1e-3 * scale


@pytest.mark.skipif(not HAS_GEOCLIP, reason="optional package geoclip not installed")
def test_geoclip_weights_keys_and_bad_file(tmp_path: Path) -> None:
    sd = torch.load(geoclip_weights_path(), weights_only=True)
    conv = convert_geoclip_state_dict(sd)
    assert set(conv) == set(load_pretrained("geoclip").network.state_dict())  # includes the RFF matrices b
    bad = dict(sd)
    del bad["LocEnc2.head.0.bias"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['LocEnc2.head.0.bias'\]"):
        convert_geoclip_state_dict(bad)
    bad = dict(sd)
    bad["LocEnc0.capsule.0.b"] = torch.zeros(128, 2)
    with pytest.raises(ValueError, match=r"'LocEnc0.capsule.0.b' has shape \(128, 2\), expected \(256, 2\)"):
        convert_geoclip_state_dict(bad)
    p = tmp_path / "w.pth"
    p.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"not a PyTorch checkpoint, or corrupted \(not a readable GeoCLIP weights file\)"):
        load_pretrained("geoclip", path=p)


def test_geoclip_absent_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import geoviz.pretrained.geoclip as gc

    monkeypatch.setattr(gc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps geoclip"):
        load_pretrained("geoclip")
    assert not is_available("geoclip")


# ----------------------------------------------------------------------------- geoviz's own models


@pytest.mark.parametrize("name", ["geoviz-bluemarble-l10", "geoviz-bluemarble-l40"])
def test_geoviz_models(name: str) -> None:
    if not is_available(name):
        pytest.skip(f"{name} weights not built yet")
    enc = load_pretrained(name)
    info = get_model_info(name)
    assert not enc.training
    assert enc.positional_encoding.legendre_polys == info.legendre_polys
    with torch.no_grad():
        out = enc(torch.from_numpy(random_lonlat(20)))
    assert out.shape == (25, info.embedding_dim)
    assert torch.isfinite(out).all()
