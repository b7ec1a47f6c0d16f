"""Train/test splits for geolocated points: random, spatial blocks and held-out regions.

Spatial data are autocorrelated: a random split puts near-duplicates of every test point in
the training set and overstates skill. :func:`block_split` / :func:`block_kfold` assign whole
cells of a roughly equal-area grid (:func:`block_ids`) to one side, so no cell is on both
sides; :func:`holdout_region_split` holds out a lon/lat box or a whole continent (Natural
Earth 1:110m ``CONTINENT`` attribute, shipped in ``assets/ne_110m_continents.json.gz``;
regenerate with ``scripts/make_continents.py``).

All functions take ``(N, 2)`` float ``(lon, lat)`` degrees (numpy or torch) and return int64
index arrays into those points (sorted ascending).

    >>> from geoviz.data import uniform_sphere, block_split
    >>> lonlat = uniform_sphere(1000, 0)
    >>> train, test = block_split(lonlat, block_deg=20, test_fraction=0.2, seed=0)
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

import numpy as np

from geoviz.data.land import _lonlat_numpy
from geoviz.data.sampling import EARTH_RADIUS_KM, lonlat_to_unit

__all__ = [
    "CONTINENTS",
    "random_split",
    "block_ids",
    "block_split",
    "block_kfold",
    "continent_of",
    "region_mask",
    "holdout_region_split",
    "parse_split",
    "stratified_split",
    "split_indices",
    "train_val_test_split",
]

CONTINENTS: tuple[str, ...] = ("Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America")
"""Continent names accepted by :func:`region_mask` (Natural Earth's ``CONTINENT`` values)."""


def _points(lonlat: Any) -> np.ndarray:
    """Validated ``(N, 2)`` float64 (lon, lat) degrees."""
    return _lonlat_numpy(lonlat)


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def random_split(n: int, test_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``n`` items.

    Args:
        n: number of items (>= 2).
        test_fraction: share of items in the test part, in (0, 1); the test part gets
            ``round(n * test_fraction)`` items, at least 1 and at most ``n - 1``.
        seed: ``numpy.random.default_rng`` seed.

    Returns:
        ``(train_idx, test_idx)``: sorted int64 arrays partitioning ``range(n)``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an int >= 2 to split into train and test, got {n!r}")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    perm = np.random.default_rng(seed).permutation(int(n))
    k = min(max(int(round(n * test_fraction)), 1), int(n) - 1)
    return np.sort(perm[k:]).astype(np.int64), np.sort(perm[:k]).astype(np.int64)


def _check_block_deg(block_deg: float) -> float:
    if isinstance(block_deg, bool) or not isinstance(block_deg, (int, float, np.floating, np.integer)):
        raise TypeError(f"block_deg must be a number of degrees, got {type(block_deg).__name__}")
    if not 0 < block_deg <= 180:
        raise ValueError(f"block_deg must be in (0, 180] degrees, got {block_deg!r}")
    return float(block_deg)


def block_ids(lonlat: Any, block_deg: float) -> np.ndarray:
    """Id of the roughly equal-area cell of ~``block_deg`` size holding each point.

    Latitude bands of ``block_deg`` (from the south pole; the last band may be narrower),
    each split into ``max(1, round(360 cos(lat_c) / block_deg))`` equal longitude cells,
    ``lat_c`` the band's centre latitude: cells are about ``block_deg × block_deg`` degrees
    of arc everywhere, without the shrinking polar cells of a plain lon/lat grid.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        block_deg: cell size in degrees, in (0, 180].

    Returns:
        ``(N,)`` int64 cell ids, numbered band by band from the south pole, west to east
        from -180° within a band.
    """
    p = _points(lonlat)
    d = _check_block_deg(block_deg)
    n_bands = int(np.ceil(180.0 / d - 1e-9))
    lat_c = np.minimum(-90.0 + (np.arange(n_bands) + 0.5) * d, 90.0)
    cells = np.maximum(1, np.round(360.0 * np.cos(np.radians(lat_c)) / d)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(cells)[:-1]])
    band = np.clip(np.floor((p[:, 1] + 90.0) / d).astype(np.int64), 0, n_bands - 1)
    nc = cells[band]
    cell = np.clip(np.floor((p[:, 0] + 180.0) / 360.0 * nc).astype(np.int64), 0, nc - 1)
    return offsets[band] + cell


def _buffer_train(p: np.ndarray, train: np.ndarray, test: np.ndarray, buffer_km: float) -> np.ndarray:
    """``train`` without the points within ``buffer_km`` (great-circle) of any test point."""
    if not buffer_km:
        return train
    if not buffer_km > 0:
        raise ValueError(f"buffer_km must be >= 0, got {buffer_km!r}")
    from scipy.spatial import cKDTree

    if len(test) == 0 or len(train) == 0:
        return train
    chord = 2.0 * np.sin(min(buffer_km / EARTH_RADIUS_KM, np.pi) / 2.0)
    d, _ = cKDTree(lonlat_to_unit(p[test])).query(lonlat_to_unit(p[train]), distance_upper_bound=chord)
    return train[~np.isfinite(d) | (d >= chord)]


def block_split(lonlat: Any, block_deg: float, test_fraction: float = 0.2, seed: int = 0, *,
                buffer_km: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Split points by whole cells of :func:`block_ids`: no cell is on both sides.

    Cells are visited in a seeded random order and moved to the test side until it holds at
    least ``test_fraction`` of the points (so the test share is ``>= test_fraction``, by at
    most one cell's points).

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        block_deg: cell size in degrees (e.g. 5 or 10; larger = more honest, fewer cells).
        test_fraction: target share of points on the test side, in (0, 1).
        seed: ``numpy.random.default_rng`` seed of the cell order.
        buffer_km: also drop from the training side every point closer than this
            great-circle distance to a test point (a buffered split: points on either side
            of a cell border are then never neighbours); 0 keeps them.

    Returns:
        ``(train_idx, test_idx)``: sorted int64 indices into ``lonlat`` (with a buffer, the
        dropped points are in neither).

    Raises:
        ValueError: fewer than 2 occupied cells (make ``block_deg`` smaller), bad fraction.
    """
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    ids = block_ids(lonlat, block_deg)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    if len(uniq) < 2:
        raise ValueError(f"all {len(ids)} points fall in one {block_deg}° block; use a smaller block size")
    order = np.random.default_rng(seed).permutation(len(uniq))
    cum = np.cumsum(counts[order])
    k = int(np.searchsorted(cum, test_fraction * len(ids))) + 1
    k = min(max(k, 1), len(uniq) - 1)
    is_test_block = np.zeros(len(uniq), dtype=bool)
    is_test_block[order[:k]] = True
    test = is_test_block[inverse]
    train_idx, test_idx = np.flatnonzero(~test).astype(np.int64), np.flatnonzero(test).astype(np.int64)
    if buffer_km:
        train_idx = _buffer_train(_points(lonlat), train_idx, test_idx, buffer_km)
    return train_idx, test_idx


def block_kfold(lonlat: Any, block_deg: float, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds of whole :func:`block_ids` cells, balanced by point count.

    Cells are shuffled (seeded), sorted by size (stable, largest first) and each is given to
    the fold with the fewest points so far. Every point is in exactly one test fold and no
    cell is split between a fold's train and test parts.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        block_deg: cell size in degrees.
        k: number of folds (>= 2).
        seed: seed of the shuffle (breaks ties between equal cells).

    Returns:
        ``k`` tuples ``(train_idx, test_idx)`` of sorted int64 indices.

    Raises:
        ValueError: fewer occupied cells than folds.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an int >= 2, got {k!r}")
    ids = block_ids(lonlat, block_deg)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    if len(uniq) < k:
        raise ValueError(f"only {len(uniq)} occupied {block_deg}° blocks for {k} folds; use a smaller block size")
    order = np.random.default_rng(seed).permutation(len(uniq))
    order = order[np.argsort(-counts[order], kind="stable")]
    fold_of_block = np.empty(len(uniq), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for b in order:
        f = int(np.argmin(load))
        fold_of_block[b] = f
        load[f] += counts[b]
    fold = fold_of_block[inverse]
    return [(np.flatnonzero(fold != f).astype(np.int64), np.flatnonzero(fold == f).astype(np.int64)) for f in range(k)]


# --------------------------------------------------------------------------------------
# continents and regions


@lru_cache(maxsize=1)
def _continents() -> dict[str, Any]:
    """Continent name -> shapely (Multi)Polygon (prepared), from the shipped asset."""
    import shapely

    raw = resources.files("geoviz.data").joinpath("assets", "ne_110m_continents.json.gz").read_bytes()
    doc = json.loads(gzip.decompress(raw))
    out = {}
    for name, b64 in doc["continents"].items():
        g = shapely.from_wkb(base64.b64decode(b64))
        shapely.prepare(g)
        out[name] = g
    return out


@lru_cache(maxsize=1)
def _coast_tree() -> tuple[Any, np.ndarray, list[str]]:
    """KD-tree of unit vectors of continent boundary vertices densified to <= 0.25°."""
    import shapely
    from scipy.spatial import cKDTree

    names = sorted(_continents())
    pts, labels = [], []
    for i, name in enumerate(names):
        boundary = shapely.segmentize(shapely.boundary(_continents()[name]), 0.25)
        xy = shapely.get_coordinates(boundary)
        pts.append(xy)
        labels.append(np.full(len(xy), i, dtype=np.int64))
    xy = np.concatenate(pts)
    xy[:, 1] = np.clip(xy[:, 1], -90.0, 90.0)
    return cKDTree(lonlat_to_unit(xy)), np.concatenate(labels), names


def continent_of(lonlat: Any, max_distance_km: float = 500.0) -> np.ndarray:
    """Natural Earth continent of each point.

    A point inside a continent's (dissolved 1:110m country) polygons gets its name; a point
    outside all of them gets the continent of the nearest polygon boundary vertex (boundaries
    densified to 0.25°) if that is within ``max_distance_km`` great-circle distance (coasts,
    islands missing at 1:110m), else ``""`` (open ocean).

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        max_distance_km: coastal snapping distance (default 500 km); 0 disables it.

    Returns:
        ``(N,)`` object array of names: ``"Africa"``, ``"Antarctica"``, ``"Asia"``,
        ``"Europe"``, ``"North America"``, ``"Oceania"``, ``"South America"``,
        ``"Seven seas (open ocean)"`` (Natural Earth's name for the French Southern and
        Antarctic Lands) or ``""``.
    """
    import shapely

    p = _points(lonlat)
    out = np.full(len(p), "", dtype=object)
    found = np.zeros(len(p), dtype=bool)
    for name, geom in _continents().items():
        inside = shapely.contains_xy(geom, p[:, 0], p[:, 1]) & ~found
        out[inside] = name
        found |= inside
    rest = np.flatnonzero(~found)
    if len(rest) and max_distance_km > 0:
        tree, labels, names = _coast_tree()
        chord = 2.0 * np.sin(min(max_distance_km / EARTH_RADIUS_KM, np.pi) / 2.0)
        dist, idx = tree.query(lonlat_to_unit(p[rest]), distance_upper_bound=chord)
        ok = np.isfinite(dist)
        out[rest[ok]] = np.asarray(names, dtype=object)[labels[idx[ok]]]
    return out


def _continent_name(name: str) -> str:
    key = " ".join(name.replace("_", " ").replace("-", " ").split()).lower()
    for c in list(CONTINENTS) + ["Seven seas (open ocean)"]:
        if c.lower() == key:
            return c
    raise ValueError(f"unknown region {name!r}; use a continent {list(CONTINENTS)} or a box "
                     f"(lon_min, lat_min, lon_max, lat_max)")


def parse_box(region: Any) -> tuple[float, float, float, float] | None:
    """``(lon_min, lat_min, lon_max, lat_max)`` from a 4-sequence or ``"a,b,c,d"`` string, else None."""
    if isinstance(region, str):
        parts = region.split(",")
        if len(parts) != 4:
            return None
        try:
            region = [float(v) for v in parts]
        except ValueError:
            return None
    if isinstance(region, (Sequence, np.ndarray)) and not isinstance(region, str) and len(region) == 4:
        box = tuple(float(v) for v in region)
        lon0, lat0, lon1, lat1 = box
        if not all(np.isfinite(box)) or not (-180 <= lon0 <= 180 and -180 <= lon1 <= 180):
            raise ValueError(f"box longitudes must be in [-180, 180], got {region!r}")
        if not (-90 <= lat0 < lat1 <= 90):
            raise ValueError(f"box needs -90 <= lat_min < lat_max <= 90, got {region!r}")
        return box  # type: ignore[return-value]
    return None


def region_mask(lonlat: Any, region: Any) -> np.ndarray:
    """Which points lie in ``region``.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        region: a box ``(lon_min, lat_min, lon_max, lat_max)`` in degrees (or the string
            ``"lon_min,lat_min,lon_max,lat_max"``; ``lon_min > lon_max`` crosses the
            antimeridian; edges inclusive) or a continent name from :data:`CONTINENTS`
            (case-insensitive; see :func:`continent_of`).

    Returns:
        ``(N,)`` bool.
    """
    p = _points(lonlat)
    box = parse_box(region)
    if box is not None:
        lon0, lat0, lon1, lat1 = box
        in_lat = (p[:, 1] >= lat0) & (p[:, 1] <= lat1)
        if lon0 <= lon1:
            in_lon = (p[:, 0] >= lon0) & (p[:, 0] <= lon1)
        else:
            in_lon = (p[:, 0] >= lon0) | (p[:, 0] <= lon1)
        return in_lat & in_lon
    if not isinstance(region, str):
        raise TypeError(f"region must be a continent name or a 4-number box, got {region!r}")
    return continent_of(p) == _continent_name(region)


def holdout_region_split(lonlat: Any, region: Any) -> tuple[np.ndarray, np.ndarray]:
    """Train on everything outside ``region``, test on everything inside it.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        region: as :func:`region_mask`.

    Returns:
        ``(train_idx, test_idx)`` sorted int64.

    Raises:
        ValueError: no point inside, or no point outside, the region.
    """
    m = region_mask(lonlat, region)
    if not m.any():
        raise ValueError(f"no point lies in region {region!r}; nothing to hold out")
    if m.all():
        raise ValueError(f"every point lies in region {region!r}; nothing left to train on")
    return np.flatnonzero(~m).astype(np.int64), np.flatnonzero(m).astype(np.int64)


# --------------------------------------------------------------------------------------
# one split option (``"random"``, ``"blocks:DEG[:KMkm]"``, ``"region:NAME"`` or a box) →
# train / validation / test indices; used by ``task_from_points``, the CLI and the estimators


def parse_split(split: Any) -> tuple[str, Any]:
    """Read a split option.

    Args:
        split: ``"random"``, ``"blocks:DEG"`` / ``"blocks:DEG:KMkm"`` (equal-area blocks of
            DEG degrees, a KM km buffer), ``"region:NAME"`` (a continent of
            :data:`CONTINENTS`), ``"region:LON0,LAT0,LON1,LAT1"`` or a 4-number box.

    Returns:
        ``("random", None)``, ``("blocks", (deg, buffer_km))`` or ``("region", name or box)``.

    Raises:
        ValueError: a malformed option (the message shows the accepted forms).
        TypeError: neither a string nor a 4-number box.
    """
    if isinstance(split, str):
        s = split.strip()
        if s.lower() == "random":
            return "random", None
        if s.lower().startswith("blocks:") or s.lower().startswith("block:"):
            parts = s.split(":")
            try:
                deg = float(parts[1])
                buffer_km = float(parts[2].lower().removesuffix("km")) if len(parts) == 3 else 0.0
                if len(parts) > 3:
                    raise ValueError
            except ValueError:
                raise ValueError(f"split {split!r}: expected blocks:DEG or blocks:DEG:BUFFERkm, e.g. blocks:10 "
                                 f"or blocks:10:200km") from None
            return "blocks", (deg, buffer_km)
        if s.lower().startswith("region:"):
            return "region", s.split(":", 1)[1].strip()
        raise ValueError(f"unknown split {split!r}; use 'random', 'blocks:DEG' (e.g. blocks:10), 'region:NAME' "
                         f"(a continent) or 'region:LON0,LAT0,LON1,LAT1'")
    if isinstance(split, (tuple, list, np.ndarray)) and len(split) == 4:
        return "region", tuple(float(v) for v in split)
    raise TypeError(f"split must be a string or a 4-number box, got {split!r}")


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int | np.random.Generator = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-class random split: every class with >= 2 points gets >= 1 on each side.

    Args:
        labels: ``(N,)`` integer class ids.
        test_fraction: share of each class on the second side.
        seed: seed or generator.

    Returns:
        ``(first_idx, second_idx)`` sorted int64.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    a, b = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * test_fraction))
        k = min(max(k, 1), len(idx) - 1) if len(idx) >= 2 else 0
        b.append(idx[:k])
        a.append(idx[k:])
    return np.sort(np.concatenate(a)).astype(np.int64), np.sort(np.concatenate(b)).astype(np.int64)


def split_indices(lonlat: Any, split: Any, fraction: float = 0.2, seed: int = 0, *,
                  labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two sides of one split option (see :func:`parse_split`).

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        split: a split option.
        fraction: share of points on the second (test) side for random and block splits.
        seed: split seed.
        labels: ``(N,)`` class ids; a random split is then stratified by class.

    Returns:
        ``(train_idx, test_idx)`` sorted int64 (a buffered block split drops the training
        points within the buffer, so the two may not cover every point).
    """
    how, arg = parse_split(split)
    p = _lonlat_numpy(lonlat)
    if how == "random":
        if labels is not None:
            return stratified_split(labels, fraction, seed)
        return random_split(len(p), fraction, seed)
    if how == "blocks":
        return block_split(p, arg[0], fraction, seed, buffer_km=arg[1])
    return holdout_region_split(p, arg)


def train_val_test_split(lonlat: Any, split: Any = "random", *, labels: np.ndarray | None = None,
                         test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test indices from one split option.

    The test side comes from ``split``; the validation side is then taken from the rest by
    the same method (random for a held-out region; blocks without buffer for a block split),
    with ``seed + 1``.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        split: a split option (:func:`parse_split`).
        labels: ``(N,)`` class ids (stratifies random splits) or ``None``.
        test_fraction: share of points for testing (random and block splits).
        val_fraction: share of all points for validation, in ``(0, share left after test)``.
        seed: split seed.

    Returns:
        ``(train_idx, val_idx, test_idx)`` sorted int64.

    Raises:
        ValueError: a malformed option or ``val_fraction`` out of range (named).
    """
    how, arg = parse_split(split)
    p = _lonlat_numpy(lonlat)
    rest, test = split_indices(p, split, test_fraction, seed, labels=labels)
    rest_share = len(rest) / len(p)
    if not 0 < val_fraction < rest_share:
        raise ValueError(f"val_fraction must be in (0, {rest_share:.3f}) (the share left after the test split), "
                         f"got {val_fraction!r}")
    vsplit = "random" if how == "region" else (f"blocks:{arg[0]}" if how == "blocks" else split)
    tr, va = split_indices(p[rest], vsplit, val_fraction / rest_share, seed + 1,
                           labels=None if labels is None else labels[rest])
    return rest[tr], rest[va], test
