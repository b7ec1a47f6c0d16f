"""Compiled per-pixel globe kernel: inverse orthographic projection fused with grid sampling.

One pass over the visible pixels computes lon/lat (same formulas as
:func:`geoviz.viz.projection._inverse`) and samples the cached ``(H, W, 4)`` uint8 colour
image of a :class:`geoviz.viz.fields.GridField` (nearest or bilinear, longitude wraps,
latitude clamps). Single-threaded on purpose: it is fast enough (a few ms for 600 px) and
stays out of numba's threading layer, which the SH kernel serialises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def render_grid_pixels(x: np.ndarray, y: np.ndarray, cosc: np.ndarray, idx: np.ndarray, lon0: float, lat0: float,
                       img: np.ndarray, bilinear: bool, out: np.ndarray) -> None:  # pragma: no cover - compiled
    H = img.shape[0]
    W = img.shape[1]
    p0 = math.radians(lat0)
    s0 = math.sin(p0)
    c0 = math.cos(p0)
    hs = H / 180.0
    ws = W / 360.0
    for k in range(x.shape[0]):
        cc = cosc[k]
        yy = y[k]
        sl = cc * s0 + yy * c0
        if sl > 1.0:
            sl = 1.0
        elif sl < -1.0:
            sl = -1.0
        lat = math.degrees(math.asin(sl))
        lon = lon0 + math.degrees(math.atan2(x[k], cc * c0 - yy * s0))
        lon = (lon + 180.0) % 360.0 - 180.0
        o = idx[k]
        if not bilinear:
            r = int((90.0 - lat) * hs)
            if r > H - 1:
                r = H - 1
            elif r < 0:
                r = 0
            c = int(math.floor((lon + 180.0) * ws)) % W
            for ch in range(4):
                out[o, ch] = img[r, c, ch]
        else:
            fr = (90.0 - lat) * hs - 0.5
            if fr < 0.0:
                fr = 0.0
            elif fr > H - 1.0:
                fr = H - 1.0
            r0 = int(fr)
            if r0 > H - 1:
                r0 = H - 1
            r1 = r0 + 1 if r0 + 1 < H else H - 1
            wr = fr - r0
            fc = (lon + 180.0) * ws - 0.5
            cf = math.floor(fc)
            wc = fc - cf
            ca = int(cf) % W
            cb = (ca + 1) % W
            for ch in range(4):
                top = img[r0, ca, ch] * (1.0 - wc) + img[r0, cb, ch] * wc
                bot = img[r1, ca, ch] * (1.0 - wc) + img[r1, cb, ch] * wc
                out[o, ch] = np.uint8(top * (1.0 - wr) + bot * wr + 0.5)
