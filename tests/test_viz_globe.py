"""Globe rendering: coverage, colours of known land/ocean pixels, taps, drag, HoloViews wiring."""

import numpy as np
import pytest
import torch

from geoviz.data import is_land, regular_grid
from geoviz.viz import FunctionField, Globe, GridField, globe_lines, orthographic_inverse, render_globe
from geoviz.viz.colors import LAND_RGB, OCEAN_RGB


@pytest.fixture(scope="module")
def land_field():
    g = regular_grid(0.5)
    return GridField(is_land(g.lonlat).astype(np.float64), g.shape)


def _pixel_xy(size, i, j):
    return -1 + (j + 0.5) * 2 / size, 1 - (i + 0.5) * 2 / size


def test_render_shape_alpha_coverage(land_field):
    img = render_globe(land_field, 10.0, 20.0, size=120)
    assert img.shape == (120, 120, 4) and img.dtype == np.uint8
    alpha = img[..., 3]
    assert set(np.unique(alpha)) == {0, 255}
    assert abs((alpha == 255).mean() - np.pi / 4) < 0.01
    assert alpha[0, 0] == 0 and alpha[60, 60] == 255


@pytest.mark.parametrize("lon0,lat0,expected", [(20.0, 0.0, LAND_RGB), (-30.0, 0.0, OCEAN_RGB), (-160.0, 10.0, OCEAN_RGB),
                                                (100.0, 60.0, LAND_RGB)])
def test_centre_pixel_colour(land_field, lon0, lat0, expected):
    img = render_globe(land_field, lon0, lat0, size=101)  # odd size: pixel 50 is the exact centre
    np.testing.assert_array_equal(img[50, 50, :3], expected)


def test_pixels_agree_with_is_land(land_field):
    size = 160
    img = render_globe(land_field, -60.0, 35.0, size=size, )
    i, j = np.nonzero(img[..., 3] == 255)
    x, y = _pixel_xy(size, i, j)
    ll, inside = orthographic_inverse(np.stack([x, y], 1), -60.0, 35.0)
    assert inside.all()
    truth = is_land(ll)
    green = img[i, j, 1] > (OCEAN_RGB[1] + LAND_RGB[1]) / 2
    assert (green == truth).mean() > 0.98  # disagreement only along coastlines (grid + bilinear)


def test_function_field_and_model():
    north = FunctionField(lambda ll: (ll[:, 1] > 0).astype(float))
    img = render_globe(north, 0.0, 0.0, size=41)
    np.testing.assert_array_equal(img[5, 20, :3], LAND_RGB)    # upper half: north
    np.testing.assert_array_equal(img[35, 20, :3], OCEAN_RGB)  # lower half: south

    class LatSign(torch.nn.Module):
        def forward(self, x):
            return 50.0 * x[:, 1:2]

    img2 = render_globe(LatSign(), 0.0, 0.0, size=41)  # sigmoid of the logit
    np.testing.assert_array_equal(img2[5, 20, :3], LAND_RGB)
    rgb = render_globe(lambda ll: np.tile([1.0, 0.0, 0.0], (len(ll), 1)), 0, 0, size=21, kind="rgb")
    np.testing.assert_array_equal(rgb[10, 10], [255, 0, 0, 255])


def test_grid_field_inputs():
    g = regular_grid(10.0)
    flat = np.arange(g.lonlat.shape[0], dtype=np.int64) % 3
    f = GridField(flat, g.shape)
    assert f.kind == "categorical" and f.interpolation == "nearest" and f.rgba.shape == g.shape + (4,)
    np.testing.assert_array_equal(f.values_at(g.lonlat), flat)  # cell centres map back to their own cell
    with pytest.raises(ValueError, match="do not fit"):
        GridField(flat, (3, 3))
    with pytest.raises(ValueError, match="kind"):
        GridField(np.zeros((4, 8)), kind="bogus")


def test_globe_tap_maps_back_to_lonlat(land_field):
    g = Globe(land_field, lon0=40.0, lat0=-20.0, size=64)
    hits = []
    g.on_tap(lambda lon, lat: hits.append((lon, lat)))
    assert g.handle_tap(0.0, 0.0) == pytest.approx((40.0, -20.0))
    ll = g.handle_tap(0.3, 0.5)
    ref, _ = orthographic_inverse(np.array([[0.3, 0.5]]), 40.0, -20.0)
    assert ll == pytest.approx(tuple(ref[0]))
    assert g.handle_tap(0.9, 0.9) is None  # off the disk
    assert hits == [pytest.approx((40.0, -20.0)), pytest.approx(tuple(ref[0]))]
    assert g.last_tap_lonlat == pytest.approx(tuple(ref[0]))


def test_globe_drag_rotates():
    g = Globe(lambda ll: ll[:, 1], lon0=0.0, lat0=0.0, size=32, drag_speed=90.0)
    g.handle_drag(0.0, 0.0, stroke_count=0)  # pan start: records only
    assert (g.lon0, g.lat0) == (0.0, 0.0)
    g.handle_drag(0.1, 0.2, stroke_count=0)  # drag right/up: surface follows, view moves west/south
    assert g.lon0 == pytest.approx(-9.0) and g.lat0 == pytest.approx(-18.0)
    g.handle_drag(0.5, 0.5, stroke_count=1)  # new stroke: no jump
    assert g.lon0 == pytest.approx(-9.0)
    g.handle_drag(0.5, -0.9, stroke_count=1)
    assert g.lat0 == pytest.approx(90.0)  # clamped


def test_globe_holoviews_wiring(land_field):
    hv = pytest.importorskip("holoviews")
    hv.extension("bokeh")
    g = Globe(land_field, lon0=0.0, lat0=0.0, size=48)
    el = g.element()
    fig = hv.render(el)
    assert {"tap", "pan", "panstart", "panend"} <= set(fig.subscribed_events)
    assert not any(type(t).__name__ in ("PanTool", "WheelZoomTool", "BoxZoomTool") for t in fig.tools)
    g.streams["tap"].event(x=0.0, y=0.0)
    assert g.last_tap_lonlat == pytest.approx((0.0, 0.0))
    # simulated browser drag: Bokeh pan events in screen pixels, 25 px to the left
    from bokeh.events import Pan, PanEnd, PanStart

    w = fig.width  # inner_width is only known once a browser has laid the plot out
    fig._trigger_event(PanStart(fig, sx=30.0, sy=20.0, x=0.0, y=0.0))
    fig._trigger_event(Pan(fig, sx=20.0, sy=20.0, x=0.0, y=0.0, delta_x=-10.0, delta_y=0.0))
    fig._trigger_event(PanEnd(fig, sx=5.0, sy=20.0, x=0.0, y=0.0))
    assert g.lon0 == pytest.approx(25 * 2.04 / w * 90.0) and g.lat0 == 0.0
    g.lon0 = 45.0
    rgb_dmap = g.rgb_dmap
    frame = rgb_dmap[()]
    np.testing.assert_array_equal(np.asarray(frame.data),
                                  render_globe(land_field, 45.0, 0.0, 48))
    g.set_field(np.ones((4, 8)))
    # layers overlaid by users bring default pan/zoom tools: the globe removes them
    fig2 = hv.render(g.element() * hv.DynamicMap(lambda: hv.Points([(0.0, 0.0)])))
    assert not any(type(t).__name__ in ("PanTool", "WheelZoomTool", "BoxZoomTool") for t in fig2.tools)
    assert "pan" in fig2.subscribed_events
    assert np.asarray(rgb_dmap[()].data)[24, 24, 1] == LAND_RGB[1]


def test_globe_lines_visible_only():
    ln = globe_lines(-30.0, 45.0)
    for key in ("coastlines", "graticule"):
        a = ln[key]
        fin = np.isfinite(a).all(1)
        assert fin.sum() > 100 and np.isnan(a[~fin]).all()
        assert ((a[fin] ** 2).sum(1) <= 1 + 1e-9).all()
    # half of the graticule points are hidden for a generic centre
    assert 0.3 < np.isfinite(ln["graticule"][:, 0]).mean() < 0.7


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_compiled_kernel_matches_numpy_sampling(interpolation):
    from geoviz.viz import pixel_grid

    g = regular_grid(2.0)
    f = GridField(np.random.default_rng(0).uniform(size=g.shape), interpolation=interpolation, cmap="viridis")
    img = render_globe(f, 33.0, -12.0, 90)  # compiled path
    pg = pixel_grid(90)
    ref = np.zeros((90 * 90, 4), np.uint8)
    ref[pg.idx] = f.rgba_at(pg.lonlat(33.0, -12.0))  # numpy path
    assert np.abs(img.reshape(-1, 4).astype(int) - ref.astype(int)).max() <= 1
