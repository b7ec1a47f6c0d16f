"""Tests for the baseline positional encodings in :mod:`geoviz.encoders.baselines`."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from geoviz.encoders import baselines as B
from geoviz.encoders.baselines import BASELINE_ENCODINGS

SINGLE = ("direct", "cartesian3d", "wrap")
MULTI = ("grid", "theory", "spherec", "spherec+", "spherem", "spherem+")
FUNCS = {
    "direct": B.direct,
    "cartesian3d": B.cartesian3d,
    "wrap": B.wrap,
    "grid": B.grid,
    "theory": B.theory,
    "spherec": B.sphere_c,
    "spherec+": B.sphere_c_plus,
    "spherem": B.sphere_m,
    "spherem+": B.sphere_m_plus,
}
# features per scale: (default, compat)
PER_SCALE = {
    "grid": (4, 4),
    "theory": (6, 6),
    "spherec": (3, 6),
    "spherec+": (6, 12),
    "spherem": (5, 10),
    "spherem+": (8, 16),
}
FIXED_DIMS = {"direct": 2, "cartesian3d": 3, "wrap": 4}


def _points(n: int = 64, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lon = torch.rand(n, generator=g, dtype=torch.float64) * 360 - 180
    lat = torch.rand(n, generator=g, dtype=torch.float64) * 180 - 90
    x = torch.stack([lon, lat], 1)
    x[0] = torch.tensor([-180.0, -90.0])
    x[1] = torch.tensor([180.0, 90.0])
    x[2] = torch.tensor([0.0, 0.0])
    return x.to(dtype)


def _build(name: str, compat: bool, **kw):
    cls = BASELINE_ENCODINGS[name]
    if name in SINGLE:
        return cls(reference_compat=compat)
    return cls(reference_compat=compat, **kw)


def _call(name: str, x, compat: bool, **kw):
    if name in SINGLE:
        return FUNCS[name](x, reference_compat=compat)
    return FUNCS[name](x, reference_compat=compat, **kw)


# ------------------------------------------------------------------ registry & construction
def test_registry_names_and_all():
    assert list(BASELINE_ENCODINGS) == list(FUNCS)
    for name in B.__all__:
        assert hasattr(B, name)
    for cls in BASELINE_ENCODINGS.values():
        params = inspect.signature(cls).parameters
        assert "reference_compat" in params
    for name in MULTI:
        params = inspect.signature(BASELINE_ENCODINGS[name]).parameters
        assert {"frequency_num", "min_radius", "max_radius"} <= set(params)
        assert params["frequency_num"].default == 16
        assert params["min_radius"].default == 10.0
        assert params["max_radius"].default == 360.0
    for name in SINGLE:
        assert set(inspect.signature(BASELINE_ENCODINGS[name]).parameters) == {"reference_compat"}


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("name", list(FUNCS))
def test_dims(name, compat):
    if name in SINGLE:
        assert _build(name, compat).embedding_dim == FIXED_DIMS[name]
    else:
        for s in (1, 2, 5, 16):
            m = _build(name, compat, frequency_num=s)
            assert isinstance(m.embedding_dim, int)
            assert m.embedding_dim == PER_SCALE[name][int(compat)] * s


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("name", list(FUNCS))
def test_module_runs(name, compat, dtype):
    m = _build(name, compat, frequency_num=5)
    x = _points(dtype=dtype)
    out = m(x)
    assert out.shape == (x.shape[0], m.embedding_dim)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    assert m.state_dict() == {} or len(m.state_dict()) == 0
    # function and module agree
    ref = _call(name, x, compat, frequency_num=5)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    # empty batch
    assert m(x[:0]).shape == (0, m.embedding_dim)


@pytest.mark.parametrize("name", list(FUNCS))
def test_float32_close_to_float64(name):
    x = _points()
    for compat in (False, True):
        a = _call(name, x, compat, frequency_num=8)
        b = _call(name, x.float(), compat, frequency_num=8)
        assert np.abs(a.numpy() - b.double().numpy()).max() < 5e-5


def test_module_cast_keeps_frequencies_exact():
    x = _points()
    m = BASELINE_ENCODINGS["grid"](frequency_num=6, reference_compat=True)
    ref = m(x)
    m.float()
    assert m.omega.dtype == torch.float64
    torch.testing.assert_close(m(x), ref, rtol=0, atol=0)
    m.double()
    torch.testing.assert_close(m(x), ref, rtol=0, atol=0)
    m.half().to("cpu")
    torch.testing.assert_close(m(x), ref, rtol=0, atol=0)
    d = BASELINE_ENCODINGS["grid"](frequency_num=6).float()
    torch.testing.assert_close(d(x.float()), B.grid(x.float(), frequency_num=6), rtol=0, atol=0)


# ------------------------------------------------------------------ closed-form checks
def test_scale_wavelengths():
    r = B.scale_wavelengths(4, 45.0, 360.0)
    np.testing.assert_allclose(r, [45.0, 90.0, 180.0, 360.0], rtol=1e-12)
    np.testing.assert_allclose(B.scale_wavelengths(1, 7.0, 360.0), [7.0])
    np.testing.assert_allclose(B.scale_wavelengths(3, 5.0, 5.0), [5.0, 5.0, 5.0])
    r = B.scale_wavelengths(16, 10.0, 360.0)
    np.testing.assert_allclose(r, 10.0 * 36.0 ** (np.arange(16) / 15), rtol=1e-12)


def test_direct_closed_form():
    x = np.array([[0.0, 0.0], [180.0, 90.0], [-90.0, -45.0]])
    np.testing.assert_allclose(B.direct(x), [[0, 0], [1, 1], [-0.5, -0.5]], atol=1e-15)
    np.testing.assert_allclose(
        B.direct(x, reference_compat=True), np.deg2rad(x) - np.pi, atol=1e-15
    )


def test_cartesian3d_closed_form():
    x = np.array([[0.0, 0.0], [90.0, 0.0], [0.0, 90.0], [180.0, 0.0], [-90.0, -90.0]])
    expected = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0], [0, 0, -1]], dtype=float)
    for compat in (False, True):
        np.testing.assert_allclose(B.cartesian3d(x, reference_compat=compat), expected, atol=1e-15)
    pts = _points().numpy()
    out = B.cartesian3d(pts)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-14)


def test_wrap_closed_form():
    x = np.array([[0.0, 0.0], [90.0, 30.0], [-180.0, -90.0]])
    lam, phi = np.deg2rad(x[:, 0]), np.deg2rad(x[:, 1])
    expected = np.stack([np.cos(lam), np.sin(lam), np.cos(phi), np.sin(phi)], 1)
    np.testing.assert_allclose(B.wrap(x), expected, atol=1e-15)
    np.testing.assert_allclose(B.wrap(x, reference_compat=True), expected, atol=1e-15)


def test_grid_quarter_wavelength():
    s_num, rmin, rmax = 4, 45.0, 360.0
    r = B.scale_wavelengths(s_num, rmin, rmax)
    for s in range(s_num):
        x = np.array([[r[s] / 4.0, r[s] / 4.0]])
        out = B.grid(x, frequency_num=s_num, min_radius=rmin, max_radius=rmax)[0]
        assert out[2 * s] == pytest.approx(1.0, abs=1e-12)  # sin(ω lon)
        assert out[2 * s + 1] == pytest.approx(0.0, abs=1e-12)  # cos(ω lon)
        assert out[2 * s_num + 2 * s] == pytest.approx(1.0, abs=1e-12)  # sin(ω lat)


@pytest.mark.parametrize("compat", [False, True])
def test_grid_layout(compat):
    x = _points(16).numpy()
    s_num = 5
    r = B.scale_wavelengths(s_num, 10.0, 360.0)
    w = (1.0 / r) if compat else (2 * np.pi / r)
    out = B.grid(x, frequency_num=s_num, reference_compat=compat)
    for c in range(2):
        for s in range(s_num):
            base = c * 2 * s_num + 2 * s
            np.testing.assert_allclose(out[:, base], np.sin(x[:, c] * w[s]), atol=1e-13)
            np.testing.assert_allclose(out[:, base + 1], np.cos(x[:, c] * w[s]), atol=1e-13)
    if compat:  # degrees read as radians
        np.testing.assert_allclose(out[:, 0], np.sin(x[:, 0] / 10.0), atol=1e-13)


def _expected_default(name: str, x: np.ndarray, s_num: int, rmin: float, rmax: float) -> np.ndarray:
    """Independent numpy computation of the default-mode features (scale-major)."""
    w = 2 * np.pi / B.scale_wavelengths(s_num, rmin, rmax)
    lon, lat = x[:, :1] * w, x[:, 1:] * w  # (N, S)
    lam, phi = np.deg2rad(x[:, :1]), np.deg2rad(x[:, 1:])
    if name == "theory":
        cols = []
        for s in range(s_num):
            for ang in (0.0, 120.0, 240.0):
                u = np.array([np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))])
                a = x @ u * w[s]
                cols += [np.sin(a), np.cos(a)]
        return np.stack(cols, 1)
    terms = {
        "spherec": [np.sin(lat), np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon)],
        "spherec+": [np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon),
                     np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon)],
        "spherem": [np.sin(lat), np.cos(lat) * np.cos(lam), np.cos(phi) * np.cos(lon),
                    np.cos(lat) * np.sin(lam), np.cos(phi) * np.sin(lon)],
        "spherem+": [np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon),
                     np.cos(lat) * np.cos(lam), np.cos(phi) * np.cos(lon),
                     np.cos(lat) * np.sin(lam), np.cos(phi) * np.sin(lon)],
    }[name]
    return np.stack(terms, -1).reshape(x.shape[0], -1)


@pytest.mark.parametrize("s_num", [1, 3, 4])
@pytest.mark.parametrize("name", ["theory", "spherec", "spherec+", "spherem", "spherem+"])
def test_default_closed_form(name, s_num):
    x = _points(32).numpy()
    out = _call(name, x, False, frequency_num=s_num, min_radius=20.0, max_radius=360.0)
    np.testing.assert_allclose(out, _expected_default(name, x, s_num, 20.0, 360.0), atol=1e-12)


def test_sphere_default_known_points():
    # at max_radius = 360 the coarsest scale of sphereC is the true unit vector (z, x, y order)
    x = np.array([[0.0, 0.0], [90.0, 0.0], [0.0, 90.0], [45.0, 45.0]])
    out = B.sphere_c(x, frequency_num=1, min_radius=360.0, max_radius=360.0)
    cart = B.cartesian3d(x)
    np.testing.assert_allclose(out, cart[:, [2, 0, 1]], atol=1e-15)
    # sphereM with one 360° scale: cos φ cos λ appears twice
    m = B.sphere_m(x, frequency_num=1, min_radius=360.0, max_radius=360.0)
    np.testing.assert_allclose(m[:, 1], cart[:, 0], atol=1e-15)
    np.testing.assert_allclose(m[:, 2], cart[:, 0], atol=1e-15)


# ------------------------------------------------------------------ reference compatibility
def _reference_like(name: str, x: np.ndarray, s_num: int, rmin: float, rmax: float) -> np.ndarray:
    """numpy emulation of the reference array pipeline (repeat/reshape), written from its spec."""
    n = x.shape[0]
    freq = 1.0 / B.scale_wavelengths(s_num, rmin, rmax)  # (S,)
    if name == "theory":
        units = np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, -np.sqrt(3) / 2]])
        a = x @ units.T  # (N, 3)
        ang = np.repeat(a, 2, axis=1)[:, None, :] * freq[None, :, None]  # (N, S, 6)
        emb = ang.reshape(n, 2, -1).copy()  # the reference reshapes to (batch, "context"=2, -1)
        emb[:, :, 0::2] = np.sin(emb[:, :, 0::2])
        emb[:, :, 1::2] = np.cos(emb[:, :, 1::2])
        return emb.reshape(n, -1)
    cm = np.repeat(np.repeat(x[:, :, None, None], s_num, axis=2), 2, axis=3)  # (N, 2, S, 2)
    spr = cm * np.repeat(freq[:, None], 2, axis=1)  # (N, 2, S, 2)
    lon, lat = spr[:, 0], spr[:, 1]  # (N, S, 2)
    lon1, lat1 = cm[:, 0], cm[:, 1]  # raw degrees
    feats = {
        "spherec": [np.sin(lat), np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon)],
        "spherec+": [np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon),
                     np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon)],
        "spherem": [np.sin(lat), np.cos(lat) * np.cos(lon1), np.cos(lat1) * np.cos(lon),
                    np.cos(lat) * np.sin(lon1), np.cos(lat1) * np.sin(lon)],
        "spherem+": [np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon),
                     np.cos(lat) * np.cos(lon1), np.cos(lat1) * np.cos(lon),
                     np.cos(lat) * np.sin(lon1), np.cos(lat1) * np.sin(lon)],
    }[name]
    return np.concatenate(feats, axis=-1).reshape(n, -1)  # concat on the size-2 trailing axis


@pytest.mark.parametrize("s_num", [2, 3, 4, 7])
@pytest.mark.parametrize("name", ["theory", "spherec", "spherec+", "spherem", "spherem+"])
def test_compat_matches_reference_pipeline(name, s_num):
    x = _points(32).numpy()
    out = _call(name, x, True, frequency_num=s_num, min_radius=10.0, max_radius=360.0)
    np.testing.assert_allclose(out, _reference_like(name, x, s_num, 10.0, 360.0), atol=1e-12)


def test_theory_odd_quirk_only_in_compat():
    x = _points(8).numpy()
    out = B.theory(x, frequency_num=3, reference_compat=True)
    w = 1.0 / B.scale_wavelengths(3, 10.0, 360.0)
    a1 = x[:, 0]
    # first scale is regular
    np.testing.assert_allclose(out[:, 0], np.sin(a1 * w[0]), atol=1e-13)
    np.testing.assert_allclose(out[:, 1], np.cos(a1 * w[0]), atol=1e-13)
    # column 9 = 3S is cos slot of pair 4 (a2 at scale 1) but gets sin; column 8 gets sin too
    a2 = x @ np.array([-0.5, np.sqrt(3) / 2]) * w[1]
    np.testing.assert_allclose(out[:, 8], np.sin(a2), atol=1e-13)
    np.testing.assert_allclose(out[:, 9], np.sin(a2), atol=1e-13)
    # even S has no quirk: sin, cos alternate everywhere
    out4 = B.theory(x, frequency_num=4, reference_compat=True)
    w4 = 1.0 / B.scale_wavelengths(4, 10.0, 360.0)
    a = (x @ np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, -np.sqrt(3) / 2]]).T)
    ang = (a[:, None, :] * w4[None, :, None]).reshape(8, -1)
    np.testing.assert_allclose(out4[:, 0::2], np.sin(ang), atol=1e-13)
    np.testing.assert_allclose(out4[:, 1::2], np.cos(ang), atol=1e-13)


@pytest.mark.parametrize("name", ["spherec", "spherec+", "spherem", "spherem+"])
def test_compat_duplicates_adjacent_and_match_default_structure(name):
    x = _points(16).numpy()
    out = _call(name, x, True, frequency_num=4)
    np.testing.assert_array_equal(out[:, 0::2], out[:, 1::2])
    # with the degree-as-radian frequencies, the unique half follows the default formulas
    # evaluated at wavelengths 2π r_s (for spherec/spherec+, which have no unscaled terms)
    if name in ("spherec", "spherec+"):
        r = B.scale_wavelengths(4, 10.0, 360.0) * 2 * np.pi
        w = 2 * np.pi / r
        lon, lat = x[:, :1] * w, x[:, 1:] * w
        first = [np.sin(lat), np.cos(lat) * np.cos(lon)] if name == "spherec" else [np.sin(lat), np.cos(lat)]
        np.testing.assert_allclose(out[:, 0::2][:, :2], np.stack([f[:, 0] for f in first], 1), atol=1e-13)


def test_compat_spherem_degree_trig():
    x = np.array([[30.0, 60.0]])
    out = B.sphere_m(x, frequency_num=2, reference_compat=True)
    w = 1.0 / B.scale_wavelengths(2, 10.0, 360.0)
    # feature 1 at scale 0: cos(ω lat) * cos(lon_deg read as radians)
    assert out[0, 2] == pytest.approx(np.cos(60.0 * w[0]) * np.cos(30.0), abs=1e-14)
    assert out[0, 4] == pytest.approx(np.cos(60.0) * np.cos(30.0 * w[0]), abs=1e-14)
    default = B.sphere_m(x, frequency_num=2)
    wd = 2 * np.pi / B.scale_wavelengths(2, 10.0, 360.0)
    assert default[0, 1] == pytest.approx(np.cos(60.0 * wd[0]) * np.cos(np.pi / 6), abs=1e-14)


def test_single_scale_compat_equal_default_except_direct():
    x = _points()
    for name in ("cartesian3d", "wrap"):
        torch.testing.assert_close(_call(name, x, True), _call(name, x, False), rtol=0, atol=0)
    assert not torch.allclose(B.direct(x, reference_compat=True), B.direct(x))


# ------------------------------------------------------------------ periodicity
@pytest.mark.parametrize("name", ["cartesian3d", "wrap", "grid", "spherec", "spherec+", "spherem", "spherem+"])
def test_default_periodic_in_longitude(name):
    lat = torch.linspace(-90, 90, 11, dtype=torch.float64)
    west = torch.stack([torch.full_like(lat, -180.0), lat], 1)
    east = torch.stack([torch.full_like(lat, 180.0), lat], 1)
    kw = dict(frequency_num=4, min_radius=45.0, max_radius=360.0)
    a, b = _call(name, west, False, **kw), _call(name, east, False, **kw)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_default_pole_longitude_invariance_spherec():
    # with a single 360° wavelength sphereC is the unit vector: longitude-free at the pole
    x = torch.tensor([[-120.0, 90.0], [0.0, 90.0], [77.0, 90.0]], dtype=torch.float64)
    out = B.sphere_c(x, frequency_num=1, min_radius=360.0, max_radius=360.0)
    torch.testing.assert_close(out, out[:1].expand_as(out), rtol=0, atol=1e-15)


# ------------------------------------------------------------------ numpy, validation, grads
@pytest.mark.parametrize("name", list(FUNCS))
def test_numpy_in_numpy_out(name):
    x = _points(8)
    for dtype in (np.float32, np.float64):
        xn = x.numpy().astype(dtype)
        out = _call(name, xn, True, frequency_num=3)
        assert isinstance(out, np.ndarray)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, _call(name, torch.from_numpy(xn), True, frequency_num=3).numpy())


@pytest.mark.parametrize("name", ["direct", "grid", "spherem+"])
def test_bad_input(name):
    m = _build(name, False, frequency_num=2)
    with pytest.raises(ValueError):
        m(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError):
        m(torch.tensor([[0.0, 95.0]]))
    with pytest.raises(ValueError):
        m(torch.zeros(3, 3))
    with pytest.raises(TypeError):
        m(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError):
        _call(name, np.array([[190.0, 0.0]]), False, frequency_num=2)
    with pytest.raises(TypeError):
        _call(name, np.zeros((2, 2), dtype=np.int32), False, frequency_num=2)


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("name", list(FUNCS))
def test_gradients(name, compat):
    m = _build(name, compat, frequency_num=3)
    x = _points(16).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m(x).sum(), x)
    assert g.shape == x.shape
    assert torch.isfinite(g).all()


def test_gradcheck_default():
    x = torch.tensor([[10.0, 20.0], [-50.0, -30.0]], dtype=torch.float64, requires_grad=True)
    for name in FUNCS:
        kw = {} if name in SINGLE else {"frequency_num": 3}
        assert torch.autograd.gradcheck(lambda t, n=name, k=kw: _call(n, t, False, **k), (x,))


@pytest.mark.parametrize("name", MULTI)
def test_bad_constructor_args(name):
    cls = BASELINE_ENCODINGS[name]
    for kw in (
        {"frequency_num": 0},
        {"frequency_num": -3},
        {"min_radius": 0.0},
        {"min_radius": -1.0},
        {"min_radius": 100.0, "max_radius": 50.0},
        {"max_radius": float("inf")},
        {"min_radius": float("nan")},
    ):
        with pytest.raises(ValueError):
            cls(**kw)
    with pytest.raises(TypeError):
        cls(frequency_num=2.5)
    with pytest.raises(ValueError):
        FUNCS[name](np.zeros((1, 2)), frequency_num=0)
    cls(frequency_num=np.int64(3), min_radius=5, max_radius=5)  # numpy ints, equal radii ok


def test_device_move_keeps_empty_state_dict():
    m = BASELINE_ENCODINGS["spherec+"](frequency_num=4)
    m = m.to("cpu")
    assert len(m.state_dict()) == 0
    assert m.omega.shape == (4,)
    assert math.isclose(float(m.omega[-1]), 2 * math.pi / 360.0)
