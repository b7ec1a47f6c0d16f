"""Point files as tasks: formats, column detection, swap detection, CRS reprojection, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoviz.data import load_points, task_from_points, uniform_sphere
from geoviz.data.points import NearestValue, detect_lonlat_columns, infer_kind

pyogrio = pytest.importorskip("pyogrio")
shapely = pytest.importorskip("shapely")
pyproj = pytest.importorskip("pyproj")


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    p = uniform_sphere(n, seed)
    return pd.DataFrame({"lon": p[:, 0], "lat": p[:, 1], "temp": 20 * np.cos(np.radians(p[:, 1])) + p[:, 0] / 100,
                         "label": np.where(p[:, 1] > 0, "north", "south")})


def _write_geo(path, lon, lat, fields: dict, crs="EPSG:4326", geoms=None, driver=None):
    from pyogrio.raw import write

    if geoms is None:
        geoms = shapely.points(lon, lat)
    names = list(fields)
    write(str(path), shapely.to_wkb(geoms), [np.asarray(fields[k]) for k in names], names, crs=crs,
          driver=driver, geometry_type="Point" if driver != "GeoJSON" or geoms is None else "Unknown")


# ---------------------------------------------------------------------------------- formats


@pytest.mark.parametrize("ext", ["csv", "parquet", "tsv", "csv.gz"])
def test_tabular_formats_read_the_same_points(tmp_path, ext):
    df = _frame()
    path = tmp_path / f"pts.{ext}"
    if ext == "parquet":
        df.to_parquet(path)
    elif ext == "tsv":
        df.to_csv(path, sep="\t", index=False)
    else:
        df.to_csv(path, index=False)
    pts = load_points(path, target="temp")
    np.testing.assert_allclose(pts.lonlat, df[["lon", "lat"]].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(pts.y, df["temp"].to_numpy(), atol=1e-12)
    assert (pts.lon_col, pts.lat_col, pts.target, pts.crs) == ("lon", "lat", "temp", "EPSG:4326")
    assert list(pts.frame.columns) == list(df.columns) and len(pts) == len(df)


@pytest.mark.parametrize("ext,driver", [("geojson", "GeoJSON"), ("gpkg", "GPKG")])
def test_geometry_formats(tmp_path, ext, driver):
    df = _frame(50)
    path = tmp_path / f"pts.{ext}"
    _write_geo(path, df.lon.to_numpy(), df.lat.to_numpy(), {"temp": df.temp.to_numpy(), "label": df.label.to_numpy()},
               driver=driver)
    pts = load_points(path, target="label")
    np.testing.assert_allclose(pts.lonlat, df[["lon", "lat"]].to_numpy(), atol=1e-9)
    assert list(pts.y) == list(df.label)
    assert {"lon", "lat", "temp", "label"} <= set(pts.frame.columns)


def test_gpkg_in_utm_is_reprojected_with_pyproj(tmp_path):
    lonlat = np.array([[-122.27, 37.87], [-121.9, 36.6], [-123.0, 38.5]])
    tr = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32610", always_xy=True)
    x, y = tr.transform(lonlat[:, 0], lonlat[:, 1])
    path = tmp_path / "utm.gpkg"
    _write_geo(path, x, y, {"presence": np.array([1, 0, 1])}, crs="EPSG:32610", driver="GPKG")
    pts = load_points(path, target="presence")
    np.testing.assert_allclose(pts.lonlat, lonlat, atol=1e-9)
    assert pts.crs == "EPSG:32610" and any("reprojected" in n for n in pts.notes)


def test_csv_with_crs_argument_is_reprojected(tmp_path):
    tr = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x, y = tr.transform([2.35, -74.0], [48.86, 40.7])
    path = tmp_path / "merc.csv"
    pd.DataFrame({"X": x, "Y": y, "v": [1.5, 2.5]}).to_csv(path, index=False)
    pts = load_points(path, target="v", crs="EPSG:3857")
    np.testing.assert_allclose(pts.lonlat, [[2.35, 48.86], [-74.0, 40.7]], atol=1e-9)
    with pytest.raises(ValueError, match="outside"):
        load_points(path, target="v")  # metres are not degrees: refused, not clamped


# ---------------------------------------------------------------------------------- detection


@pytest.mark.parametrize("lon,lat", [("Longitude", "LATITUDE"), ("lng", "lat"), ("LONG", "Lat"), ("x", "y"),
                                     ("decimalLongitude", "decimalLatitude")])
def test_column_detection_is_case_insensitive(lon, lat):
    assert detect_lonlat_columns(["id", lon, lat, "v"]) == (lon, lat)


def test_detection_failure_lists_the_columns(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"easting": [1.0], "northing": [2.0], "v": [1.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no longitude column.*\['easting', 'northing', 'v'\]"):
        load_points(path, target="v")
    pts = load_points(path, target="v", lon="easting", lat="northing")
    assert pts.lonlat.tolist() == [[1.0, 2.0]]


def test_swapped_columns_are_refused_naming_both(tmp_path):
    df = _frame()
    df = df[df.lon.abs() > 95].copy()
    path = tmp_path / "swap.csv"
    pd.DataFrame({"latitude": df.lon, "longitude": df.lat, "v": df.temp}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'latitude'.*'longitude'.*swapped"):
        load_points(path, target="v")
    pts = load_points(path, target="v", lon="latitude", lat="longitude")
    np.testing.assert_allclose(pts.lonlat[:, 0], df.lon.to_numpy())


def test_longitudes_0_360_are_wrapped_and_noted(tmp_path):
    path = tmp_path / "east.csv"
    pd.DataFrame({"lon": [10.0, 350.0, 190.0], "lat": [0.0, 1.0, -5.0], "v": [1.0, 2.0, 3.0]}).to_csv(path, index=False)
    pts = load_points(path, target="v")
    np.testing.assert_allclose(pts.lonlat[:, 0], [10.0, -10.0, -170.0])
    assert any("wrapped" in n for n in pts.notes)


# ---------------------------------------------------------------------------------- bad input


def test_missing_target_lists_available_columns(tmp_path):
    path = tmp_path / "p.csv"
    _frame(10).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"target column 'tmean' not found.*\['lon', 'lat', 'temp', 'label'\]"):
        load_points(path, target="tmean")


def test_nan_targets_refused_or_dropped_with_count(tmp_path):
    df = _frame(20)
    df.loc[[3, 7, 11], "temp"] = np.nan
    path = tmp_path / "nan.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"3 row\(s\) have missing values.*dropna"):
        load_points(path, target="temp")
    pts = load_points(path, target="temp", dropna=True)
    assert len(pts) == 17 and pts.n_dropped == 3 and any("dropped 3" in n for n in pts.notes)
    assert np.isfinite(pts.y).all()


def test_non_point_geometries_are_refused(tmp_path):
    path = tmp_path / "poly.geojson"
    geoms = np.array([shapely.Point(0, 0), shapely.box(0, 0, 1, 1)], dtype=object)
    from pyogrio.raw import write

    write(str(path), shapely.to_wkb(geoms), [np.array([1.0, 2.0])], ["v"], crs="EPSG:4326", driver="GeoJSON",
          geometry_type="Unknown")
    with pytest.raises(ValueError, match=r"1 of 2 geometries are not points \(Polygon"):
        load_points(path, target="v")


@pytest.mark.parametrize("content", ["", "lon,lat,v\n"])
def test_empty_files_are_refused(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="empty|no rows"):
        load_points(path, target="v")


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_points(tmp_path / "nope.csv")
    (tmp_path / "a.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unknown file type"):
        load_points(tmp_path / "a.xlsx")


def test_latitude_out_of_range_is_refused_not_clamped(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"lon": [100.0, 120.0], "lat": [10.0, 95.0], "v": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"outside \[-90, 90\].*row 1"):
        load_points(path, target="v")


# ---------------------------------------------------------------------------------- tasks


def test_kind_inference():
    rng = np.random.default_rng(0)
    assert infer_kind(rng.normal(size=100)) == "regression"
    assert infer_kind(np.array([0.0, 1.0, 1.0, 0.0])) == "classification"
    assert infer_kind(np.array(["a", "b", "a"], dtype=object)) == "classification"
    assert infer_kind(np.array([True, False])) == "classification"
    assert infer_kind(np.arange(5) % 3) == "classification"
    assert infer_kind(np.arange(1000)) == "regression"  # many distinct integers (heights, counts)


def test_task_from_points_regression_and_classification():
    df = _frame(600)
    lonlat = df[["lon", "lat"]].to_numpy()
    t = task_from_points(lonlat, df.temp.to_numpy(), units="°C")
    assert (t.kind, t.num_classes, t.output_dim, t.meta["units"]) == ("regression", 0, 1, "°C")
    assert t.train.y.dtype == np.float32 and len(t.train) + len(t.val) + len(t.test) == 600
    assert len(t.test) == 120 and len(t.val) == 60
    c = task_from_points(lonlat, df.label.to_numpy())
    assert (c.kind, c.class_names, c.output_dim) == ("binary", ["north", "south"], 1)
    m = task_from_points(lonlat, (np.arange(600) % 4).astype(str), split="blocks:30")
    assert (m.kind, m.num_classes, m.output_dim, m.train.y.dtype) == ("multiclass", 4, 4, np.int64)
    r = task_from_points(lonlat, np.arange(600) % 4, kind="regression")
    assert r.kind == "regression"
    multi = task_from_points(lonlat, np.column_stack([df.temp, -df.temp * 2]), kind="regression")
    assert multi.output_dim == 2 and multi.train.y.shape[1] == 2
    # the label function returns the nearest known point's value
    np.testing.assert_array_equal(t.label_fn(t.test.lonlat), t.test.y)
    import pickle

    assert isinstance(pickle.loads(pickle.dumps(t.label_fn)), NearestValue)


def test_task_from_points_bad_classes():
    lonlat = uniform_sphere(50, 0)
    with pytest.raises(ValueError, match="at least two classes"):
        task_from_points(lonlat, np.array(["a"] * 50))
    y = np.array(["a"] * 49 + ["rare"])
    with pytest.raises(ValueError, match=r"'rare' \(1 point\).*too few points"):
        task_from_points(lonlat, y)
    with pytest.raises(ValueError, match="constant"):
        task_from_points(lonlat, np.ones(50), kind="regression")
    with pytest.raises(ValueError, match="NaN"):
        task_from_points(lonlat, np.r_[np.nan, np.arange(49.0) + 0.5])
    with pytest.raises(ValueError, match="unknown split"):
        task_from_points(lonlat, np.arange(50) + 0.5, split="kfold")


def test_region_split_class_missing_from_training_is_named():
    lonlat = np.array([[20.0, 5.0], [25.0, 0.0], [-60.0, -10.0], [-55.0, -5.0], [100.0, 40.0], [110.0, 35.0],
                       [2.0, 47.0], [10.0, 50.0]])
    y = np.array(["af", "af", "sa", "sa", "as", "as", "eu", "eu"])
    with pytest.raises(ValueError, match=r"\['af'\] have no points in the training part"):
        task_from_points(lonlat, y, split="region:Africa", val_fraction=0.05)


def test_gbif_style_tab_separated_csv(tmp_path):
    """GBIF 'simple CSV' downloads are tab-separated with decimalLongitude/decimalLatitude."""
    path = tmp_path / "0001234-gbif.csv"
    pd.DataFrame({"gbifID": [1, 2, 3], "species": ["Ariolimax buttoni"] * 3,
                  "decimalLatitude": [37.8, 38.1, 36.9], "decimalLongitude": [-122.3, -122.9, -121.8],
                  "individualCount": [1, 2, 1]}).to_csv(path, sep="\t", index=False)
    pts = load_points(path, target="individualCount")
    assert (pts.lon_col, pts.lat_col) == ("decimalLongitude", "decimalLatitude")
    np.testing.assert_allclose(pts.lonlat[0], [-122.3, 37.8])
