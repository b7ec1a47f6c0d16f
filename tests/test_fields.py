"""Built-in global fields (geoviz.data.fields): registry, values, orientation, masks, tasks, SH recovery."""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest
import torch
from scipy.special import factorial, lpmv

from geoviz import build_location_encoder
from geoviz.data import get_field, get_task, list_fields, uniform_sphere
from geoviz.data import _field_sh as fsh

NAMES = ["temperature", "precipitation", "elevation", "geoid", "magnetic"]
# (lon, lat) of places used in the reference checks (offline-fields.md)
PLACES = {
    "Munich": (11.58, 48.14),
    "London": (-0.1276, 51.5072),
    "Denver": (-104.9903, 39.7392),
    "Lhasa": (91.1172, 29.65),
    "DeadSea": (35.5, 31.5),
    "DomeA": (77.3833, -80.3667),
    "Everest": (86.925, 27.9881),
    "Cairo": (31.24, 30.04),
    "Singapore": (103.82, 1.35),
}


def at(*names: str) -> np.ndarray:
    return np.array([PLACES[n] for n in names], dtype=np.float64)


# ------------------------------------------------------------------------------- registry
def test_registry_names_and_metadata():
    assert list_fields() == NAMES
    units = {"temperature": "°C", "precipitation": "mm/year", "elevation": "m", "geoid": "m", "magnetic": "nT"}
    for name in NAMES:
        f = get_field(name)
        assert f is get_field(name.upper())  # cached, case-insensitive
        assert f.name == name and f.units == units[name]
        for attr in ("long_name", "provenance", "licence"):
            assert isinstance(getattr(f, attr), str) and len(getattr(f, attr)) > 10, (name, attr)
        assert f.land_only == (name == "elevation")
        assert f.info()["units"] == f.units and f.info()["name"] == name
    assert get_field("field:geoid") is get_field("geoid")
    with pytest.raises(KeyError, match="temperature"):
        get_field("gravity")
    with pytest.raises(TypeError):
        get_field(3)


def test_bad_points_are_refused():
    f = get_field("temperature")
    with pytest.raises(ValueError, match="latitude"):
        f.sample(np.array([[0.0, 95.0]]))
    with pytest.raises(ValueError, match="NaN"):
        f.sample(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        f.sample(np.zeros((3, 3)))
    assert f.sample(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError):
        f.task(n_train=0)
    with pytest.raises(TypeError):
        f.task(n_train=10.5)


# ------------------------------------------------------------------------------- values
def test_temperature_and_precipitation_spot_values():
    t = get_field("temperature").sample(at("Munich", "Singapore", "DomeA"))
    assert abs(t[0] - 9.4) < 0.5  # ERA5 annual mean, Munich about 9.4 °C
    assert 25 < t[1] < 29 and t[2] < -45
    p = get_field("precipitation").sample(at("London", "Cairo", "Singapore", "Munich"))
    assert 550 < p[0] < 900  # London: ~600-750 mm/year (ERA5 721; CFSv2 2016 said 971)
    assert p[1] < 60  # Cairo is a desert
    assert p[2] > 2000  # Singapore (CFSv2 2580)
    assert 900 < p[3] < 1300  # Munich: 76-135 mm/month


def test_elevation_cells_match_reference_and_ocean_is_undefined():
    v, lons, lats = get_field("elevation").grid()
    ref = {"Denver": 1622, "Lhasa": 4086, "DeadSea": -170, "London": 26, "DomeA": 4086, "Everest": 5878}
    for name, want in ref.items():
        lon, lat = PLACES[name]
        assert v[int((90 - lat) * 12), int((lon + 180) * 12)] == want, name  # the cell containing the place
    f = get_field("elevation")
    assert abs(f.sample(at("Denver"))[0] - 1622) < 60  # bilinear between 28 m steps
    ocean = np.array([[-150.0, 0.0], [-30.0, -40.0], [70.0, -20.0]])
    assert np.isnan(f.sample(ocean)).all() and not f.mask(ocean).any()
    assert f.mask(at("Denver", "London", "DomeA")).all()
    assert not f.mask(np.array([[-40.0, 72.0]]))[0]  # Greenland excluded (bedrock in the source)
    land = np.isfinite(v).mean()
    assert 0.28 < land < 0.32  # 31.9% of cells in the source, minus Greenland


def test_grid_orientation():
    for name in ("temperature", "elevation", "geoid", "magnetic"):
        v, lons, lats = get_field(name).grid()
        assert v.dtype == np.float32 and v.shape == (lats.size, lons.size)
        assert np.all(np.diff(lats) < 0) and np.all(np.diff(lons) > 0), name
        assert -180 <= lons[0] < lons[-1] < 180 and lats[0] > 80 and lats[-1] < -80
    # temperature: row 0 is the North Pole (cold); the Sahara (lon 10E, lat 25N) is hot
    v, lons, lats = get_field("temperature").grid()
    assert lats[0] == 90 and v[0].mean() < -10
    r, c = np.argmin(abs(lats - 25)), np.argmin(abs(lons - 10))
    assert v[r, c] > 20 and v[-1, c] < -20  # and the last row is the South Pole
    # grid and sample agree at grid points
    ll = np.array([[lons[c], lats[r]], [lons[7], lats[100]]])
    np.testing.assert_allclose(get_field("temperature").sample(ll), [v[r, c], v[100, 7]], atol=1e-4)
    # another resolution is the same field at regular_grid cell centres
    v1, lo1, la1 = get_field("temperature").grid(1.0)
    assert v1.shape == (180, 360) and la1[0] == 89.5 and lo1[0] == -179.5
    assert get_field("temperature").grid(1.0)[0] is v1  # cached


def test_geoid_indian_ocean_low_and_range():
    f = get_field("geoid")
    assert abs(f.sample(np.array([[79.5, 4.5]]))[0] - (-105.0)) < 3.0
    v, lons, lats = f.grid()
    r, c = np.unravel_index(np.nanargmin(v), v.shape)
    assert abs(lons[c] - 79.5) < 1.5 and abs(lats[r] - 4.5) < 1.5
    assert -110 < v.min() < -100 and 80 < v.max() < 90  # EGM2008: -106.9 .. 85.4
    ll = uniform_sphere(12, 3)  # the bilinear sample is within a few cm of the exact degree-240 sum
    np.testing.assert_allclose(f.sample(ll), f.evaluate(ll), atol=0.15)


def _icgem_direct(C, S, lmax, lonlat):
    """Σ_{l<=lmax} Σ_m (C cos + S sin) P̄_lm(sin lat), 4π-normalised, with scipy's Legendre."""
    lon, lat = np.deg2rad(lonlat[:, 0]), np.deg2rad(lonlat[:, 1])
    out = np.zeros(len(lonlat))
    for l in range(lmax + 1):
        for m in range(l + 1):
            norm = math.sqrt((2 - (m == 0)) * (2 * l + 1) * factorial(l - m) / factorial(l + m))
            p = norm * (-1) ** m * lpmv(m, l, np.sin(lat))  # scipy includes the Condon–Shortley phase
            out += (C[l, m] * np.cos(m * lon) + S[l, m] * np.sin(m * lon)) * p
    return out


def test_geoid_conversion_matches_direct_icgem_sum():
    C, S, R, _ = fsh._geoid_model()
    dC = C.copy()
    dC[:2] = 0
    for deg, c in fsh.WGS84_NORMAL_ZONALS.items():
        dC[deg, 0] -= c
    S2 = S.copy()
    S2[:2] = 0
    ll = uniform_sphere(20, 5)
    want = R * _icgem_direct(dC, S2, 11, ll)
    np.testing.assert_allclose(get_field("geoid").evaluate(ll, legendre_polys=12), want, rtol=1e-9, atol=1e-6)


def test_magnetic_potential_conversion_matches_direct_schmidt_sum():
    g, h, _ = fsh._igrf()
    ll = uniform_sphere(15, 2)
    lon, lat = np.deg2rad(ll[:, 0]), np.deg2rad(ll[:, 1])
    want = np.zeros(len(ll))
    for n in range(1, 14):
        for m in range(n + 1):
            schmidt = math.sqrt((2 - (m == 0)) * factorial(n - m) / factorial(n + m)) * (-1) ** m * lpmv(m, n, np.sin(lat))
            want += (g[n, m] * np.cos(m * lon) + h[n, m] * np.sin(m * lon)) * schmidt
    got = fsh.sh_evaluate(ll, get_field("magnetic").sh_coefficients())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-6)


def test_magnetic_intensity_london_2025():
    f = get_field("magnetic")
    F = f.sample(at("London"))[0]
    # Published: London 2025 F = 49,079 nT (IGRF via ppigrf) and 49,111 nT (WMMHR at 2025.5, which adds
    # crustal field); our value is IGRF-14 at 2025.0. Tolerance 60 nT covers the epoch and crustal terms.
    assert abs(F - 49_079) < 60 and abs(F - 49_111) < 60
    ppigrf = pytest.importorskip("ppigrf")  # independent reference (its own field code), same epoch
    ll = np.vstack([at("London", "Singapore", "DomeA", "Denver"), uniform_sphere(6, 9)])
    be, bn, bu = ppigrf.igrf(ll[:, 0], ll[:, 1], 0.0, datetime.datetime(2025, 1, 1))
    ref = np.sqrt(be**2 + bn**2 + bu**2).ravel()
    np.testing.assert_allclose(f.sample(ll), ref, atol=1.0)  # nT
    # components in the geocentric frame against ppigrf's geocentric function (r = 6371.2 km)
    br, bt, bp = fsh.magnetic_components(ll, geodetic=False)
    rb, tb, pb = ppigrf.igrf_gc(np.full(len(ll), 6371.2), 90 - ll[:, 1], ll[:, 0], datetime.datetime(2025, 1, 1))
    np.testing.assert_allclose(np.c_[br, bt, bp], np.c_[rb.ravel(), tb.ravel(), pb.ravel()], atol=1.0)


def test_magnetic_grid_matches_points():
    v, lons, lats = get_field("magnetic").grid()
    idx = np.random.default_rng(0).integers(0, [lats.size, lons.size], size=(30, 2))
    ll = np.c_[lons[idx[:, 1]], lats[idx[:, 0]]]
    np.testing.assert_allclose(v[idx[:, 0], idx[:, 1]], get_field("magnetic").sample(ll), rtol=1e-6)
    assert 22_000 < np.nanmin(v) < 23_000 and 66_000 < np.nanmax(v) < 68_000  # South Atlantic low, polar highs


# ------------------------------------------------------------------------------- tasks
def test_task_splits_kinds_units():
    f = get_field("elevation")
    t = f.task(n_train=600, n_test=300, n_val=100, seed=1)
    assert t.kind == "regression" and t.num_classes == 0 and t.output_dim == 1
    assert (len(t.train), len(t.val), len(t.test)) == (600, 100, 300)
    assert t.meta["units"] == "m" and t.meta["target_names"] == ["elevation"] and t.meta["land_only"]
    for s in (t.train, t.val, t.test):
        assert s.y.dtype == np.float32 and s.y.shape == (len(s),)
        assert f.mask(s.lonlat).all()  # land only
        np.testing.assert_allclose(s.y, f.sample(s.lonlat), rtol=1e-6)
    allp = np.vstack([t.train.lonlat, t.val.lonlat, t.test.lonlat])
    assert len(np.unique(allp, axis=0)) == len(allp)  # disjoint
    np.testing.assert_allclose(t.label_fn(t.test.lonlat), t.test.y, rtol=1e-6)
    values, lons, lats = t.meta["grid"]
    assert values.shape == (180, 360)
    # deterministic per seed, independent copies
    t2 = f.task(n_train=600, n_test=300, n_val=100, seed=1)
    np.testing.assert_array_equal(t2.train.lonlat, t.train.lonlat)
    t2.train.y[:] = 0
    assert f.task(n_train=600, n_test=300, n_val=100, seed=1).train.y.any()
    assert not np.array_equal(f.task(n_train=600, n_test=300, n_val=100, seed=2).train.lonlat, t.train.lonlat)
    # global field: uniform over the whole sphere (about 29% land); n_val defaults to n_train // 10
    g = get_task("field:temperature", n_train=2000, n_test=500)
    assert len(g.val) == 200 and g.meta["units"] == "°C" and not g.meta["land_only"]
    z = np.sin(np.deg2rad(g.train.lonlat[:, 1]))
    assert abs(z.mean()) < 0.06 and abs((z**2).mean() - 1 / 3) < 0.04  # uniform on the sphere


# ------------------------------------------------------------------------------- SH recovery
def _fit_linear_sh(ll, y, L):
    """Least-squares Linear(SH, L) (geoviz encoder, bias kept at 0 as the Y_00 column is constant)."""
    enc = build_location_encoder("sphericalharmonics", "linear", 1, legendre_polys=L).double()
    x = enc.features(torch.from_numpy(ll))
    w = torch.linalg.lstsq(x, torch.from_numpy(y)[:, None]).solution
    with torch.no_grad():
        enc.network.weight.copy_(w.T)
        enc.network.bias.zero_()
    return enc


def test_linear_sh_recovers_geoid_and_error_follows_truncation():
    f = get_field("geoid")
    ll, test = uniform_sphere(4000, 11), uniform_sphere(2000, 12)
    y, yt = f.sample(ll), f.sample(test)
    w_full = f.sh_coefficients()
    errs = []
    for L in (4, 8, 16, 24):
        enc = _fit_linear_sh(ll, y, L)
        with torch.no_grad():
            rmse = float(np.sqrt(np.mean((enc(torch.from_numpy(test))[:, 0].numpy() - yt) ** 2)))
        trunc = float(np.sqrt(np.sum(w_full[L * L:] ** 2) / (4 * np.pi)))  # Parseval: RMS of the omitted degrees
        errs.append(rmse)
        assert 0.8 * trunc < rmse < 1.3 * trunc, (L, rmse, trunc)
        if L == 8:  # the fitted weights are the model's coefficients, up to aliasing of the omitted degrees
            diff = enc.network.weight.detach().numpy()[0] - w_full[:64]
            assert np.abs(diff).max() < 4 * trunc * math.sqrt(4 * math.pi / len(ll)), (np.abs(diff).max(), trunc)
    assert all(a > b for a, b in zip(errs, errs[1:]))


def test_linear_sh_recovers_magnetic_potential_exactly_and_intensity_converges():
    f = get_field("magnetic")
    ll, test = uniform_sphere(1500, 21), uniform_sphere(1000, 22)
    w = f.sh_coefficients()  # potential V/a at r = a, exact SH sum of degree 13 (L = 14)
    enc = _fit_linear_sh(ll, fsh.sh_evaluate(ll, w), 14)
    np.testing.assert_allclose(enc.network.weight.detach().numpy()[0], w, atol=1e-6)
    F, Ft = f.sample(ll), f.sample(test)
    errs = []
    for L in (2, 4, 8, 14):
        with torch.no_grad():
            errs.append(float(np.sqrt(np.mean((_fit_linear_sh(ll, F, L)(torch.from_numpy(test))[:, 0].numpy() - Ft) ** 2))))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 0.01 * errs[0]
