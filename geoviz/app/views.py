"""Small Panel/HoloViews helpers shared by the dashboard tabs; every colour comes from
:mod:`geoviz.render` (re-exported here: ``prediction_rgba``, ``regression_rgba``,
``field_rgba`` = :func:`geoviz.render.grid_rgba`, ``colorbar_spec``).

Fields live on a regular lon/lat grid (:func:`geoviz.data.regular_grid`, rows north →
south). Images are ``(H, W, 4)`` uint8 RGBA arrays, row 0 at the top (north).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from geoviz import render
from geoviz.render import (FIELD_CMAPS, NAN_GREY, PLAND_CMAP, colorbar_spec, prediction_rgba,  # for the tabs
                           regression_rgba)
from geoviz.render import grid_rgba as field_rgba
from geoviz.viz.animation import regression_style, task_title

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


def rgb_element(rgba: np.ndarray, bounds: tuple[float, float, float, float], **labels: str) -> Any:
    """``hv.RGB`` of an ``(H, W, 4)`` uint8 image over ``bounds`` (kdims ``x``/``y`` or as labelled)."""
    import holoviews as hv

    kdims = [labels.get("x", "x"), labels.get("y", "y")]
    return hv.RGB(np.ascontiguousarray(rgba), bounds=bounds, kdims=kdims, vdims=["R", "G", "B", "A"])


png_data_url = render.png_data_url
"""``data:image/png;base64,...`` of an ``(h, w, 3|4)`` uint8 image (for inline thumbnails):
:func:`geoviz.render.png_data_url`."""
