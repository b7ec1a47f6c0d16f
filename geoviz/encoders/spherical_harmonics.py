r"""Real spherical harmonics: the positional encoding at the heart of geoviz.

Convention (the "standard" basis)
---------------------------------
For a point with longitude :math:`\lambda` and latitude :math:`\varphi` (degrees), the
colatitude is :math:`\theta = 90° - \varphi` and the azimuth is :math:`\phi = \lambda`.
The real, orthonormal spherical harmonics **without** the Condon–Shortley phase are

.. math::

    Y_{l m} = \begin{cases}
        \sqrt{2}\, \bar P_l^{m}(\cos\theta) \cos(m\phi) & m > 0 \\
        \bar P_l^{0}(\cos\theta)                         & m = 0 \\
        \sqrt{2}\, \bar P_l^{|m|}(\cos\theta) \sin(|m|\phi) & m < 0
    \end{cases}

with :math:`\bar P_l^m = \sqrt{\tfrac{2l+1}{4\pi}\tfrac{(l-m)!}{(l+m)!}}\,P_l^m`, so that
:math:`\int_{S^2} Y_{lm} Y_{l'm'}\,d\Omega = \delta_{ll'}\delta_{mm'}`.
``legendre_polys = L`` selects degrees :math:`l = 0..L-1`, i.e. :math:`L^2` features,
ordered l-major with m = -l..l: feature :math:`l^2 + l + m`. This is the same basis as
``sphericart`` and as ``scipy.special.sph_harm_y`` converted to real form.

The "satclip" convention
------------------------
SatCLIP (and the ICLR'24 code before its 2024-01-31 fix) computes
:math:`(-1)^l\,Y_{lm}` (it measures θ from the south pole) and multiplies every
:math:`m = 0` column by π (a misplaced bracket in its generator). Pretrained SatCLIP
weights expect exactly these features, so :class:`SphericalHarmonics` offers
``convention="satclip"``; it is the standard basis times a constant per-column factor.

Implementation
--------------
* CPU, no gradient needed: a compiled numba kernel (:mod:`._sh_kernels`), parallel over
  points, float64 internally, one write per output. Memory: the output only.
* CUDA, or when ``lonlat.requires_grad``: a torch recurrence vectorised over m (O(L)
  kernel launches), float64 internally, differentiable by autograd. ``sin θ`` is computed
  as ``cos(lat)`` directly, so gradients are finite at the poles.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .._validation import as_lonlat_tensor, check_lonlat
from ._legendre import legendre_coefficients

__all__ = [
    "spherical_harmonics",
    "SphericalHarmonics",
    "sh_index",
    "sh_degrees_orders",
    "convention_scale",
    "CONVENTIONS",
]

Convention = Literal["standard", "satclip"]
CONVENTIONS: tuple[str, ...] = ("standard", "satclip")
MAX_LEGENDRE_POLYS = 1024  # far beyond any practical use; guards against typos like L=10_000


def sh_index(l: int, m: int) -> int:
    """Column of degree ``l``, order ``m`` (``-l <= m <= l``) in the feature vector: ``l² + l + m``."""
    if not (abs(m) <= l):
        raise ValueError(f"order m={m} must satisfy |m| <= l={l}")
    return l * l + l + m


def sh_degrees_orders(legendre_polys: int) -> tuple[np.ndarray, np.ndarray]:
    """Degree ``l`` and order ``m`` of every feature column.

    Returns:
        Two int64 arrays of shape ``(L²,)``: ``l`` and ``m`` per column, in feature order.
    """
    _check_legendre_polys(legendre_polys)
    l = np.repeat(np.arange(legendre_polys), 2 * np.arange(legendre_polys) + 1)
    m = np.concatenate([np.arange(-k, k + 1) for k in range(legendre_polys)])
    return l.astype(np.int64), m.astype(np.int64)


@lru_cache(maxsize=64)
def _scale_np(legendre_polys: int, convention: str) -> np.ndarray:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown SH convention {convention!r}; choose one of {CONVENTIONS}")
    l, m = sh_degrees_orders(legendre_polys)
    scale = np.ones(legendre_polys**2)
    if convention == "satclip":
        scale = np.where(l % 2 == 1, -1.0, 1.0) * np.where(m == 0, math.pi, 1.0)
    scale.setflags(write=False)
    return scale


def convention_scale(legendre_polys: int, convention: Convention = "standard") -> torch.Tensor:
    """Per-column factor turning the standard basis into ``convention``'s features.

    Returns:
        float64 tensor of shape ``(L²,)``: ones for ``"standard"``; ``(-1)^l`` times
        ``π`` on ``m = 0`` columns for ``"satclip"``.
    """
    return torch.from_numpy(_scale_np(legendre_polys, convention).copy())


def _check_legendre_polys(legendre_polys: Any) -> None:
    if isinstance(legendre_polys, bool) or not isinstance(legendre_polys, (int, np.integer)):
        raise TypeError(f"legendre_polys must be an int, got {type(legendre_polys).__name__}")
    if not 1 <= legendre_polys <= MAX_LEGENDRE_POLYS:
        raise ValueError(f"legendre_polys must be in [1, {MAX_LEGENDRE_POLYS}], got {legendre_polys}")


# --------------------------------------------------------------------------- torch path
def _sh_torch(lonlat: torch.Tensor, legendre_polys: int, scale: np.ndarray) -> torch.Tensor:
    """Differentiable SH on any device: recurrence in l, vectorised over m (float64 inside)."""
    L = legendre_polys
    dev = lonlat.device
    ll = lonlat.to(torch.float64)
    lon = torch.deg2rad(ll[:, 0])
    lat = torch.deg2rad(ll[:, 1])
    x = torch.sin(lat)[:, None]  # cos(colatitude), (N, 1)
    s = torch.cos(lat)[:, None]  # sin(colatitude), (N, 1), exact derivative at the poles
    ms = torch.arange(1, L, device=dev, dtype=torch.float64)
    mphi = lon[:, None] * ms  # (N, L-1)
    cos_m = math.sqrt(2.0) * torch.cos(mphi)
    sin_m = math.sqrt(2.0) * torch.sin(mphi)
    a_all, b_all, d_all, e_all = legendre_coefficients(L)

    n = lonlat.shape[0]
    blocks: list[torch.Tensor] = []
    p_prev2: torch.Tensor | None = None  # P̄_{l-2}^{0..l-2}
    p_prev: torch.Tensor = torch.full((n, 1), 0.5 / math.sqrt(math.pi), dtype=torch.float64, device=dev)
    for l in range(L):
        if l == 0:
            p = p_prev
        elif l == 1:
            p = torch.cat([math.sqrt(3.0) * x * p_prev, math.sqrt(1.5) * s * p_prev], dim=1)
        else:
            a = torch.tensor(a_all[l, : l - 1], device=dev)
            b = torch.tensor(b_all[l, : l - 1], device=dev)
            assert p_prev2 is not None
            body = a * (x * p_prev[:, : l - 1] - b * p_prev2)  # m = 0..l-2
            diag1 = float(e_all[l]) * x * p_prev[:, l - 1 : l]  # m = l-1
            diag = float(d_all[l]) * s * p_prev[:, l - 1 : l]  # m = l
            p = torch.cat([body, diag1, diag], dim=1)
        if l == 0:
            blocks.append(p)
        else:
            pos = p[:, 1:] * cos_m[:, :l]  # m = 1..l
            neg = p[:, 1:] * sin_m[:, :l]  # |m| = 1..l
            blocks.append(torch.cat([neg.flip(1), p[:, :1], pos], dim=1))
        p_prev2, p_prev = p_prev, p
    out = torch.cat(blocks, dim=1)
    if not np.all(scale == 1.0):
        out = out * torch.tensor(scale, dtype=torch.float64, device=dev)
    return out.to(lonlat.dtype)


# --------------------------------------------------------------------------- public API
def _sh_tensor(lonlat: torch.Tensor, legendre_polys: int, convention: str) -> torch.Tensor:
    """Dispatch on device / autograd; ``lonlat`` is a validated (N, 2) float tensor."""
    scale = _scale_np(legendre_polys, convention)
    if lonlat.device.type == "cpu" and not (lonlat.requires_grad and torch.is_grad_enabled()):
        from . import _sh_kernels  # lazy: numba compiles (or loads its cache) on first use

        ll = lonlat.detach()
        if not ll.is_contiguous():
            ll = ll.contiguous()
        # numpy's allocator: large fresh torch.empty buffers measured ~2x slower to
        # first-touch here (page-fault pattern), and from_numpy shares the memory.
        out = np.empty((ll.shape[0], legendre_polys**2), dtype=np.float32 if ll.dtype == torch.float32 else np.float64)
        if ll.shape[0]:
            # numba's OpenMP layer shares libgomp with torch and resets torch's thread
            # count when a parallel kernel launches; restore it so that callers who
            # asked for `torch.set_num_threads(1)` stay single-threaded afterwards.
            torch_threads = torch.get_num_threads()
            try:
                _set_numba_threads()
                _sh_kernels.sh_forward_cpu(ll.numpy(), legendre_polys, scale, out)
            finally:
                if torch.get_num_threads() != torch_threads:
                    torch.set_num_threads(torch_threads)
        return torch.from_numpy(out)
    return _sh_torch(lonlat, legendre_polys, scale)


def _set_numba_threads() -> None:
    """Use as many kernel threads as torch does (``torch.set_num_threads`` governs both)."""
    import numba

    want = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != want:
        numba.set_num_threads(want)


def spherical_harmonics(lonlat: Any, legendre_polys: int, convention: Convention = "standard") -> Any:
    """Real orthonormal spherical harmonics of degrees ``0..L-1`` at ``(lon, lat)`` points.

    Args:
        lonlat: ``(N, 2)`` torch tensor or numpy array of (lon, lat) in degrees,
            lon in [-180, 180], lat in [-90, 90], float32 or float64, any device.
        legendre_polys: ``L >= 1``; degrees ``l = 0..L-1`` (``L²`` features).
        convention: ``"standard"`` (real SH without Condon–Shortley phase, colatitude
            ``90° - lat``, azimuth ``lon``) or ``"satclip"`` (standard × ``(-1)^l``, ``m=0``
            columns × π; what SatCLIP checkpoints expect).

    Returns:
        ``(N, L²)`` features, column ``l² + l + m``, same dtype and device as the input; a
        numpy array if the input was numpy. Differentiable w.r.t. ``lonlat`` (torch input
        with ``requires_grad``), gradients finite everywhere including the poles.

    Raises:
        TypeError: non-float dtype or non-array input, non-int ``legendre_polys``.
        ValueError: wrong shape, NaN/inf, out-of-range coordinates (first bad row named),
            ``legendre_polys`` out of range, unknown convention.

    Example:
        >>> import torch, geoviz
        >>> y = geoviz.encoders.spherical_harmonics(torch.tensor([[0.0, 90.0]]), 2)
        >>> y.shape
        torch.Size([1, 4])
    """
    _check_legendre_polys(legendre_polys)
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown SH convention {convention!r}; choose one of {CONVENTIONS}")
    t, was_numpy = as_lonlat_tensor(lonlat)
    out = _sh_tensor(t, int(legendre_polys), convention)
    return out.numpy() if was_numpy else out


class SphericalHarmonics(nn.Module):
    """Spherical-harmonic positional encoding as an ``nn.Module`` (no parameters).

    Args:
        legendre_polys: ``L``; degrees ``0..L-1``, output width ``embedding_dim = L²``.
        convention: ``"standard"`` or ``"satclip"``; see :func:`spherical_harmonics`.

    Shape:
        input ``(N, 2)`` (lon, lat) degrees, float32/float64; output ``(N, L²)``, same
        dtype and device.
    """

    def __init__(self, legendre_polys: int = 10, convention: Convention = "standard") -> None:
        super().__init__()
        _check_legendre_polys(legendre_polys)
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown SH convention {convention!r}; choose one of {CONVENTIONS}")
        self.legendre_polys = int(legendre_polys)
        self.convention = convention
        self.embedding_dim = self.legendre_polys**2

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        if not isinstance(lonlat, torch.Tensor):
            lonlat, _ = as_lonlat_tensor(lonlat)
        check_lonlat(lonlat)
        return _sh_tensor(lonlat, self.legendre_polys, self.convention)

    def extra_repr(self) -> str:
        return f"legendre_polys={self.legendre_polys}, convention={self.convention!r}"
