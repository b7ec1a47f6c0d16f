"""One way to draw: palettes, value → colour, colour bars and legends, coastlines, 2:1 map
figures, PNG and GIF encoding.

Every picture geoviz makes (the CLI's PNG/GIF, the notebook widgets' maps, the static
embedding figures, ``geoviz fit``/``species map`` figures, the Compare tab's figures, the
training GIFs) is drawn with the functions here, so colours, legends and coastlines agree.

Conventions
    * A **map raster** is an ``(H, W)`` array on a regular lon/lat grid: row 0 is the north
      edge (rows run north → south, lat 90° → −90°), column 0 the west edge (lon −180° → 180°
      across); a global raster is 2:1 (``W = 2·H``). A flat ``(H*W,)`` vector in the same
      row-major order is accepted wherever a ``shape`` is given.
    * An **image** is a numpy ``uint8`` array, ``(h, w, 3)`` RGB or ``(h, w, 4)`` RGBA,
      channels 0..255, row 0 at the top.
    * An **extent** is ``(lon0, lon1, lat0, lat1)`` in degrees (matplotlib's ``imshow``
      order); :data:`GLOBAL_EXTENT` is the whole world.
    * Matplotlib is used only through its object API (``matplotlib.figure.Figure`` with an
      Agg canvas attached to that one figure): never ``pyplot``, never ``matplotlib.use``, no
      ``rcParams`` changes, so a user's notebook backend is left alone and drawing is safe in
      worker threads and child processes.
    * Importing this module imports numpy only; Pillow and matplotlib are imported by the
      functions that need them (the CLI starts fast).

Sections: palettes (:data:`PLAND_CMAP`, :func:`colormap_lut`, :func:`categorical_palette`,
:func:`symmetric_clim`), colouring (:func:`colorize`, :func:`grid_rgb`), colour bars and
legends (:func:`colorbar_ticks`, :func:`colorbar_image`, :func:`class_legend_image`,
:func:`legend_image`, :func:`add_colorbar`, :func:`class_legend`), coastlines
(:func:`coastline_paths`, :func:`coastline_mask`, :func:`draw_coastlines`,
:func:`add_coastlines`), raster maps (:func:`compose_map`, :func:`map_image`), matplotlib
figures (:func:`new_figure`, :func:`map_figure`, :func:`style_map_axes`,
:func:`show_raster`, :func:`show_mask`, :func:`figure_png`, :func:`figure_image`,
:func:`save_figure`) and encoding (:func:`png_bytes`, :func:`png_data_url`,
:func:`gif_bytes`, :func:`gif_palette`).
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    # palettes
    "KINDS", "OCEAN_RGB", "LAND_RGB", "NAN_RGB", "NAN_GREY", "COAST_RGB", "LANDOCEAN_CMAP", "PLAND_CMAP",
    "SEQUENTIAL_CMAP", "DIVERGING_CMAP", "PROBABILITY_CMAP", "FIELD_CMAPS", "CENTRED_FIELDS", "AGREE_COLORS",
    "RANGE_COLORS", "colormap_lut", "categorical_palette", "hex_colors", "symmetric_clim", "mpl_colormap",
    "class_colormap",
    # colouring
    "colorize", "grid_rgb", "rgba_to_rgb", "field_style", "regression_style", "grid_rgba", "regression_rgba", "prediction_rgba", "colorbar_spec",
    # colour bars and legends
    "nice_ceil", "colorbar_ticks", "legend_ticks", "tick_text", "colorbar_image", "class_legend_image",
    "legend_image", "add_colorbar", "class_legend",
    # coastlines
    "GLOBAL_EXTENT", "coastline_paths", "nan_join", "lonlat_to_pixel", "coastline_mask", "draw_coastlines",
    "add_coastlines",
    # raster maps
    "resize_nearest", "compose_map", "map_image",
    # matplotlib figures
    "new_figure", "map_figure", "style_map_axes", "show_raster", "show_mask", "figure_png", "figure_image",
    "save_figure",
    # encoding
    "png_bytes", "png_data_url", "gif_bytes", "gif_palette",
]

Extent = tuple[float, float, float, float]

# ============================================================================ palettes

KINDS: tuple[str, ...] = ("continuous", "categorical", "rgb")
"""Kinds of values :func:`colorize` colours: numbers on a colour map, class indices, RGB."""

OCEAN_RGB = (30, 70, 160)
"""Colour of 0 (ocean) on the ``"landocean"`` ramp."""
LAND_RGB = (60, 150, 60)
"""Colour of 1 (land) on the ``"landocean"`` ramp."""

NAN_RGB = (200, 200, 200)
"""Colour of raster cells without a value (NaN), e.g. the ocean of a land-only field."""
NAN_GREY = NAN_RGB + (255,)
""":data:`NAN_RGB` as opaque RGBA."""
COAST_RGB = (0, 0, 0)
"""Colour of coastlines on raster maps."""

LANDOCEAN_CMAP = "landocean"
"""The two-tone P(land) ramp of the CLI and the notebook widgets: :data:`OCEAN_RGB` (0) →
:data:`LAND_RGB` (1), linear in RGB; the default colour map of :func:`colorize`."""

PLAND_CMAP = "BrBG_r"
"""The one colour map of P(land) in the dashboard (the Training and the Smoothness tabs, their
colour bars, globes, training points and GIFs): ocean teal (0), white at the 0.5 decision
boundary, land brown (1). Diverging, because 0.5 means something: where the model is unsure;
it also shows Linear(SH)'s low-amplitude ripples (ringing), which the two-tone
:data:`LANDOCEAN_CMAP` ramp hides."""

SEQUENTIAL_CMAP = "viridis"
"""Values without a meaningful middle: similarity, P(present), a field in its units."""

DIVERGING_CMAP = "RdBu_r"
"""Signed fields whose 0 means something (residuals, errors): use with :func:`symmetric_clim`."""

PROBABILITY_CMAP = "RdYlBu_r"
"""P(positive class) of a user's binary task (``geoviz fit`` maps): 0.5 in the neutral middle."""

FIELD_CMAPS = {"temperature": "RdYlBu_r", "precipitation": "YlGnBu", "elevation": "viridis", "geoid": "RdBu_r",
               "magnetic": "viridis"}
"""Colour map of each built-in field's maps (others: :data:`SEQUENTIAL_CMAP`): diverging only
where 0 means something (:data:`CENTRED_FIELDS`), sequential otherwise."""

CENTRED_FIELDS = frozenset({"temperature", "geoid"})
"""Fields whose 0 means something (0 °C, the reference ellipsoid): a diverging colour map with
its neutral middle at 0 (a colour range symmetric about 0)."""

AGREE_COLORS = {"correct": "#1b7837", "wrong": "#d6604d"}
"""Two-class palette of agreement maps: predicted class right (green) or wrong (red)."""

RANGE_COLORS = {"truth": "#1b7837", "observations": "#b2182b", "range": "#2166ac"}
"""Species range maps: the true range, the observations (dots) and the predicted range."""


@lru_cache(maxsize=32)
def colormap_lut(cmap: str = LANDOCEAN_CMAP, n: int = 256) -> np.ndarray:
    """``(n, 4)`` uint8 RGBA lookup table of a named colour map (entry 0 = the low end).

    Args:
        cmap: ``"landocean"`` (:data:`LANDOCEAN_CMAP`) or any matplotlib colour map name
            (``"viridis"``, ``"RdBu_r"``, :data:`PLAND_CMAP`, ...).
        n: number of entries.

    Returns:
        Read-only ``(n, 4)`` uint8 array (cached).

    Raises:
        ValueError: unknown colour map name.
    """
    if cmap == LANDOCEAN_CMAP:
        t = np.linspace(0.0, 1.0, n)[:, None]
        rgb = np.array(OCEAN_RGB, float) + t * (np.array(LAND_RGB, float) - np.array(OCEAN_RGB, float))
        lut = np.concatenate([np.round(rgb), np.full((n, 1), 255.0)], axis=1).astype(np.uint8)
    else:
        import matplotlib

        try:
            cm = matplotlib.colormaps[cmap]
        except KeyError:
            raise ValueError(f"unknown colormap {cmap!r}; use 'landocean' or a matplotlib colormap name") from None
        lut = np.round(cm(np.linspace(0.0, 1.0, n)) * 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=8)
def categorical_palette(n: int) -> np.ndarray:
    """``(n, 4)`` uint8 RGBA colours of class indices ``0..n-1`` (tab10 up to 10 classes, else
    tab20, cycled beyond 20); read-only, cached."""
    import matplotlib

    base = matplotlib.colormaps["tab10" if n <= 10 else "tab20"].colors
    rgb = np.array([base[i % len(base)] for i in range(max(n, 1))])
    pal = np.concatenate([np.round(rgb * 255), np.full((len(rgb), 1), 255.0)], axis=1).astype(np.uint8)
    pal.flags.writeable = False
    return pal


def hex_colors(rgba: np.ndarray) -> list[str]:
    """``(n, 3|4)`` uint8 colours → list of ``"#rrggbb"`` strings."""
    return ["#%02x%02x%02x" % tuple(int(c) for c in row[:3]) for row in np.asarray(rgba)]


def symmetric_clim(values: Any, percentile: float = 98.0) -> tuple[float, float]:
    """Colour range ``(−m, m)`` of a signed field for a diverging map (:data:`DIVERGING_CMAP`):
    ``m`` = the ``percentile``-th percentile of ``|values|`` over the finite values (1 if none
    or 0), so that 0 sits in the colour map's neutral middle."""
    v = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1)
    v = v[np.isfinite(v)]
    m = float(np.percentile(v, percentile)) if v.size else 0.0
    m = m if m > 0 else 1.0
    return -m, m


def mpl_colormap(cmap: str | None = None) -> Any:
    """The ``matplotlib.colors.Colormap`` of a colour map name (``"landocean"`` included;
    default :data:`LANDOCEAN_CMAP`, as :func:`colorize`)."""
    name = cmap or LANDOCEAN_CMAP
    if name == LANDOCEAN_CMAP:
        from matplotlib.colors import ListedColormap

        return ListedColormap(colormap_lut(name)[:, :3] / 255.0, name=name)
    import matplotlib

    colormap_lut(name)  # the same error for an unknown name
    return matplotlib.colormaps[name]


def class_colormap(n: int) -> tuple[Any, Any]:
    """``(ListedColormap, BoundaryNorm)`` drawing class index ``k`` (0..n-1) in
    :func:`categorical_palette` colour ``k`` (for ``imshow``/``scatter``/colour bars)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = max(int(n), 1)
    return ListedColormap(categorical_palette(n)[:, :3] / 255.0), BoundaryNorm(np.arange(-0.5, n + 0.5), n)


# ============================================================================ colouring


def colorize(values: Any, kind: str = "continuous", cmap: str | None = None,
             clim: Sequence[float] | None = None, n_classes: int | None = None) -> np.ndarray:
    """Map values to RGBA colours.

    Args:
        values: ``(...,)`` numbers (continuous: probabilities, similarities, values in units;
            categorical: integer class indices) or ``(..., 3)`` RGB floats in [0, 1] or
            uint8 (``kind="rgb"``). NaN values become fully transparent (alpha 0).
        kind: ``"continuous"``, ``"categorical"`` or ``"rgb"``.
        cmap: colour map name for continuous values (default :data:`LANDOCEAN_CMAP`).
        clim: ``(vmin, vmax)`` for continuous values, in the values' units; outside it the end
            colours (default: ``(0, 1)`` for ``"landocean"``, else the finite min/max).
        n_classes: palette size for categorical values (default ``max + 1``).

    Returns:
        ``(..., 4)`` uint8 RGBA (same leading shape as ``values``).

    Raises:
        ValueError: unknown kind, or a shape that does not fit the kind.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    v = np.asarray(values)
    if kind == "rgb":
        if v.shape[-1:] != (3,) and v.shape[-1:] != (4,):
            raise ValueError(f"kind='rgb' needs values of shape (..., 3), got {v.shape}")
        v = v[..., :3]
        if v.dtype == np.uint8:
            rgb = v
            nan = np.zeros(v.shape[:-1], bool)
        else:
            vf = v.astype(np.float64)
            nan = ~np.isfinite(vf).all(axis=-1)
            rgb = np.round(np.clip(np.nan_to_num(vf), 0.0, 1.0) * 255).astype(np.uint8)
        out = np.empty(v.shape[:-1] + (4,), np.uint8)
        out[..., :3] = rgb
        out[..., 3] = np.where(nan, 0, 255)
        return out
    vf = v.astype(np.float64)
    finite = np.isfinite(vf)
    if kind == "categorical":
        k = np.where(finite, vf, 0).astype(np.int64)
        if (k < 0).any():
            raise ValueError("categorical values must be non-negative class indices")
        n = int(n_classes) if n_classes is not None else int(k.max()) + 1 if k.size else 1
        out = categorical_palette(n)[k % n].copy()
    else:
        name = cmap or LANDOCEAN_CMAP
        if clim is None:
            if name == LANDOCEAN_CMAP:
                lo, hi = 0.0, 1.0
            elif finite.any():
                lo, hi = float(vf[finite].min()), float(vf[finite].max())
            else:
                lo, hi = 0.0, 1.0
        else:
            lo, hi = float(clim[0]), float(clim[1])
        lut = colormap_lut(name)
        span = hi - lo if hi > lo else 1.0
        t = np.clip((np.where(finite, vf, lo) - lo) / span, 0.0, 1.0)
        out = lut[np.round(t * (len(lut) - 1)).astype(np.int64)].copy()
    out[..., 3] = np.where(finite, out[..., 3], 0)
    return out


def rgba_to_rgb(rgba: np.ndarray, nan_rgb: Sequence[int] = NAN_RGB) -> np.ndarray:
    """``(..., 4)`` uint8 RGBA → ``(..., 3)`` uint8 RGB, transparent cells (alpha 0: no value)
    painted ``nan_rgb``; ``(..., 3)`` input is returned as uint8 unchanged."""
    a = np.asarray(rgba)
    if a.shape[-1] == 3:
        return np.ascontiguousarray(a, dtype=np.uint8)
    if a.shape[-1] != 4:
        raise ValueError(f"expected (..., 3|4) colours, got {a.shape}")
    rgb = np.array(a[..., :3], dtype=np.uint8)
    rgb[a[..., 3] == 0] = np.asarray(nan_rgb, np.uint8)
    return rgb


def grid_rgb(values: Any, shape: Sequence[int] | None = None, kind: str = "continuous", *,
             cmap: str | None = None, clim: Sequence[float] | None = None, n_classes: int | None = None,
             nan_rgb: Sequence[int] = NAN_RGB) -> np.ndarray:
    """Colour a map raster: value → RGB of every cell.

    Args:
        values: ``(H, W)`` raster, rows north → south (or ``(H*W,)`` with ``shape``):
            probabilities / values in units (continuous) or class indices (categorical);
            ``(H, W, 3)`` RGB in [0, 1] or uint8 for ``kind="rgb"``.
        shape: ``(H, W)`` when ``values`` is flat.
        kind, cmap, clim, n_classes: the colouring (see :func:`colorize`).
        nan_rgb: colour of cells without a value (NaN), default :data:`NAN_RGB`.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    v = np.asarray(values)
    if shape is not None:
        H, W = (int(s) for s in shape)
        v = v.reshape((H, W, v.shape[-1]) if kind == "rgb" else (H, W))
    if (v.ndim != 3 if kind == "rgb" else v.ndim != 2):
        raise ValueError(f"values must be an (H, W) raster (or flat with shape=), got {v.shape}")
    return rgba_to_rgb(colorize(v, kind, cmap=cmap, clim=clim, n_classes=n_classes), nan_rgb)


# ============================================================================ colour bars and legends


def nice_ceil(x: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is ≥ ``x`` (> 0)."""
    x = float(x)
    if not x > 0 or not np.isfinite(x):
        raise ValueError(f"nice_ceil needs a finite x > 0, got {x!r}")
    k = 10.0 ** np.floor(np.log10(x))
    for m in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * k >= x * (1 - 1e-12):
            return float(m * k)
    return float(10 * k)  # pragma: no cover - 10 always qualifies


def colorbar_ticks(lo: float, hi: float, *, center: float | None = None, nbins: int = 5,
                   min_gap: float = 0.1) -> list[float]:
    """Tick values for a colour bar over ``[lo, hi]``: both ends always, round values between.

    Round values (``MaxNLocator``) are used when some choice of at most ``nbins`` intervals
    puts ticks exactly at both ends (``-50, -25, 0, 25, 50``); otherwise the round values
    inside the range, less those closer than ``min_gap`` of the range to an end, plus the
    two ends themselves (``-37, 1000, 2000, 3000, 4000, 4325``). ``center`` (e.g. 0 on a
    diverging scale) is always a tick when it lies inside.
    """
    from matplotlib.ticker import MaxNLocator

    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"colorbar_ticks needs finite lo < hi, got {lo!r}, {hi!r}")
    span = hi - lo
    tol = 1e-9 * max(span, abs(lo), abs(hi))
    ticks: list[float] | None = None
    for n in sorted({nbins, 4, 5, 6, 3}, key=lambda b: (abs(b - nbins), -b)):
        vals = [float(v) for v in MaxNLocator(nbins=n).tick_values(lo, hi) if lo - tol <= v <= hi + tol]
        if vals and abs(vals[0] - lo) <= tol and abs(vals[-1] - hi) <= tol and len(vals) >= 3:
            ticks = [lo] + vals[1:-1] + [hi]
            break
    if ticks is None:
        inner = [float(v) for v in MaxNLocator(nbins=nbins).tick_values(lo, hi)
                 if lo + min_gap * span <= v <= hi - min_gap * span]
        ticks = [lo] + inner + [hi]
    if center is not None and lo < center < hi and not any(abs(t - center) <= tol for t in ticks):
        ticks = sorted([t for t in ticks if abs(t - center) >= min_gap * span or t in (lo, hi)] + [float(center)])
    return [t if t in (lo, hi) else float(f"{t:.12g}") for t in ticks]  # 0.6, not 0.6000000000000001


def legend_ticks(clim: Sequence[float]) -> list[float]:
    """The ticks a colour bar over ``clim = (lo, hi)`` shows: 0, ½ and 1 for probabilities
    (``(0, 1)``), else :func:`colorbar_ticks` (both ends, round values between, 0 when the
    range holds it)."""
    lo, hi = float(clim[0]), float(clim[1])
    if (lo, hi) == (0.0, 1.0) or not hi > lo:
        return [lo, lo + 0.5 * (hi - lo), hi]
    return colorbar_ticks(lo, hi, center=0.0 if lo < 0 < hi else None)


def tick_text(v: float) -> str:
    """A colour-bar tick label: whole numbers from 100 up (``"48213"``, not ``"4.8e+04"``),
    three significant digits below (``"-12.5"``, ``"0.25"``)."""
    v = float(v)
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font (no system fonts needed)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def colorbar_image(width: int, *, cmap: str | None = None, clim: Sequence[float] = (0.0, 1.0),
                   label: str = "P(land)", ticks: Sequence[float] | None = None, font_size: int = 11) -> np.ndarray:
    """A horizontal colour bar as an image, for a map ``width`` pixels wide.

    The ramp runs from ``clim[0]`` (left) to ``clim[1]`` (right) in ``cmap`` (default
    :data:`LANDOCEAN_CMAP`), titled ``label`` (e.g. ``"temperature (°C)"``), with ticks
    labelled below it: ``ticks`` or :func:`legend_ticks` (both ends always labelled).

    Returns:
        ``(h, width, 3)`` uint8 RGB, white background.
    """
    from PIL import Image, ImageDraw

    width = int(width)
    if width < 80:
        raise ValueError(f"width must be >= 80 pixels, got {width}")
    font = _font(font_size)
    fh = font_size + 3
    h = 2 * fh + 14
    img = Image.new("RGB", (width, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    lut = colormap_lut(cmap or LANDOCEAN_CMAP)
    x0, x1, y0, y1 = 40, width - 40, fh, fh + 12
    ramp = lut[np.round(np.linspace(0, len(lut) - 1, x1 - x0)).astype(np.int64), :3]
    img.paste(Image.fromarray(np.ascontiguousarray(np.repeat(ramp[None], y1 - y0, axis=0))), (x0, y0))
    d.rectangle([x0 - 1, y0 - 1, x1, y1], outline=(0, 0, 0))
    d.text((width / 2, 1), label, fill=(0, 0, 0), font=font, anchor="ma")
    lo, hi = float(clim[0]), float(clim[1])
    span = hi - lo if hi > lo else 1.0
    for v in (legend_ticks((lo, hi)) if ticks is None else ticks):
        x = x0 + (float(v) - lo) / span * (x1 - x0 - 1)
        d.line([(x, y1), (x, y1 + 3)], fill=(0, 0, 0))
        d.text((x, y1 + 3), tick_text(v), fill=(0, 0, 0), font=font, anchor="ma")
    return np.asarray(img)


def class_legend_image(width: int, names: Sequence[str], colors: np.ndarray | None = None, *,
                       font_size: int = 11) -> np.ndarray:
    """A class legend as an image: one swatch and name per class, wrapped into rows.

    Args:
        width: image width in pixels (≥ 80), e.g. the map's.
        names: class names, in class-index order.
        colors: ``(n, 3|4)`` uint8 swatch colours (default :func:`categorical_palette`).

    Returns:
        ``(h, width, 3)`` uint8 RGB, white background.
    """
    from PIL import Image, ImageDraw

    width = int(width)
    if width < 80:
        raise ValueError(f"width must be >= 80 pixels, got {width}")
    names = [str(c) for c in names]
    n = len(names)
    if n < 1:
        raise ValueError("a class legend needs at least one class name")
    pal = categorical_palette(n) if colors is None else np.asarray(colors, np.uint8)
    font = _font(font_size)
    fh = font_size + 3
    cell = max(max(int(font.getlength(nm)) for nm in names) + 22, 40)
    per_row = max(1, (width - 8) // cell)
    rows = -(-n // per_row)
    img = Image.new("RGB", (width, rows * fh + 6), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for k, nm in enumerate(names):
        x, y = 4 + (k % per_row) * cell, 3 + (k // per_row) * fh
        d.rectangle([x, y + 1, x + 13, y + fh - 3], fill=tuple(int(c) for c in pal[k, :3]), outline=(60, 60, 60))
        d.text((x + 17, y), nm, fill=(0, 0, 0), font=font)
    return np.asarray(img)


def legend_image(kind: str, width: int, *, label: str = "P(land)", n_classes: int | None = None,
                 class_names: Sequence[str] | None = None, cmap: str | None = None,
                 clim: Sequence[float] = (0.0, 1.0), font_size: int = 11) -> np.ndarray:
    """The legend strip of a map ``width`` pixels wide: :func:`colorbar_image` for
    ``kind="continuous"`` (``cmap``, ``clim``, ``label``), :func:`class_legend_image` for
    ``"categorical"`` (``n_classes`` swatches in :func:`categorical_palette` colours, named
    ``class_names`` or ``0..n-1``).

    Returns:
        ``(h, width, 3)`` uint8 RGB, white background.

    Raises:
        ValueError: another kind, no classes, or ``width`` < 80.
    """
    if kind == "continuous":
        return colorbar_image(width, cmap=cmap, clim=clim, label=label, font_size=font_size)
    if kind != "categorical":
        raise ValueError(f"kind must be 'continuous' or 'categorical', got {kind!r}")
    n = int(n_classes if n_classes is not None else len(class_names or []))
    if n < 1:
        raise ValueError("a categorical legend needs n_classes or class_names")
    names = [str(c) for c in (class_names if class_names is not None else range(n))][:n]
    return class_legend_image(width, names, categorical_palette(n)[:len(names)], font_size=font_size)


@lru_cache(maxsize=16)
def _legend_cached(kind: str, width: int, label: str, n_classes: int | None, class_names: tuple[str, ...] | None,
                   cmap: str | None, clim: tuple[float, float]) -> np.ndarray:
    img = legend_image(kind, width, label=label, n_classes=n_classes, class_names=class_names, cmap=cmap, clim=clim)
    img.flags.writeable = False
    return img


def add_colorbar(fig: Any, mappable: Any, ax: Any, label: str | None = None, *, center: float | None = None,
                 class_names: Sequence[str] | None = None, shrink: float = 0.85, **kw: Any) -> Any:
    """A colour bar beside ``ax`` (or a list/array of axes) in a matplotlib ``Figure``.

    Continuous values: ticks at :func:`colorbar_ticks` of the mappable's range, so both ends
    are labelled (``center``, e.g. 0, also when inside). Classes (``class_names``): one tick
    per class, labelled with its name. ``label``: the bar's title (units in it, e.g.
    ``"temperature [°C]"``). ``kw`` go to ``Figure.colorbar``.

    Returns:
        The ``matplotlib.colorbar.Colorbar``.
    """
    cb = fig.colorbar(mappable, ax=ax, shrink=shrink, **kw)
    if class_names is not None:
        cb.set_ticks(np.arange(len(class_names)), labels=[str(c) for c in class_names])
    else:
        norm = mappable.norm
        if norm.vmin is None or norm.vmax is None:
            mappable.autoscale_None()
        lo, hi = float(norm.vmin), float(norm.vmax)
        if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
            ticks = colorbar_ticks(lo, hi, center=center)
            cb.set_ticks(ticks, labels=[tick_text(t) for t in ticks])
    if label:
        cb.set_label(label)
    return cb


def class_legend(target: Any, colors: Any, names: Sequence[str], *, title: str | None = None, **kw: Any) -> Any:
    """A legend of classes (one swatch per class) on a matplotlib ``Axes`` or ``Figure``.

    Args:
        target: the ``Axes`` or ``Figure`` that gets the legend.
        colors: ``(n, 3|4)`` uint8 colours, or ``n`` matplotlib colours (``"#1b7837"``).
        names: the ``n`` labels shown beside the swatches.
        title: legend title.
        kw: ``legend`` keywords (``loc``, ``bbox_to_anchor``, ``ncol``, ``fontsize``, ...);
            the defaults are frameless with short handles.

    Returns:
        The ``matplotlib.legend.Legend`` (``None`` when there are no classes).
    """
    from matplotlib.patches import Patch

    if isinstance(colors, np.ndarray) and colors.dtype == np.uint8:
        cols = list(colors[:, :3].astype(np.float64) / 255.0)
    else:
        cols = list(colors)
    handles = [Patch(facecolor=c, edgecolor="#444444", linewidth=0.4, label=str(nm)) for c, nm in zip(cols, names)]
    if not handles:
        return None
    opts = {"frameon": False, "handlelength": 1.0, "columnspacing": 0.8, "labelspacing": 0.25}
    opts.update(kw)
    if title is not None:
        opts["title"] = title
    return target.legend(handles=handles, **opts)


# ============================================================================ coastlines

GLOBAL_EXTENT: Extent = (-180.0, 180.0, -90.0, 90.0)
"""``(lon0, lon1, lat0, lat1)`` of the whole world, degrees."""


@lru_cache(maxsize=4)
def _coastlines(simplify: float | None) -> tuple[np.ndarray, ...]:
    from geoviz.data import land_boundaries

    paths = land_boundaries(drop_frame_edges=True)
    if simplify:
        import shapely

        out = []
        for p in paths:
            s = np.asarray(shapely.simplify(shapely.linestrings(p), simplify).coords)
            if len(s) >= 2:
                out.append(s)
        paths = out
    res = []
    for p in paths:
        a = np.array(p, dtype=np.float64)
        a.flags.writeable = False
        res.append(a)
    return tuple(res)


def coastline_paths(simplify: float | None = None) -> list[np.ndarray]:
    """Coastline polylines of the shipped Natural Earth 1:110m land polygon (no download).

    The artificial polygon edges along the antimeridian and the south pole are removed.

    Args:
        simplify: optional Douglas–Peucker tolerance in degrees (shapely ``simplify``).

    Returns:
        List of ``(K, 2)`` float64 read-only arrays of ``(lon, lat)`` degrees (cached).
    """
    if simplify is not None and not (np.isfinite(simplify) and simplify >= 0):
        raise ValueError(f"simplify must be a non-negative number of degrees, got {simplify!r}")
    return list(_coastlines(float(simplify) if simplify else None))


def nan_join(paths: list[np.ndarray]) -> np.ndarray:
    """Concatenate ``(K_i, 2)`` polylines into one ``(sum K_i + n - 1, 2)`` array, NaN rows between."""
    if not paths:
        return np.zeros((0, 2))
    sep = np.full((1, 2), np.nan)
    parts: list[np.ndarray] = []
    for i, p in enumerate(paths):
        if i:
            parts.append(sep)
        parts.append(np.asarray(p, dtype=np.float64))
    return np.concatenate(parts)


def _extent(extent: Sequence[float] | None) -> Extent:
    lon0, lon1, lat0, lat1 = (float(v) for v in (GLOBAL_EXTENT if extent is None else extent))
    if not (lon1 > lon0 and lat1 > lat0):
        raise ValueError(f"extent must be (lon0, lon1, lat0, lat1) with lon0 < lon1 and lat0 < lat1, got {extent!r}")
    return lon0, lon1, lat0, lat1


def lonlat_to_pixel(lon: Any, lat: Any, shape: Sequence[int], extent: Sequence[float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates ``(x, y)`` of lon/lat degrees on an ``(H, W)`` raster
    covering ``extent`` (default global): ``x`` from the west edge (0) to the east edge (W),
    ``y`` from the north edge (0) to the south edge (H); cell ``(row, col)`` covers
    ``[col, col+1) × [row, row+1)``."""
    H, W = (int(s) for s in shape)
    lon0, lon1, lat0, lat1 = _extent(extent)
    x = (np.asarray(lon, dtype=np.float64) - lon0) * (W / (lon1 - lon0))
    y = (lat1 - np.asarray(lat, dtype=np.float64)) * (H / (lat1 - lat0))
    return x, y


@lru_cache(maxsize=16)
def _coastline_mask(H: int, W: int, extent: Extent, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(img)
    for p in coastline_paths():
        x, y = lonlat_to_pixel(p[:, 0], p[:, 1], (H, W), extent)
        d.line(list(zip(x.tolist(), y.tolist())), fill=255, width=width)
    mask = np.asarray(img) > 0
    mask.flags.writeable = False
    return mask


def coastline_mask(shape: Sequence[int], *, extent: Sequence[float] | None = None, width: int = 1) -> np.ndarray:
    """The pixels the shipped coastlines cross on an ``(H, W)`` raster covering ``extent``
    (default global, 2:1), lines ``width`` pixels wide.

    Returns:
        ``(H, W)`` bool, read-only (cached per size).
    """
    H, W = (int(s) for s in shape)
    if H < 1 or W < 1 or int(width) < 1:
        raise ValueError(f"shape and width must be positive, got {shape!r}, {width!r}")
    return _coastline_mask(H, W, _extent(extent), int(width))


def draw_coastlines(rgb: np.ndarray, color: Sequence[int] = COAST_RGB, *, extent: Sequence[float] | None = None,
                    width: int = 1) -> np.ndarray:
    """Coastlines over a lon/lat map image.

    Args:
        rgb: ``(H, W, 3|4)`` uint8 image covering ``extent`` (default global: a 2:1 map with
            row 0 at lat 90°, column 0 at lon −180°).
        color: line colour (RGB, default black).
        width: line width in pixels.

    Returns:
        A copy of ``rgb`` (uint8, same shape) with the coastline pixels (:func:`coastline_mask`)
        painted ``color``.
    """
    out = np.array(rgb, dtype=np.uint8)
    if out.ndim != 3 or out.shape[2] not in (3, 4):
        raise ValueError(f"rgb must be an (H, W, 3|4) uint8 image, got {out.shape}")
    mask = coastline_mask(out.shape[:2], extent=extent, width=width)
    out[mask, :3] = np.asarray(color, np.uint8)[:3]
    if out.shape[2] == 4:
        out[mask, 3] = 255
    return out


def add_coastlines(ax: Any, *, color: Any = "black", linewidth: float = 0.5, zorder: float = 3) -> Any:
    """Draw the shipped coastlines on a matplotlib ``Axes`` whose x is lon and y lat (degrees);
    returns the ``LineCollection``."""
    from matplotlib.collections import LineCollection

    lines = LineCollection(coastline_paths(), colors=color, linewidths=linewidth, zorder=zorder)
    ax.add_collection(lines, autolim=False)
    return lines


# ============================================================================ raster maps


def resize_nearest(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an ``(h, w, C)`` image to ``(height, width, C)``
    (integer factors repeat each cell exactly; the sampled source pixel is the one under the
    target pixel's centre)."""
    a = np.asarray(rgb)
    h, w = a.shape[:2]
    rows = np.minimum(((np.arange(int(height)) + 0.5) * h / int(height)).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(int(width)) + 0.5) * w / int(width)).astype(np.int64), w - 1)
    return np.ascontiguousarray(a[rows][:, cols])


def _text_band(width: int, text: str, height: int = 18, font_size: int = 12) -> np.ndarray:
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (int(width), height), (255, 255, 255))
    ImageDraw.Draw(band).text((4, 2), text, fill=(0, 0, 0), font=_font(font_size))
    return np.asarray(band)


def _inset_label(rgb: np.ndarray, text: str, font_size: int = 11) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb, mode="RGB")
    d = ImageDraw.Draw(img)
    font = _font(font_size)
    d.rectangle([2, 2, 8 + int(font.getlength(text)), 5 + font_size + 3], fill=(255, 255, 255))
    d.text((5, 3), text, fill=(0, 0, 0), font=font)
    return np.asarray(img)


def compose_map(rgb: np.ndarray, *, scale: int = 1, coastlines: bool = True, title: str | None = None,
                legend: np.ndarray | None = None, inset: str | None = None,
                extent: Sequence[float] | None = None) -> np.ndarray:
    """A map picture from a coloured raster: upscaled, coastlines, title band, legend strip.

    Args:
        rgb: ``(H, W, 3)`` uint8 map raster (rows north → south; ``(H, W, 4)`` RGBA: cells
            with alpha 0 become :data:`NAN_RGB`), covering ``extent`` (default global, 2:1).
        scale: integer pixels per cell; the map is ``(scale·H, scale·W)``.
        coastlines: draw the shipped coastlines (black, 1 px) over the map.
        title: text in an 18-px white band above the map.
        legend: ``(h, scale·W, 3)`` uint8 strip put below the map (e.g. :func:`legend_image`).
        inset: a short label in a white box in the map's top-left corner (e.g. ``"epoch 3"``).

    Returns:
        ``(title + scale·H + legend, scale·W, 3)`` uint8 RGB.
    """
    a = rgba_to_rgb(rgb)
    if a.ndim != 3:
        raise ValueError(f"rgb must be an (H, W, 3|4) image, got {np.shape(rgb)}")
    s = int(scale)
    if s < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    img = a if s == 1 else np.repeat(np.repeat(a, s, axis=0), s, axis=1)
    if coastlines:
        img = draw_coastlines(img, extent=extent)
    if inset:
        img = _inset_label(np.ascontiguousarray(img), inset)
    parts = [img]
    if title:
        parts.insert(0, _text_band(img.shape[1], title))
    if legend is not None:
        leg = rgba_to_rgb(legend)
        if leg.shape[1] != img.shape[1]:
            raise ValueError(f"legend is {leg.shape[1]} px wide, the map {img.shape[1]} px")
        parts.append(leg)
    return np.ascontiguousarray(np.concatenate(parts, axis=0)) if len(parts) > 1 else np.ascontiguousarray(img)


def map_image(values: Any, shape: Sequence[int], kind: str = "continuous", *, n_classes: int | None = None,
              class_names: Sequence[str] | None = None, label: str = "P(land)", coastlines: bool = True,
              legend: bool = True, scale: int = 2, title: str | None = None, cmap: str | None = None,
              clim: Sequence[float] | None = None) -> np.ndarray:
    """A global 2:1 map of a field with coastlines, title and legend.

    Args:
        values: ``(H*W,)`` or ``(H, W)`` field on a regular grid, rows north → south:
            values on a colour map (continuous: probabilities, or values in ``clim``'s units)
            or class indices (categorical); NaN cells are drawn :data:`NAN_RGB` (light grey).
        shape: ``(H, W)``; the map is ``(scale·H, scale·W)`` pixels, 2:1 for a global grid.
        kind: ``"continuous"`` or ``"categorical"``.
        n_classes, class_names, label: the legend (see :func:`legend_image`).
        coastlines: draw the shipped coastlines (leave off for synthetic tasks).
        legend: add the legend strip below the map.
        title: text in a white band above the map.
        cmap, clim: continuous colour map and value range (default ``"landocean"`` over
            [0, 1]); e.g. ``cmap="RdYlBu_r", clim=(-30, 30), label="temperature (°C)"`` for a
            field in its units (values outside ``clim`` get the end colours).

    Returns:
        ``(h, scale·W, 3)`` uint8 RGB (``h`` = title band + map + legend strip).
    """
    H, W = (int(s) for s in shape)
    lim = (0.0, 1.0) if clim is None else (float(clim[0]), float(clim[1]))
    rgb = grid_rgb(np.asarray(values).reshape(H, W), kind=kind, cmap=cmap,
                   clim=lim if kind == "continuous" else None, n_classes=n_classes)
    leg = None
    if legend:
        leg = _legend_cached(kind, W * int(scale), label, n_classes,
                             None if class_names is None else tuple(str(c) for c in class_names), cmap, lim)
    return compose_map(rgb, scale=scale, coastlines=coastlines, title=title, legend=leg)


# ============================================================================ matplotlib figures


def new_figure(figsize: tuple[float, float] = (6.4, 4.8), *, dpi: float = 100,
               layout: str | None = "constrained") -> Any:
    """A ``matplotlib.figure.Figure`` with its own Agg canvas (object API: no global state,
    the user's backend untouched; safe in threads). ``figsize`` in inches, ``layout``
    ``"constrained"``, ``"tight"`` or None."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def map_figure(nrows: int = 1, ncols: int = 1, *, panel_width: float = 8.0, extent: Sequence[float] | None = None,
               dpi: float = 100, extra_width: float = 0.0, extra_height: float = 0.6,
               layout: str | None = "constrained") -> tuple[Any, np.ndarray]:
    """A figure of ``nrows × ncols`` map panels (x = lon, y = lat in degrees, equal aspect:
    2:1 for the default global ``extent``).

    Each panel is ``panel_width`` inches wide and ``panel_width · Δlat/Δlon + extra_height``
    high (room for a title and tick labels); ``extra_width`` inches are added for colour bars
    or legends. Style the panels with :func:`style_map_axes`.

    Returns:
        ``(Figure, axes)``: ``axes`` an ``(nrows, ncols)`` object array of ``Axes``.
    """
    lon0, lon1, lat0, lat1 = _extent(extent)
    aspect = (lat1 - lat0) / (lon1 - lon0)
    fig = new_figure((panel_width * ncols + extra_width, nrows * (panel_width * aspect + extra_height)),
                     dpi=dpi, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xlim(lon0, lon1)
        ax.set_ylim(lat0, lat1)
        ax.set_aspect("equal")
    return fig, axes


def style_map_axes(ax: Any, title: str | None = None, *, extent: Sequence[float] | None = None,
                   ticks: bool = True, axis_labels: bool = False, coastlines: bool = True, coast_color: Any = "black",
                   coast_width: float = 0.5, facecolor: Any = None, fontsize: float = 10) -> None:
    """Make ``ax`` a lon/lat map panel over ``extent`` (default global): limits, equal aspect,
    coastlines (:func:`add_coastlines`), ticks (every 60° lon / 30° lat on a global map,
    matplotlib's otherwise; none with ``ticks=False``), optional ``"longitude [°]"`` /
    ``"latitude [°]"`` axis labels, background ``facecolor`` and the ``title``."""
    lon0, lon1, lat0, lat1 = _extent(extent)
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect("equal")
    if coastlines:
        add_coastlines(ax, color=coast_color, linewidth=coast_width)
    if not ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        if (lon0, lon1, lat0, lat1) == GLOBAL_EXTENT:
            ax.set_xticks(np.arange(-180, 181, 60))
            ax.set_yticks(np.arange(-90, 91, 30))
        ax.tick_params(labelsize=7)
    if axis_labels:
        ax.set_xlabel("longitude [°]")
        ax.set_ylabel("latitude [°]")
    if facecolor is not None:
        ax.set_facecolor(facecolor)
    if title:
        ax.set_title(title, fontsize=fontsize)


def show_raster(ax: Any, values: Any, *, extent: Sequence[float] | None = None, kind: str = "continuous",
                cmap: str | None = None, clim: Sequence[float] | None = None, n_classes: int | None = None,
                **kw: Any) -> Any:
    """Draw a map raster on a lon/lat ``Axes`` (``imshow``, nearest cells, row 0 at the top).

    Args:
        values: ``(H, W)`` raster over ``extent`` (default global), rows north → south:
            numbers (continuous, on ``cmap`` over ``clim``; default :data:`LANDOCEAN_CMAP`,
            ``clim`` default the finite min/max) or class indices (categorical, in
            :func:`categorical_palette` colours, ``n_classes`` default ``max + 1``); or
            ``(H, W, 3|4)`` RGB(A) floats in [0, 1] or uint8 (``kind="rgb"``). NaN cells are
            left transparent.
        kw: more ``imshow`` keywords (``alpha``, ``zorder``, ...).

    Returns:
        The ``AxesImage`` (a mappable for :func:`add_colorbar`).
    """
    lon0, lon1, lat0, lat1 = _extent(extent)
    opts: dict[str, Any] = {"extent": (lon0, lon1, lat0, lat1), "origin": "upper", "interpolation": "nearest"}
    v = np.asarray(values)
    if kind == "rgb":
        pass
    elif kind == "categorical":
        k = np.asarray(v, dtype=np.float64)
        n = int(n_classes) if n_classes is not None else int(np.nanmax(k)) + 1 if np.isfinite(k).any() else 1
        opts["cmap"], opts["norm"] = class_colormap(n)
    elif kind == "continuous":
        opts["cmap"] = mpl_colormap(cmap)
        if clim is not None:
            opts["vmin"], opts["vmax"] = float(clim[0]), float(clim[1])
        elif (cmap or LANDOCEAN_CMAP) == LANDOCEAN_CMAP:
            opts["vmin"], opts["vmax"] = 0.0, 1.0
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    opts.update(kw)
    return ax.imshow(v, **opts)


def show_mask(ax: Any, mask: Any, color: Any, *, extent: Sequence[float] | None = None, alpha: float = 1.0,
              **kw: Any) -> Any:
    """Draw the True cells of an ``(H, W)`` bool raster (rows north → south, over ``extent``)
    in one ``color`` on a lon/lat ``Axes``, the others transparent; returns the ``AxesImage``."""
    from matplotlib.colors import to_rgba

    m = np.asarray(mask, dtype=bool)
    rgba = np.zeros(m.shape + (4,))
    rgba[m] = to_rgba(color, alpha)
    lon0, lon1, lat0, lat1 = _extent(extent)
    return ax.imshow(rgba, extent=(lon0, lon1, lat0, lat1), origin="upper", interpolation="nearest", **kw)


def figure_png(fig: Any, dpi: float | None = None) -> bytes:
    """PNG bytes of a matplotlib ``Figure`` at ``dpi`` (default: the figure's own)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi="figure" if dpi is None else dpi)
    return buf.getvalue()


def figure_image(fig: Any, dpi: float | None = None) -> Any:
    """A matplotlib ``Figure`` rendered to a ``PIL.Image.Image`` (RGBA)."""
    from PIL import Image

    img = Image.open(io.BytesIO(figure_png(fig, dpi)))
    img.load()
    return img


def save_figure(fig: Any, path: str | os.PathLike, dpi: float | None = None) -> Path:
    """Write a matplotlib ``Figure`` to ``path`` (format from the suffix: PNG, SVG, PDF, ...;
    parent directories created) at ``dpi`` (default the figure's own); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi="figure" if dpi is None else dpi)
    return out


# ============================================================================ encoding


def _image_array(image: Any) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3) or (H, W, 4) uint8, got {a.shape}")
    if a.dtype != np.uint8:
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool) or (a.size and (a.min() < 0 or a.max() > 255)):
            raise ValueError(f"image must hold uint8 values 0..255, got dtype {a.dtype}")
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def png_bytes(image: Any) -> bytes:
    """PNG-encode an image: an ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8 array (row 0 at
    the top), or a ``PIL.Image.Image`` (saved in its own mode).

    Raises:
        ValueError: an array of another shape, or values that are not 0..255 integers.
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        a = _image_array(image)
        image = Image.fromarray(a, mode="RGB" if a.shape[-1] == 3 else "RGBA")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def png_data_url(image: Any) -> str:
    """``data:image/png;base64,...`` URL of an image (as :func:`png_bytes`), for HTML/Leaflet."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def gif_palette(kind: str = "continuous", n_classes: int | None = None, cmap: str | None = None) -> np.ndarray:
    """``(256, 3)`` uint8 GIF palette for :func:`map_image` frames: the field's colours (the
    colour map ``cmap``, or ``n_classes`` class colours) plus black, white, the NaN grey and
    grey steps for text."""
    greys = np.repeat(np.linspace(0, 255, 16).round().astype(np.uint8)[:, None], 3, axis=1)
    extra = np.concatenate([greys, [list(NAN_RGB), [60, 60, 60]]]).astype(np.uint8)
    if kind == "continuous":
        lut = colormap_lut(cmap or LANDOCEAN_CMAP)[:, :3]
        field = lut[np.round(np.linspace(0, len(lut) - 1, 256 - len(extra))).astype(np.int64)]
    else:
        field = categorical_palette(int(n_classes or 1))[:, :3]
    pal = np.concatenate([field, extra])[:256]
    return np.concatenate([pal, np.zeros((256 - len(pal), 3), np.uint8)]).astype(np.uint8)


def gif_bytes(frames: Sequence[Any], fps: float = 5.0, *, palette: np.ndarray | None = None) -> bytes:
    """Encode frames as a looping animated GIF (Pillow only); returns the file's bytes.

    Args:
        frames: ``(H, W, 3|4)`` uint8 images (alpha ignored) or ``PIL.Image.Image`` objects,
            all the same size.
        fps: frames per second (each frame shows ``round(1000 / fps)`` ms).
        palette: ``(256, 3)`` uint8 colours every frame is mapped to (nearest colour, no
            dithering; e.g. :func:`gif_palette`: fast, and exact for colours in it); default:
            each frame's own 256-colour median-cut palette.

    Consecutive identical frames are merged by Pillow into one frame shown for their summed
    time (label frames, e.g. with the epoch, to keep them apart).

    Raises:
        ValueError: no frames, ``fps`` ≤ 0, or frames of different sizes.
    """
    from PIL import Image

    frames = list(frames)
    if not frames:
        raise ValueError("nothing to animate: no frames")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    ims = [f.convert("RGB") if isinstance(f, Image.Image)
           else Image.fromarray(np.ascontiguousarray(_image_array(f)[..., :3]), mode="RGB") for f in frames]
    if len({im.size for im in ims}) > 1:
        raise ValueError(f"frames differ in size: {sorted({im.size for im in ims})}")
    if palette is not None:
        ref = Image.new("P", (1, 1))
        ref.putpalette(np.asarray(palette, np.uint8).reshape(-1).tolist())
        pal = [im.quantize(palette=ref, dither=Image.Dither.NONE) for im in ims]
    else:
        pal = [im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for im in ims]
    buf = io.BytesIO()
    pal[0].save(buf, format="GIF", save_all=True, append_images=pal[1:], duration=int(round(1000 / fps)), loop=0,
                disposal=1, optimize=False)
    return buf.getvalue()


# ----------------------------------------------------------------------------- maps of a task


def grid_rgba(values: Any, shape: tuple[int, int], kind: str = "continuous", *,
               n_classes: int | None = None, cmap: str | None = None,
               clim: tuple[float, float] | None = None) -> np.ndarray:
    """Colour a field given on a regular grid.

    Args:
        values: ``(H*W,)`` numbers (``kind="continuous"``: e.g. land probabilities in
            [0, 1]; ``"categorical"``: class indices) or ``(H*W, 3)`` RGB in [0, 1]
            (``"rgb"``).
        shape: ``(H, W)`` of the grid.
        kind, n_classes, cmap, clim: see :func:`colorize` (a fixed
            ``n_classes`` keeps class colours stable while predictions change).

    Returns:
        ``(H, W, 4)`` uint8 RGBA.
    """
    v = np.asarray(values)
    H, W = int(shape[0]), int(shape[1])
    v = v.reshape((H, W) + v.shape[1:])
    return colorize(v, kind=kind, cmap=cmap, clim=clim, n_classes=n_classes)


def regression_rgba(values: Any, shape: tuple[int, int], style: dict[str, Any]) -> np.ndarray:
    """Colour a regression map in its units: ``style``'s colormap over its fixed ``clim``
    (:func:`geoviz.viz.animation.regression_style`), cells without a value (NaN) in :data:`NAN_GREY`.

    Args:
        values: ``(H*W,)`` values in the target's units, NaN where undefined.
        shape: ``(H, W)``.

    Returns:
        ``(H, W, 4)`` uint8 RGBA, opaque.
    """
    rgba = grid_rgba(np.asarray(values, dtype=np.float64), shape, "continuous", cmap=style["cmap"],
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
        return grid_rgba(values, shape, "continuous", cmap=PLAND_CMAP, clim=(0.0, 1.0))
    return grid_rgba(values, shape, "categorical", n_classes=n_classes)


def colorbar_spec(kind: str, n_classes: int | None = None, *, style: dict[str, Any] | None = None) -> dict[str, Any]:
    """Colour bar settings (:meth:`geoviz.viz.live.ImageView.set_colorbar`) matching :func:`grid_rgba`.

    Args:
        kind: ``"binary"`` (land probability, :data:`PLAND_CMAP` from 0 to 1),
            ``"multiclass"`` (one colour per class index ``0..n_classes-1``) or
            ``"regression"`` (``style``'s colormap over its range, titled in units).
        n_classes: number of classes (multiclass).
        style: :func:`regression_style` of the task (regression).
    """
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


def field_style(field: str | None, values: Any, percentiles: tuple[float, float] = (1.0, 99.0)) -> dict[str, Any]:
    """Colour map and range for values of a (built-in) field, the same on every page.

    Args:
        field: a built-in field's name (``"temperature"``, ...) or None for anything else.
        values: the values the range is taken from (NaNs ignored).
        percentiles: the range's low and high percentiles.

    Returns:
        ``{"cmap", "clim", "center"}``: :data:`FIELD_CMAPS` (else :data:`SEQUENTIAL_CMAP`);
        for :data:`CENTRED_FIELDS` a range symmetric about ``center`` = 0 out to a round value
        (temperature: −50 … 50 °C), so the diverging map's neutral middle is at 0; otherwise
        the percentiles and ``center`` None.
    """
    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    vals = vals[np.isfinite(vals)]
    lo, hi = (np.percentile(vals, list(percentiles)) if vals.size else (0.0, 1.0))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    center = 0.0 if field in CENTRED_FIELDS else None
    if center is not None:
        m = nice_ceil(max(abs(lo - center), abs(hi - center)))
        lo, hi = center - m, center + m
    return {"cmap": FIELD_CMAPS.get(field, SEQUENTIAL_CMAP) if field else SEQUENTIAL_CMAP,
            "clim": (float(lo), float(hi)), "center": center}


def regression_style(task: Any) -> dict[str, Any]:
    """How a regression task's maps are coloured: one fixed range for every frame of a run.

    Args:
        task: a :class:`geoviz.data.Task` of kind ``"regression"``; a built-in field's task
            carries its 1° truth grid in ``meta["grid"]``, a task from points does not.

    Returns:
        ``{"cmap", "clim", "center", "ticks", "units", "label", "field", "land_only"}``:
        ``clim`` = the 1st and 99th percentiles of the truth (the field's 1° grid, else the
        training targets), so frames are comparable and a few extremes do not wash out the map;
        for a field whose 0 means something (:data:`CENTRED_FIELDS`, e.g. temperature in °C)
        the range is symmetric about ``center`` = 0, out to a round value covering both
        percentiles (temperature: −50 … 50 °C), so the diverging colormap's neutral middle is
        at 0; ``ticks`` the colour-bar ticks (:func:`colorbar_ticks`: both ends labelled);
        ``label`` the colour-bar title, e.g. ``"temperature (°C)"``; ``field`` the built-in
        field's name or None.
    """
    meta = dict(task.meta or {})
    units = str(meta.get("units") or "")
    name = (meta.get("target_names") or [task.name])[0]
    field = meta.get("field")
    grid = meta.get("grid")
    vals = np.asarray(grid[0] if grid is not None else task.train.y, dtype=np.float64).reshape(-1)
    vals = vals[np.isfinite(vals)]
    st = field_style(field, vals)
    lo, hi = st["clim"]
    center = st["center"]
    return {"cmap": st["cmap"], "clim": (lo, hi), "center": center,
            "ticks": colorbar_ticks(lo, hi, center=center), "units": units,
            "label": f"{name} ({units})" if units else str(name), "field": field,
            "land_only": bool(meta.get("land_only", False))}
