"""Training animations (HoloMap, GIF) and the L sweep."""

from types import SimpleNamespace

import numpy as np
import pytest

from geoviz.data import is_land, regular_grid

from _tasks import small_task
from geoviz.viz.colors import LAND_RGB, OCEAN_RGB


@pytest.fixture(scope="module")
def grid():
    return regular_grid(5.0)


def _records(grid, n=4):
    truth = is_land(grid.lonlat).astype(np.float64)
    recs = [SimpleNamespace(epoch=e, prediction=truth.copy(), val_loss=1.0 / e) for e in range(1, n + 1)]
    recs.insert(2, SimpleNamespace(epoch=99, prediction=None, val_loss=0.0))  # unrecorded epoch: skipped
    return recs


def test_training_gif_one_frame_per_recorded_epoch(tmp_path, grid):
    from PIL import Image

    from geoviz.viz import training_gif

    path = training_gif(_records(grid), grid, tmp_path / "sub" / "run.gif", fps=4, scale=2)
    im = Image.open(path)
    assert im.n_frames == 4  # identical predictions still give distinct frames
    assert im.size == (2 * grid.shape[1], 2 * grid.shape[0])
    assert im.info["duration"] == 250
    im.seek(3)
    rgb = np.asarray(im.convert("RGB"))
    # a known ocean pixel (mid-Pacific 0N 150W) and a land pixel (central Africa 20E 2N); scale 2
    def px(lon, lat):
        return rgb[int((90 - lat) / 5 * 2), int((lon + 180) / 5 * 2)]
    assert np.abs(px(-150.0, 2.0).astype(int) - OCEAN_RGB).max() <= 6
    assert np.abs(px(22.0, 2.0).astype(int) - LAND_RGB).max() <= 6


def test_training_gif_errors(tmp_path, grid):
    from geoviz.viz import training_gif

    with pytest.raises(ValueError, match="nothing to animate"):
        training_gif([SimpleNamespace(epoch=1, prediction=None)], grid, tmp_path / "x.gif")
    with pytest.raises(ValueError, match="grid"):
        training_gif([SimpleNamespace(epoch=1, prediction=np.zeros(5))], grid, tmp_path / "x.gif")


def test_training_holomap(grid):
    hv = pytest.importorskip("holoviews")
    hv.extension("bokeh")
    from geoviz.viz import training_holomap

    hm = training_holomap(_records(grid), grid)
    assert isinstance(hm, hv.HoloMap) and list(hm.keys()) == [1, 2, 3, 4]
    rgb = hm[2].get(0)
    assert np.asarray(rgb.data).shape == grid.shape + (4,)
    assert "epoch 2" in rgb.opts.get().kwargs["title"]
    hv.render(hm)


def test_real_run_gif(tmp_path, grid):
    from PIL import Image

    from geoviz.training import TrainConfig, Trainer
    from geoviz.viz import training_gif

    cfg = TrainConfig(max_epochs=3, patience=None, pe_kwargs={"legendre_polys": 3},
                      nn_kwargs={"hidden_dim": 8, "num_layers": 1}, batch_size=200)
    recs = list(Trainer(small_task(), cfg, predict_lonlat=grid.lonlat, predict_every=2).run())
    path = training_gif(recs, grid, tmp_path / "r.gif")
    assert Image.open(path).n_frames == sum(r.prediction is not None for r in recs) == 2  # epochs 2 and 3


def test_l_sweep(grid):
    hv = pytest.importorskip("holoviews")
    hv.extension("bokeh")
    from geoviz.viz import f_max_deg, fit_l_sweep, l_sweep_layout

    assert f_max_deg(10) == 9.0 and f_max_deg(40) == 2.25
    with pytest.raises(ValueError):
        f_max_deg(0)
    res = fit_l_sweep(small_task(), Ls=(1, 4), epochs=2, grid=grid, nn="linear", batch_size=200)
    assert list(res) == [1, 4]
    assert res[1].shape == (grid.lonlat.shape[0],)
    # L = 1 keeps only the constant Y_00: the prediction cannot vary over the globe
    assert np.ptp(res[1]) < 1e-12 and np.ptp(res[4]) > 1e-6
    lay = l_sweep_layout(res, grid)
    titles = [el.get(0).opts.get().kwargs["title"] for el in lay]
    assert titles[0].startswith("L = 1") and "90.00°" in titles[0] and "22.50°" in titles[1]
    hv.render(lay)


def test_frame_history_is_bounded_and_spread_over_the_run(grid):
    from geoviz.viz.animation import FrameHistory

    truth = is_land(grid.lonlat).astype(np.float64)
    h = FrameHistory(grid.shape, max_frames=10)
    for e in range(1, 201):
        h.add(e, truth * (e / 200))
    e = h.epochs
    assert len(h) == 10 and e[0] == 1 and e[-1] == 200 and e == sorted(e)
    gaps = np.diff(e)
    assert gaps.max() <= 3 * gaps.mean()  # spread over the run, not bunched at its end
    assert h.nbytes == 10 * truth.size  # one byte per cell
    np.testing.assert_allclose(h.values(len(h) - 1), truth, atol=1 / 510)
    with pytest.raises(ValueError, match="increase"):
        h.add(200, truth)
    with pytest.raises(ValueError, match="values"):
        h.add(201, truth[:-1])
    cls = FrameHistory(grid.shape, "categorical", max_frames=3)
    cls.add(1, np.arange(truth.size) % 16)
    assert cls.values(0).dtype == np.int64 and cls.values(0).max() == 15


def test_map_image_legends_and_gif(grid):
    from PIL import Image

    from geoviz.viz.animation import FrameHistory, legend_image, map_image
    from geoviz.viz.colors import categorical_palette, colormap_lut

    truth = is_land(grid.lonlat).astype(np.float64)
    H, W = grid.shape
    im = np.asarray(map_image(truth, grid.shape, scale=5))
    assert im.shape[1] == 5 * W and im.shape[0] > 5 * H  # a 2:1 map with its legend below
    bar = legend_image("continuous", 5 * W)
    np.testing.assert_array_equal(im[5 * H:], bar)
    lut = colormap_lut("landocean")[:, :3].astype(int)
    for rgb in lut[[0, -1]]:
        assert (np.abs(bar.astype(int) - rgb).sum(axis=2) < 6).any()
    # NaN cells are light grey, not the colour of 0 (ocean)
    grey = np.asarray(map_image(np.full(H * W, np.nan), grid.shape, coastlines=False, legend=False))
    assert (grey == 200).all()
    leg = legend_image("categorical", 300, n_classes=16).astype(int)
    for rgb in categorical_palette(16)[:, :3].astype(int):
        assert (np.abs(leg - rgb).sum(axis=2) == 0).any()
    with pytest.raises(ValueError):
        legend_image("rgb", 300)
    h = FrameHistory(grid.shape)
    with pytest.raises(ValueError, match="nothing"):
        h.gif()
    for e in (1, 5, 9):
        h.add(e, truth)
    import io

    gif = Image.open(io.BytesIO(h.gif(scale=4)))
    assert gif.n_frames == 3 and gif.size[0] == 4 * W
    # the frames keep the map's colours (ocean, land and coastline are in the GIF palette; Pillow's
    # nearest-colour lookup is exact to a unit or two)
    frame = np.asarray(gif.convert("RGB"))[18:18 + 4 * H].astype(int)
    assert np.abs(frame - np.asarray(map_image(truth, grid.shape, scale=4, legend=False))).max() <= 3
