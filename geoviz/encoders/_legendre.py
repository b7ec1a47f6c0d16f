"""Recurrence coefficients for fully normalised associated Legendre functions (no CS phase).

Shared by the numba CPU kernel and the torch path of the SH basis:

    P̄_m^m = d_m · sinθ · P̄_{m-1}^{m-1},  P̄_{m+1}^m = e_{m+1} · cosθ · P̄_m^m,
    P̄_l^m = a_lm · (cosθ · P̄_{l-1}^m − b_lm · P̄_{l-2}^m).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["legendre_coefficients"]


@lru_cache(maxsize=64)
def legendre_coefficients(legendre_polys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Recurrence coefficients for degrees ``0..legendre_polys-1``.

    Returns:
        ``(a, b, d)``: ``a`` and ``b`` are float64 arrays of shape ``(L, L)`` indexed ``[l, m]``
        (only ``l >= m + 2`` used); ``d`` has shape ``(L,)`` with ``d[m] = sqrt((2m+1)/(2m))``
        for ``m >= 1`` (``d[0]`` unused); ``e`` has shape ``(L,)`` with ``e[l] = sqrt(2l+1)``.
    """
    L = legendre_polys
    a = np.zeros((L, L))
    b = np.zeros((L, L))
    for m in range(L):
        for l in range(m + 2, L):
            a[l, m] = math.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))
            b[l, m] = math.sqrt(((l - 1.0) ** 2 - m * m) / (4.0 * (l - 1.0) ** 2 - 1.0))
    d = np.zeros(L)
    for m in range(1, L):
        d[m] = math.sqrt((2.0 * m + 1.0) / (2.0 * m))
    e = np.sqrt(2.0 * np.arange(L) + 1.0)
    for arr in (a, b, d, e):
        arr.setflags(write=False)
    return a, b, d, e
