"""Splits: random (seeded), equal-area spatial blocks (no leakage), continents and boxes."""

from __future__ import annotations

import numpy as np
import pytest

from geoviz.data import (
    block_ids,
    block_kfold,
    block_split,
    continent_of,
    holdout_region_split,
    random_split,
    region_mask,
    uniform_sphere,
)

POINTS = uniform_sphere(20_000, 3)


def test_random_split_is_a_seeded_partition():
    tr, te = random_split(1000, 0.25, seed=1)
    assert len(te) == 250 and len(tr) == 750 and tr.dtype == np.int64
    assert np.array_equal(np.sort(np.r_[tr, te]), np.arange(1000))
    tr2, te2 = random_split(1000, 0.25, seed=1)
    assert np.array_equal(te, te2) and not np.array_equal(te, random_split(1000, 0.25, seed=2)[1])
    with pytest.raises(ValueError):
        random_split(1000, 1.5)
    with pytest.raises(ValueError):
        random_split(1, 0.5)


def test_block_cells_are_roughly_equal_area():
    deg = 10.0
    ids = block_ids(POINTS, deg)
    # expected area of each cell from the construction (band area / cells in band), as a
    # share of the sphere; compare with the share of uniform points per cell (binomial)
    n_bands = 18
    counts = np.bincount(ids)
    lat_edges = np.radians(np.arange(-90, 91, deg))
    band_share = (np.sin(lat_edges[1:]) - np.sin(lat_edges[:-1])) / 2
    lat_c = -90 + (np.arange(n_bands) + 0.5) * deg
    cells = np.maximum(1, np.round(360 * np.cos(np.radians(lat_c)) / deg)).astype(int)
    share = np.repeat(band_share / cells, cells)
    assert len(share) == ids.max() + 1 == len(counts)
    # all cells within a factor ~1.6 of the mean area (a plain lon/lat grid varies 60x)
    assert share.max() / share.min() < 1.7
    expected = share * len(POINTS)
    z = (counts - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 5


@pytest.mark.parametrize("deg", [5.0, 10.0, 30.0])
def test_block_split_leaks_no_block(deg):
    tr, te = block_split(POINTS, deg, test_fraction=0.2, seed=0)
    ids = block_ids(POINTS, deg)
    assert not set(ids[tr]) & set(ids[te])
    assert np.array_equal(np.sort(np.r_[tr, te]), np.arange(len(POINTS)))
    assert 0.2 <= len(te) / len(POINTS) < 0.2 + np.bincount(ids).max() / len(POINTS) + 1e-9


def test_block_split_nearest_neighbours_across_sides_are_far_apart():
    """Points on opposite sides are never in the same cell, so a test point's nearest
    training point is typically far away (unlike a random split)."""
    from scipy.spatial import cKDTree

    from geoviz.data import lonlat_to_unit

    tr, te = block_split(POINTS, 20.0, 0.2, seed=1)
    d_block, _ = cKDTree(lonlat_to_unit(POINTS[tr])).query(lonlat_to_unit(POINTS[te]))
    rtr, rte = random_split(len(POINTS), 0.2, seed=1)
    d_rand, _ = cKDTree(lonlat_to_unit(POINTS[rtr])).query(lonlat_to_unit(POINTS[rte]))
    assert np.median(d_block) > 3 * np.median(d_rand)


def test_block_kfold_covers_every_point_once_without_leaks():
    folds = block_kfold(POINTS, 15.0, k=5, seed=0)
    ids = block_ids(POINTS, 15.0)
    seen = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(POINTS)))
    for tr, te in folds:
        assert not set(ids[tr]) & set(ids[te])
        assert len(tr) + len(te) == len(POINTS)
    sizes = [len(te) for _, te in folds]
    assert max(sizes) / min(sizes) < 1.1
    with pytest.raises(ValueError, match="blocks"):
        block_kfold(POINTS[:3], 90.0, k=5)


def test_continents_of_known_places():
    places = {"Europe": (2.35, 48.86), "North America": (-74.0, 40.7), "Oceania": (151.2, -33.9),
              "Africa": (18.4, -33.9), "South America": (-43.2, -22.9), "Antarctica": (0.0, -85.0),
              "Asia": (116.4, 39.9), "": (-30.0, 0.0)}
    got = continent_of(np.array(list(places.values())))
    assert list(got) == list(places)
    # just off the coast (outside the 1:110m polygon) snaps to the nearby continent
    assert continent_of(np.array([[-10.2, 38.7]]))[0] == "Europe"
    assert continent_of(np.array([[-10.2, 38.7]]), max_distance_km=0)[0] == ""


def test_continent_of_matches_country_polygons():
    """Independent reference: point-in-polygon against Natural Earth countries read with pyogrio."""
    pytest.importorskip("pyogrio")
    import importlib.util
    from pathlib import Path

    import shapely
    from pyogrio.raw import read

    shp = Path(importlib.util.find_spec("pyogrio").submodule_search_locations[0]) / "tests" / "fixtures" / \
        "naturalearth_lowres" / "naturalearth_lowres.shp"
    if not shp.is_file():
        pytest.skip("pyogrio test fixture not installed")
    meta, _, wkb, fields = read(str(shp))
    cont = fields[list(meta["fields"]).index("continent")]
    polys = shapely.from_wkb(wkb)
    pts = POINTS[:4000]
    ref = np.full(len(pts), "", dtype=object)
    for g, c in zip(polys, cont):
        ref[shapely.contains_xy(g, pts[:, 0], pts[:, 1])] = c
    inside = ref != ""
    assert inside.sum() > 800
    assert np.array_equal(continent_of(pts[inside]), ref[inside])


def test_region_mask_boxes_and_continents():
    pts = np.array([[179.0, 0.0], [-179.0, 5.0], [0.0, 0.0], [10.0, 50.0]])
    assert region_mask(pts, (170, -10, -170, 10)).tolist() == [True, True, False, False]  # antimeridian
    assert region_mask(pts, "-5,-5,15,55").tolist() == [False, False, True, True]
    assert region_mask(pts, "europe").tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="unknown region 'Atlantis'"):
        region_mask(pts, "Atlantis")
    with pytest.raises(ValueError, match="lat_min < lat_max"):
        region_mask(pts, (0, 10, 5, -10))


def test_holdout_region_split():
    tr, te = holdout_region_split(POINTS, "South America")
    assert (continent_of(POINTS[te]) == "South America").all()
    assert not (continent_of(POINTS[tr]) == "South America").any()
    with pytest.raises(ValueError, match="no point lies"):
        holdout_region_split(POINTS[:1] * 0 + [[-30.0, 0.0]], "Africa")


def test_buffered_block_split_keeps_training_points_away_from_test_points():
    from scipy.spatial import cKDTree

    from geoviz.data import lonlat_to_unit, task_from_points

    tr, te = block_split(POINTS, 10.0, 0.2, seed=0, buffer_km=300.0)
    d, _ = cKDTree(lonlat_to_unit(POINTS[te])).query(lonlat_to_unit(POINTS[tr]))
    assert (2 * np.arcsin(d / 2) * 6371.0088).min() >= 300.0
    tr0, te0 = block_split(POINTS, 10.0, 0.2, seed=0)
    assert np.array_equal(te, te0) and set(tr) < set(tr0)
    t = task_from_points(POINTS[:3000], POINTS[:3000, 1] + 0.5, kind="regression", split="blocks:10:300km")
    assert t.meta["buffer_dropped"] > 0
    assert len(t.train) + len(t.val) + len(t.test) + t.meta["buffer_dropped"] == 3000
