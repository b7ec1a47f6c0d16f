"""Small image/element helpers shared by the dashboard tabs (thin over :mod:`geoviz.viz`).

Fields live on a regular lon/lat grid (:func:`geoviz.data.regular_grid`, rows north →
south). Images are ``(H, W, 4)`` uint8 RGBA arrays, row 0 at the top (north).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from geoviz import render
from geoviz.viz.animation import FIELD_CMAPS, NAN_GREY, regression_style, task_title  # re-exported for the tabs
from geoviz.viz.colors import PLAND_CMAP

__all__ = ["FIELD_CMAPS", "FLAT_BOUNDS", "NAN_GREY", "PLAND_CMAP", "STACK_BELOW_CSS", "prediction_rgba", "regression_rgba",
           "task_title", "regression_style", "TABLE_CSS", "WRAP_ITEMS_CSS", "batched_updates", "colorbar_spec",
           "configure_session", "ensure_extension",
           "field_rgba", "rgb_element", "png_data_url"]

_EXTENSION_LOADED = False


def ensure_extension() -> None:
    """Load Panel's and HoloViews' Bokeh support once (no CDN settings: assets come from the server)."""
    global _EXTENSION_LOADED
    if _EXTENSION_LOADED:
        return
    import holoviews as hv
    import panel as pn

    pn.extension(design="native", notifications=False)
    hv.extension("bokeh", logo=False)
    _EXTENSION_LOADED = True


def configure_session() -> None:
    """Per-session page settings (call when a session's app is made; Panel keeps these per
    document when a session is active, else globally):

    * the light theme, whatever the URL says: Panel's ``?theme=dark`` left the Bokeh plots
      white and the active tab unreadable, so the dashboard does not offer a dark theme;
    * :data:`TABLE_CSS` in ``raw_css``, which Panel adds to every component's shadow root,
      so the HTML tables of the app get cell padding.
    """
    import panel as pn

    pn.config.theme = "default"
    if TABLE_CSS not in pn.config.raw_css:
        pn.config.raw_css = [*pn.config.raw_css, TABLE_CSS]


TABLE_CSS = """
table.geoviz-results td, table.geoviz-results th, .markdown table td, .markdown table th {
  padding: 2px 10px; text-align: right;
}
"""
"""Cell padding for the tables the app writes (the results table read "13.0023.00" without it)."""

STACK_BELOW_CSS = """
@media (max-width: 1200px) {
  div[id^="flexbox-"] { flex-flow: column nowrap !important; align-items: stretch !important; }
  div[id^="flexbox-"] > div > * { flex: 0 0 auto !important; width: auto !important; max-width: 100% !important; }
}
"""
"""Stylesheet for a ``pn.FlexBox`` row (controls | plots) that stacks its children below 1,200 px
of viewport (Panel's FlexBox draws its flex container as ``div#flexbox-<id>`` in its shadow root)."""

WRAP_ITEMS_CSS = """
div[id^="flexbox-"] > div > * { flex: 1 1 340px !important; width: auto !important; min-width: 300px !important; }
"""
"""Stylesheet for a wrapping ``pn.FlexBox`` whose stretch-width items share a row while each
gets at least 340 px, and wrap below each other otherwise (the loss and accuracy curves)."""


def regression_rgba(values: Any, shape: tuple[int, int], style: dict[str, Any]) -> np.ndarray:
    """Colour a regression map in its units: ``style``'s colormap over its fixed ``clim``
    (:func:`regression_style`), cells without a value (NaN) in :data:`NAN_GREY`.

    Args:
        values: ``(H*W,)`` values in the target's units, NaN where undefined.
        shape: ``(H, W)``.

    Returns:
        ``(H, W, 4)`` uint8 RGBA, opaque.
    """
    rgba = field_rgba(np.asarray(values, dtype=np.float64), shape, "continuous", cmap=style["cmap"],
                      clim=style["clim"])
    rgba[rgba[..., 3] == 0] = NAN_GREY
    return rgba


def prediction_rgba(values: Any, shape: tuple[int, int], kind: str, n_classes: int | None = None,
                    style: dict[str, Any] | None = None) -> np.ndarray:
    """Colour a map of a task of ``kind`` the one way every view of it does: ``"binary"``
    P(land) in :data:`PLAND_CMAP` over [0, 1], ``"multiclass"`` class colours (``n_classes``
    fixed), ``"regression"`` :func:`regression_rgba` with ``style``. ``(H, W, 4)`` uint8."""
    if kind == "regression":
        if style is None:
            raise ValueError("prediction_rgba('regression') needs style=regression_style(task)")
        return regression_rgba(values, shape, style)
    if kind == "binary":
        return field_rgba(values, shape, "continuous", cmap=PLAND_CMAP, clim=(0.0, 1.0))
    return field_rgba(values, shape, "categorical", n_classes=n_classes)


def colorbar_spec(kind: str, n_classes: int | None = None, *, style: dict[str, Any] | None = None) -> dict[str, Any]:
    """Colour bar settings (:meth:`geoviz.viz.live.ImageView.set_colorbar`) matching :func:`field_rgba`.

    Args:
        kind: ``"binary"`` (land probability, :data:`PLAND_CMAP` from 0 to 1),
            ``"multiclass"`` (one colour per class index ``0..n_classes-1``) or
            ``"regression"`` (``style``'s colormap over its range, titled in units).
        n_classes: number of classes (multiclass).
        style: :func:`regression_style` of the task (regression).
    """
    from geoviz.viz.animation import colorbar_ticks, tick_text
    from geoviz.viz.colors import categorical_palette, colormap_lut, hex_colors

    if kind == "regression":
        if style is None:
            raise ValueError("colorbar_spec('regression') needs style=regression_style(task)")
        lut = colormap_lut(style["cmap"])
        lo, hi = style["clim"]
        # both ends labelled with their values, round values between, 0 on a diverging scale
        ticks = list(style.get("ticks") or colorbar_ticks(lo, hi, center=style.get("center")))
        return {"palette": hex_colors(lut), "low": lo, "high": hi,
                "title": style["label"], "ticks": ticks, "labels": {t: tick_text(t) for t in ticks}}
    if kind == "binary":
        lut = colormap_lut(PLAND_CMAP)
        return {"palette": hex_colors(lut), "low": 0.0, "high": 1.0,
                "title": "P(land)   (0 = ocean, 1 = land)", "ticks": [0.0, 0.25, 0.5, 0.75, 1.0], "labels": {}}
    if kind != "multiclass" or not n_classes or n_classes < 1:
        raise ValueError(f"colorbar_spec needs kind 'binary' or 'multiclass' with n_classes, got {kind!r}, {n_classes!r}")
    n = int(n_classes)
    return {"palette": hex_colors(categorical_palette(n)), "low": -0.5, "high": n - 0.5, "title": "class",
            "ticks": list(range(n)), "labels": {}}

FLAT_BOUNDS = (-180.0, -90.0, 180.0, 90.0)
"""``(left, bottom, right, top)`` of the flat map in degrees."""


@contextlib.contextmanager
def batched_updates() -> Iterator[None]:
    """Group several view updates of the current session into one Bokeh document change.

    Each HoloViews/Panel update otherwise re-walks the whole document's model graph
    (``Document.models.recompute``) and sends its own message; inside this context the
    graph is recomputed once and the events are dispatched together (Panel ``hold``). A
    no-op outside a server session.
    """
    import panel as pn

    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        yield
        return
    with pn.io.hold(doc), doc.models.freeze():
        yield


def field_rgba(values: Any, shape: tuple[int, int], kind: str = "continuous", *,
               n_classes: int | None = None, cmap: str | None = None,
               clim: tuple[float, float] | None = None) -> np.ndarray:
    """Colour a field given on a regular grid.

    Args:
        values: ``(H*W,)`` numbers (``kind="continuous"``: e.g. land probabilities in
            [0, 1]; ``"categorical"``: class indices) or ``(H*W, 3)`` RGB in [0, 1]
            (``"rgb"``).
        shape: ``(H, W)`` of the grid.
        kind, n_classes, cmap, clim: see :func:`geoviz.viz.colors.colorize` (a fixed
            ``n_classes`` keeps class colours stable while predictions change).

    Returns:
        ``(H, W, 4)`` uint8 RGBA.
    """
    from geoviz.viz.colors import colorize

    v = np.asarray(values)
    H, W = int(shape[0]), int(shape[1])
    v = v.reshape((H, W) + v.shape[1:])
    return colorize(v, kind=kind, cmap=cmap, clim=clim, n_classes=n_classes)


def rgb_element(rgba: np.ndarray, bounds: tuple[float, float, float, float], **labels: str) -> Any:
    """``hv.RGB`` of an ``(H, W, 4)`` uint8 image over ``bounds`` (kdims ``x``/``y`` or as labelled)."""
    import holoviews as hv

    kdims = [labels.get("x", "x"), labels.get("y", "y")]
    return hv.RGB(np.ascontiguousarray(rgba), bounds=bounds, kdims=kdims, vdims=["R", "G", "B", "A"])


png_data_url = render.png_data_url
"""``data:image/png;base64,...`` of an ``(h, w, 3|4)`` uint8 image (for inline thumbnails):
:func:`geoviz.render.png_data_url`."""
