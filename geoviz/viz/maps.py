"""Flat lon/lat maps (equirectangular, no tiles) of any field, with coastlines and hover.

* Gridded values (``shape=(H, W)``, rows north→south as :func:`geoviz.data.regular_grid`)
  become an ``hv.Image`` (continuous / categorical, hover shows the value) or ``hv.RGB``.
* Scattered points (``lonlat=(N, 2)``) become ``datashader``'s ``rasterize(hv.Points)``,
  re-aggregated on every zoom, fine for millions of points; ``kind="rgb"`` points are
  binned to a fixed grid instead (mean colour per cell).

Click handling: :func:`tap_stream` attaches an ``hv.streams.Tap`` to the base layer (not
the overlay; see ``docs`` of :mod:`geoviz.viz.globe`), x/y are lon/lat in degrees.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ._hv import hv as _hv
from .coastlines import coastlines_element
from .colors import KINDS, categorical_palette, colorize, hex_colors

__all__ = ["flat_map", "tap_stream", "grid_image", "GLOBAL_BOUNDS"]

GLOBAL_BOUNDS = (-180.0, -90.0, 180.0, 90.0)


def _np(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def grid_image(values: Any, shape: Sequence[int], kind: str = "continuous", cmap: str | None = None,
               clim: Sequence[float] | None = None) -> np.ndarray:
    """Colour a gridded field: ``(H*W,)``/``(H*W, 3)`` or ``(H, W)``/``(H, W, 3)`` → ``(H, W, 4)`` uint8 RGBA."""
    v = _np(values)
    H, W = int(shape[0]), int(shape[1])
    v = v.reshape((H, W, 3) if kind == "rgb" else (H, W))
    return colorize(v, kind, cmap, clim)


def _default_cmap(kind: str, cmap: str | None) -> str:
    return cmap or "landocean"


def flat_map(values: Any, shape: Sequence[int] | None = None, *, lonlat: Any = None, kind: str = "continuous",
             cmap: str | None = None, clim: Sequence[float] | None = None, coastlines: bool = True,
             title: str = "", width: int = 720, height: int = 360, label: str = "value",
             rgb_resolution: float = 1.0) -> Any:
    """A flat lon/lat map of a field.

    Args:
        values: gridded ``(H*W,)``, ``(H, W)``, ``(H*W, 3)`` or ``(H, W, 3)`` values with
            ``shape=(H, W)`` (rows north→south, columns west→east, global cells); or
            ``(N,)`` / ``(N, 3)`` values at scattered ``lonlat``. numpy or torch.
        shape: ``(H, W)`` of a global regular grid (required for gridded values).
        lonlat: ``(N, 2)`` lon/lat degrees of scattered values (instead of ``shape``).
        kind: ``"continuous"`` (probabilities, similarity, ...), ``"categorical"`` (class
            indices) or ``"rgb"`` (floats in [0, 1], e.g. PCA-RGB embeddings).
        cmap: colormap name (default ``"landocean"``: the CLI's ocean→land colours).
        clim: ``(vmin, vmax)``; default ``(0, 1)`` for landocean else data range.
        coastlines: overlay the shipped Natural Earth coastlines.
        title, width, height: plot options (pixels).
        label: name of the value dimension shown in the hover tool.
        rgb_resolution: bin size in degrees for scattered RGB points.

    Returns:
        A HoloViews element: ``hv.Image`` / ``hv.RGB`` / ``rasterize(hv.Points)``
        DynamicMap, overlaid with an ``hv.Path`` of coastlines when ``coastlines``.
        Axes are ``lon``/``lat`` in degrees over [-180, 180] × [-90, 90].

    Raises:
        ValueError: missing/inconsistent ``shape``/``lonlat``, unknown ``kind``.
    """
    hv = _hv()

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if (shape is None) == (lonlat is None):
        raise ValueError("pass exactly one of shape=(H, W) (gridded values) or lonlat=(N, 2) (scattered values)")
    v = _np(values)
    opts = dict(width=width, height=height, title=title, xlim=(-180, 180), ylim=(-90, 90))
    if shape is not None:
        H, W = int(shape[0]), int(shape[1])
        want = H * W * (3 if kind == "rgb" else 1)
        if v.size != want:
            raise ValueError(f"values of shape {v.shape} do not fit shape={tuple(shape)} with kind={kind!r}")
        if kind == "rgb":
            rgba = grid_image(v, (H, W), "rgb")
            base = hv.RGB(rgba, bounds=GLOBAL_BOUNDS, kdims=["lon", "lat"], vdims=["R", "G", "B", "A"]).opts(
                tools=["hover"], **opts)
        else:
            img = v.reshape(H, W).astype(np.float64)
            base = hv.Image(img, bounds=GLOBAL_BOUNDS, kdims=["lon", "lat"], vdims=[label])
            base = base.opts(tools=["hover"], colorbar=kind == "continuous", **_color_opts(img, kind, cmap, clim), **opts)
    else:
        from geoviz.data.land import _lonlat_numpy

        ll = _lonlat_numpy(lonlat, "lonlat")
        if v.shape[0] != ll.shape[0]:
            raise ValueError(f"values has {v.shape[0]} rows but lonlat has {ll.shape[0]}")
        if kind == "rgb":
            rgba = _bin_rgb(ll, v, rgb_resolution)
            base = hv.RGB(rgba, bounds=GLOBAL_BOUNDS, kdims=["lon", "lat"], vdims=["R", "G", "B", "A"]).opts(**opts)
        else:
            base = _rasterized_points(ll, v, kind, cmap, clim, label, opts)
    if coastlines:
        return base * coastlines_element()
    return base


def _color_opts(v: np.ndarray, kind: str, cmap: str | None, clim: Sequence[float] | None) -> dict:
    from .colors import colormap_lut

    finite = np.isfinite(v)
    if kind == "categorical":
        n = int(np.nanmax(v)) + 1 if finite.any() else 1
        return dict(cmap=hex_colors(categorical_palette(n)), clim=(-0.5, n - 0.5), color_levels=n)
    name = _default_cmap(kind, cmap)
    if clim is None:
        if name == "landocean" or not finite.any():
            clim = (0.0, 1.0)
        else:
            clim = (float(np.nanmin(v)), float(np.nanmax(v)))
    return dict(cmap=hex_colors(colormap_lut(name)), clim=tuple(clim))


def _bin_rgb(ll: np.ndarray, v: np.ndarray, res: float) -> np.ndarray:
    H = max(1, int(round(180.0 / res)))
    W = 2 * H
    r = np.clip(((90.0 - ll[:, 1]) * (H / 180.0)).astype(np.int64), 0, H - 1)
    c = np.clip(((ll[:, 0] + 180.0) * (W / 360.0)).astype(np.int64), 0, W - 1)
    flat = r * W + c
    cnt = np.bincount(flat, minlength=H * W).astype(np.float64)
    rgb = np.stack([np.bincount(flat, weights=v[:, k].astype(np.float64), minlength=H * W) for k in range(3)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rgb = rgb / cnt[:, None]
    return colorize(rgb.reshape(H, W, 3), "rgb")


def _rasterized_points(ll: np.ndarray, v: np.ndarray, kind: str, cmap: str | None, clim: Sequence[float] | None,
                       label: str, opts: dict) -> Any:
    import datashader as ds
    hv = _hv()
    import pandas as pd
    from holoviews.operation.datashader import rasterize

    vals = v.reshape(-1).astype(np.float64)
    df = pd.DataFrame({"lon": ll[:, 0], "lat": ll[:, 1], label: vals})
    pts = hv.Points(df, kdims=["lon", "lat"], vdims=[label])
    agg = ds.max(label) if kind == "categorical" else ds.mean(label)
    r = rasterize(pts, aggregator=agg, x_range=(-180, 180), y_range=(-90, 90), dynamic=True,
                  width=int(opts["width"]), height=int(opts["height"]))
    return r.opts(tools=["hover"], colorbar=kind == "continuous", **_color_opts(vals, kind, cmap, clim), **opts)


def tap_stream(element: Any, callback: Callable[[float, float], Any] | None = None) -> Any:
    """Attach an ``hv.streams.Tap`` to the base layer of ``element`` (a :func:`flat_map` result).

    Args:
        element: an ``hv.Overlay``/element/DynamicMap; for an Overlay the first layer is used
            (a Tap on an Overlay-returning DynamicMap is never wired up).
        callback: optional ``fn(lon, lat)`` (degrees) called on each tap with finite x/y.

    Returns:
        The ``hv.streams.Tap`` (``.x``/``.y`` = last clicked lon/lat, NaN before a click).
    """
    hv = _hv()

    src = element
    if isinstance(element, hv.Overlay):
        src = element.get(0)
    elif isinstance(element, hv.DynamicMap) and element.type is not None and issubclass(element.type, hv.Overlay):
        raise ValueError("tap_stream needs an element-level DynamicMap; overlay it after attaching the stream")
    tap = hv.streams.Tap(source=src, x=np.nan, y=np.nan)
    if callback is not None:
        def _cb(x: float, y: float) -> None:
            if x is not None and y is not None and np.isfinite(x) and np.isfinite(y):
                callback(float(x), float(y))

        tap.add_subscriber(_cb)
    return tap
