"""Small image/element helpers shared by the dashboard tabs (thin over :mod:`geoviz.viz`).

Fields live on a regular lon/lat grid (:func:`geoviz.data.regular_grid`, rows north →
south). Images are ``(H, W, 4)`` uint8 RGBA arrays, row 0 at the top (north).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

__all__ = ["FLAT_BOUNDS", "batched_updates", "ensure_extension", "field_rgba", "rgb_element", "png_data_url"]

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


def png_data_url(rgb: np.ndarray) -> str:
    """``data:image/png;base64,...`` of an ``(h, w, 3|4)`` uint8 image (for inline thumbnails)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
