"""Flat maps, coastlines and tap streams."""

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")
hv.extension("bokeh")

from geoviz.data import is_land, regular_grid  # noqa: E402
from geoviz.viz import coastline_paths, coastlines_element, flat_map, tap_stream  # noqa: E402
from geoviz.viz.colors import LAND_RGB, OCEAN_RGB, colorize  # noqa: E402


@pytest.fixture(scope="module")
def grid():
    return regular_grid(2.0)


def test_coastline_paths():
    paths = coastline_paths()
    assert len(paths) > 100
    allpts = np.concatenate(paths)
    assert (np.abs(allpts[:, 0]) <= 180 + 1e-9).all() and (np.abs(allpts[:, 1]) <= 90).all()
    assert allpts[:, 1].min() > -90  # the polygon's closing edge along the south pole is dropped
    # vertices lie on the land boundary: points just N/S of a mid-latitude coastline differ
    simp = coastline_paths(simplify=0.5)
    assert sum(map(len, simp)) < 0.8 * sum(map(len, paths))
    el = coastlines_element()
    assert isinstance(el, hv.Path) and el.kdims[0].name == "lon"


def test_flat_map_continuous_values_and_ranges(grid):
    v = is_land(grid.lonlat).astype(np.float64)
    m = flat_map(v, grid.shape, title="land")
    assert isinstance(m, hv.Overlay)
    img = m.get(0)
    assert isinstance(img, hv.Image) and img.bounds.lbrt() == (-180, -90, 180, 90)
    assert img.dimension_values(2, flat=False).shape == grid.shape
    # value at a lon/lat: Congo is land, mid-Pacific ocean
    assert img[20.0, 0.0] == 1.0 and img[-150.0, 0.0] == 0.0
    fig = hv.render(m)
    assert fig.title.text == "land"
    assert any(type(t).__name__ == "HoverTool" for t in fig.tools)
    assert img.opts.get().kwargs["clim"] == (0.0, 1.0)


def test_flat_map_rgb_and_categorical(grid):
    H, W = grid.shape
    rgb = np.zeros((H * W, 3))
    rgb[:, 0] = 1.0
    m = flat_map(rgb, grid.shape, kind="rgb", coastlines=False)
    assert isinstance(m, hv.RGB)
    assert np.asarray(m.data).shape == (H, W, 4) and (np.asarray(m.data)[..., 0] == 255).all()
    cls = (np.arange(H * W) % 4).astype(np.int64)
    m2 = flat_map(cls, grid.shape, kind="categorical")
    opts = m2.get(0).opts.get().kwargs
    assert opts["clim"] == (-0.5, 3.5) and len(opts["cmap"]) == 4
    hv.render(m2)


def test_flat_map_scattered_points_rasterized():
    rng = np.random.default_rng(0)
    n = 40_000
    ll = np.stack([rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)], axis=1)
    m = flat_map(ll[:, 1], lonlat=ll, cmap="viridis", coastlines=False, width=72, height=36)
    assert isinstance(m, hv.DynamicMap)
    agg = m[()]  # datashader aggregation at the default ranges
    vals = agg.dimension_values(2, flat=False)
    assert vals.shape == (36, 72)
    ys = agg.dimension_values(1, expanded=False)
    # mean latitude per cell ≈ cell centre latitude (5° cells, ~15 points each)
    row_means = np.nanmean(vals, axis=1)
    np.testing.assert_allclose(np.sort(row_means), np.sort(ys), atol=0.5)


def test_flat_map_scattered_rgb_binned():
    ll = np.array([[10.5, 10.5], [10.6, 10.6], [-100.0, -45.0]])
    rgb = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    m = flat_map(rgb, lonlat=ll, kind="rgb", coastlines=False, rgb_resolution=1.0)
    data = np.asarray(m.data)
    assert data.shape == (180, 360, 4)
    np.testing.assert_array_equal(data[79, 190], [128, 0, 128, 255])  # mean of red and blue
    assert data[0, 0, 3] == 0  # empty cells transparent


def test_flat_map_errors(grid):
    with pytest.raises(ValueError, match="exactly one"):
        flat_map(np.zeros(3))
    with pytest.raises(ValueError, match="do not fit"):
        flat_map(np.zeros(10), grid.shape)
    with pytest.raises(ValueError, match="kind"):
        flat_map(np.zeros(grid.shape), grid.shape, kind="hsv")
    with pytest.raises(ValueError):
        flat_map(np.zeros(1), lonlat=np.array([[0.0, 95.0]]))


def test_tap_stream_on_overlay(grid):
    m = flat_map(np.zeros(grid.shape[0] * grid.shape[1]), grid.shape)
    hits = []
    tap = tap_stream(m, lambda lon, lat: hits.append((lon, lat)))
    fig = hv.render(m)
    assert "tap" in fig.subscribed_events
    tap.event(x=12.5, y=-3.0)
    assert hits == [(12.5, -3.0)]


def test_colorize_landocean_matches_cli():
    from geoviz.commands.train import _map_rgb  # the map `geoviz train` writes

    v = np.array([0.0, 0.25, 1.0])
    ours = colorize(v)[:, :3]
    cli = np.asarray(_map_rgb(v, (1, 3), "binary"))[0]
    assert np.abs(ours.astype(int) - cli.astype(int)).max() <= 1
    np.testing.assert_array_equal(ours[0], OCEAN_RGB)
    np.testing.assert_array_equal(ours[2], LAND_RGB)
    assert colorize(np.array([np.nan]))[0, 3] == 0
