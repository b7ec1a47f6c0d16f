"""Range-map figures (matplotlib Agg, no pyplot, offline): true range, observations,
predicted probability and thresholded range of one species, side by side.

Maps are plate carrée with Natural Earth 1:110m coastlines; ``extent="auto"`` zooms to the
species' observations (and true range) with a margin, ``"global"`` shows the world.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

__all__ = ["PANELS", "auto_extent", "probability_on_extent", "species_figure"]

PANELS = ("truth", "observations", "probability", "range")
"""Panel names accepted by :func:`species_figure`."""


def auto_extent(lonlat: np.ndarray, pad_frac: float = 0.35, min_span: float = 8.0) -> tuple[float, float, float, float]:
    """``(lon0, lon1, lat0, lat1)`` degrees around ``(N, 2)`` points with a margin (global if they
    span most of the world)."""
    if lonlat.size == 0:
        return (-180.0, 180.0, -90.0, 90.0)
    lo, hi = lonlat.min(0), lonlat.max(0)
    span = np.maximum(hi - lo, min_span)
    c = (lo + hi) / 2
    half = span * (0.5 + pad_frac)
    if half[0] > 120:
        return (-180.0, 180.0, -90.0, 90.0)
    return (float(max(-180, c[0] - half[0])), float(min(180, c[0] + half[0])),
            float(max(-90, c[1] - half[1])), float(min(90, c[1] + half[1])))


def _parse_extent(extent: Any, pts: np.ndarray) -> tuple[float, float, float, float]:
    if extent is None or extent == "auto":
        return auto_extent(pts)
    if extent == "global":
        return (-180.0, 180.0, -90.0, 90.0)
    if isinstance(extent, str):
        vals = [float(v) for v in extent.split(",")]
        if len(vals) != 4:
            raise ValueError(f"extent must be 'auto', 'global' or 'lon0,lat0,lon1,lat1', got {extent!r}")
        extent = (vals[0], vals[2], vals[1], vals[3])
    lon0, lon1, lat0, lat1 = (float(v) for v in extent)
    if not (-180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90):
        raise ValueError(f"bad extent lon {lon0}..{lon1}, lat {lat0}..{lat1}")
    return (lon0, lon1, lat0, lat1)


def probability_on_extent(model: Any, species: Any, extent: tuple[float, float, float, float],
                          resolution: float | None = None, max_cells: int = 400_000) -> tuple[np.ndarray, float]:
    """``(H, W)`` probabilities of one species on a lon/lat grid covering ``extent`` (row 0 north),
    and the cell size used (default: ~600 cells across, at most ``max_cells`` cells)."""
    lon0, lon1, lat0, lat1 = extent
    if (lon0, lon1, lat0, lat1) == (-180.0, 180.0, -90.0, 90.0) and (resolution or 0.5) in (0.25, 0.5, 1.0, 2.0):
        res = resolution or 0.5
        return model.predict_map(species, res), res
    res = resolution or max((lon1 - lon0) / 600.0, 0.01)
    W = max(2, int(round((lon1 - lon0) / res)))
    H = max(2, int(round((lat1 - lat0) / res)))
    if H * W > max_cells:
        f = np.sqrt(H * W / max_cells)
        H, W, res = max(2, int(H / f)), max(2, int(W / f)), res * f
    lons = lon0 + (np.arange(W) + 0.5) * (lon1 - lon0) / W
    lats = lat1 - (np.arange(H) + 0.5) * (lat1 - lat0) / H
    lo, la = np.meshgrid(lons, lats)
    p = model.predict_proba(np.column_stack([lo.ravel(), la.ravel()]), species)
    return p.reshape(H, W).astype(np.float32), res


def species_figure(model: Any, species: Any, *, observations: np.ndarray | None = None,
                   truth: Any = None, panels: Sequence[str] | None = None, threshold: float = 0.5,
                   extent: Any = "auto", resolution: float | None = None, title: str | None = None,
                   path: str | os.PathLike | None = None, width: float = 4.6, dpi: int = 110,
                   land_only: bool = True) -> Any:
    """Figure of one species' range model.

    Args:
        model: a :class:`~geoviz.species.model.SpeciesModel`.
        species: name or index.
        observations: ``(n, 2)`` lon/lat of the species' observations (dots), optional.
        truth: optional true range: a :class:`~geoviz.species.virtual.VirtualSpecies` world.
        panels: subset/order of :data:`PANELS` (default: those with data available).
        threshold: probability above which a cell is in the predicted range.
        extent: ``"auto"``, ``"global"``, ``(lon0, lon1, lat0, lat1)`` or ``"lon0,lat0,lon1,lat1"``.
        resolution: map cell size in degrees (default by extent).
        path: also write a PNG there.
        land_only: blank the sea (Natural Earth 1:110m): a model trained with land or
            target-group background never saw sea points, so its values there mean nothing.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from geoviz.data import land_boundaries

    name = model.names[model.index(species)]
    obs = np.zeros((0, 2)) if observations is None else np.asarray(observations, dtype=np.float64)
    true_map = None
    if truth is not None:
        true_map = truth.ranges[truth.observations.index_of(name)]
    if panels is None:
        panels = [p for p in PANELS if (p != "truth" or true_map is not None) and (p != "observations" or obs.size)]
    bad = [p for p in panels if p not in PANELS]
    if bad:
        raise ValueError(f"unknown panels {bad}; choose from {PANELS}")
    ref_pts = obs
    if true_map is not None:
        r, c = np.nonzero(true_map)
        ref_pts = np.vstack([obs, np.column_stack([-180 + (c + 0.5) * truth.resolution, 90 - (r + 0.5) * truth.resolution])])
    ext = _parse_extent(extent, ref_pts)
    prob, _ = probability_on_extent(model, name, ext, resolution)
    if land_only:
        from geoviz.data import is_land

        Hp, Wp = prob.shape
        lons = ext[0] + (np.arange(Wp) + 0.5) * (ext[1] - ext[0]) / Wp
        lats = ext[3] - (np.arange(Hp) + 0.5) * (ext[3] - ext[2]) / Hp
        lo, la = np.meshgrid(lons, lats)
        prob = np.where(is_land(np.column_stack([lo.ravel(), la.ravel()])).reshape(Hp, Wp), prob, np.nan)
    aspect = (ext[3] - ext[2]) / (ext[1] - ext[0])
    fig = Figure(figsize=(width * len(panels), width * aspect + 0.7), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    coast = land_boundaries(drop_frame_edges=True)
    imext = (ext[0], ext[1], ext[2], ext[3])
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.set_facecolor("#dfe8f0")
        if panel == "truth":
            if true_map is None:
                raise ValueError("the 'truth' panel needs truth= (virtual species)")
            ax.imshow(np.ma.masked_where(~true_map, true_map), extent=(-180, 180, -90, 90), origin="upper",
                      cmap=ListedColormap(["#1b7837"]), interpolation="nearest")
            ax.set_title("true range", fontsize=9)
        elif panel == "observations":
            ax.scatter(obs[:, 0], obs[:, 1], s=3, c="#b2182b", linewidths=0, alpha=0.7)
            ax.set_title(f"{len(obs)} observations", fontsize=9)
        elif panel == "probability":
            im = ax.imshow(prob, extent=imext, origin="upper", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            fig.colorbar(im, ax=ax, shrink=0.8, label="P(present)")
            ax.set_title("predicted probability", fontsize=9)
        elif panel == "range":
            with np.errstate(invalid="ignore"):
                rng_map = prob >= threshold
            ax.imshow(np.ma.masked_where(~rng_map, rng_map), extent=imext, origin="upper",
                      cmap=ListedColormap(["#2166ac"]), interpolation="nearest", alpha=0.85)
            if true_map is not None:
                ax.contour(np.linspace(-179.75, 179.75, true_map.shape[1]) if truth.resolution == 0.5 else
                           -180 + (np.arange(true_map.shape[1]) + 0.5) * truth.resolution,
                           90 - (np.arange(true_map.shape[0]) + 0.5) * truth.resolution,
                           true_map.astype(float), levels=[0.5], colors="#1b7837", linewidths=0.8)
            ax.set_title(f"range: P ≥ {threshold:g}" + (" (green: truth)" if true_map is not None else ""), fontsize=9)
        ax.add_collection(LineCollection(coast, colors="#333333", linewidths=0.4))
        ax.set_xlim(ext[0], ext[1])
        ax.set_ylim(ext[2], ext[3])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    fig.suptitle(title or name, fontsize=10)
    if path is not None:
        fig.savefig(path)
    return fig
