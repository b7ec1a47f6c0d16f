"""Tests for geoviz.data: embedded land mask, samplers, EPSG:6933 grid and benchmark tasks."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import math
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import shapely
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import geoviz.data as gd
from geoviz.data import land as land_mod
from geoviz.data.sampling import EASE2_X_RANGE, EASE2_Y_RANGE

REPO = Path(__file__).resolve().parents[1]


def haversine_matrix(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Independent (N, S) great-circle distances (radians) by the haversine formula."""
    lo1, la1 = np.radians(q[:, :1]), np.radians(q[:, 1:])
    lo2, la2 = np.radians(s[:, 0])[None], np.radians(s[:, 1])[None]
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * np.arctan2(np.sqrt(a), np.sqrt(1 - a))


# ----------------------------------------------------------------------------- asset


def test_asset_matches_provenance() -> None:
    assets = resources.files("geoviz.data").joinpath("assets")
    blob = assets.joinpath("ne_110m_land.wkb.gz").read_bytes()
    prov = gd.land_provenance()
    assert hashlib.sha256(blob).hexdigest() == prov["asset_sha256"]
    assert len(blob) < 300_000
    assert prov["source"]["n_features"] == 177
    assert len(prov["source"]["sha256"]["shp"]) == 64
    geom = gd.land_polygon()
    assert geom.is_valid and geom.geom_type == "MultiPolygon"
    assert shapely.get_num_coordinates(geom) == prov["geometry"]["n_coordinates"]
    assert gd.land_polygon() is geom  # cached


def test_asset_regenerates_from_fixture() -> None:
    spec = importlib.util.find_spec("pyogrio")
    if spec is None:
        pytest.skip("pyogrio (source of the Natural Earth fixture) not installed")
    if importlib.util.find_spec("shapefile") is None:
        pytest.skip("pyshp not installed")
    script = REPO / "scripts" / "make_land_polygon.py"
    mspec = importlib.util.spec_from_file_location("make_land_polygon", script)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    shp = mod.default_source()
    prov_shipped = gd.land_provenance()
    assert hashlib.sha256(shp.read_bytes()).hexdigest() == prov_shipped["source"]["sha256"]["shp"]
    land, blob, prov = mod.build(shp)
    assert shapely.equals(land, gd.land_polygon())
    assert shapely.from_wkb(gzip.decompress(blob)).equals(gd.land_polygon())
    assert prov["geometry"]["n_polygons"] == prov_shipped["geometry"]["n_polygons"]


# ----------------------------------------------------------------------------- is_land

KNOWN = {
    "Paris": ((2.35, 48.85), True),
    "Sahara": ((10.0, 23.0), True),
    "Amazon": ((-60.0, -5.0), True),
    "Siberia": ((100.0, 65.0), True),
    "Antarctica interior": ((30.0, -85.0), True),
    "South Pole plateau": ((0.0, -89.0), True),
    "central Pacific": ((-150.0, 0.0), False),
    "South Atlantic": ((-20.0, -30.0), False),
    "Indian Ocean": ((80.0, -20.0), False),
    "North Pole": ((0.0, 89.9), False),
}


def test_known_points() -> None:
    names = list(KNOWN)
    xy = np.array([KNOWN[k][0] for k in names], dtype=np.float64)
    want = np.array([KNOWN[k][1] for k in names])
    got = gd.is_land(xy)
    assert got.dtype == bool and got.shape == (len(names),)
    assert dict(zip(names, got.tolist())) == dict(zip(names, want.tolist()))


def test_is_land_numpy_and_torch() -> None:
    xy = gd.uniform_sphere(500, seed=3)
    ref = gd.is_land(xy)
    assert np.array_equal(gd.is_land(xy.astype(np.float32)), gd.is_land(xy.astype(np.float32).astype(np.float64)))
    assert np.array_equal(gd.is_land(torch.from_numpy(xy)), ref)
    t = torch.from_numpy(xy).requires_grad_(True)
    out = gd.is_land(t)
    assert isinstance(out, np.ndarray) and out.dtype == bool and np.array_equal(out, ref)
    assert gd.is_land(np.zeros((0, 2))).shape == (0,)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((3,)),
        np.zeros((3, 3)),
        np.array([[0.0, 91.0]]),
        np.array([[181.0, 0.0]]),
        np.array([[np.nan, 0.0]]),
        torch.tensor([[0.0, -95.0]], dtype=torch.float64),
    ],
)
def test_is_land_bad_input_raises(bad) -> None:
    with pytest.raises(ValueError):
        gd.is_land(bad)


def test_is_land_bad_dtype_and_source() -> None:
    with pytest.raises(TypeError):
        gd.is_land(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="unknown land source"):
        gd.is_land(np.zeros((2, 2)), source="ne50m")


def test_globe1km_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    land_mod._globe_module.cache_clear()
    monkeypatch.setitem(sys.modules, "global_land_mask", None)
    try:
        with pytest.raises(ImportError, match="pip install global-land-mask"):
            gd.is_land(np.array([[0.0, 0.0]]), source="globe1km")
    finally:
        land_mod._globe_module.cache_clear()


@pytest.mark.slow
def test_globe1km_agrees_with_ne110m() -> None:
    pytest.importorskip("global_land_mask")  # import costs 3-5 s and ~1 GB RAM
    xy = gd.uniform_sphere(5000, seed=0)
    fine = gd.is_land(torch.from_numpy(xy), source="globe1km")
    coarse = gd.is_land(xy)
    assert fine.dtype == bool and fine.shape == (5000,)
    assert (fine == coarse).mean() > 0.98  # measured 0.9936: 1 km raster vs 1:110m generalisation
    assert abs(fine.mean() - 0.289) < 0.02


# ----------------------------------------------------------------------------- land-ocean task


def test_land_ocean_fractions_match_reference() -> None:
    task = gd.get_task("landocean")
    assert (task.kind, task.num_classes, task.output_dim) == ("binary", 2, 1)
    assert task.class_names == ["ocean", "land"]
    assert len(task.train) == 5000 and len(task.val) == 5000 and len(task.test) == 51156
    for s in task.splits.values():
        assert s.lonlat.dtype == np.float64 and s.y.dtype == np.float32 and s.y.shape == (len(s),)
        assert set(np.unique(s.y).tolist()) <= {0.0, 1.0}
    # reference: train 28.0 %, val 28.6 %, test grid 14,839 / 51,156 (29.0 %)
    assert abs(task.train.y.mean() - 0.280) <= 0.001
    assert abs(task.val.y.mean() - 0.286) <= 0.001
    assert int(task.train.y.sum()) == 1398
    assert int(task.val.y.sum()) == 1430
    assert int(task.test.y.sum()) == 14839
    np.testing.assert_array_equal(task.train.lonlat, gd.uniform_sphere(5000, 0))
    np.testing.assert_array_equal(task.test.lonlat, gd.equal_area_test_grid())
    np.testing.assert_array_equal(task.label_fn(torch.from_numpy(task.val.lonlat)), task.val.y)


def test_task_cache_returns_independent_copies() -> None:
    a = gd.land_ocean()
    a.train.y[:] = 7
    a.meta["land_fraction"]["train"] = -1
    b = gd.get_task("land_ocean")
    assert set(np.unique(b.train.y).tolist()) <= {0.0, 1.0}
    assert b.meta["land_fraction"]["train"] == pytest.approx(0.2796)
    x, y = b.train.tensors()
    assert x.dtype == torch.float64 and y.dtype == torch.float64 and x.shape == (5000, 2)


def test_registry() -> None:
    assert gd.list_tasks() == ["checkerboard", "landocean"]
    assert set(gd.BENCHMARK_TASKS) == {"landocean", "checkerboard"}
    with pytest.raises(KeyError, match="known tasks"):
        gd.get_task("era5")
    with pytest.raises(TypeError):
        gd.land_ocean(n_train=10.5)
    with pytest.raises(ValueError):
        gd.land_ocean(source="nope")


# ----------------------------------------------------------------------------- samplers


def test_uniform_sphere_matches_independent_recipe() -> None:
    pts = gd.uniform_sphere(1000, seed=0)
    assert pts.shape == (1000, 2) and pts.dtype == np.float64
    g = np.random.RandomState(0).normal(size=(3, 1000))
    for k in range(5):
        x, y, z = g[:, k]
        r = math.sqrt(x * x + y * y + z * z)
        assert pts[k, 0] == pytest.approx(math.degrees(math.atan2(y, x)), abs=1e-12)
        assert pts[k, 1] == pytest.approx(math.degrees(math.asin(z / r)), abs=1e-12)
    assert not np.array_equal(pts, gd.uniform_sphere(1000, seed=1))


def test_uniform_sphere_is_uniform() -> None:
    stats = pytest.importorskip("scipy.stats")
    u = gd.lonlat_to_unit(gd.uniform_sphere(100_000, seed=0))
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-12)
    assert np.abs(u.mean(axis=0)).max() < 0.01
    assert stats.kstest(u[:, 2], "uniform", args=(-1, 2)).pvalue > 0.01  # Archimedes: z ~ U(-1, 1)
    pts = gd.uniform_sphere(100_000, seed=0)
    assert stats.kstest(pts[:, 0], "uniform", args=(-180, 360)).pvalue > 0.01


def test_fibonacci_lattice_200() -> None:
    f = gd.fibonacci_lattice(200)
    assert f.shape == (200, 2) and f.dtype == np.float64
    phi = (1 + math.sqrt(5)) / 2
    for row, i in zip(f, range(-100, 100)):  # the reference definition, point by point
        lon = (i % phi) * 360 / phi
        lon = lon - 360 if lon > 180 else lon
        assert row[0] == pytest.approx(lon, abs=1e-12)
        assert row[1] == pytest.approx(math.degrees(math.asin(2 * i / 201)), abs=1e-12)
    assert f[:, 1].min() == pytest.approx(-84.2823, abs=1e-4)
    assert f[:, 1].max() == pytest.approx(80.0884, abs=1e-4)
    assert np.all(np.abs(f[:, 0]) <= 180)
    d = np.degrees(haversine_matrix(f, f))
    np.fill_diagonal(d, np.inf)
    assert d.min(axis=1).mean() == pytest.approx(13.8, abs=0.05)


def test_fibonacci_lattice_sizes() -> None:
    for n in (1, 2, 7, 201, 10000):
        f = gd.fibonacci_lattice(n)
        assert f.shape == (n, 2) and np.all(np.abs(f[:, 1]) < 90)
    with pytest.raises(ValueError):
        gd.fibonacci_lattice(0)


def test_regular_grid() -> None:
    g = gd.regular_grid(1.0)
    assert g.shape == (180, 360) and g.lonlat.shape == (180 * 360, 2)
    lonlat, shape = g  # unpacks as (lonlat, shape)
    img = lonlat.reshape(*shape, 2)
    assert img[0, 0].tolist() == [-179.5, 89.5]  # row 0 = north, column 0 = west
    assert img[-1, -1].tolist() == [179.5, -89.5]
    assert np.all(np.diff(img[:, 0, 1]) < 0)  # rows north -> south
    assert np.all(np.diff(img[0, :, 0]) > 0)  # columns west -> east
    np.testing.assert_allclose(g.lats, 89.5 - np.arange(180))
    np.testing.assert_allclose(g.lons, -179.5 + np.arange(360))
    g2 = gd.regular_grid(shape=(3, 4))
    assert g2.shape == (3, 4)
    np.testing.assert_allclose(g2.lats, [60, 0, -60])
    np.testing.assert_allclose(g2.lons, [-135, -45, 45, 135])
    assert gd.regular_grid(0.25).shape == (720, 1440)
    with pytest.raises(ValueError):
        gd.regular_grid(0.7)
    with pytest.raises(ValueError):
        gd.regular_grid(-1)


# ----------------------------------------------------------------------------- EPSG:6933 grid


def test_equal_area_grid_shape_and_order() -> None:
    g = gd.equal_area_test_grid()
    assert g.shape == (51156, 2) and g.dtype == np.float64
    assert g[:, 1].min() == pytest.approx(-86.0, abs=1e-3)
    assert g[:, 1].max() == pytest.approx(82.32, abs=1e-2)
    assert np.all(np.abs(g[:, 0]) <= 180)
    rows = g.reshape(147, 348, 2)  # y-major: each block of 348 is one row, south to north
    assert np.all(rows[:, :, 1] == rows[:, :1, 1])
    assert np.all(np.diff(rows[:, 0, 1]) > 0)
    assert rows[0, 0, 0] == pytest.approx(180.0, abs=1e-6)  # first column wraps -180.00000005 -> +179.99999995
    assert np.all(np.diff(rows[0, 1:, 0]) > 0)


def test_equal_area_grid_matches_pyproj() -> None:
    pyproj = pytest.importorskip("pyproj")
    x = np.arange(*EASE2_X_RANGE, 1e5)
    y = np.arange(*EASE2_Y_RANGE, 1e5)
    X, Y = np.meshgrid(x, y)
    tr = pyproj.Transformer.from_crs(6933, 4326, always_xy=True)
    lon, lat = tr.transform(X.ravel(), Y.ravel())
    errs = {}
    for method in ("proj", "exact"):
        g = gd.equal_area_test_grid(method=method)
        np.testing.assert_allclose(g[:, 0], lon, rtol=0, atol=1e-9)
        errs[method] = np.abs(g[:, 1] - lat).max()
    # PROJ <= 9.5 evaluates the 3-term authalic series ("proj"); newer PROJ may use a more
    # accurate inversion ("exact"). One of them must match pyproj to 1e-9 deg, and the two
    # differ by at most ~1.5e-8 deg (1.6 mm).
    assert min(errs.values()) < 1e-9, errs
    assert max(errs.values()) < 2e-8, errs
    # forward projection agrees with pyproj too
    fw = pyproj.Transformer.from_crs(4326, 6933, always_xy=True)
    ll = gd.uniform_sphere(2000, seed=5)
    ll = ll[np.abs(ll[:, 1]) < 89.9]
    fx, fy = fw.transform(ll[:, 0], ll[:, 1])
    np.testing.assert_allclose(gd.lonlat_to_ease2(ll), np.stack([fx, fy], 1), rtol=0, atol=1e-6)


def test_equal_area_grid_labels_independent_of_method() -> None:
    a = gd.is_land(gd.equal_area_test_grid("proj"))
    b = gd.is_land(gd.equal_area_test_grid("exact"))
    assert np.array_equal(a, b) and int(a.sum()) == 14839


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-179.9, 179.9, allow_nan=False),
    st.floats(-89.0, 89.0, allow_nan=False),
)
def test_ease2_exact_round_trip(lon: float, lat: float) -> None:
    ll = np.array([[lon, lat]])
    back = gd.ease2_to_lonlat(gd.lonlat_to_ease2(ll), method="exact")
    np.testing.assert_allclose(back, ll, rtol=0, atol=1e-9)


def test_ease2_rejects_beyond_pole() -> None:
    with pytest.raises(ValueError):
        gd.ease2_to_lonlat(np.array([[0.0, 8e6]]))
    with pytest.raises(ValueError):
        gd.ease2_to_lonlat(np.zeros((2, 2)), method="series")


# ----------------------------------------------------------------------------- checkerboard


def test_checkerboard_task() -> None:
    task = gd.get_task("checkerboard")
    assert (task.kind, task.num_classes, task.output_dim) == ("multiclass", 16, 16)
    assert len(task.class_names) == 16
    assert (len(task.train), len(task.val), len(task.test)) == (10000, 10000, 10000)
    sup, sup_lab = task.meta["support_lonlat"], task.meta["support_labels"]
    np.testing.assert_array_equal(sup, gd.fibonacci_lattice(200))
    np.testing.assert_array_equal(sup_lab, np.arange(-100, 100) % 16)
    np.testing.assert_array_equal(task.test.lonlat, gd.fibonacci_lattice(10000))
    np.testing.assert_array_equal(task.train.lonlat, gd.uniform_sphere(10000, 0))
    rng = np.random.default_rng(0)
    for name, s in task.splits.items():
        assert s.y.dtype == np.int64 and s.y.shape == (10000,)
        assert np.array_equal(np.unique(s.y), np.arange(16)), name
        idx = rng.choice(len(s), 2000, replace=False)
        brute = sup_lab[haversine_matrix(s.lonlat[idx], sup).argmin(axis=1)]
        np.testing.assert_array_equal(s.y[idx], brute, err_msg=name)
    # support points label themselves
    np.testing.assert_array_equal(task.label_fn(torch.from_numpy(sup)), sup_lab)


def test_checkerboard_variants() -> None:
    t = gd.checkerboard(n_support=50, n_classes=4, n_train=300, n_val=200, n_test=100)
    assert (len(t.train), len(t.val), len(t.test)) == (300, 200, 100)
    assert t.output_dim == 4 and t.train.y.max() < 4
    with pytest.raises(ValueError):
        gd.checkerboard(n_classes=1)


# ----------------------------------------------------------------------------- boundaries


def test_land_boundaries() -> None:
    rings = gd.land_boundaries()
    assert len(rings) == 128  # 127 polygon exteriors + 1 interior ring (the Caspian Sea)
    for r in rings:
        assert r.ndim == 2 and r.shape[1] == 2 and r.dtype == np.float64
        assert np.array_equal(r[0], r[-1])
        assert not r.flags.writeable
    n = sum(len(r) for r in rings)
    assert n == shapely.get_num_coordinates(gd.land_polygon())
    lines = gd.land_boundaries(drop_frame_edges=True)
    for line in lines:
        a, b = line[:-1], line[1:]
        along_dateline = (np.abs(np.abs(a[:, 0]) - 180) < 1e-9) & (np.abs(np.abs(b[:, 0]) - 180) < 1e-9)
        along_pole = (np.abs(a[:, 1] + 90) < 1e-9) & (np.abs(b[:, 1] + 90) < 1e-9)
        assert not (along_dateline | along_pole).any()
    assert min(line[:, 1].min() for line in lines) > -90


def test_public_api() -> None:
    for name in gd.__all__:
        assert hasattr(gd, name), name
    prov = json.loads(resources.files("geoviz.data").joinpath("assets").joinpath("ne_110m_land.json").read_text())
    assert prov["source"]["package"] == "pyogrio"


def test_data_modules_import_without_a_cycle():
    """Each data module imports on its own in a fresh interpreter (no fields ↔ tasks cycle)."""
    import subprocess
    import sys

    for mod in ("geoviz.data.fields", "geoviz.data.tasks", "geoviz.data.task", "geoviz.data.points",
                "geoviz.data.splits"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True, text=True)
        assert r.returncode == 0, (mod, r.stderr[-2000:])


def test_split_options_live_in_splits():
    """task_from_points and train_val_test_split give the same sides (one split implementation)."""
    from geoviz.data import task_from_points, train_val_test_split, uniform_sphere

    p = uniform_sphere(600, 3)
    y = (p[:, 1] > 0).astype(int)
    for split in ("random", "blocks:20", "blocks:20:300km", "region:Africa"):
        t = task_from_points(p, y, split=split, seed=4, test_fraction=0.25, val_fraction=0.15)
        tr, va, te = train_val_test_split(p, split, labels=y, test_fraction=0.25, val_fraction=0.15, seed=4)
        np.testing.assert_array_equal(t.train.lonlat, p[tr])
        np.testing.assert_array_equal(t.val.lonlat, p[va])
        np.testing.assert_array_equal(t.test.lonlat, p[te])
        assert not (set(tr) & set(te)) and not (set(va) & set(te)) and not (set(tr) & set(va))
