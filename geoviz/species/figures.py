"""Range-map figures (offline, drawn with :mod:`geoviz.render`): true range, observations,
predicted probability and thresholded range of one species, side by side.

Maps are plate carrée with Natural Earth 1:110m coastlines; ``extent="auto"`` zooms to the
species' observations (and true range) with a margin, ``"global"`` shows the world.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

__all__ = ["PANELS", "auto_extent", "probability_on_extent", "species_figure", "RANGE_MAP_COLORS", "range_rgba",
           "probability_rgba", "truth_outline"]

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
    from geoviz import render

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
    fig, axes = render.map_figure(1, len(panels), panel_width=width, extent=ext, dpi=dpi, extra_height=0.7)
    colors = render.RANGE_COLORS
    for ax, panel in zip(axes[0], panels):
        if panel == "truth":
            if true_map is None:
                raise ValueError("the 'truth' panel needs truth= (virtual species)")
            render.show_mask(ax, true_map, colors["truth"])
            panel_title = "true range"
        elif panel == "observations":
            ax.scatter(obs[:, 0], obs[:, 1], s=3, c=colors["observations"], linewidths=0, alpha=0.7)
            panel_title = f"{len(obs)} observations"
        elif panel == "probability":
            im = render.show_raster(ax, prob, extent=ext, cmap=render.SEQUENTIAL_CMAP, clim=(0.0, 1.0))
            render.add_colorbar(fig, im, ax, "P(present)", shrink=0.8)
            panel_title = "predicted probability"
        else:  # "range"
            with np.errstate(invalid="ignore"):
                rng_map = prob >= threshold
            render.show_mask(ax, rng_map, colors["range"], extent=ext, alpha=0.85)
            if true_map is not None:
                ax.contour(-180 + (np.arange(true_map.shape[1]) + 0.5) * truth.resolution,
                           90 - (np.arange(true_map.shape[0]) + 0.5) * truth.resolution,
                           true_map.astype(float), levels=[0.5], colors=colors["truth"], linewidths=0.8)
            panel_title = f"range: P ≥ {threshold:g}" + (" (green: truth)" if true_map is not None else "")
        render.style_map_axes(ax, panel_title, extent=ext, coast_color="#333333", coast_width=0.4,
                              facecolor="#dfe8f0", fontsize=9)
    fig.suptitle(title or name, fontsize=10)
    if path is not None:
        render.save_figure(fig, path)
    return fig


# ----------------------------------------------------------------------------- interactive map layers

RANGE_MAP_COLORS = {"agree": "#2166ac", "predicted": "#f4a582", "missed": "#1b7837", "land": "#f2f2ee",
                "ocean": "#dfe8f0"}
"""Colours of the range map: predicted and true, predicted only, true only (missed), other land, ocean."""


def _hex_rgba(h: str) -> np.ndarray:
    return np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)] + [255], np.uint8)


def range_rgba(probability: np.ndarray, threshold: float, land: np.ndarray,
               truth: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, 4)`` uint8 image of the thresholded range: :data:`RANGE_MAP_COLORS` ``agree``
    (predicted and true), ``predicted`` (predicted only), ``missed`` (true only), else land or ocean."""
    pred = (np.nan_to_num(probability, nan=0.0) >= threshold) & land
    out = np.empty(probability.shape + (4,), np.uint8)
    out[:] = _hex_rgba(RANGE_MAP_COLORS["ocean"])
    out[land] = _hex_rgba(RANGE_MAP_COLORS["land"])
    if truth is None:
        out[pred] = _hex_rgba(RANGE_MAP_COLORS["agree"])
        return out
    t = np.asarray(truth, bool)
    out[pred & t] = _hex_rgba(RANGE_MAP_COLORS["agree"])
    out[pred & ~t] = _hex_rgba(RANGE_MAP_COLORS["predicted"])
    out[~pred & t] = _hex_rgba(RANGE_MAP_COLORS["missed"])
    return out


def probability_rgba(probability: np.ndarray, land: np.ndarray) -> np.ndarray:
    """``(H, W, 4)`` uint8 viridis image of P(present) on land, ocean in :data:`RANGE_MAP_COLORS` ``ocean``."""
    from geoviz.render import colorize

    rgba = colorize(np.where(land, probability, np.nan), cmap="viridis", clim=(0.0, 1.0))
    rgba[~land] = _hex_rgba(RANGE_MAP_COLORS["ocean"])
    return rgba


def truth_outline(truth: np.ndarray) -> np.ndarray:
    """``(K, 2)`` NaN-separated (lon, lat) polylines around a ``(H, W)`` bool range (cell edges
    traced by contourpy at level 0.5 over the cell centres, padded so ranges at the map edge close)."""
    import contourpy

    H, W = truth.shape
    lon = -180.0 + (np.arange(-1, W + 1) + 0.5) * 360.0 / W
    lat = 90.0 - (np.arange(-1, H + 1) + 0.5) * 180.0 / H
    z = np.pad(np.asarray(truth, float), 1)
    lines = contourpy.contour_generator(lon, lat, z).lines(0.5)
    if not lines:
        return np.full((1, 2), np.nan)
    parts = []
    for ln in lines:
        parts += [np.clip(ln, [-180, -90], [180, 90]), np.full((1, 2), np.nan)]
    return np.concatenate(parts)
