"""Import HoloViews with the Bokeh backend registered (needed for ``.opts``), lazily."""

from __future__ import annotations

from typing import Any


def hv() -> Any:
    """``holoviews`` with ``holoviews.plotting.bokeh`` imported (no notebook output, no CDN)."""
    import holoviews
    import holoviews.plotting.bokeh  # noqa: F401  (registers the backend for .opts)

    if not holoviews.Store.current_backend or holoviews.Store.current_backend not in holoviews.Store.renderers:
        holoviews.Store.set_current_backend("bokeh")
    return holoviews
