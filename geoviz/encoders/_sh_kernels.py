"""Compiled CPU kernel for the real spherical-harmonic basis (numba, parallel over points).

Why hand-written: the SH basis is the project's core and the dominant cost of every
encoder evaluation. A per-point kernel that keeps the Legendre recurrence in float64
registers and writes each output row once is memory-bandwidth bound, as fast as the
C++ library ``sphericart`` on CPU, and exact to ~1e-13 up to degree 100 (sphericart
loses accuracy above l = 18 in float32 and l = 88 in float64). Pure-torch vectorised
recurrences are 5-20x slower on CPU because they materialise many (N, L) temporaries.

The kernel computes, for each point, fully normalised associated Legendre functions
without the Condon-Shortley phase by the standard stable recurrences

    P̄_0^0 = 1/sqrt(4π)
    P̄_m^m = sqrt((2m+1)/(2m)) · sinθ · P̄_{m-1}^{m-1}
    P̄_{m+1}^m = sqrt(2m+3) · cosθ · P̄_m^m
    P̄_l^m = a_lm · (cosθ · P̄_{l-1}^m − b_lm · P̄_{l-2}^m)

with a_lm = sqrt((4l²−1)/(l²−m²)) and b_lm = sqrt(((l−1)²−m²)/(4(l−1)²−1)), and
cos(mφ), sin(mφ) by the angle-addition recurrence. Everything is float64 internally and
cast once on write, so float32 output is correctly rounded float64.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numba
import numpy as np

__all__ = ["sh_forward_cpu", "legendre_coefficients"]

# numba's default "workqueue" threading layer must not be entered from two Python threads
# at once (the dashboard and widgets evaluate encoders from worker threads), so calls
# into the parallel kernel are serialised. The kernel itself uses all configured threads.
_KERNEL_LOCK = threading.Lock()
_BLOCK = 32  # points per block; measured best of {8, 16, 32} on a 2-core x86-64


@lru_cache(maxsize=64)
def legendre_coefficients(legendre_polys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recurrence coefficients for degrees ``0..legendre_polys-1``.

    Returns:
        ``(a, b, d)``: ``a`` and ``b`` are float64 arrays of shape ``(L, L)`` indexed ``[l, m]``
        (only ``l >= m + 2`` used); ``d`` has shape ``(L,)`` with ``d[m] = sqrt((2m+1)/(2m))``
        for ``m >= 1`` (``d[0]`` unused).
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
    for arr in (a, b, d):
        arr.setflags(write=False)
    return a, b, d


@numba.njit(parallel=True, fastmath=False, cache=True, nogil=True)
def _sh_kernel(lon_deg, lat_deg, a, b, d, scale, use_scale, out, B):  # pragma: no cover - compiled
    # Points are processed in blocks of B so that the B independent recurrences overlap
    # in the CPU pipeline (the l-recurrence of one point is a serial dependency chain).
    n = lon_deg.shape[0]; L = d.shape[0]
    deg = math.pi/180.0; y00 = 0.5/math.sqrt(math.pi); sqrt2 = math.sqrt(2.0)
    nchunks = (n + B - 1)//B
    for c in numba.prange(nchunks):
        i0 = c*B; nb = min(B, n - i0)
        x = np.empty(B); s = np.empty(B); c1 = np.empty(B); s1 = np.empty(B)
        cm = np.empty(B); sm = np.empty(B); pmm = np.empty(B); p1 = np.empty(B); p2 = np.empty(B)
        fc = np.empty(B); fs = np.empty(B)
        for j in range(nb):
            lat = float(lat_deg[i0+j])*deg; lon = float(lon_deg[i0+j])*deg
            x[j] = math.sin(lat); s[j] = math.cos(lat); c1[j] = math.cos(lon); s1[j] = math.sin(lon)
            cm[j] = 1.0; sm[j] = 0.0; pmm[j] = y00
        for m in range(L):
            if m > 0:
                dm = d[m]
                for j in range(nb):
                    pmm[j] = pmm[j]*dm*s[j]
                    cn = cm[j]*c1[j] - sm[j]*s1[j]
                    sm[j] = sm[j]*c1[j] + cm[j]*s1[j]
                    cm[j] = cn
                    fc[j] = sqrt2*cm[j]*pmm[j]; fs[j] = sqrt2*sm[j]*pmm[j]
            else:
                for j in range(nb):
                    fc[j] = pmm[j]; fs[j] = 0.0
            # l = m
            k = m*m + m
            sp = scale[k+m] if use_scale else 1.0
            sn = scale[k-m] if use_scale else 1.0
            for j in range(nb):
                out[i0+j, k+m] = fc[j]*sp
                if m > 0:
                    out[i0+j, k-m] = fs[j]*sn
            if m + 1 < L:
                l = m+1; k = l*l+l
                q = math.sqrt(2.0*m+3.0)
                sp = scale[k+m] if use_scale else 1.0
                sn = scale[k-m] if use_scale else 1.0
                for j in range(nb):
                    p2[j] = 1.0; p1[j] = q*x[j]
                    out[i0+j, k+m] = p1[j]*fc[j]*sp
                    if m > 0:
                        out[i0+j, k-m] = p1[j]*fs[j]*sn
                for l in range(m+2, L):
                    al = a[l,m]; bl = b[l,m]; k = l*l+l
                    sp = scale[k+m] if use_scale else 1.0
                    sn = scale[k-m] if use_scale else 1.0
                    if m > 0:
                        for j in range(nb):
                            p = al*(x[j]*p1[j] - bl*p2[j])
                            out[i0+j, k+m] = p*fc[j]*sp
                            out[i0+j, k-m] = p*fs[j]*sn
                            p2[j] = p1[j]; p1[j] = p
                    else:
                        for j in range(nb):
                            p = al*(x[j]*p1[j] - bl*p2[j])
                            out[i0+j, k] = p*fc[j]*sp
                            p2[j] = p1[j]; p1[j] = p


def sh_forward_cpu(lonlat: np.ndarray, legendre_polys: int, scale: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` with the real SH basis of ``lonlat`` (CPU, numba).

    Args:
        lonlat: ``(N, 2)`` float32/float64 array of (lon, lat) degrees, already validated.
        legendre_polys: ``L``; degrees ``0..L-1``.
        scale: ``(L**2,)`` float64 per-column factors (ones for the standard basis).
        out: ``(N, L**2)`` C-contiguous float32/float64 array written in place.

    Returns:
        ``out``.
    """
    a, b, d = legendre_coefficients(legendre_polys)
    lon = lonlat[:, 0]
    lat = lonlat[:, 1]
    use_scale = not bool(np.all(scale == 1.0))
    with _KERNEL_LOCK:
        _sh_kernel(lon, lat, a, b, d, scale, use_scale, out, _BLOCK)
    return out
