"""Colour mapping of the visual layer: values → RGBA uint8.

The palettes and the colouring live in :mod:`geoviz.render` (the one place geoviz draws
from); these names are re-exported here for the views, tabs and notebooks that import
them from ``geoviz.viz.colors``.
"""

from __future__ import annotations

from geoviz.render import (KINDS, LAND_RGB, OCEAN_RGB, PLAND_CMAP, categorical_palette, colorize, colormap_lut,
                           hex_colors)

__all__ = ["KINDS", "OCEAN_RGB", "LAND_RGB", "PLAND_CMAP", "colormap_lut", "categorical_palette", "colorize", "hex_colors"]
