"""Tests for geoviz.analysis (PCA colours, k-means, AMI, similarity search) and geoviz.figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import hypergeom

import geoviz
from geoviz.analysis import (
    QueryResult,
    SimilarityIndex,
    agreement_with_zones,
    cluster_agreement,
    kmeans_clusters,
    pca_rgb,
)
from geoviz.data import regular_grid
from geoviz.embed import embed_grid, embed_points


@pytest.fixture(scope="module")
def model() -> geoviz.LocationEncoder:
    torch.manual_seed(0)
    return geoviz.build_location_encoder("sphericalharmonics", "siren", 256, legendre_polys=10, hidden_dim=64)


@pytest.fixture(scope="module")
def grid(model):
    return embed_grid(model, 3.0, cache=False)


def _blobs(n_per: int = 200, k: int = 4, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, d))
    truth = np.repeat(np.arange(k), n_per)
    return centres[truth] + rng.normal(size=(k * n_per, d)), truth


# --------------------------------------------------------------------------------------
# PCA colours


def test_pca_rgb_range_and_robust_scaling():
    rng = np.random.default_rng(1)
    E = rng.normal(size=(5000, 20)) * np.linspace(5, 1, 20)
    rgb = pca_rgb(E)
    assert rgb.shape == (5000, 3) and rgb.min() >= 0 and rgb.max() <= 1
    # the 1% / 99% quantiles go to 0 / 1: about 1% of rows clipped on each side
    for c in range(3):
        assert 0.005 < np.mean(rgb[:, c] == 0) < 0.015
        assert 0.005 < np.mean(rgb[:, c] == 1) < 0.015
    # independent reference: centred SVD; channel c is an increasing or decreasing affine map
    # of the c-th principal score on the unclipped rows
    Ec = E - E.mean(0)
    _, _, vt = np.linalg.svd(Ec, full_matrices=False)
    for c in range(3):
        s = Ec @ vt[c]
        inside = (rgb[:, c] > 0) & (rgb[:, c] < 1)
        r = np.corrcoef(s[inside], rgb[inside, c])[0, 1]
        assert abs(r) > 1 - 1e-9


def test_pca_rgb_mask_and_fill():
    E, truth = _blobs()
    mask = truth < 2
    rgb = pca_rgb(E, mask=mask, fill=1.0, quantiles=(0.0, 1.0))
    assert np.all(rgb[~mask] == 1.0)
    # fitted on the masked rows only: their full range maps exactly onto [0, 1]
    np.testing.assert_allclose(rgb[mask].min(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(rgb[mask].max(0), 1.0, atol=1e-12)
    assert pca_rgb(torch.from_numpy(E), n_components=1).shape == (800, 1)
    with pytest.raises(ValueError, match="quantiles"):
        pca_rgb(E, quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match="mask"):
        pca_rgb(E, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="n_components"):
        pca_rgb(E, n_components=17)
    with pytest.raises(ValueError, match="NaN"):
        pca_rgb(np.full((10, 4), np.nan))


# --------------------------------------------------------------------------------------
# clusters and AMI


def _ami_brute_force(a: np.ndarray, b: np.ndarray) -> float:
    """AMI (arithmetic-mean normalisation) from the definitions, with scipy's hypergeometric pmf."""
    n = len(a)
    ua, ub = np.unique(a), np.unique(b)
    C = np.array([[np.sum((a == i) & (b == j)) for j in ub] for i in ua], dtype=float)
    r, c = C.sum(1), C.sum(0)
    H = lambda p: -sum(x / n * math.log(x / n) for x in p if x > 0)  # noqa: E731
    mi = sum(C[i, j] / n * math.log(n * C[i, j] / (r[i] * c[j])) for i in range(len(r)) for j in range(len(c)) if C[i, j] > 0)
    emi = 0.0
    for ai in r:
        for bj in c:
            for nij in range(max(1, int(ai + bj - n)), int(min(ai, bj)) + 1):
                emi += nij / n * math.log(n * nij / (ai * bj)) * hypergeom.pmf(nij, n, ai, bj)
    return (mi - emi) / (0.5 * (H(r) + H(c)) - emi)


def test_cluster_agreement_known_answers():
    ref = np.repeat(np.arange(4), 25)
    assert cluster_agreement(ref, ref) == pytest.approx(1.0)
    perm = np.array([2, 0, 3, 1])[ref]  # renamed clusters
    assert cluster_agreement(perm, ref) == pytest.approx(1.0)
    # coarsening 4 equal classes into 2: AMI matches the definition
    coarse = ref // 2
    assert cluster_agreement(coarse, ref) == pytest.approx(_ami_brute_force(coarse, ref), abs=1e-10)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 3, 60), rng.integers(0, 4, 60)
    assert cluster_agreement(a, b) == pytest.approx(_ami_brute_force(a, b), abs=1e-10)
    # independent labelings: AMI ~ 0 (expected value is exactly 0)
    x, y = rng.integers(0, 5, 20000), rng.integers(0, 5, 20000)
    assert abs(cluster_agreement(x, y)) < 0.005
    # negative labels and the mask are left out
    lab = perm.copy()
    lab[:10] = -1
    noisy_ref = ref.copy()
    noisy_ref[:10] = 3
    assert cluster_agreement(lab, noisy_ref) == pytest.approx(1.0)
    m = np.ones(100, bool)
    m[:10] = False
    assert cluster_agreement(perm, noisy_ref, mask=m) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        cluster_agreement(ref, ref[:5])
    with pytest.raises(TypeError, match="integer"):
        cluster_agreement(ref.astype(float), ref)


def test_kmeans_recovers_blobs_and_is_seeded():
    E, truth = _blobs()
    lab = kmeans_clusters(E, 4)
    assert lab.dtype == np.int64 and set(lab) == {0, 1, 2, 3}
    assert cluster_agreement(lab, truth) == pytest.approx(1.0)
    np.testing.assert_array_equal(lab, kmeans_clusters(E, 4))
    sub = kmeans_clusters(E, 4, max_fit_rows=100)  # fitted on a sample, all rows assigned
    assert cluster_agreement(sub, truth) == pytest.approx(1.0)
    mask = truth != 0
    lm = kmeans_clusters(E, 3, mask=mask)
    assert np.all(lm[~mask] == -1) and cluster_agreement(lm, truth, mask=mask) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k must be"):
        kmeans_clusters(E, 0)
    with pytest.raises(ValueError, match="k must be"):
        kmeans_clusters(E, 801)


def test_agreement_with_zones_on_land():
    from geoviz.data.zones import koppen_zones, modis_landcover

    ll = regular_grid(2.0).lonlat
    kg = koppen_zones(ll)
    res = agreement_with_zones(ll, kg)  # labels = the Köppen zones themselves
    assert res["koppen"] == pytest.approx(1.0)
    land = kg != 32
    assert res["n_points"] == int(land.sum())
    assert res["modis"] == pytest.approx(cluster_agreement(kg, modis_landcover(ll), mask=land))
    assert 0.05 < res["modis"] < 0.9
    rnd = np.random.default_rng(0).integers(0, 8, len(ll))
    assert abs(agreement_with_zones(ll, rnd)["koppen"]) < 0.02


# --------------------------------------------------------------------------------------
# similarity search


def test_similarity_index_matches_sklearn_brute_force():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(5)
    E = rng.normal(size=(3000, 32)).astype(np.float32)
    ll = np.stack([rng.uniform(-180, 180, 3000), rng.uniform(-90, 90, 3000)], 1)
    idx = SimilarityIndex(E, ll)
    nn = NearestNeighbors(n_neighbors=15, metric="cosine", algorithm="brute").fit(E.astype(np.float64))
    for q in rng.normal(size=(5, 32)):
        res = idx.query(q, k=15)
        assert isinstance(res, QueryResult)
        dist, ind = nn.kneighbors(q[None])
        np.testing.assert_array_equal(res.index, ind[0])
        np.testing.assert_allclose(res.similarity, 1 - dist[0], atol=1e-6)
        np.testing.assert_array_equal(res.lonlat, ll[ind[0]])
        assert np.all(np.diff(res.similarity) <= 0)
    full = idx.similarity_map(embedding=q)
    assert full.shape == (3000,) and full.dtype == np.float32
    np.testing.assert_allclose(full, (E @ q) / np.linalg.norm(E, axis=1) / np.linalg.norm(q), atol=1e-5)
    assert idx.query(q, k=10_000).index.shape == (3000,)


def test_similarity_index_lonlat_queries(model, grid):
    idx = SimilarityIndex(grid)
    assert len(idx) == grid.lonlat.shape[0] and idx.embedding_dim == 256
    # without a model a clicked point uses the nearest grid cell: the cell itself (similarity 1)
    # is the query, never a result
    res = idx.query([11.6, 48.1], k=5)
    cell = idx.nearest_point([11.6, 48.1])
    assert cell not in res.index and res.similarity[0] < 1.0 - 1e-6
    assert idx.similarity_map([11.6, 48.1])[cell] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(grid.lonlat[cell], [10.5, 49.5])  # centre of the 3° cell holding it
    lon, lat = np.radians(grid.lonlat).T
    hav = np.sin((lat - np.radians(48.1)) / 2) ** 2 + np.cos(lat) * np.cos(np.radians(48.1)) * np.sin((lon - np.radians(11.6)) / 2) ** 2
    assert cell == int(np.argmin(hav))  # brute-force haversine nearest
    # with a model the exact location is embedded
    exact = SimilarityIndex(grid, model=model).similarity_map(lonlat=torch.tensor([11.6, 48.1]))
    e = embed_points(model, np.array([[11.6, 48.1]]))[0]
    ref = grid.embeddings @ e / np.linalg.norm(grid.embeddings, axis=1) / np.linalg.norm(e)
    np.testing.assert_allclose(exact, ref, atol=1e-5)
    with pytest.raises(ValueError, match="latitude"):
        idx.query([0.0, 100.0])
    with pytest.raises(ValueError, match="exactly one"):
        idx.query([0.0, 0.0], embedding=np.ones(256))
    with pytest.raises(ValueError, match="k must"):
        idx.query([0.0, 0.0], k=0)
    with pytest.raises(ValueError, match="query must"):
        idx.query(np.ones(7))
    with pytest.raises(ValueError, match="rows"):
        SimilarityIndex(grid.embeddings, grid.lonlat[:5])
    with pytest.raises(ValueError, match="zero norm"):
        SimilarityIndex(np.zeros((2, 3)), np.zeros((2, 2)))


def _haversine_ref(q, ll, r=6371.0088):
    """Great-circle km by the haversine formula, written out independently of geoviz."""
    lam0, phi0 = math.radians(q[0]), math.radians(q[1])
    lam, phi = np.radians(ll[:, 0]), np.radians(ll[:, 1])
    a = np.sin((phi - phi0) / 2) ** 2 + math.cos(phi0) * np.cos(phi) * np.sin((lam - lam0) / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


def _brute_force_query(E, ll, q, k, min_km, sep_km, margin_km=0.0, allowed=None):
    """Reference: numpy cosine, haversine, the query's nearest point removed, greedy spread;
    hits at least ``min_km + margin_km`` away first, then (only if fewer than k) the band
    ``[min_km, min_km + margin_km)`` with the same greedy, all sorted by similarity. Returns
    the rows, the distances of every point and the band flags of the rows."""
    En = E / np.linalg.norm(E, axis=1, keepdims=True)
    qv = En[int(np.argmin(_haversine_ref(q, ll)))]
    s = En @ qv
    d = _haversine_ref(q, ll)
    ok = d >= min_km
    ok[int(np.argmin(d))] = False
    if allowed is not None:
        ok &= allowed
    far = ok & (d >= min_km + margin_km) if min_km > 0 else ok
    out: list[int] = []
    for group in (far, ok & ~far):
        for i in (i for i in sorted(range(len(s)), key=lambda i: (-s[i], i)) if group[i]):
            if len(out) == k:
                break
            if sep_km > 0 and out and _haversine_ref(ll[i], ll[out]).min() < sep_km:
                continue
            out.append(i)
    band = np.array([not far[i] for i in out], dtype=bool)
    order = sorted(range(len(out)), key=lambda j: (-s[out[j]], out[j]))
    return np.array(out, dtype=np.int64)[order], d, band[order]


def _auto_margin(min_km, n):
    """max(10 % of the limit, 2 equal-area cells of a point set of n points), 0 without a limit."""
    return max(0.1 * min_km, 2 * 6371.0088 * math.sqrt(4 * math.pi / n)) if min_km > 0 else 0.0


@pytest.mark.parametrize("min_km,sep_km,margin", [(0.0, 0.0, "auto"), (1000.0, 0.0, "auto"), (3000.0, 0.0, "auto"),
                                                  (500.0, 800.0, "auto"), (0.0, 2500.0, "auto"), (1000.0, 0.0, 0.0),
                                                  (1000.0, 1000.0, 0.0), (1000.0, 1000.0, 50.0)])
def test_query_min_distance_matches_brute_force(min_km, sep_km, margin):
    rng = np.random.default_rng(11)
    n = 4000
    ll = np.stack([rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))], axis=1)
    E = rng.normal(size=(n, 24)).astype(np.float32)
    E[:, :3] += 3 * np.stack([np.cos(np.radians(ll[:, 1])), np.sin(np.radians(ll[:, 1])), np.cos(np.radians(ll[:, 0]))], 1)
    idx = SimilarityIndex(E, ll)
    m_km = _auto_margin(min_km, n) if margin == "auto" else (margin if min_km > 0 else 0.0)
    for q in [(10.0, 23.0), (-62.0, -4.0), (179.9, 0.3), (0.0, 89.9)]:
        res = idx.query(q, k=12, min_distance_km=min_km, min_separation_km=sep_km, margin_km=margin)
        ref, d, band = _brute_force_query(E.astype(np.float64), ll, q, 12, min_km, sep_km, m_km)
        np.testing.assert_array_equal(res.index, ref)
        np.testing.assert_allclose(res.distance_km, d[ref], rtol=1e-9)
        assert res.margin_km == pytest.approx(m_km, rel=1e-12)
        assert not band.any() and not res.in_margin.any()  # 4000 points: enough beyond the margin
        assert (res.distance_km >= min_km + m_km).all() and res.distance_km.dtype == np.float64
        assert int(np.argmin(d)) not in res.index  # the query point itself never comes back
        assert np.all(np.diff(res.similarity) <= 0)
        if sep_km:
            for a in range(len(ref)):
                assert _haversine_ref(ll[ref[a]], ll[ref[a + 1:]]).min(initial=np.inf) >= sep_km


def _smooth_grid(spacing=2.0):
    """A regular grid whose embeddings are the cells' unit vectors plus a little noise:
    cosine similarity falls with distance, so the best hits beyond any limit crowd onto it."""
    g = regular_grid(spacing)
    lon, lat = np.radians(g.lonlat).T
    rng = np.random.default_rng(3)
    E = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], 1)
    return g, np.concatenate([E, 0.05 * rng.normal(size=(len(E), 5))], axis=1)


def test_query_keeps_off_the_ring_by_a_margin():
    """Far look-alikes sat on the 1,000 km floor (1,002-1,006 km); with the automatic margin
    they lie beyond max(10 % of the floor, 2 grid cells) = max(100, 2 · πR/H) km."""
    g, E = _smooth_grid(2.0)
    idx = SimilarityIndex(E, g.lonlat)
    idx_grid = SimilarityIndex(type("G", (), {"embeddings": E, "lonlat": g.lonlat, "shape": g.shape})())
    cell = math.pi * 6371.0088 / g.shape[0]  # 222 km: one 2° cell along a meridian
    assert idx_grid.cell_km == pytest.approx(cell) and idx_grid.default_margin_km(1000.0) == pytest.approx(2 * cell)
    assert idx_grid.default_margin_km(10_000.0) == pytest.approx(1000.0) and idx_grid.default_margin_km(0.0) == 0.0
    assert idx.cell_km == pytest.approx(6371.0088 * math.sqrt(4 * math.pi / len(E)))  # a point set: equal-area cells
    q = (10.3, 23.2)  # inside one cell: the grid's cell and the nearest centre agree
    plain = idx_grid.query(q, k=8, min_distance_km=1000.0, min_separation_km=1000.0, margin_km=0.0)
    assert plain.distance_km.min() < 1000.0 + 2 * cell  # the old behaviour: hits on the ring
    res = idx_grid.query(q, k=8, min_distance_km=1000.0, min_separation_km=1000.0)
    assert len(res.index) == 8 and (res.distance_km >= 1000.0 + 2 * cell).all() and not res.in_margin.any()
    ref, _, band = _brute_force_query(E, g.lonlat, q, 8, 1000.0, 1000.0, 2 * cell)
    np.testing.assert_array_equal(res.index, ref)
    assert isinstance(res, QueryResult) and res.in_margin.dtype == bool and res.margin_km == pytest.approx(2 * cell)


def test_query_fills_from_the_margin_band_only_when_needed():
    """Fewer than k cells lie beyond floor + margin: those first, then the best of the band
    [floor, floor + margin), marked in ``in_margin``; nothing ever closer than the floor."""
    g, E = _smooth_grid(2.0)
    idx = SimilarityIndex(E, g.lonlat)
    q = (10.3, 23.2)
    d = _haversine_ref(q, g.lonlat)
    floor, margin = 18_000.0, 1_500.0  # beyond 19,500 km: a cap of ~515 km round the antipode
    n_far = int((d >= floor + margin).sum())
    assert 0 < n_far < 40
    res = idx.query(q, k=40, min_distance_km=floor, margin_km=margin)
    ref, _, band = _brute_force_query(E, g.lonlat, q, 40, floor, 0.0, margin)
    np.testing.assert_array_equal(res.index, ref)
    np.testing.assert_array_equal(res.in_margin, band)
    assert len(res.index) == 40 and int((~res.in_margin).sum()) == n_far
    assert (res.distance_km[~res.in_margin] >= floor + margin).all()
    assert ((res.distance_km[res.in_margin] >= floor) & (res.distance_km[res.in_margin] < floor + margin)).all()
    assert np.all(np.diff(res.similarity) <= 0)
    # with a spread too: the band hits keep their distance from the far ones as well
    sep = 1500.0
    res = idx.query(q, k=6, min_distance_km=floor, margin_km=margin, min_separation_km=sep)
    ref, _, band = _brute_force_query(E, g.lonlat, q, 6, floor, sep, margin)
    np.testing.assert_array_equal(res.index, ref)
    np.testing.assert_array_equal(res.in_margin, band)
    assert band.any() and (~band).any()
    # nothing beyond the floor at all: empty, with empty flags
    empty = idx.query(q, k=3, min_distance_km=30_000.0)
    assert empty.index.shape == (0,) and empty.in_margin.shape == (0,) and empty.in_margin.dtype == bool


def test_query_land_only():
    """land_only: every hit on land (checked with the Natural Earth polygon directly), the same
    rows as the brute force restricted to land; the land mask is computed once."""
    import shapely

    from geoviz.data import land_polygon

    g = regular_grid(3.0)
    rng = np.random.default_rng(5)
    land_ref = shapely.contains_xy(land_polygon(), g.lonlat[:, 0], g.lonlat[:, 1])
    # embeddings that make the open ocean look like the query (as Blue Marble's dark rainforest)
    E = rng.normal(size=(len(g.lonlat), 6))
    E[~land_ref, 0] += 6.0
    q = (-62.0, -4.0)
    qcell = int(np.argmin(_haversine_ref(q, g.lonlat)))
    E[qcell, 0] += 6.0
    idx = SimilarityIndex(type("G", (), {"embeddings": E, "lonlat": g.lonlat, "shape": g.shape})())
    anywhere = idx.query(q, k=8, min_distance_km=1000.0, min_separation_km=1000.0)
    assert (~land_ref[anywhere.index]).sum() >= 4  # mostly open ocean
    res = idx.query(q, k=8, min_distance_km=1000.0, min_separation_km=1000.0, land_only=True)
    assert len(res.index) == 8 and land_ref[res.index].all()
    assert (res.distance_km >= 1000.0 + idx.default_margin_km(1000.0)).all()
    ref, _, _ = _brute_force_query(E, g.lonlat, q, 8, 1000.0, 1000.0, idx.default_margin_km(1000.0), land_ref)
    np.testing.assert_array_equal(res.index, ref)
    np.testing.assert_array_equal(idx.land, land_ref)
    assert idx.land is idx.land  # cached
    # without a distance limit too, and for an embedding query
    assert land_ref[idx.query(q, k=20, land_only=True).index].all()
    assert land_ref[idx.query(embedding=E[qcell], k=20, land_only=True).index].all()


def test_query_rejects_bad_new_arguments():
    rng = np.random.default_rng(0)
    g = regular_grid(30.0)
    idx = SimilarityIndex(rng.normal(size=(len(g.lonlat), 4)), g.lonlat)
    for bad in ("yes", 1, None, np.array([True])):
        with pytest.raises(TypeError, match="land_only"):
            idx.query((0.0, 0.0), land_only=bad)
    for bad in (-1.0, float("nan"), float("inf"), "big"):
        with pytest.raises(ValueError, match="margin_km"):
            idx.query((0.0, 0.0), min_distance_km=1000.0, margin_km=bad)
    for bad in ([100.0], True, None):
        with pytest.raises(TypeError, match="margin_km"):
            idx.query((0.0, 0.0), min_distance_km=1000.0, margin_km=bad)
    assert idx.query((0.0, 0.0), k=2, margin_km=500.0).margin_km == 0.0  # no limit: no margin
    assert idx.query((0.0, 0.0), k=2, land_only=np.bool_(True)).index.shape == (2,)


def test_majority_zones_and_koppen_cluster_labels():
    from geoviz.analysis import koppen_cluster_labels, majority_zones

    labels = np.array([0, 0, 0, 1, 1, 2, -1, 0])
    zones = np.array([7, 7, 1, 3, 3, 5, 7, 1])
    assert majority_zones(labels, zones) == [(1, 0.5), (3, 1.0), (5, 1.0)]  # tie 7/1 → the smaller class
    assert majority_zones(labels, zones, n_clusters=4)[3] == (-1, 0.0)  # empty cluster
    mask = np.array([1, 1, 1, 1, 1, 1, 1, 0], bool)
    assert majority_zones(labels, zones, mask=mask)[0] == (7, pytest.approx(2 / 3))
    with pytest.raises(ValueError, match="same shape"):
        majority_zones(labels, zones[:3])
    with pytest.raises(ValueError, match="n_clusters"):
        majority_zones(labels, zones, n_clusters=-1)
    # Köppen names; ocean cells (32) never count
    kg = np.array([1, 1, 32, 32, 32, 7, 7, 6])
    lab = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    assert koppen_cluster_labels(lab, kg, n_clusters=3) == ["Af 100 %", "BWh 67 %", "–"]


def test_query_spread_over_a_large_index_matches_brute_force():
    """Embeddings that vary smoothly with location: the best matches crowd round the query, so
    spreading the hits 8,000 km apart must look deep into the similarity order (the prefix grows)."""
    rng = np.random.default_rng(2)
    n = 30_000
    ll = np.stack([rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))], axis=1)
    lon, lat = np.radians(ll).T
    E = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], 1) + 0.05 * rng.normal(size=(n, 3))
    idx = SimilarityIndex(E, ll)
    res = idx.query((30.0, 10.0), k=6, min_distance_km=200.0, min_separation_km=8000.0, margin_km=0.0)
    ref, d, _ = _brute_force_query(E, ll, (30.0, 10.0), 6, 200.0, 8000.0)
    np.testing.assert_array_equal(res.index, ref)
    sim = idx.similarity_map((30.0, 10.0))
    assert len(ref) == 6 and int((sim > sim[ref[-1]]).sum()) > 20_000  # two prefix growths
    # fewer than k qualify (hits 10,000 km apart): all of them, the whole order searched
    few = idx.query((30.0, 10.0), k=6, min_distance_km=200.0, min_separation_km=10_000.0, margin_km=0.0)
    np.testing.assert_array_equal(few.index, _brute_force_query(E, ll, (30.0, 10.0), 6, 200.0, 10_000.0)[0])
    assert 1 < len(few.index) < 6


def test_query_distance_edge_cases():
    from geoviz.analysis import EARTH_RADIUS_KM, haversine_km

    ll = np.array([[0.0, 0.0], [90.0, 0.0], [180.0, 0.0], [0.0, 90.0], [1.0, 0.0]])
    np.testing.assert_allclose(haversine_km((0, 0), ll),
                               np.array([0, np.pi / 2, np.pi, np.pi / 2, np.pi / 180]) * EARTH_RADIUS_KM, atol=1e-9)
    assert EARTH_RADIUS_KM == 6371.0088
    rng = np.random.default_rng(0)
    idx = SimilarityIndex(rng.normal(size=(5, 4)), ll)
    # a point exactly at the limit counts as "at least that far"
    exact = float(haversine_km((0, 0), ll[1:2])[0])
    assert 1 in idx.query((0.0, 0.0), k=5, min_distance_km=exact).index
    # nothing far enough: an empty result, not an error
    empty = idx.query((0.0, 0.0), k=3, min_distance_km=30_000.0)
    assert empty.index.shape == (0,) and empty.lonlat.shape == (0, 2) and empty.distance_km.shape == (0,)
    # an embedding query has no location: no distances, no distance limit
    r = idx.query(embedding=rng.normal(size=4), k=2)
    assert np.isnan(r.distance_km).all() and len(r.index) == 2
    with pytest.raises(ValueError, match="location query"):
        idx.query(embedding=rng.normal(size=4), k=2, min_distance_km=100.0)
    for bad in (-1.0, float("nan"), float("inf"), "1000"):
        with pytest.raises(ValueError, match="min_distance_km"):
            idx.query((0.0, 0.0), min_distance_km=bad)
    with pytest.raises(ValueError, match="min_separation_km"):
        idx.query((0.0, 0.0), min_separation_km=-5.0)


@pytest.fixture(scope="module")
def shipped():
    from geoviz.pretrained import load_pretrained

    m = load_pretrained("geoviz-bluemarble-l10", download=False)
    return m, embed_grid(m, 1.0, cache=False)


def test_sahara_finds_far_away_deserts_with_the_shipped_model(shipped):
    """The lesson of issue 17: with a distance limit the shipped model's look-alikes of the
    central Sahara include Arabia and the Australian outback (measured: (40, 33), (47, 20),
    (141, -28) at 0.5°), never the query's neighbourhood; and none sits on the 1,000 km ring
    (measured at 0.5° before the margin: 1,002, 1,004, 1,006 km)."""
    m, g = shipped
    idx = SimilarityIndex(g, model=m)
    res = idx.query((10.0, 23.0), k=8, min_distance_km=1000.0, min_separation_km=1000.0)
    assert len(res.index) == 8 and (res.distance_km >= 1000.0 + idx.default_margin_km(1000.0)).all()
    assert not res.in_margin.any()
    lon, lat = res.lonlat.T
    arabia = (lon > 34) & (lon < 60) & (lat > 12) & (lat < 34)
    outback = (lon > 113) & (lon < 154) & (lat > -35) & (lat < -17)
    assert arabia.any(), res.lonlat
    assert outback.any(), res.lonlat
    # without a limit every hit is a neighbour (the behaviour the issue reported)
    near = idx.query((10.0, 23.0), k=8)
    assert near.distance_km.max() < 1500.0


def test_amazon_lookalikes_and_land_only(shipped):
    """The teacher's walk: far look-alikes of the rainforest (-62, -4). The former Blue Marble
    model found open Pacific (dark forest and dark ocean look alike); the retrained one finds
    land, the Congo basin among it (measured: 8 of 8 on land). With land_only every hit is on land."""
    from geoviz.data import is_land
    from geoviz.pretrained import is_image_derived

    m, g = shipped
    assert is_image_derived(m)
    idx = SimilarityIndex(g, model=m)
    floor = 1000.0 + idx.default_margin_km(1000.0)
    anywhere = idx.query((-62.0, -4.0), k=8, min_distance_km=1000.0, min_separation_km=1000.0)
    assert is_land(anywhere.lonlat).sum() >= 6, anywhere.lonlat
    res = idx.query((-62.0, -4.0), k=8, min_distance_km=1000.0, min_separation_km=1000.0, land_only=True)
    assert len(res.index) == 8 and is_land(res.lonlat).all(), res.lonlat
    assert (res.distance_km >= floor).all() and not res.in_margin.any()
    lon, lat = res.lonlat.T
    assert ((lon > 8) & (lon < 32) & (np.abs(lat) < 6)).any(), res.lonlat  # the Congo basin


# --------------------------------------------------------------------------------------
# figures


def test_figures_render_pngs(grid, tmp_path):
    from PIL import Image

    from geoviz.figures import cluster_map_png, pca_rgb_map_png, png_bytes, similarity_map_png

    img = pca_rgb_map_png(grid, land_only=True, path=tmp_path / "pca.png", dpi=60)
    assert isinstance(img, Image.Image) and img.size[0] >= 400
    assert Image.open(tmp_path / "pca.png").size == img.size
    assert png_bytes(img)[:8] == b"\x89PNG\r\n\x1a\n"
    px = np.asarray(img.convert("RGB"))
    h, w = px.shape[:2]
    assert (px[h // 2, int(w * 0.45)] == 255).all()  # mid-Atlantic at ~(-20°, 0°): sea painted white
    sim = similarity_map_png(grid, (11.6, 48.1), top_k=5, path=tmp_path / "sim.png", dpi=60)
    assert (tmp_path / "sim.png").stat().st_size > 1000 and sim.size[0] >= 400
    cl = cluster_map_png(grid, k=4, path=tmp_path / "clusters.png", dpi=60)
    assert cl.size[0] > 1.5 * img.size[0]  # two panels side by side
    from geoviz.figures import _cluster_legend
    from geoviz.viz.colors import categorical_palette
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    _cluster_legend(ax, categorical_palette(3), ["Af 60 %", "BWh 71 %", "–"])
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == ["0: Af 60 %", "1: BWh 71 %", "2: –"]
    np.testing.assert_allclose([h.get_facecolor()[:3] for h in leg.legend_handles],
                               categorical_palette(3)[:, :3] / 255.0)
    with pytest.raises(TypeError, match="EmbeddingGrid"):
        pca_rgb_map_png(grid.embeddings)


def test_nearest_point_for_point_sets_is_great_circle_nearest():
    rng = np.random.default_rng(7)
    ll = np.stack([rng.uniform(-180, 180, 2000), np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))], axis=1)
    idx = SimilarityIndex(rng.normal(size=(2000, 8)), ll)
    lon, lat = np.radians(ll).T
    for q in [(0.0, 0.0), (179.9, 10.0), (-179.9, -10.0), (45.0, 89.5), (-120.0, -89.9)]:
        ql, qp = np.radians(q)
        hav = np.sin((lat - qp) / 2) ** 2 + np.cos(lat) * np.cos(qp) * np.sin((lon - ql) / 2) ** 2
        assert idx.nearest_point(q) == int(np.argmin(hav))


def test_koppen_legend_lists_the_classes_present():
    from matplotlib.figure import Figure

    from geoviz.data.zones import koppen_colors
    from geoviz.figures import _koppen_legend

    ax = Figure().add_subplot()
    _koppen_legend(ax, np.array([7, 1, 30, 32, 7]))  # BWh, Af, EF and the ocean (not listed)
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == ["Af", "BWh", "EF"]
    np.testing.assert_allclose([h.get_facecolor()[:3] for h in leg.legend_handles],
                               koppen_colors(np.array([1, 7, 30])) / 255.0)


def test_grid_views_equal_the_direct_computations(tmp_path, monkeypatch):
    """grid_views (run by the dashboard in a child process) = embed_grid + pca_rgb + zones +
    kmeans on the land cells; its clusters equal grid_clusters' (which reads the disk cache)."""
    from geoviz.analysis import cluster_views, grid_clusters, grid_views, kmeans_clusters, pca_rgb
    from geoviz.data.zones import KOPPEN_OCEAN, koppen_zones
    from geoviz.embed import embed_grid
    from geoviz.pretrained import load_pretrained

    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path))
    model = load_pretrained("geoviz-bluemarble-l10")
    gv = grid_views(model, 3.0, k=4, pca_fit_rows=None, kmeans_fit_rows=2000)
    eg = embed_grid(model, 3.0)
    assert gv.cached and eg.from_cache and gv.shape == eg.shape == (60, 120)
    np.testing.assert_allclose(gv.rgb, pca_rgb(eg.embeddings), atol=1e-6)
    kg = koppen_zones(eg.lonlat)
    np.testing.assert_array_equal(gv.koppen, kg)
    labels, agreement, zones = gv.clusters[4]
    np.testing.assert_array_equal(labels, kmeans_clusters(eg.embeddings, 4, mask=kg != KOPPEN_OCEAN, max_fit_rows=2000))
    assert (labels[kg == KOPPEN_OCEAN] < 0).all() and 0 < agreement["koppen"] <= 1 and len(zones) == 4
    again = grid_clusters(model, 3.0, 4, max_fit_rows=2000)
    np.testing.assert_array_equal(again[0], labels)
    assert again[1]["koppen"] == agreement["koppen"]
    assert np.isnan(cluster_views(eg.embeddings, kg, None, 4, max_fit_rows=2000)[1]["modis"])
