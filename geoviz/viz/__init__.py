"""Visual layer: flat maps, an interactive globe, training animations and L sweeps.

HoloViews + Bokeh + Datashader only; coastlines come from the shipped Natural Earth
polygon, so nothing is downloaded (no tiles, no cartopy, no CDN). HoloViews is imported
lazily by the functions that return HoloViews objects; the numpy parts (projection,
fields, :func:`render_globe`) work without it.
"""

from .colors import KINDS, categorical_palette, colorize, colormap_lut
from .coastlines import coastline_paths, coastlines_element, graticule_paths, nan_join, project_paths
from .fields import FunctionField, GridField, as_field, model_function
from .globe import Globe, globe_lines, render_globe
from .projection import orthographic_forward, orthographic_inverse, pixel_grid

__all__ = [
    "KINDS",
    "categorical_palette",
    "colorize",
    "colormap_lut",
    "coastline_paths",
    "coastlines_element",
    "graticule_paths",
    "nan_join",
    "project_paths",
    "FunctionField",
    "GridField",
    "as_field",
    "model_function",
    "Globe",
    "globe_lines",
    "render_globe",
    "orthographic_forward",
    "orthographic_inverse",
    "pixel_grid",
    "flat_map",
    "tap_stream",
    "grid_image",
    "training_holomap",
    "training_gif",
    "training_frames",
    "fit_l_sweep",
    "l_sweep_layout",
    "f_max_deg",
]


def __getattr__(name: str):  # lazy: these import holoviews / training
    if name in ("flat_map", "tap_stream", "grid_image"):
        from . import maps

        return getattr(maps, name)
    if name in ("training_holomap", "training_gif", "training_frames"):
        from . import animation

        return getattr(animation, name)
    if name in ("fit_l_sweep", "l_sweep_layout", "f_max_deg"):
        from . import lsweep

        return getattr(lsweep, name)
    raise AttributeError(f"module 'geoviz.viz' has no attribute {name!r}")
