"""Orthographic projection: closed forms, an independent vector derivation, round trips."""

import numpy as np
import pytest
import torch

from geoviz.viz.projection import orthographic_forward, orthographic_inverse, pixel_grid

CENTRES = [(0.0, 0.0), (20.0, 10.0), (-120.0, 45.0), (179.0, -60.0), (30.0, 90.0), (-75.0, -90.0)]


def _unit(lon, lat):
    lo, la = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _random_lonlat(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))], axis=1)


@pytest.mark.parametrize("lon0,lat0", CENTRES)
def test_forward_matches_tangent_frame_projection(lon0, lat0):
    # independent reference: dot products with the east/north/centre unit vectors
    ll = _random_lonlat(2000)
    p = _unit(ll[:, 0], ll[:, 1])
    l0, p0 = np.radians(lon0), np.radians(lat0)
    east = np.array([-np.sin(l0), np.cos(l0), 0.0])
    north = np.array([-np.sin(p0) * np.cos(l0), -np.sin(p0) * np.sin(l0), np.cos(p0)])
    centre = _unit(lon0, lat0)
    xy, vis = orthographic_forward(ll, lon0, lat0)
    np.testing.assert_allclose(xy[:, 0], p @ east, atol=1e-12)
    np.testing.assert_allclose(xy[:, 1], p @ north, atol=1e-12)
    np.testing.assert_array_equal(vis, p @ centre >= 0)


@pytest.mark.parametrize("lon0,lat0", CENTRES)
def test_inverse_round_trip(lon0, lat0):
    ll = _random_lonlat(5000, seed=1)
    xy, vis = orthographic_forward(ll, lon0, lat0)
    back, inside = orthographic_inverse(xy[vis], lon0, lat0)
    assert inside.all()
    # compare on the sphere (longitude is undefined at the poles)
    ang = np.degrees(np.arccos(np.clip((_unit(back[:, 0], back[:, 1]) * _unit(ll[vis, 0], ll[vis, 1])).sum(1), -1, 1)))
    assert ang.max() < 1e-5
    assert (back[:, 0] >= -180).all() and (back[:, 0] < 180).all()


def test_known_points_and_disk():
    xy, vis = orthographic_forward(np.array([[20.0, 10.0], [110.0, 0.0], [-160.0, -10.0]]), 20.0, 10.0)
    np.testing.assert_allclose(xy[0], [0, 0], atol=1e-12)
    assert vis[0] and not vis[2]
    xy, _ = orthographic_forward(np.array([[90.0, 0.0], [0.0, 90.0]]), 0.0, 0.0)
    np.testing.assert_allclose(xy, [[1, 0], [0, 1]], atol=1e-12)  # east limb right, north pole up
    ll, inside = orthographic_inverse(np.array([[0.0, 0.0], [0.6, 0.8], [0.9, 0.9]]), -45.0, 30.0)
    np.testing.assert_allclose(ll[0], [-45.0, 30.0], atol=1e-12)
    assert inside.tolist() == [True, True, False] and np.isnan(ll[2]).all()


def test_torch_input_and_errors():
    xy, vis = orthographic_forward(torch.tensor([[10.0, 20.0]], dtype=torch.float64), 10.0, 20.0)
    np.testing.assert_allclose(xy, [[0, 0]], atol=1e-12)
    with pytest.raises(ValueError, match="lat0"):
        orthographic_forward(np.zeros((1, 2)), 0.0, 95.0)
    with pytest.raises(ValueError):
        orthographic_forward(np.array([[0.0, 100.0]]), 0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        orthographic_inverse(np.zeros((3, 3)), 0.0, 0.0)
    with pytest.raises(ValueError, match="size"):
        pixel_grid(0)


def test_pixel_grid_matches_inverse():
    pg = pixel_grid(64)
    assert pg.inside.sum() == len(pg.idx)
    assert abs(pg.inside.mean() - np.pi / 4) < 0.02
    ll = pg.lonlat(33.0, -12.0)
    ref, inside = orthographic_inverse(np.stack([pg.x, pg.y], 1), 33.0, -12.0)
    assert inside.all()
    np.testing.assert_allclose(ll, ref, atol=1e-12)
    # pixel (i, j) has x = -1 + (j + .5) * 2 / size, y = 1 - (i + .5) * 2 / size
    i, j = np.unravel_index(pg.idx[0], (64, 64))
    assert pg.x[0] == pytest.approx(-1 + (j + 0.5) / 32) and pg.y[0] == pytest.approx(1 - (i + 0.5) / 32)
