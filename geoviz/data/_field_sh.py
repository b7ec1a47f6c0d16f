r"""Spherical-harmonic fields in geoviz's own basis: the geoid (EIGEN-6S) and the main geomagnetic field (IGRF-14).

Both models publish coefficients in geodesy's conventions; this module converts them to the
real orthonormal basis of :func:`geoviz.encoders.spherical_harmonics` (feature
:math:`l^2 + l + m`, no Condon–Shortley phase, :math:`\int Y_{lm}^2\,d\Omega = 1`) and
synthesises the fields with that basis only (no package field code is called).

Conversions (:math:`Y_{l,m}` for :math:`m \ge 0` carries :math:`\cos m\lambda`, :math:`Y_{l,-m}`
carries :math:`\sin m\lambda`; none of the three conventions has the Condon–Shortley phase):

* ICGEM "fully normalised" (:math:`4\pi`-normalised, :math:`\frac{1}{4\pi}\int (\bar P_{lm}\cos m\lambda)^2 = 1`):
  :math:`\bar P_{lm}(\cos\theta)\cos m\lambda = \sqrt{4\pi}\,Y_{l,m}` and
  :math:`\bar P_{lm}\sin m\lambda = \sqrt{4\pi}\,Y_{l,-m}`.
* Schmidt semi-normalised (geomagnetism): :math:`P_n^m\cos m\lambda = \sqrt{4\pi/(2n+1)}\,Y_{n,m}`,
  likewise for :math:`\sin`.

Geoid (Bruns' formula on a sphere of radius R, as in the reference check):
:math:`N = R\sum_{l\ge2}\sum_m (\Delta\bar C_{lm}\cos m\lambda + \bar S_{lm}\sin m\lambda)\bar P_{lm}`
with :math:`\Delta\bar C_{l0} = \bar C_{l0} - \bar C^{\mathrm{WGS84}}_{l0}` for l = 2, 4, 6, 8, 10
(the normal field's zonal terms) and degrees 0 and 1 dropped. Evaluated at the geocentric
latitude equal to the given latitude (spherical approximation, ~1 m level).

Magnetic field (IGRF, reference radius a = 6371.2 km):
:math:`V = a\sum_n (a/r)^{n+1}\sum_m (g_n^m\cos m\lambda + h_n^m\sin m\lambda)P_n^m(\cos\theta)`,
:math:`\mathbf B = -\nabla V`. Points are on the WGS84 ellipsoid (height 0): their geodetic
latitude is converted to a geocentric radius and latitude; :math:`B_r` is a weighted sum of the
basis functions, :math:`B_\theta` and :math:`B_\varphi` come from autograd through geoviz's
differentiable torch SH path; the total intensity :math:`F = |\mathbf B|` is frame-independent.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib.resources import files

import numpy as np
import torch

from geoviz.encoders.sh_grid import sh_grid_linear
from geoviz.encoders.spherical_harmonics import sh_degrees_orders, spherical_harmonics

__all__ = [
    "WGS84_NORMAL_ZONALS",
    "icgem_to_geoviz",
    "schmidt_to_geoviz",
    "geoid_coefficients",
    "igrf_coefficients",
    "sh_evaluate",
    "sh_grid",
    "geodetic_to_geocentric",
    "magnetic_components",
    "magnetic_intensity",
    "magnetic_grid",
]

# Fully normalised zonal coefficients of the WGS84 normal gravity field (NIMA TR8350.2).
WGS84_NORMAL_ZONALS: dict[int, float] = {
    2: -0.484166774985e-3,
    4: 0.790303733511e-6,
    6: -0.168724961151e-8,
    8: 0.346052468394e-11,
    10: -0.265002225747e-14,
}
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
IGRF_RADIUS_KM = 6371.2


def _asset(name: str) -> np.lib.npyio.NpzFile:
    return np.load(files("geoviz.data") / "assets" / name)


def icgem_to_geoviz(C: np.ndarray, S: np.ndarray, legendre_polys: int) -> np.ndarray:
    """ICGEM fully normalised (4π) coefficients -> weights of geoviz's orthonormal real SH.

    Args:
        C, S: ``(Lmax+1, Lmax+1)`` float arrays, ``C[l, m]``, ``S[l, m]`` (``m <= l``).
        legendre_polys: ``L``: keep degrees ``0..L-1`` (``L <= Lmax + 1``).

    Returns:
        ``(L²,)`` float64 ``w`` with ``Σ_lm (C cos + S sin) P̄_lm = Σ_k w_k Y_k``:
        ``w[l²+l+m] = √(4π) C[l, m]`` (m ≥ 0), ``w[l²+l−m] = √(4π) S[l, m]`` (m > 0).
    """
    l, m = sh_degrees_orders(legendre_polys)
    if legendre_polys > C.shape[0]:
        raise ValueError(f"legendre_polys={legendre_polys} exceeds the model's degree {C.shape[0] - 1} + 1")
    am = np.abs(m)
    return math.sqrt(4 * math.pi) * np.where(m >= 0, C[l, am], S[l, am])


def schmidt_to_geoviz(g: np.ndarray, h: np.ndarray, legendre_polys: int) -> np.ndarray:
    """Schmidt semi-normalised Gauss coefficients -> weights of geoviz's orthonormal real SH.

    Args:
        g, h: ``(Nmax+1, Nmax+1)`` arrays ``g[n, m]``, ``h[n, m]`` (nT).
        legendre_polys: ``L``; degrees ``0..L-1`` (``L <= Nmax + 1``).

    Returns:
        ``(L²,)`` float64 ``w`` with ``Σ (g cos + h sin) P_n^m = Σ_k w_k Y_k``:
        ``w = √(4π/(2n+1)) · g`` (m ≥ 0) or ``· h`` (m < 0 columns).
    """
    if legendre_polys > g.shape[0]:
        raise ValueError(f"legendre_polys={legendre_polys} exceeds the model's degree {g.shape[0] - 1} + 1")
    n, m = sh_degrees_orders(legendre_polys)
    am = np.abs(m)
    return np.sqrt(4 * np.pi / (2 * n + 1)) * np.where(m >= 0, g[n, am], h[n, am])


@lru_cache(maxsize=1)
def _geoid_model() -> tuple[np.ndarray, np.ndarray, float, int]:
    with _asset("eigen6s_gfc_240.npz") as z:
        return z["C"].copy(), z["S"].copy(), float(z["radius"]), int(z["lmax"])


@lru_cache(maxsize=8)
def geoid_coefficients(legendre_polys: int | None = None) -> np.ndarray:
    """Geoid heights as weights of geoviz's SH basis (metres per unit basis function).

    Args:
        legendre_polys: ``L`` (degrees ``0..L-1``); default: the model's full degree 240 (L=241).

    Returns:
        ``(L²,)`` float64 (read-only): ``N(lonlat) = spherical_harmonics(lonlat, L) @ w`` in
        metres. Degrees 0 and 1 are zero; the WGS84 normal zonals are subtracted.
    """
    C, S, R, lmax = _geoid_model()
    L = lmax + 1 if legendre_polys is None else int(legendre_polys)
    dC = C.copy()
    dC[0, 0] = 0.0
    dC[1, :] = 0.0
    S = S.copy()
    S[1, :] = 0.0
    for deg, c in WGS84_NORMAL_ZONALS.items():
        if deg <= lmax:
            dC[deg, 0] -= c
    w = R * icgem_to_geoviz(dC, S, L)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=1)
def _igrf() -> tuple[np.ndarray, np.ndarray, float]:
    with _asset("igrf14_2025.npz") as z:
        return z["g"].copy(), z["h"].copy(), float(z["epoch"])


def igrf_coefficients() -> np.ndarray:
    """IGRF-14 (epoch 2025.0) potential ``V/a`` at r = a as weights of geoviz's SH basis.

    Returns:
        ``(196,)`` float64 (L = 14, degrees 0..13; degree 0 is zero), nT:
        ``V(r=a)/a = spherical_harmonics(lonlat, 14) @ w``.
    """
    g, h, _ = _igrf()
    return schmidt_to_geoviz(g, h, g.shape[0])


def sh_evaluate(lonlat: np.ndarray, weights: np.ndarray, chunk: int | None = None) -> np.ndarray:
    """``spherical_harmonics(lonlat, L) @ weights`` in chunks (exact, float64).

    Args:
        lonlat: ``(N, 2)`` float64 (lon, lat) degrees.
        weights: ``(L²,)`` float64.
        chunk: points per block (default: about 16M features per block).

    Returns:
        ``(N,)`` float64.
    """
    L = int(round(math.sqrt(weights.shape[0])))
    ll = np.ascontiguousarray(lonlat, dtype=np.float64)
    chunk = chunk or max(1, (1 << 24) // (L * L))
    out = np.empty(ll.shape[0])
    for a in range(0, ll.shape[0], chunk):
        out[a : a + chunk] = spherical_harmonics(ll[a : a + chunk], L) @ weights
    return out


def sh_grid(weights: np.ndarray, lons: np.ndarray, lats: np.ndarray, rows_per_block: int = 64) -> np.ndarray:
    """The SH expansion ``weights`` on a lon/lat grid, separably (never the full feature matrix).

    Args:
        weights: ``(L²,)`` float64 weights of geoviz's basis.
        lons: ``(W,)`` longitudes (degrees).
        lats: ``(H,)`` latitudes (degrees).
        rows_per_block: latitude rows per block (bounds memory to ``rows·L²`` floats).

    Returns:
        ``(H, W)`` float64.
    """
    L = int(round(math.sqrt(weights.shape[0])))
    w = torch.from_numpy(np.array(weights, dtype=np.float64))[None, :]
    out = np.empty((lats.size, lons.size))
    for a in range(0, lats.size, rows_per_block):
        la = lats[a : a + rows_per_block]
        out[a : a + la.size] = sh_grid_linear(lons, la, L, w).numpy().reshape(la.size, lons.size)
    return out


def geodetic_to_geocentric(lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points on the WGS84 ellipsoid (height 0): geodetic latitude -> (radius km, geocentric latitude deg)."""
    e2 = WGS84_F * (2 - WGS84_F)
    phi = np.deg2rad(lat_deg)
    s, c = np.sin(phi), np.cos(phi)
    nu = WGS84_A_KM / np.sqrt(1 - e2 * s * s)
    x, z = nu * c, nu * (1 - e2) * s
    return np.hypot(x, z), np.rad2deg(np.arctan2(z, x))


def magnetic_components(
    lonlat: np.ndarray, *, geodetic: bool = True, radius_km: np.ndarray | None = None, chunk: int = 32768
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IGRF-14 (2025.0) main-field components in the geocentric spherical frame, nT.

    Args:
        lonlat: ``(N, 2)`` float64 (lon, lat) degrees; ``lat`` geodetic on the WGS84 ellipsoid
            (height 0) when ``geodetic``, else geocentric at ``radius_km`` (default 6371.2 km).
        geodetic: see ``lonlat``.
        radius_km: ``(N,)`` geocentric radii, only with ``geodetic=False``.
        chunk: points per autograd block.

    Returns:
        ``(B_r, B_theta, B_phi)``, each ``(N,)`` float64 nT (r up, theta south, phi east).
    """
    ll = np.asarray(lonlat, dtype=np.float64)
    if geodetic:
        r, latc = geodetic_to_geocentric(ll[:, 1])
    else:
        latc = ll[:, 1].copy()
        r = np.full(ll.shape[0], IGRF_RADIUS_KM) if radius_km is None else np.asarray(radius_km, np.float64)
    # F is continuous at the poles but B_phi's formula is 0/0 there: stay 1e-7 deg off them.
    latc = np.clip(latc, -90 + 1e-7, 90 - 1e-7)
    w = torch.from_numpy(igrf_coefficients())
    L = int(round(math.sqrt(w.shape[0])))
    n = torch.from_numpy(sh_degrees_orders(L)[0]).to(torch.float64)
    out = [np.empty(ll.shape[0]) for _ in range(3)]
    for a in range(0, ll.shape[0], chunk):
        x = torch.tensor(np.c_[ll[a : a + chunk, 0], latc[a : a + chunk]], dtype=torch.float64, requires_grad=True)
        ratio = torch.from_numpy(IGRF_RADIUS_KM / r[a : a + chunk])[:, None]
        with torch.enable_grad():
            y = spherical_harmonics(x, L)  # (n, L²), the differentiable torch path
            scale = ratio ** (n + 2)  # (a/r)^(n+2)
            u = (y * (w * scale)).sum(dim=1)
            (grad,) = torch.autograd.grad(u.sum(), x)
        with torch.no_grad():
            br = (y * (w * (n + 1) * scale)).sum(dim=1)
        deg = 180.0 / math.pi  # d/d(rad) = deg * d/d(deg)
        cos_lat = torch.cos(torch.deg2rad(x.detach()[:, 1]))
        out[0][a : a + chunk] = br.numpy()
        out[1][a : a + chunk] = (grad[:, 1] * deg).numpy()  # B_theta = dU/dlat
        out[2][a : a + chunk] = (-grad[:, 0] * deg / cos_lat).numpy()  # B_phi = -dU/dlon / cos(lat)
    return out[0], out[1], out[2]


def magnetic_intensity(lonlat: np.ndarray) -> np.ndarray:
    """Total intensity F (nT) of the IGRF-14 main field, epoch 2025.0, on the WGS84 ellipsoid.

    Args:
        lonlat: ``(N, 2)`` float64 (lon, geodetic lat) degrees.

    Returns:
        ``(N,)`` float64 nT.
    """
    br, bt, bp = magnetic_components(lonlat)
    return np.sqrt(br * br + bt * bt + bp * bp)


def magnetic_grid(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """:func:`magnetic_intensity` on the grid ``lats x lons``, separably.

    On a grid every row has one geodetic latitude, hence one radius and geocentric latitude,
    so each component is ``Σ_m t_m(lon) A_m(row)`` (``t_m`` = cos/sin of ``m·lon``). The
    latitude factors and their latitude derivatives come from geoviz's SH at longitude 0
    (autograd through the torch path, a single backward pass over one copy of the rows per order).

    Args:
        lons: ``(W,)`` longitudes (degrees).
        lats: ``(H,)`` geodetic latitudes (degrees).

    Returns:
        ``(H, W)`` float64 nT.
    """
    lons = np.asarray(lons, dtype=np.float64)
    r, latc = geodetic_to_geocentric(np.asarray(lats, dtype=np.float64))
    latc = np.clip(latc, -90 + 1e-7, 90 - 1e-7)
    w = torch.from_numpy(igrf_coefficients())
    L = int(round(math.sqrt(w.shape[0])))
    n_np, m_np = sh_degrees_orders(L)
    n = torch.from_numpy(n_np).to(torch.float64)
    pos = torch.from_numpy(n_np * n_np + n_np + np.abs(m_np))
    orders = np.arange(-(L - 1), L)
    K, H = len(orders), latc.size
    sel = torch.from_numpy((m_np[None, :] == orders[:, None]).astype(np.float64))  # (2L-1, L²) order masks
    ratio = torch.from_numpy(IGRF_RADIUS_KM / r)[:, None]
    scale = ratio ** (n + 2)  # (H, L²)
    # one copy of the rows per order, so that a single backward pass gives every order's
    # latitude derivative (rows are independent: d/dlat of a row's sum is that row's derivative)
    x = torch.tensor(np.tile(np.c_[np.zeros_like(latc), latc], (K, 1)), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        q = spherical_harmonics(x, L)[:, pos].view(K, H, L * L)  # latitude factor of every column
        uh = (q * (w * scale) * sel[:, None, :]).sum(-1)  # (2L-1, H): order-m latitude block
        (g,) = torch.autograd.grad(uh.sum(), x)
    a_t = g[:, 1].view(K, H)
    a_h = uh
    with torch.no_grad():
        q0 = q[0].detach()
        a_r = (q0 * (w * (n + 1) * scale)) @ sel.T  # (H, 2L-1)
        a_r = a_r.T
        a_h = a_h.detach()
        deg = 180.0 / math.pi
        ang = torch.from_numpy(np.deg2rad(lons)[:, None] * np.abs(orders)[None, :])  # (W, 2L-1)
        om = torch.from_numpy(orders)
        t = torch.where(om >= 0, torch.cos(ang), torch.sin(ang))
        dt = torch.where(om >= 0, -om.abs() * torch.sin(ang), om.abs() * torch.cos(ang))  # d/dlon (rad)
        br = (t @ a_r).T  # (H, W)
        bt = (t @ (a_t * deg)).T
        bp = -(dt @ a_h).T / torch.cos(torch.deg2rad(torch.from_numpy(latc)))[:, None]
        return torch.sqrt(br * br + bt * bt + bp * bp).numpy()
