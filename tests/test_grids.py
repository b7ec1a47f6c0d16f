"""Grids the ecosystem reads: xarray objects with CF coordinates and a CRS, GeoTIFF / NetCDF /
Zarr files read back with rasterio, rioxarray and xarray, GeoTIFF targets in projected CRSs,
and the ``geoviz fit raster.tif`` → ``geoviz predict --grid`` round trip."""

from __future__ import annotations

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
rioxarray = pytest.importorskip("rioxarray")
pyproj = pytest.importorskip("pyproj")
xr = pytest.importorskip("xarray")

from rasterio.transform import from_origin  # noqa: E402

from geoviz.data import regular_grid  # noqa: E402
from geoviz.grids import (GRIDS_EXTRA, MissingDependencyError, grid_dataarray, predict_grid,  # noqa: E402
                          write_grid)

RES = 0.25
H, W = 720, 1440
PROBE = (10.125, -45.125)  # (lon, lat) of a cell centre of the 0.25° grid


def closed_form(lon, lat):
    """A smooth field of SH degree <= 1: what the test models can represent exactly."""
    lon, lat = np.radians(lon), np.radians(lat)
    return 10.0 + 8.0 * np.sin(lat) + 5.0 * np.cos(lat) * np.cos(lon)


def probe_index() -> int:
    """Row-major index of PROBE's cell in regular_grid(RES) (rows north → south)."""
    r = int((90.0 - PROBE[1]) / RES)
    c = int((PROBE[0] + 180.0) / RES)
    return r * W + c


@pytest.fixture(scope="module")
def ids():
    """Cell ids 0..H*W-1 (exact in float32) with one NaN cell, on the 0.25° grid."""
    v = np.arange(H * W, dtype=np.float32)
    v[7] = np.nan
    return v


# ---------------------------------------------------------------- building


def test_grid_dataarray_has_cf_coordinates_and_crs(ids):
    da = grid_dataarray(ids, RES, name="cell", units="1", long_name="cell id")
    g = regular_grid(RES)
    assert da.dims == ("lat", "lon") and da.shape == (H, W)
    np.testing.assert_array_equal(da.lat.values, g.lats)  # north → south, as regular_grid
    np.testing.assert_array_equal(da.lon.values, g.lons)
    assert da.lat.values[0] > da.lat.values[-1]
    assert da.lon.attrs == {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east",
                            "axis": "X"}
    assert da.lat.attrs["units"] == "degrees_north" and da.lat.attrs["axis"] == "Y"
    assert da.lat.attrs["standard_name"] == "latitude"
    assert da.attrs["units"] == "1" and da.attrs["long_name"] == "cell id"
    assert da.rio.crs.to_epsg() == 4326
    assert (da.rio.x_dim, da.rio.y_dim) == ("lon", "lat")
    assert tuple(da.rio.transform())[:6] == pytest.approx((RES, 0.0, -180.0, 0.0, -RES, 90.0), abs=1e-9)
    # the value at a cell centre is what was put in that cell (regular_grid's row order)
    assert float(da.sel(lon=PROBE[0], lat=PROBE[1])) == probe_index()
    # a derived object keeps its spatial dims and CRS (CF attributes, spatial_ref coordinate)
    sub = (da * 2).isel(lat=slice(10, 20))
    assert sub.rio.crs.to_epsg() == 4326 and sub.rio.x_dim == "lon"


def test_crs_without_rioxarray_is_the_same_cf_grid_mapping(monkeypatch):
    """Building grids needs only xarray: without rioxarray the CF grid mapping is written by
    hand, and rioxarray/GDAL read it as EPSG:4326 all the same."""
    import sys

    monkeypatch.setitem(sys.modules, "rioxarray", None)  # `import rioxarray` raises ImportError
    da = grid_dataarray(np.zeros(90 * 180), 2.0)
    sr = da.coords["spatial_ref"].attrs
    assert sr["grid_mapping_name"] == "latitude_longitude" and sr["inverse_flattening"] == 298.257223563
    assert da.encoding["grid_mapping"] == "spatial_ref"
    monkeypatch.undo()
    assert da.rio.crs.to_epsg() == 4326


def test_grid_dataarray_shapes_and_errors():
    flat = np.arange(90 * 180 * 3, dtype=np.float64).reshape(90 * 180, 3)
    da = grid_dataarray(flat, 2.0, dim="class", labels=["a", "b", "c"])
    assert da.dims == ("class", "lat", "lon") and list(da["class"].values) == ["a", "b", "c"]
    np.testing.assert_array_equal(da.sel({"class": "b"}).values.ravel(), flat[:, 1])
    img = grid_dataarray(flat[:, 0].reshape(90, 180))  # shape inferred from an image
    assert img.shape == (90, 180)
    with pytest.raises(ValueError, match="do not fit a 90 × 180 grid"):
        grid_dataarray(np.zeros(100), 2.0)
    with pytest.raises(ValueError, match="divide 180"):
        grid_dataarray(np.zeros(100), 7.0)
    with pytest.raises(ValueError, match="labels must name the 3"):
        grid_dataarray(flat, 2.0, labels=["a"])


# ---------------------------------------------------------------- writing and reading back


@pytest.mark.parametrize("nodata", [None, -9999.0])
def test_geotiff_georeferencing(ids, tmp_path, nodata):
    path = write_grid(grid_dataarray(ids, RES, name="cell", units="1"), tmp_path / "ids.tif", nodata=nodata)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326
        assert (ds.width, ds.height, ds.count) == (W, H, 1) and ds.dtypes == ("float32",)
        assert tuple(ds.transform)[:6] == pytest.approx((RES, 0.0, -180.0, 0.0, -RES, 90.0), abs=1e-12)
        assert ds.res == pytest.approx((RES, RES))
        assert ds.bounds == pytest.approx((-180.0, -90.0, 180.0, 90.0))
        if nodata is None:
            assert np.isnan(ds.nodata)
        else:
            assert ds.nodata == nodata
        row, col = ds.index(*PROBE)
        band = ds.read(1, masked=True)
        assert band[row, col] == probe_index()
        assert next(ds.sample([PROBE]))[0] == probe_index()
        assert band.mask[0, 7] and band.mask.sum() == 1  # the NaN cell is nodata, and only it
        assert ds.units == ("1",) and ds.descriptions == ("cell",)


def test_netcdf_round_trip(ids, tmp_path):
    pytest.importorskip("h5netcdf")
    path = write_grid(grid_dataarray(ids, RES, name="cell", units="K", long_name="cell id"), tmp_path / "ids.nc")
    with xr.open_dataset(path, engine="h5netcdf", decode_coords="all") as ds:
        da = ds["cell"]
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert float(da.sel(lon=PROBE[0], lat=PROBE[1])) == probe_index()
        assert np.isnan(float(da.isel(lat=0, lon=7)))
        assert da.attrs["units"] == "K" and da.attrs["long_name"] == "cell id"
        assert ds.lon.attrs["units"] == "degrees_east" and ds.lat.attrs["standard_name"] == "latitude"
        assert da.rio.crs.to_epsg() == 4326
        assert tuple(da.rio.transform())[:6] == pytest.approx((RES, 0.0, -180.0, 0.0, -RES, 90.0), abs=1e-9)
    with rasterio.open(f"netcdf:{path}:cell") as gd:  # GDAL's netCDF driver finds the CRS too
        assert gd.crs.to_epsg() == 4326
        assert gd.read(1)[gd.index(*PROBE)] == probe_index()


def test_zarr_round_trip_and_replace(ids, tmp_path):
    pytest.importorskip("zarr")
    da = grid_dataarray(ids, RES, name="cell", units="1")
    path = tmp_path / "ids.zarr"
    write_grid(da, path)
    write_grid(da + 1, path)  # an existing store is replaced
    with xr.open_zarr(path, decode_coords="all") as ds:
        assert float(ds["cell"].sel(lon=PROBE[0], lat=PROBE[1])) == probe_index() + 1
        assert ds["cell"].rio.crs.to_epsg() == 4326
        assert ds.lat.attrs["axis"] == "Y"
    (tmp_path / "notzarr.zarr").mkdir()
    (tmp_path / "notzarr.zarr" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not a Zarr store"):
        write_grid(da, tmp_path / "notzarr.zarr")
    assert (tmp_path / "notzarr.zarr" / "keep.txt").exists()


def test_class_probabilities_as_bands_and_coordinate(tmp_path):
    pytest.importorskip("h5netcdf")
    lonlat = regular_grid(2.0).lonlat
    north = 1.0 / (1.0 + np.exp(-lonlat[:, 1] / 10.0))

    def fn(ll):
        p = 1.0 / (1.0 + np.exp(-ll[:, 1] / 10.0))
        return np.column_stack([1.0 - p, p])

    da = predict_grid(fn, 2.0, name="probability", units="1", labels=["south", "north"])
    assert da.dims == ("output", "lat", "lon")
    da = da.rename(output="class")
    write_grid(da, tmp_path / "p.tif")
    write_grid(da, tmp_path / "p.nc")
    with rasterio.open(tmp_path / "p.tif") as ds:
        assert ds.count == 2 and ds.descriptions == ("south", "north")
        np.testing.assert_allclose(ds.read(2).ravel(), north, atol=1e-6)
    r = rioxarray.open_rasterio(tmp_path / "p.tif")
    assert r.rio.crs.to_epsg() == 4326 and r.attrs["long_name"] == ("south", "north")
    with xr.open_dataset(tmp_path / "p.nc", engine="h5netcdf") as ds:
        assert list(ds["class"].values) == ["south", "north"]
        np.testing.assert_allclose(ds["probability"].sel({"class": "north"}).values.ravel(), north, atol=1e-6)


def test_unknown_suffix_and_missing_package(ids, tmp_path, monkeypatch):
    da = grid_dataarray(ids, RES)
    with pytest.raises(ValueError, match=r"unknown grid file type '\.png'.*\.tif.*\.nc.*\.zarr"):
        write_grid(da, tmp_path / "map.png")
    with pytest.raises(ValueError, match="unknown grid file type"):
        write_grid(da, tmp_path / "noext")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "zarr" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"Zarr.*zarr.*pip install geoviz\[grids\]") as exc:
        write_grid(da, tmp_path / "x.zarr")
    assert isinstance(exc.value, ImportError) and GRIDS_EXTRA in str(exc.value)


# ---------------------------------------------------------------- models and embeddings


def test_predict_grid_of_a_classifier_module_and_embedding_grid(tmp_path):
    import geoviz
    from geoviz.embed import embed_grid

    enc = geoviz.build_location_encoder("sphericalharmonics", "linear", 3, legendre_polys=3)
    meta = {"task": {"kind": "multiclass", "class_names": ["a", "b", "c"], "name": "zones"}}
    da = predict_grid(enc, 10.0, meta=meta)
    assert da.dims == ("class", "lat", "lon") and da.shape == (3, 18, 36)
    assert list(da["class"].values) == ["a", "b", "c"] and da.attrs["units"] == "1"
    np.testing.assert_allclose(da.sum("class").values, 1.0, atol=1e-5)
    assert da.idxmax("class").dims == ("lat", "lon")

    g = embed_grid(enc, 10.0, cache=False)
    e = g.to_xarray()
    assert e.dims == ("embedding", "lat", "lon") and e.shape == (3, 18, 36) and e.dtype == np.float32
    np.testing.assert_array_equal(e["embedding"].values, [0, 1, 2])
    np.testing.assert_array_equal(np.moveaxis(e.values, 0, -1), g.image(g.embeddings))  # the grid's own order
    assert np.shares_memory(e.values, g.embeddings)  # a view, no copy
    assert e.rio.crs.to_epsg() == 4326
    ds = g.to_xarray(dataset=True)
    assert "embeddings" in ds.data_vars and ds.attrs["Conventions"] == "CF-1.8"
    write_grid(e, tmp_path / "emb.tif")
    with rasterio.open(tmp_path / "emb.tif") as f:
        assert f.count == 3 and f.descriptions == ("0", "1", "2")
        np.testing.assert_allclose(f.read(2), g.image(g.embeddings)[:, :, 1], rtol=1e-6)


# ---------------------------------------------------------------- GeoTIFF targets


def _utm_raster(path, nodata_block=True):
    """A 600 km × 800 km raster in UTM 33N (5 km cells) holding closed_form at each cell centre."""
    res, w, h, x0, y0 = 5000.0, 120, 160, 200_000.0, 6_000_000.0
    X, Y = np.meshgrid(x0 + (np.arange(w) + 0.5) * res, y0 - (np.arange(h) + 0.5) * res)
    lon, lat = pyproj.Transformer.from_crs(32633, 4326, always_xy=True).transform(X, Y)
    v = closed_form(lon, lat).astype(np.float32)
    if nodata_block:
        v[:40, :60] = -9999.0  # the north-west quarter of the top quarter: nodata
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(x0, y0, res, res), nodata=-9999.0) as ds:
        ds.write(v, 1)
        ds.set_band_description(1, "field")
        ds.units = ("K",)
    return v


def test_sample_raster_reprojects_and_skips_nodata(tmp_path):
    from geoviz.data.raster import read_raster, sample_raster

    _utm_raster(tmp_path / "utm.tif")
    s = sample_raster(tmp_path / "utm.tif", 3000, seed=1)
    assert s.lonlat.shape == (3000, 2) and s.y.shape == (3000,)
    assert s.target == "field" and s.units == "K" and s.crs == "EPSG:32633"
    # each point has its cell's value: within the field's variation over one 5 km cell
    np.testing.assert_allclose(s.y, closed_form(s.lonlat[:, 0], s.lonlat[:, 1]), atol=5e-3)
    assert (s.y > -9000).all()
    # nothing from the nodata block, and the skipping is reported
    x, y = pyproj.Transformer.from_crs(4326, 32633, always_xy=True).transform(s.lonlat[:, 0], s.lonlat[:, 1])
    in_block = (x < 200_000 + 60 * 5000) & (y > 6_000_000 - 40 * 5000)
    assert not in_block.any()
    notes = " ".join(s.notes)
    assert "2,400 of 19,200 cells (12.5 %) are nodata (value -9999)" in notes and "skipped" in notes
    assert s.n_skipped > 0 and "EPSG:32633" in notes
    # the same raster at given points: outside and nodata points are skipped and counted
    r = read_raster(tmp_path / "utm.tif")
    pts = np.array([[15.0, 52.0], [15.5, 50.0], [0.0, 0.0], [12.5, 53.7]])
    vals, ok = r.values_at(pts)
    assert ok.tolist() == [True, True, False, False]  # (0, 0) is outside, (12.5, 53.7) on the block
    np.testing.assert_allclose(vals[:2], closed_form(pts[:2, 0], pts[:2, 1]), atol=5e-3)
    import pandas as pd

    pd.DataFrame({"lon": pts[:, 0], "lat": pts[:, 1]}).to_csv(tmp_path / "pts.csv", index=False)
    s2 = sample_raster(tmp_path / "utm.tif", points=tmp_path / "pts.csv")
    assert len(s2) == 2 and s2.n_skipped == 2
    assert "2 point(s) skipped: 1 outside the raster, 1 on nodata cells" in " ".join(s2.notes)
    with pytest.raises(ValueError, match="not both"):
        sample_raster(tmp_path / "utm.tif", 10, points=tmp_path / "pts.csv")
    with pytest.raises(ValueError, match="band 2 does not exist; the raster has 1 band"):
        read_raster(tmp_path / "utm.tif", band=2)


def test_sample_raster_is_uniform_by_area_on_a_lonlat_raster(tmp_path):
    """A global 1° EPSG:4326 raster, one 0..360 longitude convention: points uniform on the
    sphere (share beyond ±60° = 1 − sin 60° ≈ 0.134, not the 1/3 of uniform latitudes)."""
    from geoviz.data.raster import sample_raster

    lat = 89.5 - np.arange(180)
    lon = 0.5 + np.arange(360)
    v = np.broadcast_to(lat[:, None], (180, 360)).astype(np.float32) + 0 * lon
    with rasterio.open(tmp_path / "g.tif", "w", driver="GTiff", width=360, height=180, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(0.0, 90.0, 1.0, 1.0)) as ds:
        ds.write(v, 1)
    s = sample_raster(tmp_path / "g.tif", 20_000, seed=3)
    assert s.lonlat[:, 0].min() >= -180 and s.lonlat[:, 0].max() < 180
    assert abs(np.mean(np.abs(s.lonlat[:, 1]) > 60) - (1 - np.sin(np.radians(60)))) < 0.012
    assert abs(np.mean(s.lonlat[:, 0] < 0) - 0.5) < 0.02  # west of Greenwich sampled too (lon 180..360)
    np.testing.assert_array_equal(s.y, np.floor(s.lonlat[:, 1]) + 0.5)  # each point has its cell's value
    assert not any("reprojected" in n for n in s.notes)


def test_raster_scale_offset_and_integer_nodata(tmp_path):
    from geoviz.data.raster import read_raster

    a = (np.arange(90 * 180).reshape(90, 180) % 1000).astype(np.int16)
    a[0, 0] = -32768
    with rasterio.open(tmp_path / "s.tif", "w", driver="GTiff", width=180, height=90, count=1, dtype="int16",
                       crs="EPSG:4326", transform=from_origin(-180.0, 90.0, 2.0, 2.0), nodata=-32768) as ds:
        ds.write(a, 1)
        ds.scales, ds.offsets = (0.01,), (5.0,)
    r = read_raster(tmp_path / "s.tif")
    assert r.values.dtype == np.float64 and r.band_names == ["s"]
    assert int((~r.valid).sum()) == 1 and not r.valid[0, 0]
    v, ok = r.values_at(np.array([[-177.0, 89.0], [-179.0, 89.0], [0.0, 95.0]]))
    assert v[0] == pytest.approx(5.01) and ok.tolist() == [True, False, False]


def _ease_raster(path, res=200_000.0):
    """A global raster in EPSG:6933 (equal area, metres) with closed_form at cell centres and a
    nodata strip over the westernmost eighth."""
    w, h = int(2 * 17_367_530.45 // res), int(2 * 7_314_540.83 // res)
    x0, y0 = -w * res / 2, h * res / 2
    X, Y = np.meshgrid(x0 + (np.arange(w) + 0.5) * res, y0 - (np.arange(h) + 0.5) * res)
    lon, lat = pyproj.Transformer.from_crs(6933, 4326, always_xy=True).transform(X, Y)
    v = closed_form(lon, lat).astype(np.float32)
    v[:, : w // 8] = -9999.0
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:6933",
                       transform=from_origin(x0, y0, res, res), nodata=-9999.0) as ds:
        ds.write(v, 1)
        ds.units = ("K",)


FAST = ["--nn", "linear", "--legendre-polys", "3", "--lr", "0.05", "--epochs", "30", "--batch-size", "200",
        "--resolution", "10", "--quiet"]


def test_cli_fit_geotiff_then_predict_grid(tmp_path, capsys):
    from geoviz.cli import main

    _ease_raster(tmp_path / "field.tif")
    model = tmp_path / "m.gvz"
    assert main(["fit", str(tmp_path / "field.tif"), "--samples", "3000", "--save", str(model),
                 "--out", str(tmp_path / "out"), *FAST]) == 0
    out = capsys.readouterr().out
    assert "3,000 points drawn uniformly by area" in out
    assert "are nodata (value -9999) and are never sampled" in out  # reported, not silent
    assert "EPSG:6933" in out and "K" in out
    assert (tmp_path / "out" / "m_map.png").stat().st_size > 10_000  # truth beside prediction
    assert main(["predict", str(model), "--grid", "2", "-o", str(tmp_path / "out.tif")]) == 0
    assert "90 × 180 grid of 2° cells, field [K]" in capsys.readouterr().out
    g = regular_grid(2.0)
    truth = closed_form(g.lonlat[:, 0], g.lonlat[:, 1]).reshape(g.shape)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.crs.to_epsg() == 4326 and ds.shape == (90, 180) and ds.units == ("K",)
        assert tuple(ds.transform)[:6] == pytest.approx((2.0, 0.0, -180.0, 0.0, -2.0, 90.0))
        pred = ds.read(1)
    assert np.sqrt(np.mean((pred - truth) ** 2)) < 0.3 and np.abs(pred - truth).max() < 1.0
    with rasterio.open(tmp_path / "out.tif") as ds:  # the probe cell against the closed form
        lon, lat = -150.0 + 1.0, 40.0 + 1.0
        assert ds.read(1)[ds.index(lon, lat)] == pytest.approx(closed_form(lon, lat), abs=0.5)
    pytest.importorskip("h5netcdf")
    assert main(["predict", str(model), "--grid", "2", "-o", str(tmp_path / "out.nc")]) == 0
    with xr.open_dataset(tmp_path / "out.nc", engine="h5netcdf") as ds:
        np.testing.assert_allclose(ds["field"].values, pred, rtol=1e-6)
        assert ds["field"].attrs["units"] == "K" and ds.attrs["Conventions"] == "CF-1.8"


def test_cli_fit_class_raster_and_errors(tmp_path, capsys):
    from geoviz.cli import main

    lat = 89.0 - 2.0 * np.arange(90)
    zones = np.where(lat > 30, 1, np.where(lat < -30, 3, 2)).astype(np.uint8)
    img = np.broadcast_to(zones[:, None], (90, 180)).copy()
    img[:5, :] = 255  # nodata
    with rasterio.open(tmp_path / "zones.tif", "w", driver="GTiff", width=180, height=90, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(-180.0, 90.0, 2.0, 2.0), nodata=255) as ds:
        ds.write(img, 1)
    model = tmp_path / "z.gvz"
    assert main(["fit", str(tmp_path / "zones.tif"), "--samples", "600", "--save", str(model),
                 *FAST, "--epochs", "3"]) == 0
    assert "multiclass" in capsys.readouterr().out
    pytest.importorskip("h5netcdf")
    assert main(["predict", str(model), "--grid", "10", "-o", str(tmp_path / "z.nc")]) == 0
    with xr.open_dataset(tmp_path / "z.nc", engine="h5netcdf") as ds:
        assert list(ds["class"].values) == ["1", "2", "3"]
        np.testing.assert_allclose(ds["probability"].sum("class").values, 1.0, atol=1e-5)
    # clear errors
    assert main(["predict", str(model), "--grid", "2", "-o", str(tmp_path / "z.png")]) == 2
    assert "unknown grid file type '.png'" in capsys.readouterr().err
    assert main(["predict", str(model), "-o", str(tmp_path / "z.tif")]) == 2
    assert "give POINTS" in capsys.readouterr().err
    assert main(["predict", str(model), "--grid", "7", "-o", str(tmp_path / "z.tif")]) == 2
    assert "must divide 180" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "zones.tif"), "--band", "2", "--save", str(model), *FAST]) == 2
    assert "band 2 does not exist" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "zones.tif"), "--target", "x", "--save", str(model), *FAST]) == 2
    assert "--band" in capsys.readouterr().err
