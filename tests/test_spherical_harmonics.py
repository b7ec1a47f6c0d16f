"""Spherical harmonics: exactness against scipy, closed forms, quadrature and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import roots_legendre, sph_harm_y

from geoviz.encoders import SphericalHarmonics, convention_scale, sh_degrees_orders, sh_index, spherical_harmonics


def scipy_real_sh(lonlat: np.ndarray, L: int) -> np.ndarray:
    """Independent reference: scipy's complex SH turned into the real, CS-phase-free basis."""
    lon = np.deg2rad(lonlat[:, 0].astype(np.float64))
    colat = np.deg2rad(90.0 - lonlat[:, 1].astype(np.float64))
    cols = []
    for l in range(L):
        for m in range(-l, l + 1):
            y = sph_harm_y(l, abs(m), colat, lon) * (-1.0) ** abs(m)  # scipy includes CS phase
            cols.append(math.sqrt(2) * y.imag if m < 0 else (math.sqrt(2) * y.real if m > 0 else y.real))
    return np.stack(cols, axis=1)


def _points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = np.c_[rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))]
    special = [
        [0.0, 90.0], [0.0, -90.0], [123.0, 90.0], [-45.0, -90.0],
        [10.0, 90.0 - 1e-6], [-170.0, -90.0 + 1e-6], [180.0, 0.0], [-180.0, 0.0],
        [180.0, 89.999999], [-180.0, -89.999999], [0.0, 0.0],
    ]
    return np.r_[pts, special]


@pytest.fixture(scope="module")
def ref_pts() -> np.ndarray:
    return _points(150)


@pytest.fixture(scope="module")
def ref100(ref_pts: np.ndarray) -> np.ndarray:
    return scipy_real_sh(ref_pts, 100)


@pytest.mark.parametrize("L", [1, 2, 3, 10, 41, 100])
def test_matches_scipy_float64(ref_pts: np.ndarray, ref100: np.ndarray, L: int) -> None:
    out = spherical_harmonics(torch.from_numpy(ref_pts), L).numpy()
    assert out.shape == (len(ref_pts), L * L) and out.dtype == np.float64
    assert np.isfinite(out).all()
    assert np.abs(out - ref100[:, : L * L]).max() <= 1e-10


@pytest.mark.parametrize("L", [10, 40, 100])
def test_matches_scipy_float32(ref_pts: np.ndarray, L: int) -> None:
    pts32 = ref_pts.astype(np.float32)
    ref = scipy_real_sh(pts32, L) if L < 100 else None
    out = spherical_harmonics(torch.from_numpy(pts32), L)
    assert out.dtype == torch.float32
    if ref is None:  # compare with the scipy values at the float32-rounded points
        ref = scipy_real_sh(pts32.astype(np.float64), L)
    assert np.isfinite(out.numpy()).all()
    assert np.abs(out.numpy() - ref).max() <= 1e-4


def test_per_degree_error_at_L100(ref_pts: np.ndarray, ref100: np.ndarray) -> None:
    out = spherical_harmonics(ref_pts, 100)  # numpy in → numpy out
    assert isinstance(out, np.ndarray)
    l, _ = sh_degrees_orders(100)
    err = np.abs(out - ref100).max(axis=0)
    for deg in range(100):
        assert err[l == deg].max() <= 1e-10, deg


def test_closed_forms_low_degree() -> None:
    pts = _points(50, seed=3)
    lon, lat = np.deg2rad(pts[:, 0]), np.deg2rad(pts[:, 1])
    x, y, z = np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)
    c0, c1 = 0.5 / np.sqrt(np.pi), np.sqrt(3 / (4 * np.pi))
    c2 = 0.5 * np.sqrt(15 / np.pi)
    expected = np.stack(
        [np.full_like(x, c0), c1 * y, c1 * z, c1 * x,
         c2 * x * y, c2 * y * z, 0.25 * np.sqrt(5 / np.pi) * (3 * z**2 - 1), c2 * x * z, 0.5 * c2 * (x**2 - y**2)],
        axis=1,
    )
    np.testing.assert_allclose(spherical_harmonics(pts, 3), expected, atol=1e-14)


def test_orthonormal_by_quadrature() -> None:
    """Gauss–Legendre in cos(colat) × trapezoid in lon integrates degree ≤ 2L-1 exactly."""
    L = 20
    xg, wg = roots_legendre(L + 1)
    nlon = 2 * L + 1
    lon = np.linspace(-180, 180, nlon, endpoint=False)
    lat = np.degrees(np.arcsin(xg))
    LON, LAT = np.meshgrid(lon, lat)
    w = (np.repeat(wg, nlon) * (2 * np.pi / nlon))
    Y = spherical_harmonics(np.c_[LON.ravel(), LAT.ravel()], L)
    gram = (Y * w[:, None]).T @ Y
    np.testing.assert_allclose(gram, np.eye(L * L), atol=1e-12)


def test_addition_theorem_and_parity() -> None:
    pts = _points(200, seed=5)
    L = 30
    Y = spherical_harmonics(pts, L)
    l, m = sh_degrees_orders(L)
    for deg in range(L):
        s = (Y[:, l == deg] ** 2).sum(axis=1)
        np.testing.assert_allclose(s, (2 * deg + 1) / (4 * np.pi), rtol=1e-12)
    antipodes = np.c_[np.where(pts[:, 0] > 0, pts[:, 0] - 180, pts[:, 0] + 180), -pts[:, 1]]
    Ya = spherical_harmonics(antipodes, L)
    np.testing.assert_allclose(Ya, Y * (-1.0) ** l, atol=1e-12)


def test_satclip_convention_formula() -> None:
    pts = _points(100, seed=7)
    L = 12
    std = spherical_harmonics(pts, L)
    sat = spherical_harmonics(pts, L, convention="satclip")
    l, m = sh_degrees_orders(L)
    np.testing.assert_allclose(sat, std * (-1.0) ** l * np.where(m == 0, np.pi, 1.0), atol=1e-13)
    # SatCLIP's own angle convention: θ = lat + 90 from the south pole, φ = lon + 180, with its π bug.
    theta = np.deg2rad(pts[:, 1] + 90.0)
    phi = np.deg2rad(pts[:, 0] + 180.0)
    y00 = np.sqrt(1 / 4 * np.pi)  # the generator's sqrt((2l+1)/4*pi) at l=0
    np.testing.assert_allclose(sat[:, 0], y00, atol=1e-13)
    y10 = np.sqrt(3 / 4 * np.pi) * np.cos(theta)
    np.testing.assert_allclose(sat[:, sh_index(1, 0)], y10, atol=1e-13)
    y11 = np.sqrt(2) * np.sqrt(3 / (8 * np.pi)) * np.sin(theta) * np.cos(phi)  # CS-free, m=1
    np.testing.assert_allclose(sat[:, sh_index(1, 1)], y11, atol=1e-13)
    np.testing.assert_allclose(convention_scale(L, "satclip").numpy(), sat[0] / std[0], rtol=1e-9)
    mod = SphericalHarmonics(L, convention="satclip")
    np.testing.assert_allclose(mod(torch.from_numpy(pts)).numpy(), sat)


def test_cpu_kernel_matches_torch_path() -> None:
    pts = torch.from_numpy(_points(300, seed=9))
    for conv in ("standard", "satclip"):
        fast = spherical_harmonics(pts, 25, convention=conv)
        slow = spherical_harmonics(pts.clone().requires_grad_(True), 25, convention=conv).detach()
        torch.testing.assert_close(fast, slow, atol=1e-12, rtol=0)


def test_gradcheck_float64() -> None:
    pts = torch.from_numpy(_points(6, seed=11)[:6]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: spherical_harmonics(p, 6), (pts,))


def test_gradients_finite_at_poles() -> None:
    pts = torch.tensor(
        [[0.0, 90.0], [45.0, -90.0], [180.0, 90.0 - 1e-6], [-180.0, -90.0 + 1e-6]], dtype=torch.float64
    ).requires_grad_(True)
    out = spherical_harmonics(pts, 40)
    (g,) = torch.autograd.grad(out.sum(), pts)
    assert torch.isfinite(g).all() and torch.isfinite(out).all()


def test_module_and_empty_and_dtype() -> None:
    mod = SphericalHarmonics(7)
    assert mod.embedding_dim == 49 and mod.state_dict() == {}
    assert mod(torch.zeros(0, 2)).shape == (0, 49)
    out = mod(torch.zeros(3, 2, dtype=torch.float32))
    assert out.dtype == torch.float32
    nc = torch.zeros(4, 3, dtype=torch.float64)[:, :2]  # non-contiguous view
    assert torch.equal(mod(nc), mod(nc.contiguous()))


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.array([[0.0, 95.0]]), ValueError, "latitude.*row 0"),
        (np.array([[0.0, 0.0], [181.0, 0.0]]), ValueError, "longitude.*row 1"),
        (np.array([[0.0, 0.0], [np.nan, 0.0]]), ValueError, "NaN.*row 1"),
        (np.array([[0.0, np.inf]]), ValueError, "NaN or inf"),
        (np.zeros((3, 3)), ValueError, "shape"),
        (np.zeros(4), ValueError, "shape"),
        (np.zeros((3, 2), dtype=np.int64), TypeError, "float32 or float64"),
        (torch.zeros(3, 2, dtype=torch.float16), TypeError, "float32 or float64"),
        ([[0.0, 0.0]], TypeError, "torch.Tensor or numpy"),
    ],
)
def test_bad_input(bad, exc, match) -> None:
    with pytest.raises(exc, match=match):
        spherical_harmonics(bad, 3)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="legendre_polys"):
        SphericalHarmonics(0)
    with pytest.raises(TypeError, match="legendre_polys"):
        spherical_harmonics(np.zeros((1, 2)), 2.5)
    with pytest.raises(ValueError, match="convention"):
        SphericalHarmonics(3, convention="weird")
    with pytest.raises(ValueError):
        sh_index(2, 3)


@settings(max_examples=40, deadline=None)
@given(
    lon=st.floats(-180, 180, allow_nan=False),
    lat=st.floats(-90, 90, allow_nan=False),
    dlon=st.floats(-180, 180, allow_nan=False),
)
def test_rotation_about_pole_preserves_degree_order_energy(lon: float, lat: float, dlon: float) -> None:
    """Rotating about the polar axis mixes only (l, m) with (l, -m): |Y_lm|²+|Y_l-m|² is invariant."""
    lon2 = (lon + dlon + 180.0) % 360.0 - 180.0
    a = spherical_harmonics(np.array([[lon, lat]]), 15)[0]
    b = spherical_harmonics(np.array([[lon2, lat]]), 15)[0]
    l, m = sh_degrees_orders(15)
    for deg in range(15):
        for order in range(deg + 1):
            i, j = sh_index(deg, order), sh_index(deg, -order)
            ea = a[i] ** 2 + (a[j] ** 2 if order else 0.0)
            eb = b[i] ** 2 + (b[j] ** 2 if order else 0.0)
            assert abs(ea - eb) <= 1e-12


def test_cpu_kernel_keeps_torch_thread_count():
    """The numba kernel must not change torch's intra-op thread count (libgomp is shared)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        lonlat = torch.tensor([[10.0, 20.0], [-120.0, -45.0]] * 500, dtype=torch.float64)
        spherical_harmonics(lonlat, 10)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
