"""Jupyter widgets driven without a browser: simulated clicks, button presses, value changes."""

import base64
import io

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("ipyleaflet")

import ipyleaflet  # noqa: E402

from geoviz.data import regular_grid  # noqa: E402

from _tasks import small_task  # noqa: E402
from geoviz.widgets import EmbeddingExplorer, LiveTrainer, in_jupyter, png_data_url  # noqa: E402


def _unit(ll):
    lo, la = np.radians(ll[:, 0]), np.radians(ll[:, 1])
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


@pytest.fixture(scope="module")
def xyz_explorer():
    # embeddings = unit vectors: cosine similarity = cos(angular distance), so the most
    # similar cells to a click are its great-circle nearest cells (an independent reference)
    g = regular_grid(10.0)
    emb = np.concatenate([_unit(g.lonlat), np.zeros((len(g.lonlat), 2))], axis=1)
    return EmbeddingExplorer(embeddings=emb, shape=g.shape, k=4), g


def _km(a, b):
    """Great-circle km (haversine, R = 6371.0088 km) from one (lon, lat) to many."""
    a, b = np.radians(np.asarray(a, float)), np.radians(np.atleast_2d(b))
    h = np.sin((b[:, 1] - a[1]) / 2) ** 2 + np.cos(a[1]) * np.cos(b[:, 1]) * np.sin((b[:, 0] - a[0]) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(h))


def _margin(g, km):
    """The automatic margin: max(10 % of the limit, 2 grid cells of pi*R/H km), 0 without a limit."""
    return max(0.1 * km, 2 * np.pi * 6371.0088 / g.shape[0]) if km else 0.0


def _reference_hits(g, click, k, km, land=None):
    """Brute force: cosine to the clicked cell's vector, the cell itself left out, hits at least
    ``km`` + the margin from the click and ``km`` from each other (greedy in similarity order),
    then from the margin band if fewer than k; optionally land cells only."""
    cells = _unit(g.lonlat)
    cell = int(np.argmin(_km(click, g.lonlat)))
    sim = cells @ cells[cell]
    d = _km(click, g.lonlat)
    out = []
    for lo in (km + _margin(g, km), km):
        for i in np.argsort(-sim, kind="stable"):
            if len(out) == k:
                break
            if i == cell or d[i] < lo or i in out or (land is not None and not land[i]) or (
                    out and _km(g.lonlat[i], g.lonlat[out]).min() < km):
                continue
            out.append(int(i))
    out.sort(key=lambda i: (-sim[i], i))
    return np.array(out), sim, d


def test_explorer_click_places_numbered_far_away_markers(xyz_explorer):
    ex, g = xyz_explorer
    got = []
    ex.on_query(got.append)
    assert ex.min_km.value == 1000 and ex.k == 4  # far-away look-alikes by default
    lon, lat = 23.0, -41.0
    ex.map._handle_leaflet_event(None, {"event": "interaction", "type": "click", "coordinates": [lat, lon]}, None)
    res = ex.last_result
    assert got and got[-1] is res and ex.last_query == (23.0, -41.0)
    ref, sim, d = _reference_hits(g, (lon, lat), 4, 1000.0)
    np.testing.assert_array_equal(res.index, ref)
    np.testing.assert_allclose(res.similarity, sim[ref], atol=1e-6)
    np.testing.assert_allclose(res.distance_km, d[ref], rtol=1e-9)
    assert (res.distance_km >= 1000 + _margin(g, 1000)).all() and not res.in_margin.any()
    assert "margin" in ex.results.value and not ex.land_only.value  # plain embeddings: land only is off
    markers = ex.markers.layers
    assert len(markers) == 5  # query + k
    for rank, m in enumerate(markers[1:], start=1):  # numbered, at (lat, lon)
        assert isinstance(m, ipyleaflet.Marker) and f">{rank}</div>" in m.icon.html
        assert tuple(m.location) == (res.lonlat[rank - 1, 1], res.lonlat[rank - 1, 0])
    assert "distance (km)" in ex.results.value
    assert f"{res.distance_km[0]:,.0f}" in ex.results.value and f"{res.lonlat[0, 1]:.2f}" in ex.results.value
    # 0 km: the plain top-k, which never includes the clicked cell itself
    ex.min_km.value = 0  # a slider release re-runs the last query
    near = ex.last_result
    ref0, _, _ = _reference_hits(g, (lon, lat), 4, 0.0)
    assert set(near.index) == set(ref0) and int(np.argmin(d)) not in near.index
    ex.min_km.value = 1000
    ex.k = 2
    assert len(ex.last_result.index) == 2 and len(ex.markers.layers) == 3
    ex.k = 4
    # non-click interactions are ignored
    ex.map._handle_leaflet_event(None, {"event": "interaction", "type": "mousemove", "coordinates": [0, 0]}, None)
    assert ex.last_result.index.shape == (4,)


def test_explorer_typed_coordinates_heat_map_and_static_png(xyz_explorer):
    from PIL import Image

    ex, g = xyz_explorer
    ex.lon_text.value, ex.lat_text.value = "-60", "-5"
    ex.find_button.click()
    assert ex.last_query == (-60.0, -5.0)
    for lon, lat in (("x", "1"), ("200", "0"), ("0", "-91")):
        ex.lon_text.value, ex.lat_text.value = lon, lat
        ex.find_button.click()
        assert "color:#b00" in ex.results.value and ex.last_query == (-60.0, -5.0)
    ex.query(-60.0, -5.0)
    # the similarity heat map with its colour bar
    pca_url = ex.overlay.url
    ex.view.value = "Similarity"
    assert ex.overlay.url != pca_url and ex.colorbar.layout.display is None and ex.colorbar.value[:4] == b"\x89PNG"
    sim_img = np.asarray(Image.open(io.BytesIO(base64.b64decode(ex.overlay.url.split(",", 1)[1]))).convert("RGB"))
    r = g.shape[0] * 0 + int((90 + 5) / 10)  # the query's row/column: the brightest (yellow) cell
    c = int((-60 + 180) / 10)
    assert sim_img[r, c, 0] > 200 and sim_img[r, c, 1] > 200 and sim_img[r, c, 2] < 100
    ex.view.value = "PCA-RGB"
    assert ex.overlay.url == pca_url and ex.colorbar.layout.display == "none"
    # the static image of a saved notebook: the PCA map, a red cross at the query, numbered discs at the hits
    png = ex._static_png()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert img.shape == (360, 720, 3)
    x, y = int((-60 + 180) * 2), int((90 + 5) * 2)
    assert (img[y - 4:y + 5, x - 4:x + 5] == [220, 0, 0]).all(axis=-1).any()
    for lo, la in ex.last_result.lonlat:
        hx, hy = int((lo + 180) * 2), int((90 - la) * 2)
        patch = img[max(hy - 7, 0):hy + 8, max(hx - 7, 0):hx + 8]
        assert ((patch == [255, 212, 0]).all(axis=-1)).sum() > 20, (lo, la)


def test_explorer_land_only_notes_and_defaults(monkeypatch, tmp_path):
    """The *land only* box (off for plain embeddings, on for a model learnt from images), hits on
    land while ticked (checked with the Natural Earth polygon directly), the model note and the
    PCA colour explanation under the map."""
    import shapely

    from geoviz.analysis import PCA_RGB_EXPLANATION
    from geoviz.data import land_polygon
    from geoviz.pretrained import load_pretrained

    g = regular_grid(5.0)
    land = shapely.contains_xy(land_polygon(), g.lonlat[:, 0], g.lonlat[:, 1])
    emb = np.concatenate([_unit(g.lonlat), np.zeros((len(g.lonlat), 2))], axis=1)
    ex = EmbeddingExplorer(embeddings=emb, shape=g.shape, k=4, land_only=True)
    assert ex.land_only.value is True and ex.land_only in ex.widget.children[0].children
    res = ex.query(-31.0, 1.0)  # mid-Atlantic: its nearest look-alikes are ocean
    assert land[res.index].all() and len(res.index) == 4
    np.testing.assert_array_equal(res.index, _reference_hits(g, (-31.0, 1.0), 4, 1000.0, land)[0])
    assert "on land only" in ex.results.value
    ex.land_only.value = False  # unticking re-runs the query
    assert not land[ex.last_result.index].all()
    np.testing.assert_array_equal(ex.last_result.index, _reference_hits(g, (-31.0, 1.0), 4, 1000.0)[0])
    # the colours explained under the map, per view
    assert PCA_RGB_EXPLANATION.split(":")[0] in ex.map_note.value and "red, green and blue" in ex.map_note.value
    ex.view.value = "Similarity"
    assert "cosine similarity" in ex.map_note.value
    ex.view.value = "PCA-RGB"
    assert "red, green and blue" in ex.map_note.value
    assert ex.map_note in ex.widget.children and ex.note in ex.widget.children
    with pytest.raises(TypeError, match="land_only"):
        EmbeddingExplorer(embeddings=emb, shape=g.shape, land_only="yes")
    # hits filled from the margin band (fewer than k beyond it) are starred in the list
    res = ex.index.query((-31.0, 1.0), k=4, min_distance_km=1000.0, min_separation_km=1000.0)
    monkeypatch.setattr(ex.index, "query", lambda *a, **kw: res._replace(in_margin=np.array([0, 0, 1, 1], bool)))
    ex.query(-31.0, 1.0)
    assert ex.results.value.count(" *</td>") == 2 and "inside the margin" in ex.results.value
    # the shipped Blue Marble model: learnt from images, so land only starts ticked, and its note
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path))
    model = load_pretrained("geoviz-bluemarble-l10")
    bm = EmbeddingExplorer(model, spacing=10.0, k=3)
    assert bm.land_only.value is True
    assert "Blue Marble" in bm.note.value and "open ocean" in bm.note.value
    assert EmbeddingExplorer(model, spacing=10.0, land_only=False).land_only.value is False
    from geoviz.embed import embed_grid

    assert EmbeddingExplorer(grid=embed_grid(model, 10.0)).land_only.value is True  # a grid of that model too


def test_explorer_offline_overlay(xyz_explorer):
    from PIL import Image

    ex, g = xyz_explorer
    assert not any(isinstance(layer, ipyleaflet.TileLayer) for layer in ex.map.layers)
    assert ex.map.crs["name"] == "EPSG4326"
    assert ex.overlay.url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(ex.overlay.url.split(",", 1)[1])))
    assert img.size == (g.shape[1], g.shape[0])
    assert [list(b) for b in ex.overlay.bounds] == [[-90.0, -180.0], [90.0, 180.0]]
    assert ex.rgb.shape == (len(g.lonlat), 3) and 0 <= ex.rgb.min() and ex.rgb.max() <= 1
    assert any(isinstance(layer, ipyleaflet.Polyline) for layer in ex.map.layers)


def test_explorer_with_basemap_and_model():
    import torch

    class Enc(torch.nn.Module):
        def forward(self, x):
            lo, la = torch.deg2rad(x[:, 0]), torch.deg2rad(x[:, 1])
            return torch.stack([torch.cos(la) * torch.cos(lo), torch.cos(la) * torch.sin(lo), torch.sin(la)], 1)

    g = regular_grid(15.0)
    emb = Enc()(torch.as_tensor(g.lonlat)).numpy()
    ex = EmbeddingExplorer(embeddings=emb, shape=g.shape, k=2, basemap=ipyleaflet.basemaps.OpenStreetMap.Mapnik)
    assert any(isinstance(layer, ipyleaflet.TileLayer) for layer in ex.map.layers)
    assert ex.overlay.bounds[1][0] == pytest.approx(85.0511287798)
    ex.min_km.value = 0
    res = ex.query(370.0, 10.0)  # lon wraps to 10
    assert ex.last_query == (10.0, 10.0)
    # the clicked cell (7.5, 7.5) is the query, never a hit: the best hit is an east/west neighbour
    assert abs(res.lonlat[0, 1] - 7.5) < 1e-9 and abs(abs(res.lonlat[0, 0] - 7.5) - 15.0) < 1e-9
    ex.view.value = "Similarity"  # the heat map is resampled to Web Mercator like the PCA image
    assert ex.overlay.url.startswith("data:image/png")


def test_explorer_errors():
    with pytest.raises(ValueError, match="exactly one"):
        EmbeddingExplorer()
    with pytest.raises(ValueError, match="shape"):
        EmbeddingExplorer(embeddings=np.ones((10, 3)))
    with pytest.raises(ValueError, match="H\\*W"):
        EmbeddingExplorer(embeddings=np.ones((10, 3)), shape=(18, 36))
    g = regular_grid(30.0)
    for bad in (-1.0, float("nan"), "far"):
        with pytest.raises(ValueError, match="min_distance_km"):
            EmbeddingExplorer(embeddings=np.ones((len(g.lonlat), 3)), shape=g.shape, min_distance_km=bad)


def test_live_trainer_runs_in_background_and_updates(capsys):
    lt = LiveTrainer(small_task(), resolution=10.0, epochs=3, lr=1e-2,
                     config_kwargs={"nn_kwargs": {"hidden_dim": 8, "num_layers": 1}, "batch_size": 200})
    first_map, first_loss = lt.map.value, lt.loss_plot.value
    seen = []
    lt.on_epoch(lambda rec: seen.append(rec.epoch))
    lt.L.value = 4
    assert lt.config().pe_kwargs == {"legendre_polys": 4} and lt.config().max_epochs == 3
    lt.start_button.click()
    assert lt.thread is not None
    lt.join(120)
    assert not lt.running and lt.error is None
    assert seen == [1, 2, 3] and [r.epoch for r in lt.records] == [1, 2, 3]
    assert lt.records[-1].stopped == "max_epochs"
    assert lt.map.value != first_map and lt.loss_plot.value != first_loss
    assert lt.map.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert lt.status.value.startswith("done") and not lt.start_button.disabled and lt.stop_button.disabled
    lt.show()  # outside Jupyter: a message, no traceback
    assert "Jupyter widget" in capsys.readouterr().out


def test_live_trainer_stop_button():
    lt = LiveTrainer(small_task(), resolution=20.0, epochs=10_000,
                     config_kwargs={"nn_kwargs": {"hidden_dim": 8, "num_layers": 1}, "batch_size": 400})
    lt.on_epoch(lambda rec: rec.epoch == 2 and lt.stop_button.click())
    lt.start()
    lt.join(120)
    assert not lt.running
    assert lt.records[-1].stopped == "stopped" and lt.records[-1].epoch == 3


def test_live_trainer_class_pace_and_fast():
    """Class pace (the default): each epoch's map stays up at least CLASS_PACE seconds; fast: no waiting."""
    import time

    from geoviz.viz.pacing import CLASS_PACE

    kw = dict(resolution=20.0, epochs=4, config_kwargs={"nn_kwargs": {"hidden_dim": 8, "num_layers": 1},
                                                        "batch_size": 400})
    lt = LiveTrainer(small_task(), **kw)
    assert lt.speed.value == "class pace" and list(lt.speed.options) == ["class pace", "fast"]
    shown = []
    lt.on_epoch(lambda rec: shown.append(time.monotonic()))
    lt.start()
    lt.join(120)
    assert lt.error is None and len(shown) == 4
    assert (np.diff(shown) >= CLASS_PACE - 0.01).all(), np.diff(shown)
    with pytest.raises(ValueError, match="speed"):
        LiveTrainer(small_task(), speed="slow")
    fast = LiveTrainer(small_task(), speed="fast", **kw)
    fast.start()
    fast.join(120)
    assert fast.error is None and [r.epoch for r in fast.records] == [1, 2, 3, 4]


def test_live_trainer_controls_and_errors():
    lt = LiveTrainer(small_task(), resolution=20.0)
    lt.pe.value = "direct"
    assert lt.L.disabled and "legendre_polys" not in lt.config().pe_kwargs
    lt.pe.value = "sphericalharmonics"
    assert not lt.L.disabled
    lt.nn.value = "linear"  # the Siren defaults of TrainConfig do not fit: the error is shown, not raised
    lt.config_kwargs = {"nn_kwargs": {"hidden_dim": 8}}
    lt.epochs.value = 1
    lt.start()
    lt.join(60)
    assert isinstance(lt.error, TypeError) and "error" in lt.status.value


def test_helpers():
    assert in_jupyter() is False
    url = png_data_url(np.zeros((2, 3, 3), np.uint8))
    assert url.startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        png_data_url(np.zeros((2, 3), np.uint8))


def test_live_trainer_legend_replay_gif_and_static_png(tmp_path):
    from PIL import Image

    from geoviz.viz.colors import colormap_lut

    lt = LiveTrainer(small_task(), resolution=10.0, epochs=4, lr=1e-2, gif_path=str(tmp_path / "run.gif"),
                     config_kwargs={"nn_kwargs": {"hidden_dim": 8, "num_layers": 1}, "batch_size": 200})
    assert lt.gif_button.disabled and lt.replay.disabled
    assert lt._static_png() is None  # before Start: no second, identical grey map below the widget
    with pytest.raises(ValueError, match="no run"):
        lt.save_gif()
    lt.start()
    lt.join(120)
    assert lt.error is None and lt.history.epochs == [1, 2, 3, 4]
    # a 2:1 map (k px per cell, under a title band) with a legend strip below holding the P(land) ramp
    img = np.asarray(Image.open(io.BytesIO(lt.map.value)).convert("RGB"))
    H, W = lt.grid.shape
    k = img.shape[1] // W
    assert img.shape[1] == k * W and k >= 2 and img.shape[0] > k * H + 40
    legend = img[18 + k * H:]
    ends = colormap_lut("landocean")[[0, -1], :3].astype(int)
    for rgb in ends:  # both ends of the colour ramp appear in the legend
        assert (np.abs(legend.astype(int) - rgb).sum(axis=2) < 6).any()
    # the test accuracy (the task's test split) is in the status, in percent
    assert lt.test_metrics is not None and 0.5 < lt.test_metrics["accuracy"] <= 1.0
    assert f"{100 * lt.test_metrics['accuracy']:.1f} %" in lt.status.value and "200-point test set" in lt.status.value
    # replay: the slider shows a kept epoch's map
    assert not lt.replay.disabled and (lt.replay.min, lt.replay.max) == (1, 4)
    final = lt.map.value
    lt.replay.value = 1
    assert lt.map.value != final
    # GIF: one frame per kept epoch, written by the button
    lt.gif_button.click()
    gif = Image.open(tmp_path / "run.gif")
    assert gif.n_frames == 4 and "GIF written" in lt.status.value
    # the static fallback is the current map PNG
    assert lt._static_png() == lt.map.value and lt._static_png()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run keeps the first one's curves (dashed) for comparison
    lt.epochs.value = 2
    lt.start()
    lt.join(120)
    assert lt._previous is not None and lt._previous[0] == [1, 2, 3, 4]


def test_live_trainer_checkerboard_has_class_legend_and_no_coastlines():
    lt = LiveTrainer("checkerboard", resolution=10.0)
    assert lt._look["coastlines"] is False and lt._look["kind"] == "categorical"
    lt_land = LiveTrainer(small_task(), resolution=10.0)
    assert lt_land._look["coastlines"] is True and lt_land._look["kind"] == "continuous"
    from PIL import Image

    from geoviz.viz.colors import categorical_palette

    img = np.asarray(Image.open(io.BytesIO(lt._png(np.arange(18 * 36) % 16))).convert("RGB"))
    k = img.shape[1] // 36
    # no black coastline pixels over the synthetic map; the 16 class colours are in the legend
    assert not (img[:18 * k] == 0).all(axis=2).any()
    legend = img[18 * k:].astype(int)
    for rgb in categorical_palette(16)[:, :3].astype(int):
        assert (np.abs(legend - rgb).sum(axis=2) == 0).any()


def test_live_trainer_field_regression_units_truth_and_r2(tmp_path):
    """A built-in field: the map is in °C with the truth beside it (same fixed colour range),
    the status and the end report R²/RMSE in units, replay and GIF work."""
    from PIL import Image
    from sklearn.metrics import r2_score

    from geoviz.data import get_field
    from geoviz.viz.animation import map_image

    lt = LiveTrainer("field:temperature", resolution=10.0, epochs=3, lr=1e-2, legendre_polys=6,
                     config_kwargs={"nn_kwargs": {"hidden_dim": 32, "num_layers": 1}, "batch_size": 1000})
    labels = dict((v, k) for k, v in lt.task_select.options)
    assert labels["field:temperature"] == "temperature (°C)" and labels["field:elevation"] == "elevation (m)"
    lt.start()
    lt.join(180)
    assert lt.error is None, lt.error
    m = lt.test_metrics
    assert f"test R² {m['r2']:.3f}, RMSE {m['rmse']:.4g} °C" in lt.status.value and "5,000-point" in lt.status.value
    # fixed range: centred on 0 °C (a diverging map's neutral middle), covering the truth's
    # 1st-99th percentiles (independent: numpy on the field's 1° grid), out to a round value
    truth_grid = get_field("temperature").grid(1.0)[0]
    p1, p99 = np.percentile(truth_grid[np.isfinite(truth_grid)], [1, 99])
    lo, hi = lt.history.clim
    assert lo == -hi and lo <= p1 and hi >= p99 and hi <= 1.25 * max(abs(p1), abs(p99)) and hi % 5 == 0
    assert lt._look["label"] == "temperature (°C)" and lt._look["cmap"] == "RdYlBu_r"
    # the map is in units: the last prediction explains the truth on the map grid
    truth = get_field("temperature").sample(lt.grid.lonlat)
    pred = lt.records[-1].prediction
    assert r2_score(truth, pred) > 0.5
    # the truth PNG beside the prediction: the truth drawn with the same colours and legend
    assert lt.truth_map.layout.display is None
    want = map_image(truth, lt.grid.shape, "continuous", cmap="RdYlBu_r", clim=(lo, hi), label="temperature (°C)",
                     scale=lt._scale, title="truth: temperature")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(lt.truth_map.value)).convert("RGB")),
                                  np.asarray(want))
    # replay (values kept in units) and GIF
    lt._on_replay({"new": lt.history.epochs[0]})
    np.testing.assert_allclose(lt.history.values(len(lt.history) - 1), np.clip(pred, lo, hi), atol=(hi - lo) / 6e4)
    gif = Image.open(lt.save_gif(tmp_path / "t.gif"))
    assert gif.n_frames == len(lt.history) == 3


def test_live_trainer_from_csv_and_land_only_mask(tmp_path):
    from geoviz.data import get_task, is_land

    rng = np.random.default_rng(0)
    n = 200
    lat = rng.uniform(-60, 60, n)
    rows = "".join(f"{a:.3f},{b:.3f},{20 * np.cos(np.radians(b)):.3f}\n" for a, b in zip(rng.uniform(-180, 180, n), lat))
    path = tmp_path / "stations.csv"
    path.write_text("Longitude,Latitude,t2m\n" + rows)
    lt = LiveTrainer.from_csv(path, target="t2m", units="°C", resolution=20.0)
    assert lt.task.kind == "regression" and lt.task.meta["units"] == "°C"
    assert lt.task_select.value == "custom:stations.csv" and lt._look["regression"]
    lt.task_select.value = "checkerboard"
    assert lt.task == "checkerboard" and lt._look["kind"] == "categorical"
    lt.task_select.value = "custom:stations.csv"
    assert lt.task.name == "stations.csv"
    with pytest.raises(ValueError, match="available columns"):
        LiveTrainer.from_csv(path, target="nope")
    # a land-only field: predictions at sea are masked (grey), agreeing with the land polygon
    mask = lt._field_mask(get_task("field:elevation"))
    land = is_land(lt.grid.lonlat)
    assert mask.shape == land.shape and (mask == land).mean() > 0.85
