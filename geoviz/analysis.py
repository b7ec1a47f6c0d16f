"""Analyses of location embeddings: PCA colours, clusters, agreement with zonings, similarity.

All statistics come from scikit-learn (``PCA``, ``KMeans``,
``adjusted_mutual_info_score``); the nearest-embedding search is an exact cosine search by
one float32 matrix–vector product plus ``argpartition`` (for a 0.5° global grid, 259,200 ×
256, ~20 ms per query on 2 CPU cores), which returns the same neighbours as scikit-learn's
``NearestNeighbors(metric="cosine", algorithm="brute")`` but without its per-query
overhead and float64 copies.

Embeddings are ``(N, D)`` numpy arrays (torch tensors are accepted and converted); masks
are ``(N,)`` bool arrays selecting the rows an analysis is fitted on (e.g. land).

Example:
    >>> from geoviz.embed import embed_grid
    >>> from geoviz.analysis import pca_rgb, kmeans_clusters, SimilarityIndex
    >>> g = embed_grid(model, 1.0)
    >>> rgb = g.image(pca_rgb(g.embeddings))              # (180, 360, 3) in [0, 1]
    >>> labels = kmeans_clusters(g.embeddings, k=8)
    >>> SimilarityIndex(g.embeddings, g.lonlat).query([11.6, 48.1], k=5).lonlat
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._validation import as_lonlat_tensor
from .data.sampling import EARTH_RADIUS_KM, lonlat_to_unit

__all__ = [
    "EARTH_RADIUS_KM",
    "MARGIN_CELLS",
    "MARGIN_FRACTION",
    "PCA_RGB_EXPLANATION",
    "QueryResult",
    "SimilarityIndex",
    "GridViews",
    "agreement_with_zones",
    "cluster_agreement",
    "cluster_views",
    "grid_clusters",
    "grid_views",
    "haversine_km",
    "kmeans_clusters",
    "koppen_cluster_labels",
    "majority_zones",
    "pca_rgb",
]

MARGIN_FRACTION = 0.1
"""The automatic margin beyond a distance limit is at least this fraction of the limit
(:meth:`SimilarityIndex.default_margin_km`)."""
MARGIN_CELLS = 2
"""... and at least this many grid cells (:attr:`SimilarityIndex.cell_km`)."""

PCA_RGB_EXPLANATION = (
    "Colours: the three strongest directions of variation of the embeddings (principal components "
    "1, 2, 3) are shown as red, green and blue. Places with similar colours have similar "
    "embeddings; the colours themselves mean nothing fixed (no colour stands for forest or "
    "desert) and change from model to model.")
"""One-paragraph explanation of a :func:`pca_rgb` map, shown beside it by the dashboard and
the widgets."""

def _as_2d_float(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if a.shape[0] and not np.isfinite(a).all():
        i = int(np.nonzero(~np.isfinite(a).all(axis=1))[0][0])
        raise ValueError(f"{name} contains NaN or inf: first at row {i}")
    return a


def _as_mask(mask: Any, n: int, name: str = "mask") -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{name} must be a boolean array, got dtype {m.dtype}")
    if m.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the rows, got {m.shape}")
    return m


def _as_labels(labels: Any, name: str) -> np.ndarray:
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    a = np.asarray(labels)
    if a.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {a.shape}")
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integer class labels, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------
# PCA colours


def pca_rgb(
    embeddings: Any,
    *,
    mask: Any = None,
    n_components: int = 3,
    quantiles: tuple[float, float] = (0.01, 0.99),
    fill: float | None = None,
    seed: int = 0,
    max_fit_rows: int | None = None,
) -> np.ndarray:
    """Map embeddings to colours by PCA, robustly scaled to [0, 1].

    The PCA (``sklearn.decomposition.PCA``) and the per-component scaling are fitted on the
    rows selected by ``mask``; every row is then projected and each component is mapped
    linearly so that its ``quantiles`` (of the masked rows) go to 0 and 1, and clipped.

    Args:
        embeddings: ``(N, D)`` float array (numpy or torch), ``D >= n_components``.
        mask: optional ``(N,)`` bool, rows to fit on (e.g. land); default all rows.
        n_components: number of principal components (3 for RGB; 1 gives grey).
        quantiles: ``(lo, hi)`` in [0, 1], ``lo < hi``: the robust range per component.
        fill: if given, rows outside ``mask`` are set to this value (e.g. 1.0 = white).
        seed: random state for the randomized SVD used on large inputs (and the row sample).
        max_fit_rows: fit the PCA on at most this many masked rows drawn at random (seeded;
            ``None``, the default, uses all). On a fine global grid neighbouring cells are
            nearly identical, so 50,000 rows give the same components at a fraction of the
            cost (a 0.5° grid has 259,200). The quantile scaling always uses every masked row.

    Returns:
        ``(N, n_components)`` float64 array in [0, 1] (component 0 = red).

    Raises:
        ValueError: bad shapes, fewer than ``n_components + 1`` masked rows, bad quantiles.
    """
    from sklearn.decomposition import PCA

    E = _as_2d_float(embeddings, "embeddings")
    n, d = E.shape
    m = _as_mask(mask, n)
    if not (isinstance(n_components, (int, np.integer)) and 1 <= n_components <= d):
        raise ValueError(f"n_components must be an integer in [1, {d}] (the embedding width), got {n_components!r}")
    lo_q, hi_q = (float(q) for q in quantiles)
    if not (0.0 <= lo_q < hi_q <= 1.0):
        raise ValueError(f"quantiles must satisfy 0 <= lo < hi <= 1, got {quantiles!r}")
    fit = E[m]
    if fit.shape[0] <= n_components:
        raise ValueError(f"need more than {n_components} rows to fit the PCA, mask selects {fit.shape[0]}")
    if max_fit_rows is not None and fit.shape[0] > max(int(max_fit_rows), n_components + 1):
        rng = np.random.default_rng(seed)
        fit = fit[np.sort(rng.choice(fit.shape[0], size=max(int(max_fit_rows), n_components + 1), replace=False))]
    pca = PCA(n_components=int(n_components), random_state=seed)
    pca.fit(fit)
    Z = pca.transform(E)
    lo = np.quantile(Z[m], lo_q, axis=0)
    hi = np.quantile(Z[m], hi_q, axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    out = np.clip((Z - lo) / span, 0.0, 1.0)
    if fill is not None:
        out[~m] = float(fill)
    return out


# --------------------------------------------------------------------------------------
# the views of a model's grid embeddings (computed in a child process by the dashboard)


@dataclass
class GridViews:
    """What the embedding maps show, computed from a model's grid embeddings.

    Attributes:
        shape: ``(H, W)`` of the grid (rows north to south).
        rgb: ``(H*W, 3)`` float32 PCA colours in [0, 1] (:func:`pca_rgb`).
        koppen: ``(H*W,)`` int64 Köppen–Geiger codes (32 = ocean).
        modis: ``(H*W,)`` int64 MODIS IGBP classes, or None when the data is not installed.
        clusters: ``{k: (labels, agreement, zones)}`` from :func:`cluster_views`.
        cached: the embeddings are in the disk cache (:func:`geoviz.embed.embed_grid` reads
            them back at once); False where the cache could not be written.
    """

    shape: tuple[int, int]
    rgb: np.ndarray
    koppen: np.ndarray
    modis: np.ndarray | None
    clusters: dict[int, tuple[np.ndarray, dict[str, float], list[str]]]
    cached: bool = True


def cluster_views(embeddings: Any, koppen: Any, modis: Any, k: int, *, max_fit_rows: int | None = 10_000,
                  seed: int = 0) -> tuple[np.ndarray, dict[str, float], list[str]]:
    """k-means clusters of the land cells and what they agree with.

    Args:
        embeddings: ``(N, D)`` float embeddings of grid cells.
        koppen: ``(N,)`` Köppen codes of the cells (ocean = 32 is left out).
        modis: ``(N,)`` MODIS IGBP classes, or None.
        k: number of clusters (>= 2).
        max_fit_rows, seed: as in :func:`kmeans_clusters`.

    Returns:
        ``(labels, agreement, zones)``: ``(N,)`` int labels (-1 on ocean); adjusted mutual
        information with Köppen (``"koppen"``) and MODIS (``"modis"``, NaN without it) and
        the number of land cells compared (``"n_points"``); one label per cluster from
        :func:`koppen_cluster_labels`.
    """
    from .data.zones import KOPPEN_OCEAN

    kg = _as_labels(koppen, "koppen")
    land = kg != KOPPEN_OCEAN
    labels = kmeans_clusters(embeddings, int(k), mask=land, max_fit_rows=max_fit_rows, seed=seed)
    mask = land & (labels >= 0)
    agreement = {"koppen": cluster_agreement(labels, kg, mask),
                 "modis": cluster_agreement(labels, modis, mask) if modis is not None else float("nan"),
                 "n_points": int(mask.sum())}
    return labels, agreement, koppen_cluster_labels(labels, kg, mask=land, n_clusters=int(k))


def grid_views(model: Any, spacing: float, *, k: int | None = None, pca_fit_rows: int | None = 50_000,
               kmeans_fit_rows: int | None = 10_000, threads: int | None = 1) -> GridViews:
    """Embed a global grid (cached on disk) and compute what the maps show: PCA colours,
    Köppen and MODIS classes, and optionally k-means clusters.

    A server runs this in a child process (:class:`geoviz.training.process.ChildPool`): the
    grid's forward pass, the PCA and scikit-learn's import leave a few hundred MB behind in
    the process that ran them, while the server only needs the small results and reads the
    embeddings back from the disk cache.

    Args:
        model: location encoder (:func:`geoviz.embed.embed_grid`).
        spacing: grid cell size in degrees (divides 180).
        k: also cluster into ``k`` groups (:func:`cluster_views`); None: no clusters.
        pca_fit_rows, kmeans_fit_rows: row samples of the PCA and k-means fits.
        threads: torch threads for the forward pass (None: leave as is).

    Returns:
        :class:`GridViews`.
    """
    from .embed import default_cache_dir

    eg, kg, modis = _grid_with_zones(model, spacing, threads)
    rgb = pca_rgb(eg.embeddings, max_fit_rows=pca_fit_rows).astype(np.float32)
    clusters = {} if k is None else {int(k): cluster_views(eg.embeddings, kg, modis, int(k),
                                                          max_fit_rows=kmeans_fit_rows)}
    cached = (Path(default_cache_dir()) / f"{eg.key}.npz").is_file()  # False where the cache is not writable
    return GridViews(tuple(eg.shape), rgb, kg, modis, clusters, cached)


def grid_clusters(model: Any, spacing: float, k: int, *, max_fit_rows: int | None = 10_000,
                  threads: int | None = 1) -> tuple[np.ndarray, dict[str, float], list[str]]:
    """:func:`cluster_views` of a model's grid embeddings (read from the disk cache where
    :func:`grid_views` left them; a server runs this in a child process, as :func:`grid_views`).

    Args:
        model, spacing, threads: as in :func:`grid_views`.
        k, max_fit_rows: as in :func:`cluster_views`.
    """
    eg, kg, modis = _grid_with_zones(model, spacing, threads)
    return cluster_views(eg.embeddings, kg, modis, int(k), max_fit_rows=max_fit_rows)


def _grid_with_zones(model: Any, spacing: float, threads: int | None) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """:func:`geoviz.embed.embed_grid` (disk-cached) with the cells' Köppen and MODIS classes
    (MODIS None when its data is not installed); torch limited to ``threads``."""
    from .data.zones import koppen_zones, modis_landcover
    from .embed import embed_grid

    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    eg = embed_grid(model, spacing)
    try:
        modis: np.ndarray | None = modis_landcover(eg.lonlat)
    except FileNotFoundError:
        modis = None
    return eg, koppen_zones(eg.lonlat), modis


# --------------------------------------------------------------------------------------
# clusters


def kmeans_clusters(
    embeddings: Any,
    k: int,
    *,
    seed: int = 0,
    mask: Any = None,
    n_init: int = 1,
    max_fit_rows: int | None = 20_000,
) -> np.ndarray:
    """k-means clusters of embeddings (``sklearn.cluster.KMeans``, k-means++ init).

    The centroids are fitted on at most ``max_fit_rows`` rows drawn at random (seeded)
    from the masked rows, then every masked row is assigned to its nearest centroid. On a
    global grid neighbouring cells are nearly identical, so a 20,000-row sample gives the
    same clusters as the full grid at a fraction of the cost.

    Args:
        embeddings: ``(N, D)`` float array (numpy or torch).
        k: number of clusters (>= 1, at most the number of masked rows).
        seed: random state (sampling and k-means++), so labels are reproducible.
        mask: optional ``(N,)`` bool, rows to cluster; the others get label ``-1``.
        n_init: k-means restarts (best inertia kept).
        max_fit_rows: most rows used to fit the centroids; ``None`` uses all.

    Returns:
        ``(N,)`` int64 labels in ``0..k-1`` (``-1`` outside ``mask``).
    """
    from sklearn.cluster import KMeans

    E = _as_2d_float(embeddings, "embeddings")
    m = _as_mask(mask, E.shape[0])
    n_fit = int(m.sum())
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= max(n_fit, 1) or n_fit == 0:
        raise ValueError(f"k must be an integer in [1, {n_fit}] (the number of rows clustered), got {k!r}")
    X = np.ascontiguousarray(E[m], dtype=np.float32 if E.dtype == np.float32 else np.float64)
    fit = X
    if max_fit_rows is not None and n_fit > max(int(max_fit_rows), int(k)):
        rng = np.random.default_rng(seed)
        fit = X[np.sort(rng.choice(n_fit, size=max(int(max_fit_rows), int(k)), replace=False))]
    km = KMeans(n_clusters=int(k), random_state=seed, n_init=n_init).fit(fit)
    labels = np.full(E.shape[0], -1, dtype=np.int64)
    labels[m] = km.predict(X) if fit is not X else km.labels_
    return labels


def cluster_agreement(labels: Any, reference: Any, mask: Any = None) -> float:
    """Adjusted mutual information between two labelings (``sklearn.metrics``).

    Args:
        labels: ``(N,)`` int labels (e.g. k-means clusters; negative = unassigned).
        reference: ``(N,)`` int reference classes (e.g. Köppen zones).
        mask: optional ``(N,)`` bool, rows to compare; rows with a negative label are
            always left out.

    Returns:
        AMI in [-1, 1] (1 = identical partitions up to renaming, ~0 = independent).
    """
    from sklearn.metrics import adjusted_mutual_info_score

    a = _as_labels(labels, "labels")
    b = _as_labels(reference, "reference")
    if a.shape != b.shape:
        raise ValueError(f"labels and reference must have the same shape, got {a.shape} and {b.shape}")
    m = _as_mask(mask, a.shape[0]) & (a >= 0)
    if m.sum() < 2:
        raise ValueError("need at least 2 rows to compare (after the mask and dropping negative labels)")
    return float(adjusted_mutual_info_score(b[m], a[m]))


def agreement_with_zones(lonlat: Any, labels: Any, *, land: Any = None) -> dict[str, float]:
    """AMI of clusters with Köppen–Geiger zones and with MODIS IGBP classes, on land.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees of the labelled points.
        labels: ``(N,)`` int cluster labels (negative = unassigned, left out).
        land: optional ``(N,)`` bool land mask; default: points whose Köppen zone is not
            Ocean (the Köppen map's own coastline).

    Returns:
        ``{"koppen": ami, "modis": ami, "n_points": number of points compared}``. MODIS
        water (class 0) inside the land mask (lakes) stays in as a class.
    """
    from .data.zones import KOPPEN_OCEAN, koppen_zones, modis_landcover

    t, _ = as_lonlat_tensor(lonlat)
    x = t.detach().cpu().numpy()
    lab = _as_labels(labels, "labels")
    if lab.shape[0] != x.shape[0]:
        raise ValueError(f"labels must have one entry per point ({x.shape[0]}), got {lab.shape[0]}")
    kg = koppen_zones(x)
    mask = kg != KOPPEN_OCEAN if land is None else _as_mask(land, x.shape[0], "land")
    mask = mask & (lab >= 0)
    return {
        "koppen": cluster_agreement(lab, kg, mask),
        "modis": cluster_agreement(lab, modis_landcover(x), mask),
        "n_points": int(mask.sum()),
    }


def majority_zones(labels: Any, reference: Any, *, mask: Any = None,
                   n_clusters: int | None = None) -> list[tuple[int, float]]:
    """The most common reference class of each cluster, and its share of the cluster.

    Args:
        labels: ``(N,)`` int cluster labels (negative = unassigned, left out).
        reference: ``(N,)`` int reference classes (e.g. Köppen codes).
        mask: optional ``(N,)`` bool, rows to count.
        n_clusters: number of clusters to report (default ``max(labels) + 1``).

    Returns:
        One ``(class, share)`` per cluster ``0..n_clusters-1``: the class holding most of
        the cluster's rows (ties: the smallest class) and the fraction of the cluster's rows
        in it, in [0, 1]; ``(-1, 0.0)`` for a cluster with no rows.
    """
    a = _as_labels(labels, "labels")
    b = _as_labels(reference, "reference")
    if a.shape != b.shape:
        raise ValueError(f"labels and reference must have the same shape, got {a.shape} and {b.shape}")
    if n_clusters is not None and (isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer))
                                   or n_clusters < 0):
        raise ValueError(f"n_clusters must be an integer >= 0, got {n_clusters!r}")
    m = _as_mask(mask, a.shape[0]) & (a >= 0)
    if n_clusters is None:
        n = int(a[m].max()) + 1 if m.any() else 0
    else:
        n = int(n_clusters)
    m &= a < n
    if m.any() and b[m].min() < 0:
        raise ValueError("reference classes must be non-negative integers")
    ncls = int(b[m].max()) + 1 if m.any() else 1
    counts = np.bincount(a[m] * ncls + b[m], minlength=n * ncls).reshape(n, ncls)
    totals = counts.sum(axis=1)
    best = counts.argmax(axis=1)
    return [(int(best[c]), float(counts[c, best[c]] / totals[c])) if totals[c] else (-1, 0.0) for c in range(n)]


def koppen_cluster_labels(labels: Any, koppen: Any, *, mask: Any = None, n_clusters: int | None = None) -> list[str]:
    """A short label per cluster: its most common Köppen–Geiger class and that class's share,
    e.g. ``"BWh 71 %"`` (``"–"`` for an empty cluster). Ocean cells are left out.

    Args:
        labels: ``(N,)`` int cluster labels (negative = unassigned).
        koppen: ``(N,)`` Köppen codes (:func:`geoviz.data.zones.koppen_zones`).
        mask, n_clusters: as in :func:`majority_zones`.
    """
    from .data.zones import KOPPEN_CODES, KOPPEN_OCEAN

    kg = _as_labels(koppen, "koppen")
    land = kg != KOPPEN_OCEAN
    m = land if mask is None else _as_mask(mask, kg.shape[0]) & land
    return [f"{KOPPEN_CODES.get(c, str(c))} {100 * share:.0f} %" if c >= 0 else "–"
            for c, share in majority_zones(labels, kg, mask=m, n_clusters=n_clusters)]


# --------------------------------------------------------------------------------------
# nearest-embedding search


def haversine_km(lonlat: Any, points: Any) -> np.ndarray:
    """Great-circle distances (km) from one location to many, by the haversine formula.

    Measured on a sphere of radius :data:`EARTH_RADIUS_KM` (6371.0088 km, the mean Earth
    radius); the error against the WGS84 ellipsoid is below 0.6 %.

    Args:
        lonlat: one (lon, lat) in degrees (2 values).
        points: ``(N, 2)`` (lon, lat) degrees.

    Returns:
        ``(N,)`` float64 distances in km, in ``[0, π · 6371.0088]``.
    """
    from .data.sampling import great_circle_km

    return great_circle_km(np.asarray(lonlat, dtype=np.float64).reshape(2),
                           np.asarray(points, dtype=np.float64).reshape(-1, 2))


class QueryResult(NamedTuple):
    """Top-k most similar locations, most similar first.

    Attributes:
        lonlat: ``(k, 2)`` float64 (lon, lat) degrees of the neighbours.
        similarity: ``(k,)`` float32 cosine similarities, descending.
        index: ``(k,)`` int64 row indices into the index's point set.
        distance_km: ``(k,)`` float64 great-circle distances (km, :func:`haversine_km`)
            from the query location; NaN for a query given as an embedding.
        in_margin: ``(k,)`` bool, True for a hit taken from the margin band
            ``[min_distance_km, min_distance_km + margin_km)`` because fewer than ``k``
            locations qualified beyond it (see :meth:`SimilarityIndex.query`); all False
            when the band was not needed.
        margin_km: the margin (km) that was applied beyond ``min_distance_km`` (0.0 when
            there was no distance limit).
    """

    lonlat: np.ndarray
    similarity: np.ndarray
    index: np.ndarray
    distance_km: np.ndarray
    in_margin: np.ndarray | None = None
    margin_km: float = 0.0


class SimilarityIndex:
    """Exact cosine nearest-embedding search over a grid or a point set.

    Built once: the index keeps the embeddings as given when they are a C-contiguous float32
    array (no copy: a 0.5° grid of 256-d embeddings is 253 MiB, which a server would
    otherwise hold twice) and the reciprocal of each row's L2 norm; a query is one
    matrix–vector product scaled by those, and an ``argpartition`` (exact, same neighbours as
    ``sklearn.neighbors.NearestNeighbors(metric="cosine", algorithm="brute")``).

    A query given as a lon/lat uses the model's embedding of that exact location when a
    ``model`` was passed, else the embedding of the indexed point standing for it
    (:meth:`nearest_point`: the grid cell containing it, or the great-circle nearest point).

    Args:
        embeddings: ``(N, D)`` float array (numpy/torch), or an :class:`~geoviz.embed.EmbeddingGrid`
            (then ``lonlat`` defaults to its cell centres).
        lonlat: ``(N, 2)`` (lon, lat) degrees of the rows.
        model: optional location encoder used to embed lon/lat queries exactly.

    Raises:
        ValueError: shape mismatch, rows with zero norm or non-finite values.
    """

    def __init__(self, embeddings: Any, lonlat: Any = None, *, model: Any = None) -> None:
        self._grid_shape: tuple[int, int] | None = None
        if hasattr(embeddings, "embeddings") and hasattr(embeddings, "lonlat"):
            if lonlat is None:
                lonlat = embeddings.lonlat
                shape = getattr(embeddings, "shape", None)
                if isinstance(shape, tuple) and len(shape) == 2:
                    self._grid_shape = (int(shape[0]), int(shape[1]))
            embeddings = embeddings.embeddings
        if lonlat is None:
            raise ValueError("lonlat (N, 2) of the embedded points is required")
        E = _as_2d_float(embeddings, "embeddings")
        t, _ = as_lonlat_tensor(lonlat)
        self.lonlat: np.ndarray = t.detach().cpu().numpy().astype(np.float64, copy=False)
        if self.lonlat.shape[0] != E.shape[0]:
            raise ValueError(f"lonlat has {self.lonlat.shape[0]} rows but embeddings has {E.shape[0]}")
        norms = np.linalg.norm(E, axis=1)
        if E.shape[0] and not (norms > 0).all():
            raise ValueError(f"embeddings row {int(np.argmin(norms > 0))} has zero norm; cosine similarity is undefined")
        self._rows: np.ndarray = np.ascontiguousarray(E, dtype=np.float32)  # a view when E is float32
        self._inv_norms: np.ndarray = (1.0 / norms).astype(np.float32) if E.shape[0] else np.zeros(0, np.float32)
        self.model = model
        self._tree: Any = None
        self._land: np.ndarray | None = None
        if self._grid_shape is not None:
            from .data import regular_grid

            H, W = self._grid_shape
            if H * W != self.lonlat.shape[0] or not np.array_equal(regular_grid(shape=(H, W)).lonlat, self.lonlat):
                self._grid_shape = None  # not a standard regular grid: use the general search

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    @property
    def embedding_dim(self) -> int:
        """``D``."""
        return int(self._rows.shape[1])

    @property
    def vectors(self) -> np.ndarray:
        """``(N, D)`` float32 L2-normalised rows (computed on access: a new array of the
        embeddings' size; queries never build it)."""
        return self._rows * self._inv_norms[:, None]

    def _unit_row(self, i: int) -> np.ndarray:
        return self._rows[i] * self._inv_norms[i]

    def nearest_point(self, lonlat: Any) -> int:
        """Row index of the indexed point that stands for a clicked (lon, lat).

        For an index built from an :class:`~geoviz.embed.EmbeddingGrid`: the raster cell
        containing the point (O(1); its centre is the nearest one except possibly within
        a sliver near cell corners). For a point set: the great-circle nearest point, via a
        ``scipy.spatial.cKDTree`` on unit vectors built on first use.
        """
        q = self._one_lonlat(lonlat)
        if self._grid_shape is not None:  # regular grid: the cell holding the point, O(1)
            H, W = self._grid_shape
            r = min(int((90.0 - q[1]) * H / 180.0), H - 1)
            c = min(int((q[0] + 180.0) * W / 360.0), W - 1)
            return r * W + c
        if self._tree is None:  # nearest unit vector (chord) = nearest great-circle point
            from scipy.spatial import cKDTree

            self._tree = cKDTree(lonlat_to_unit(self.lonlat))
        return int(self._tree.query(lonlat_to_unit(q[None]))[1][0])

    def _one_lonlat(self, lonlat: Any) -> np.ndarray:
        a = np.asarray(lonlat.detach().cpu().numpy() if hasattr(lonlat, "detach") else lonlat, dtype=np.float64)
        t, _ = as_lonlat_tensor(a.reshape(1, 2) if a.size == 2 else a)
        if t.shape[0] != 1:
            raise ValueError(f"query must be one (lon, lat) point, got shape {a.shape}")
        return t.numpy()[0]

    def _query_vector(self, query: Any = None, *, lonlat: Any = None, embedding: Any = None) -> np.ndarray:
        given = [v is not None for v in (query, lonlat, embedding)]
        if sum(given) != 1:
            raise ValueError("pass exactly one of: a positional query, lonlat=, embedding=")
        if query is not None:
            size = int(np.asarray(query.detach().cpu() if hasattr(query, "detach") else query).size)
            if size == self.embedding_dim and size != 2:
                embedding = query
            elif size == 2:
                lonlat = query
            else:
                raise ValueError(
                    f"query must be one (lon, lat) pair or one embedding of length {self.embedding_dim}, got {size} values"
                )
        if lonlat is not None:
            q = self._one_lonlat(lonlat)
            if self.model is not None:
                from .embed import embed_points

                v = np.asarray(embed_points(self.model, q.reshape(1, 2)), dtype=np.float64)[0]
            else:
                return self._unit_row(self.nearest_point(q))
        else:
            v = np.asarray(embedding.detach().cpu().numpy() if hasattr(embedding, "detach") else embedding, dtype=np.float64).ravel()
            if v.shape != (self.embedding_dim,):
                raise ValueError(f"embedding must have {self.embedding_dim} values, got shape {v.shape}")
        nrm = float(np.linalg.norm(v))
        if not np.isfinite(nrm) or nrm == 0:
            raise ValueError("query embedding has zero or non-finite norm")
        return (v / nrm).astype(np.float32)

    def similarity_map(self, query: Any = None, *, lonlat: Any = None, embedding: Any = None) -> np.ndarray:
        """Cosine similarity of the query to every indexed row.

        Args:
            query: one (lon, lat) pair (length 2) or one embedding (length D); or use the
                keywords ``lonlat=`` / ``embedding=`` to be explicit.

        Returns:
            ``(N,)`` float32 in [-1, 1].
        """
        sim = self._rows @ self._query_vector(query, lonlat=lonlat, embedding=embedding)
        sim *= self._inv_norms
        return np.clip(sim, -1.0, 1.0, out=sim)

    @property
    def land(self) -> np.ndarray:
        """``(N,)`` bool: which indexed points are on land (:func:`geoviz.data.is_land`, the
        shipped Natural Earth 1:110m polygon; points on its boundary count as ocean).
        Computed on first use and cached (a 0.5° global grid takes a fraction of a second)."""
        if self._land is None:
            from .data import is_land

            self._land = np.asarray(is_land(self.lonlat), dtype=bool)
        return self._land

    @property
    def cell_km(self) -> float:
        """Typical spacing (km) of the indexed points: for a standard regular grid of ``H``
        rows the great-circle size of one cell's side along a meridian, ``π·R/H`` (55.6 km
        at 0.5°); for any other point set the side of the equal-area cell each point stands
        for, ``R·sqrt(4π/N)``, with ``R`` = :data:`EARTH_RADIUS_KM`."""
        if self._grid_shape is not None:
            return float(np.pi * EARTH_RADIUS_KM / self._grid_shape[0])
        return float(EARTH_RADIUS_KM * np.sqrt(4.0 * np.pi / max(len(self), 1)))

    def default_margin_km(self, min_distance_km: float) -> float:
        """The ``margin_km="auto"`` of :meth:`query`: ``max(MARGIN_FRACTION · min_distance_km,
        MARGIN_CELLS · cell_km)`` = max(10 % of the limit, 2 cells), and 0 without a limit.

        At 0.5° and a 1,000 km limit: max(100, 111.2) = 111.2 km, so hits lie at least
        1,111 km away unless fewer than ``k`` locations do."""
        if not min_distance_km > 0:
            return 0.0
        return float(max(MARGIN_FRACTION * float(min_distance_km), MARGIN_CELLS * self.cell_km))

    def query(self, query: Any = None, k: int = 10, *, lonlat: Any = None, embedding: Any = None,
              min_distance_km: float = 0.0, min_separation_km: float = 0.0, land_only: bool = False,
              margin_km: float | str = "auto") -> QueryResult:
        """The ``k`` indexed locations most similar (cosine) to a query, optionally far away.

        For a location query the indexed point standing for it (:meth:`nearest_point`, the
        clicked grid cell) is never returned, even with ``min_distance_km=0``: it is the
        query itself, not a look-alike. Distances are great-circle distances by the
        haversine formula on a sphere of radius :data:`EARTH_RADIUS_KM` = 6371.0088 km
        (:func:`haversine_km`).

        **The margin.** Embeddings change smoothly with location, so the best candidates
        beyond a distance limit crowd onto its ring (1,002 km, 1,004 km, ... for a 1,000 km
        limit): neighbours of the query that barely passed, not look-alikes. With a positive
        ``min_distance_km`` the hits are therefore taken at least ``min_distance_km +
        margin_km`` away; only when fewer than ``k`` locations qualify there (after
        ``land_only`` and ``min_separation_km``) is the result filled, best first, from the
        band ``[min_distance_km, min_distance_km + margin_km)``, and those hits are marked
        in :attr:`QueryResult.in_margin`. No hit is ever closer than ``min_distance_km``.

        Args:
            query: one (lon, lat) pair or one embedding (see :meth:`similarity_map`).
            k: number of neighbours, ``1 <= k``; fewer are returned when fewer points qualify.
            min_distance_km: only points at least this far (km, ``>=``) from the query
                location (``0`` = no limit; ``1000`` finds far-away look-alikes instead of
                the query's neighbours). Needs a location query when positive.
            min_separation_km: keep the hits at least this far (km) from each other too:
                greedily, in decreasing similarity, a point closer than this to an
                already chosen hit is skipped (``0`` = off). Spreads the hits over the
                different regions that look alike instead of one blob.
            land_only: only points on land (:attr:`land`, Natural Earth 1:110m). For models
                learnt from images, where dark dense forest and dark open ocean look alike.
            margin_km: ``"auto"`` (default: :meth:`default_margin_km`, max(10 % of
                ``min_distance_km``, 2 grid cells)) or a number of km >= 0 (``0`` = the limit
                alone, hits may lie right on it). Ignored when ``min_distance_km`` is 0.

        Returns:
            :class:`QueryResult` sorted by decreasing similarity (ties by row index), with
            the hits' distances from the query in ``distance_km``, the band hits marked in
            ``in_margin`` and the margin used in ``margin_km``.

        Raises:
            ValueError: bad ``k``, negative or non-finite distances or margin, a positive
                ``min_distance_km``/``min_separation_km`` with an embedding query (no location).
            TypeError: ``land_only`` is not a bool; ``margin_km`` neither a number nor ``"auto"``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        for name, v in (("min_distance_km", min_distance_km), ("min_separation_km", min_separation_km)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
                    np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number of km >= 0, got {v!r}")
        if not isinstance(land_only, (bool, np.bool_)):
            raise TypeError(f"land_only must be a bool, got {type(land_only).__name__}")
        if isinstance(margin_km, str):
            if margin_km != "auto":
                raise ValueError(f"margin_km must be 'auto' or a number of km >= 0, got {margin_km!r}")
            margin = self.default_margin_km(float(min_distance_km))
        elif isinstance(margin_km, bool) or not isinstance(margin_km, (int, float, np.integer, np.floating)):
            raise TypeError(f"margin_km must be 'auto' or a number of km >= 0, got {type(margin_km).__name__}")
        elif not (np.isfinite(margin_km) and margin_km >= 0):
            raise ValueError(f"margin_km must be 'auto' or a finite number of km >= 0, got {margin_km!r}")
        else:
            margin = float(margin_km) if min_distance_km > 0 else 0.0
        s = self.similarity_map(query, lonlat=lonlat, embedding=embedding)
        n = s.shape[0]
        q_ll = self._query_location(query, lonlat)
        if q_ll is None and min_distance_km > 0:
            raise ValueError("min_distance_km needs a location query (lon, lat), not an embedding")
        dist = haversine_km(q_ll, self.lonlat) if q_ll is not None else np.full(n, np.nan)
        valid = self.land.copy() if land_only else np.ones(n, dtype=bool)
        if q_ll is not None:
            valid[self.nearest_point(q_ll)] = False  # the query's own cell/point
            if min_distance_km > 0:
                valid &= dist >= float(min_distance_km)
        band = np.zeros(n, dtype=bool)
        if margin > 0:
            band = valid & (dist < float(min_distance_km) + margin)
            valid &= ~band
        sep = float(min_separation_km)
        idx = self._select(np.flatnonzero(valid), s, int(k), sep, np.zeros(0, dtype=np.int64))
        n_main = idx.shape[0]
        if n_main < k and band.any():  # not enough beyond the margin: fill from the band, marked
            idx = self._select(np.flatnonzero(band), s, int(k), sep, idx)
        in_margin = np.arange(idx.shape[0]) >= n_main
        order = np.lexsort((idx, -s[idx]))
        idx, in_margin = idx[order].astype(np.int64), in_margin[order]
        return QueryResult(self.lonlat[idx], s[idx], idx, dist[idx], in_margin, float(margin))

    def _select(self, cand: np.ndarray, s: np.ndarray, k: int, sep_km: float, chosen: np.ndarray) -> np.ndarray:
        """``chosen`` followed by the best of ``cand`` (decreasing ``s``, ties by row) up to ``k``
        points in all; with ``sep_km > 0`` each new point lies at least ``sep_km`` from every
        point kept before it (``chosen`` included)."""
        want = k - chosen.shape[0]
        m = cand.shape[0]
        if want <= 0 or m == 0:
            return chosen
        sc = s[cand]
        if sep_km <= 0:
            take = min(want, m)
            top = np.argpartition(sc, m - take)[m - take :] if take < m else np.arange(m)
            idx = cand[top]
            return np.concatenate([chosen, idx[np.lexsort((idx, -s[idx]))].astype(np.int64)])
        # greedy over a prefix of the similarity order, grown until it yields enough hits
        size = min(m, max(4096, 512 * k))
        while True:
            if size < m:  # every candidate at least as similar as the size-th best: an exact prefix
                cut = np.partition(sc, m - size)[m - size]
                pre = np.flatnonzero(sc >= cut)
            else:
                pre = np.arange(m)
            pre = pre[np.lexsort((cand[pre], -sc[pre]))]
            idx = self._spread(cand[pre], k, sep_km, chosen)
            if len(idx) == k or pre.shape[0] == m:
                return idx
            size = min(m, size * 8)

    def _spread(self, order: np.ndarray, k: int, sep_km: float, chosen0: Any = ()) -> np.ndarray:
        """Greedy: walk ``order`` (best first), keep a point unless it lies closer than
        ``sep_km`` (haversine) to a kept one (``chosen0``, kept already, included); at most
        ``k`` points in all. Vectorised per block: each kept point removes its neighbours
        from the block in one product."""
        ll = self.lonlat
        cos_sep = np.cos(min(sep_km / EARTH_RADIUS_KM, np.pi))

        def near(c: np.ndarray, pts: np.ndarray, centre: np.ndarray) -> np.ndarray:
            # cosine of the angle between unit vectors: clearly inside, or exactly by haversine
            out = c > cos_sep + 1e-9
            border = np.flatnonzero(~out & (c > cos_sep - 1e-9))
            if border.size:
                out[border] = haversine_km(centre, ll[pts[border]]) < sep_km
            return out

        chosen: list[int] = [int(i) for i in chosen0]
        if len(chosen) >= k:
            return np.array(chosen, dtype=np.int64)
        for start in range(0, order.shape[0], 8192):
            block = order[start : start + 8192]
            u = lonlat_to_unit(ll[block])
            alive = np.ones(block.shape[0], dtype=bool)
            for i in chosen:
                alive &= ~near(u @ lonlat_to_unit(ll[i][None])[0], block, ll[i])
            pos = 0
            while True:
                nz = np.flatnonzero(alive[pos:])
                if nz.size == 0:
                    break
                j = pos + int(nz[0])
                chosen.append(int(block[j]))
                if len(chosen) == k:
                    return np.array(chosen, dtype=np.int64)
                alive &= ~near(u @ u[j], block, ll[block[j]])
                pos = j + 1
        return np.array(chosen, dtype=np.int64)

    def _query_location(self, query: Any, lonlat: Any) -> np.ndarray | None:
        """The (lon, lat) of a location query, or None for an embedding query."""
        if lonlat is not None:
            return self._one_lonlat(lonlat)
        if query is not None:
            size = int(np.asarray(query.detach().cpu() if hasattr(query, "detach") else query).size)
            if size == 2:
                return self._one_lonlat(query)
        return None
