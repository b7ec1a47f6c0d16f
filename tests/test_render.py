"""geoviz.render: the one module that draws (palettes, colour bars, legends, coastlines, maps,
PNG and GIF). Checked against independent references: matplotlib's own colour maps, the
Natural Earth land polygon (``is_land``), Pillow decoding the encoded bytes."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from geoviz import render


def _decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# ---------------------------------------------------------------------------------- palettes


def test_known_values_map_to_the_expected_palette_colours():
    import matplotlib

    # the P(land) ramp of the CLI and the widgets: 0 ocean, 1 land
    rgba = render.colorize(np.array([0.0, 1.0, np.nan]))
    np.testing.assert_array_equal(rgba[0, :3], render.OCEAN_RGB)
    np.testing.assert_array_equal(rgba[1, :3], render.LAND_RGB)
    assert rgba[2, 3] == 0  # NaN: transparent
    # any matplotlib colour map: the ends of clim are matplotlib's own ends, outside is clamped
    vir = matplotlib.colormaps["viridis"]
    got = render.colorize(np.array([-5.0, 10.0, 20.0, 99.0]), cmap="viridis", clim=(10.0, 20.0))[:, :3]
    for i, t in ((0, 0.0), (1, 0.0), (2, 1.0), (3, 1.0)):
        np.testing.assert_array_equal(got[i], np.round(np.asarray(vir(t)[:3]) * 255))
    # the dashboard's P(land) map is diverging: 0.5 (the decision boundary) is its pale middle
    mid = render.colorize(np.array([0.5]), cmap=render.PLAND_CMAP, clim=(0, 1))[0, :3]
    np.testing.assert_array_equal(mid, render.colormap_lut(render.PLAND_CMAP)[128, :3])
    assert mid.min() > 200
    # a signed field: symmetric range, 0 in the diverging map's middle
    lo, hi = render.symmetric_clim(np.array([-3.0, 1.0, 2.0, np.nan]), 100)
    assert (lo, hi) == (-3.0, 3.0)
    zero = render.colorize(np.array([0.0]), cmap=render.DIVERGING_CMAP, clim=(lo, hi))[0, :3]
    np.testing.assert_array_equal(zero, render.colormap_lut(render.DIVERGING_CMAP)[128, :3])
    # classes: class k has palette colour k (tab10 colours, independent of the other values)
    tab10 = np.round(np.asarray(matplotlib.colormaps["tab10"].colors) * 255).astype(int)
    cls = render.colorize(np.array([0, 3, 9]), "categorical", n_classes=10)[:, :3]
    np.testing.assert_array_equal(cls, tab10[[0, 3, 9]])
    # the matplotlib side draws the same colours: the landocean Colormap and the class colour map
    np.testing.assert_allclose(np.asarray(render.mpl_colormap("landocean")(1.0)[:3]) * 255, render.LAND_RGB, atol=0.5)
    cmap, norm = render.class_colormap(10)
    np.testing.assert_allclose(np.asarray(cmap(norm(3))[:3]) * 255, tab10[3], atol=0.5)
    with pytest.raises(ValueError, match="unknown colormap"):
        render.colormap_lut("no-such-map")


def test_grid_rgb_rows_run_north_to_south_and_nan_is_grey():
    v = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, np.nan, 0.0, 0.0]])  # row 0 = north
    rgb = render.grid_rgb(v.reshape(-1), (2, 4))
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], render.LAND_RGB)
    np.testing.assert_array_equal(rgb[1, 0], render.OCEAN_RGB)
    np.testing.assert_array_equal(rgb[1, 1], render.NAN_RGB)
    im = render.map_image(v, (2, 4), scale=3, coastlines=False, legend=False)
    assert im.shape == (6, 12, 3)
    np.testing.assert_array_equal(im[:3, :3], np.broadcast_to(render.LAND_RGB, (3, 3, 3)))  # north at the top
    with pytest.raises(ValueError, match="raster"):
        render.grid_rgb(np.zeros(8))


def test_a_figure_pixel_has_the_palette_colour_of_its_value():
    """End to end through matplotlib: a raster of 1.0 on the landocean map is drawn in LAND_RGB."""
    fig = render.new_figure((4.0, 2.0), dpi=50, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    render.show_raster(ax, np.ones((18, 36)), cmap="landocean")
    px = np.asarray(_decode(render.figure_png(fig)).convert("RGB"))
    assert px.shape == (100, 200, 3)
    np.testing.assert_array_equal(px[50, 100], render.LAND_RGB)


# ---------------------------------------------------------------------------------- colour bars and legends


def test_colour_bar_ends_are_labelled():
    assert render.legend_ticks((0.0, 1.0)) == [0.0, 0.5, 1.0]
    ticks = render.legend_ticks((-37.0, 4325.0))
    assert ticks[0] == -37.0 and ticks[-1] == 4325.0 and 0.0 in ticks
    # the image: tick labels (dark text) under both ends of the ramp (ramp from x = 40 to width - 40)
    img = render.colorbar_image(400, cmap="RdYlBu_r", clim=(-50.0, 50.0), label="temperature (°C)")
    assert img.shape[1] == 400 and img.dtype == np.uint8
    text = img[-12:].min(axis=2) < 100
    cols = np.flatnonzero(text.any(axis=0))
    assert cols.min() < 45 and cols.max() > 355
    # the label text above, the ramp's two end colours inside
    assert (img[:10].min(axis=2) < 100).any()
    lut = render.colormap_lut("RdYlBu_r")[:, :3].astype(int)
    for rgb in lut[[0, -1]]:
        assert (np.abs(img.astype(int) - rgb).sum(axis=2) < 6).any()
    # matplotlib colour bars: ticks at both ends, labelled, 0 on a diverging scale
    fig, axes = render.map_figure()
    im = render.show_raster(axes[0, 0], np.linspace(-37, 4325, 200).reshape(10, 20), cmap="viridis",
                            clim=(-37.0, 4325.0))
    cb = render.add_colorbar(fig, im, axes[0, 0], "elevation [m]", center=0.0)
    t = list(cb.get_ticks())
    assert t[0] == -37.0 and t[-1] == 4325.0 and 0.0 in t
    fig.canvas.draw()
    labels = [x.get_text() for x in cb.ax.get_yticklabels()]
    assert labels[0] == "-37" and labels[-1] == "4325" and all(labels)
    assert cb.ax.get_ylabel() == "elevation [m]"


def _glyphs(text: str, font_size: int = 11) -> np.ndarray:
    """``text`` as Pillow draws it in the legend's font, cropped to its ink, black on white."""
    from PIL import ImageDraw

    img = Image.new("RGB", (200, 30), (255, 255, 255))
    ImageDraw.Draw(img).text((5, 5), text, fill=(0, 0, 0), font=render._font(font_size))
    a = np.asarray(img)
    ys, xs = np.nonzero(a.min(axis=2) < 255)
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _contains(big: np.ndarray, small: np.ndarray) -> bool:
    h, w = small.shape[:2]
    for y in range(big.shape[0] - h + 1):
        for x in range(big.shape[1] - w + 1):
            if np.array_equal(big[y:y + h, x:x + w], small):
                return True
    return False


def test_class_legend_shows_class_names_and_colours():
    names = ["ocean", "land", "ice"]
    img = render.legend_image("categorical", 300, n_classes=3, class_names=names)
    np.testing.assert_array_equal(img, render.class_legend_image(300, names))
    for rgb in render.categorical_palette(3)[:, :3].astype(int):
        assert (np.abs(img.astype(int) - rgb).sum(axis=2) == 0).sum() > 20  # a swatch of each class colour
    for name in names:  # each class name is written in the legend
        assert _contains(img, _glyphs(name)), name
    assert not _contains(img, _glyphs("desert"))
    with pytest.raises(ValueError):
        render.legend_image("rgb", 300)
    with pytest.raises(ValueError, match="class"):
        render.legend_image("categorical", 300)
    # the matplotlib legend: the names, in order, with the palette's colours
    fig = render.new_figure()
    leg = render.class_legend(fig.add_subplot(), render.categorical_palette(3), names, title="class")
    assert [t.get_text() for t in leg.get_texts()] == names and leg.get_title().get_text() == "class"
    np.testing.assert_allclose([h.get_facecolor()[:3] for h in leg.legend_handles],
                               render.categorical_palette(3)[:, :3] / 255.0)
    # a map with its class legend below: the legend strip is exactly the legend image
    m = render.map_image(np.arange(18 * 36) % 3, (18, 36), "categorical", n_classes=3, class_names=names, scale=10)
    np.testing.assert_array_equal(m[180:], render.legend_image("categorical", 360, n_classes=3, class_names=names))


# ---------------------------------------------------------------------------------- coastlines


def _land_raster(H: int, W: int) -> np.ndarray:
    from geoviz.data import is_land

    lon = -180 + (np.arange(W) + 0.5) * 360 / W
    lat = 90 - (np.arange(H) + 0.5) * 180 / H
    lo, la = np.meshgrid(lon, lat)
    return np.asarray(is_land(np.column_stack([lo.ravel(), la.ravel()]))).reshape(H, W)


def test_coastlines_fall_on_land_sea_boundaries():
    H, W = 360, 720  # 0.5° pixels, 2:1
    mask = render.coastline_mask((H, W))
    assert mask.shape == (H, W) and mask.dtype == bool and 5000 < mask.sum() < 20000
    land = _land_raster(H, W)
    # every coastline pixel (but a few where the polygon is thinner than a pixel) has land and
    # sea (by the Natural Earth polygon itself, at pixel centres) within one pixel
    padded = np.pad(land, 1, mode="edge")
    window = np.stack([padded[dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)])
    mixed = window.any(axis=0) & ~window.all(axis=0)
    assert mixed[mask].mean() > 0.97
    # known coasts: La Serena (Chile), Miami, Sydney, Accra: a coastline pixel within one pixel
    for lon, lat in ((-71.3, -29.9), (-80.1, 25.9), (151.25, -33.9), (0.0, 5.6)):
        x, y = render.lonlat_to_pixel(lon, lat, (H, W))
        r, c = int(y), int(x)
        assert mask[r - 1:r + 2, c - 1:c + 2].any(), (lon, lat)
    # drawn over a map: coast pixels black, the open ocean and the Sahara untouched
    base = np.full((H, W, 3), 128, np.uint8)
    drawn = render.draw_coastlines(base)
    assert (drawn[mask] == render.COAST_RGB).all() and (drawn[~mask] == 128).all() and (base == 128).all()
    for lon, lat in ((-150.0, 0.0), (20.0, 23.0)):
        x, y = render.lonlat_to_pixel(lon, lat, (H, W))
        assert not mask[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4].any()


def test_matplotlib_coastlines_match_the_raster_coastlines():
    from scipy.ndimage import binary_dilation

    fig = render.new_figure((7.2, 3.6), dpi=100, layout=None)  # 720 × 360 px, 0.5° per pixel
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    render.style_map_axes(ax, ticks=False, coast_width=0.72)
    dark = np.asarray(_decode(render.figure_png(fig)).convert("L")) < 128
    mask = render.coastline_mask((360, 720))
    assert dark.shape == mask.shape
    assert binary_dilation(mask, iterations=2)[dark].mean() > 0.98
    assert binary_dilation(dark, iterations=2)[mask].mean() > 0.98


# ---------------------------------------------------------------------------------- maps and figures


def test_compose_map_sizes_title_legend_and_inset():
    rgb = render.grid_rgb(np.linspace(0, 1, 18 * 36), (18, 36))
    legend = render.legend_image("continuous", 36 * 4)
    out = render.compose_map(rgb, scale=4, coastlines=True, title="epoch 3", legend=legend, inset="epoch 3")
    assert out.shape == (18 + 4 * 18 + legend.shape[0], 4 * 36, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[-legend.shape[0]:], legend)
    assert (out[:18] < 100).any() and (out[:18] == 255).any()  # dark title text on a white band
    np.testing.assert_array_equal(render.resize_nearest(rgb, 72, 144), np.repeat(np.repeat(rgb, 4, 0), 4, 1))
    with pytest.raises(ValueError, match="wide"):
        render.compose_map(rgb, scale=2, legend=legend)


def test_map_figure_is_two_to_one_with_its_panels():
    fig, axes = render.map_figure(2, 3, panel_width=4.0, dpi=50)
    assert axes.shape == (2, 3)
    for ax in axes.flat:
        assert ax.get_xlim() == (-180.0, 180.0) and ax.get_ylim() == (-90.0, 90.0) and ax.get_aspect() == 1.0
    w, h = _decode(render.figure_png(fig)).size
    assert (w, h) == (600, 2 * (100 + 30))


# ---------------------------------------------------------------------------------- encoding


def test_png_bytes_decode_to_the_same_image():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    im = _decode(render.png_bytes(rgb))
    assert im.size == (7, 5) and im.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(im), rgb)
    rgba = rng.integers(0, 256, (4, 6, 4), dtype=np.uint8)
    im = _decode(render.png_bytes(rgba))
    assert im.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(im), rgba)
    np.testing.assert_array_equal(np.asarray(_decode(render.png_bytes(Image.fromarray(rgb)))), rgb)
    url = render.png_data_url(rgb)
    import base64

    assert url.startswith("data:image/png;base64,")
    np.testing.assert_array_equal(np.asarray(_decode(base64.b64decode(url.split(",", 1)[1]))), rgb)
    for bad in (np.zeros((2, 3), np.uint8), np.zeros((2, 3, 2), np.uint8), np.full((2, 3, 3), 0.5)):
        with pytest.raises(ValueError):
            render.png_bytes(bad)
    # a figure's PNG has the figure's size in pixels
    assert _decode(render.figure_png(render.new_figure((3.0, 2.0), dpi=40))).size == (120, 80)
    assert _decode(render.figure_png(render.new_figure((3.0, 2.0), dpi=40), dpi=80)).size == (240, 160)


def test_gif_bytes_frame_count_size_timing_and_colours():
    frames = [render.map_image(np.full(18 * 36, v), (18, 36), scale=4, title=f"epoch {i}")
              for i, v in enumerate((0.0, 0.5, 1.0, 0.25))]
    h, w = frames[0].shape[:2]
    assert w == 144 and h > 18 + 72
    gif = _decode(render.gif_bytes(frames, fps=4, palette=render.gif_palette("continuous")))
    assert gif.n_frames == 4 and gif.size == (w, h) and gif.info["duration"] == 250 and gif.info["loop"] == 0
    for i, rgb in ((0, render.OCEAN_RGB), (2, render.LAND_RGB)):  # the field colour survives (it is in the palette)
        gif.seek(i)
        px = np.asarray(gif.convert("RGB"))[18 + 4, 4].astype(int)  # the Arctic Ocean's corner: no coastline
        assert np.abs(px - frames[i][18 + 4, 4]).max() <= 3 and np.abs(px - rgb).max() <= 3
    # median-cut palettes (the default) and PIL images as frames; identical neighbours merge
    a = Image.fromarray(frames[0])
    assert _decode(render.gif_bytes([a, frames[1], frames[1]], fps=10)).n_frames == 2
    with pytest.raises(ValueError, match="no frames"):
        render.gif_bytes([])
    with pytest.raises(ValueError, match="fps"):
        render.gif_bytes(frames, fps=0)
    with pytest.raises(ValueError, match="size"):
        render.gif_bytes([frames[0], frames[0][:10]])


# ---------------------------------------------------------------------------------- no global state


def _raw_rcparams() -> dict:
    import matplotlib

    return {k: v for k, v in dict.items(matplotlib.rcParams)}  # raw values: no backend resolution


def _draw_everything(tmp_path) -> None:
    fig, axes = render.map_figure(1, 2, dpi=40)
    im = render.show_raster(axes[0, 0], np.linspace(0, 1, 50).reshape(5, 10), cmap=render.PLAND_CMAP, clim=(0, 1))
    render.add_colorbar(fig, im, axes[0, 0], "P(land)")
    render.style_map_axes(axes[0, 0], "a")
    cls = render.show_raster(axes[0, 1], np.arange(50).reshape(5, 10) % 4, kind="categorical")
    render.add_colorbar(fig, cls, axes[0, 1], class_names=list("abcd"))
    render.show_mask(axes[0, 1], np.eye(5, 10, dtype=bool), "red")
    render.class_legend(fig, ["red", "blue"], ["x", "y"], loc="outside lower center")
    render.figure_png(fig)
    render.figure_image(fig)
    render.save_figure(fig, tmp_path / "f" / "fig.png")
    render.colorbar_image(200, cmap="viridis", clim=(-3, 7))
    render.map_image(np.zeros(50), (5, 10), scale=20)


def test_drawing_leaves_matplotlib_global_state_alone(tmp_path):
    import matplotlib

    before = _raw_rcparams()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    _draw_everything(tmp_path)
    assert _raw_rcparams() == before
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    assert dict.__getitem__(matplotlib.rcParams, "backend") == before["backend"]


def test_drawing_keeps_the_users_backend_and_never_imports_pyplot(tmp_path):
    code = f"""
import sys
import matplotlib
matplotlib.use("svg")
from pathlib import Path
sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
from test_render import _draw_everything
_draw_everything(Path({str(tmp_path)!r}))
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["svg", "False"]


# ---------------------------------------------------------------------------------- one way to draw


def test_old_names_are_thin_aliases_of_render():
    from geoviz import figures, widgets
    from geoviz.app import views
    from geoviz.evaluation import compare
    from geoviz.viz import animation, coastlines, colors

    assert widgets.png_bytes is render.png_bytes and widgets.png_data_url is render.png_data_url
    assert figures.png_bytes is render.png_bytes and views.png_data_url is render.png_data_url
    assert compare.figure_png is render.figure_png
    assert animation.map_image is render.map_image and animation.legend_image is render.legend_image
    assert animation.colorbar_ticks is render.colorbar_ticks and animation.tick_text is render.tick_text
    assert colors.colorize is render.colorize and colors.PLAND_CMAP == render.PLAND_CMAP
    assert coastlines.coastline_paths is render.coastline_paths


def test_importing_render_is_light():
    code = ("import sys; import geoviz.render; "
            "print(sorted(m for m in ('matplotlib', 'PIL', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_field_style_is_the_one_rule_for_field_colours() -> None:
    """Temperature on its diverging map, symmetric about 0 °C out to a round value; other values sequential."""
    import numpy as np

    from geoviz import render

    t = render.field_style("temperature", np.array([-31.0, 5.0, 28.0, np.nan]), (0, 100))
    assert t["cmap"] == render.FIELD_CMAPS["temperature"] and t["center"] == 0.0
    lo, hi = t["clim"]
    assert lo == -hi and hi >= 31 and hi == render.nice_ceil(31.0)
    e = render.field_style("elevation", np.arange(101.0), (1, 99))
    assert e["cmap"] == render.FIELD_CMAPS["elevation"] and e["clim"] == (1.0, 99.0) and e["center"] is None
    assert render.field_style(None, np.arange(5.0))["cmap"] == render.SEQUENTIAL_CMAP


def test_compare_maps_colour_temperature_like_every_other_page() -> None:
    from types import SimpleNamespace

    import numpy as np

    from geoviz import render
    from geoviz.evaluation.compare import truth_figure

    rng = np.random.default_rng(0)
    p = np.stack([rng.uniform(-180, 180, 200), rng.uniform(-60, 80, 200)], axis=1)
    y = 30 * np.cos(np.radians(p[:, 1])) - 5
    task = SimpleNamespace(name="temperature", kind="regression", units="°C", n_classes=0)
    fig = truth_figure(SimpleNamespace(task=task, lonlat_test=p, y_test=y, runs=[]))
    sc = [c for c in fig.axes[0].collections if hasattr(c, "get_cmap") and c.get_array() is not None][0]
    assert sc.get_cmap().name == render.FIELD_CMAPS["temperature"]
    lo, hi = sc.get_clim()
    assert lo == -hi
