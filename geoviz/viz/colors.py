"""Colour mapping shared by every view: values → RGBA uint8.

The default continuous map ``"landocean"`` is the CLI's ocean-blue → land-green ramp
(:func:`geoviz.cli.probability_image`), so PNGs, GIFs, maps and globes agree.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

__all__ = ["KINDS", "OCEAN_RGB", "LAND_RGB", "PLAND_CMAP", "colormap_lut", "categorical_palette", "colorize", "hex_colors"]

KINDS: tuple[str, ...] = ("continuous", "categorical", "rgb")
"""Accepted field kinds."""

OCEAN_RGB = (30, 70, 160)
LAND_RGB = (60, 150, 60)

PLAND_CMAP = "BrBG_r"
"""The one colormap of P(land) in the dashboard (the Training and the Smoothness tabs, their
colour bars, globes, training points and GIFs): ocean teal (0), white at the 0.5 decision
boundary, land brown (1). Diverging, because 0.5 means something: where the model is unsure;
it also shows Linear(SH)'s low-amplitude ripples (ringing), which the two-tone
``"landocean"`` ramp (the CLI's and the notebook widgets' colours) hides."""


@lru_cache(maxsize=32)
def colormap_lut(cmap: str = "landocean", n: int = 256) -> np.ndarray:
    """``(n, 4)`` uint8 RGBA lookup table of a named colormap.

    Args:
        cmap: ``"landocean"`` (CLI colours) or any matplotlib colormap name
            (``"viridis"``, ``"RdBu_r"``, ...).
        n: number of entries.

    Raises:
        ValueError: unknown colormap name.
    """
    if cmap == "landocean":
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
    """``(n, 4)`` uint8 RGBA palette for class indices 0..n-1 (tab10 / tab20, then cycled)."""
    import matplotlib

    base = matplotlib.colormaps["tab10" if n <= 10 else "tab20"].colors
    rgb = np.array([base[i % len(base)] for i in range(max(n, 1))])
    pal = np.concatenate([np.round(rgb * 255), np.full((len(rgb), 1), 255.0)], axis=1).astype(np.uint8)
    pal.flags.writeable = False
    return pal


def hex_colors(rgba: np.ndarray) -> list[str]:
    """``(n, 3|4)`` uint8 colours → list of ``"#rrggbb"`` strings."""
    return ["#%02x%02x%02x" % tuple(int(c) for c in row[:3]) for row in np.asarray(rgba)]


def colorize(values: Any, kind: str = "continuous", cmap: str | None = None,
             clim: Sequence[float] | None = None, n_classes: int | None = None) -> np.ndarray:
    """Map values to RGBA colours.

    Args:
        values: ``(...,)`` numbers (continuous: probabilities, similarities, ...;
            categorical: integer class indices) or ``(..., 3)`` RGB floats in [0, 1] or
            uint8 (``kind="rgb"``). NaN values become fully transparent.
        kind: ``"continuous"``, ``"categorical"`` or ``"rgb"``.
        cmap: colormap name for continuous values (default ``"landocean"``).
        clim: ``(vmin, vmax)`` for continuous values (default: ``(0, 1)`` for the
            ``landocean`` map, else the finite min/max of ``values``).
        n_classes: palette size for categorical values (default ``max + 1``).

    Returns:
        ``(..., 4)`` uint8 RGBA array (same leading shape as ``values``).

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
        name = cmap or "landocean"
        if clim is None:
            if name == "landocean":
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
