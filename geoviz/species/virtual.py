"""Virtual species with known truth: niches in real global layers, biased presence-only samples.

Each species' true range is a raster on a global regular grid (default 0.5°): the cells
within a random distance of a random land centre (a dispersal limit) whose **Köppen–Geiger
zone** is one of the zones the species tolerates, optionally avoiding some **MODIS land-cover**
classes, and, where :func:`geoviz.data.get_field` is available, within a **temperature**,
**precipitation** or **elevation** band around the centre's value. Observations are then
sampled inside the range with probability ∝ cell area × observer effort, where effort is
uniform or the (smoothed) density of GeoCLIP's 100k Flickr photo locations, and the number of
observations per species follows a long (Zipf) tail. Everything is seeded.

    >>> world = make_virtual_species(20, n_observations=10_000, bias="flickr", seed=0)  # doctest: +SKIP
    >>> world.ranges.shape, len(world.observations)                                      # doctest: +SKIP
    ((20, 360, 720), 10000)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from geoviz.data.sampling import EARTH_RADIUS_KM, lonlat_to_unit

from .data import Observations, make_observations

__all__ = ["VirtualSpecies", "make_virtual_species", "observer_effort", "long_tail_counts", "log_uniform_counts",
           "parse_virtual"]


@dataclass
class VirtualSpecies:
    """A set of virtual species and their observations.

    Attributes:
        names: ``S`` species names.
        ranges: ``(S, H, W)`` bool true ranges on the grid (row 0 = north, column 0 = 180° W).
        resolution: grid cell size in degrees.
        niches: one dict per species describing its niche (centre, radius, zones, bands).
        observations: the sampled presence-only :class:`~geoviz.species.data.Observations`.
        params: the generation arguments (enough to regenerate the same world).
    """

    names: list[str]
    ranges: np.ndarray
    resolution: float
    niches: list[dict[str, Any]]
    observations: Observations
    params: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.ranges.shape[1]), int(self.ranges.shape[2]))

    def cells(self, lonlat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Grid ``(row, col)`` int64 indices of the cell containing each (lon, lat)."""
        ll = np.asarray(lonlat, dtype=np.float64)
        H, W = self.shape
        r = np.floor((90.0 - ll[:, 1]) / self.resolution).astype(np.int64).clip(0, H - 1)
        c = np.floor((ll[:, 0] + 180.0) / self.resolution).astype(np.int64).clip(0, W - 1)
        return r, c

    def truth(self, lonlat: Any, species: Any = None) -> np.ndarray:
        """``(N, S)`` bool: whether each point lies in each species' true range (or ``(N,)`` for one)."""
        r, c = self.cells(lonlat)
        if species is None:
            return self.ranges[:, r, c].T
        s = self.observations.index_of(species)
        return self.ranges[s, r, c]


def parse_virtual(source: str) -> dict[str, Any] | None:
    """``"virtual:N"`` or ``"virtual:N:bias=flickr,obs=5000,seed=1"`` → generation kwargs; else ``None``."""
    s = str(source)
    if not s.lower().startswith("virtual:"):
        return None
    parts = s.split(":")
    try:
        n = int(parts[1])
    except (IndexError, ValueError):
        raise ValueError(f"virtual species source must be virtual:N (N an integer), got {source!r}") from None
    kw: dict[str, Any] = {"n_species": n}
    if len(parts) > 2 and parts[2]:
        for item in parts[2].split(","):
            k, _, v = item.partition("=")
            k = k.strip()
            if k in ("obs", "n_observations"):
                kw["n_observations"] = int(v)
            elif k == "seed":
                kw["seed"] = int(v)
            elif k == "bias":
                kw["bias"] = v
            elif k in ("res", "resolution"):
                kw["resolution"] = float(v)
            else:
                raise ValueError(f"unknown virtual species option {k!r} in {source!r} (obs, seed, bias, res)")
    return kw


def long_tail_counts(n_species: int, n_observations: int, rng: np.random.Generator, alpha: float = 1.0,
                     min_count: int = 5) -> np.ndarray:
    """``(S,)`` int64 observation counts with a Zipf(``alpha``) tail in random species order,
    each ``>= min_count``, summing to ``max(n_observations, S·min_count)``."""
    S = int(n_species)
    total = max(int(n_observations), S * min_count)
    w = 1.0 / np.arange(1, S + 1) ** alpha
    w = w[rng.permutation(S)]
    extra = total - S * min_count
    c = np.floor(extra * w / w.sum()).astype(np.int64)
    c[np.argsort(-w)[: extra - int(c.sum())]] += 1
    return c + min_count


def log_uniform_counts(n_species: int, max_count: int, rng: np.random.Generator) -> np.ndarray:
    """``(S,)`` int64 observation counts spread evenly in log between 1 and ``max_count`` (the
    quantiles of a log-uniform law, in random species order): a long tail with as many species
    per decade of counts, so every count bucket (1–5, 6–20, 21–100, > 100) holds species."""
    S = int(n_species)
    c = np.round(np.power(float(max_count), (np.arange(S) + 0.5) / S)).astype(np.int64).clip(1, None)
    return c[rng.permutation(S)]


@functools.lru_cache(maxsize=4)
def _layers(resolution: float) -> dict[str, np.ndarray]:
    from geoviz.data import koppen_zones, modis_landcover, regular_grid

    g = regular_grid(resolution)
    out = {"koppen": koppen_zones(g.lonlat).reshape(g.shape), "landcover": modis_landcover(g.lonlat).reshape(g.shape)}
    try:  # optional climate/terrain fields (geoviz.data.get_field, when available)
        from geoviz.data import get_field  # type: ignore[attr-defined]
    except ImportError:
        get_field = None
    if get_field is not None:
        for name in ("temperature", "precipitation", "elevation"):
            try:
                out[name] = np.asarray(get_field(name).sample(g.lonlat), dtype=np.float64).reshape(g.shape)
            except Exception:  # noqa: BLE001 - a missing optional data package only removes that layer
                pass
    for v in out.values():
        v.setflags(write=False)
    return out


def observer_effort(bias: str, resolution: float) -> np.ndarray:
    """``(H, W)`` float64 relative observer effort per unit area (mean 1 over land).

    ``"uniform"``: 1 everywhere. ``"flickr"``: the density of GeoCLIP's 100k Flickr photo
    locations, Gaussian-smoothed (σ ≈ 150 km), plus a floor of 2 % of the mean so remote
    ranges still get observed.
    """
    H, W = int(round(180 / resolution)), int(round(360 / resolution))
    if bias == "uniform":
        return np.ones((H, W))
    if bias != "flickr":
        raise ValueError(f"unknown observer bias {bias!r}; choose 'uniform' or 'flickr'")
    from scipy.ndimage import gaussian_filter

    from .background import flickr_coordinates

    pts = flickr_coordinates()
    r = np.floor((90.0 - pts[:, 1]) / resolution).astype(np.int64).clip(0, H - 1)
    c = np.floor((pts[:, 0] + 180.0) / resolution).astype(np.int64).clip(0, W - 1)
    counts = np.zeros((H, W))
    np.add.at(counts, (r, c), 1.0)
    lat = 90.0 - (np.arange(H) + 0.5) * resolution
    area = np.cos(np.radians(lat))[:, None]
    dens = counts / np.maximum(area, 1e-6)
    sigma = max(150.0 / (EARTH_RADIUS_KM * np.radians(resolution)), 0.5)
    dens = gaussian_filter(dens, sigma=sigma, mode=("nearest", "wrap"))
    land = _layers(resolution)["koppen"] != 32
    dens /= dens[land].mean()
    return dens + 0.02


def make_virtual_species(n_species: int, n_observations: int | None = None, *, bias: str = "uniform",
                         resolution: float = 0.5, seed: int = 0, min_cells: int = 40,
                         radius_km: tuple[float, float] = (700.0, 3500.0), alpha: float = 1.0,
                         min_count: int = 5, counts: Any = None) -> VirtualSpecies:
    """Generate ``n_species`` virtual species with true ranges and presence-only observations.

    Args:
        n_species: ``S >= 1``.
        n_observations: total observations (default ``500 · S``), split over species with a
            Zipf(``alpha``) long tail, at least ``min_count`` each.
        bias: observer effort: ``"uniform"`` or ``"flickr"`` (see :func:`observer_effort`).
        resolution: grid cell size in degrees (dividing 180); ``S·(180/res)·(360/res)`` bytes.
        seed: everything (niches, counts, points) is a function of the arguments.
        min_cells: smallest allowed range in grid cells (niches are redrawn until met).
        radius_km: dispersal-limit radius range (log-uniform).
        counts: optional ``(S,)`` observations per species (each >= 1), replacing the Zipf
            tail (``n_observations``, ``alpha`` and ``min_count`` are then ignored); see
            :func:`log_uniform_counts`.

    Returns:
        :class:`VirtualSpecies`; ``observations`` lie inside their species' true range.
    """
    from geoviz.data import regular_grid

    S = int(n_species)
    if S < 1:
        raise ValueError(f"n_species must be >= 1, got {n_species!r}")
    n_observations = 500 * S if n_observations is None else int(n_observations)
    if n_observations < 1:
        raise ValueError(f"n_observations must be >= 1, got {n_observations!r}")
    rng = np.random.default_rng(seed)
    layers = _layers(float(resolution))
    g = regular_grid(resolution)
    H, W = g.shape
    koppen, cover = layers["koppen"], layers["landcover"]
    land = koppen != 32
    lat_c = g.lats
    area = np.broadcast_to(np.cos(np.radians(lat_c))[:, None], (H, W))
    xyz = lonlat_to_unit(g.lonlat).reshape(H, W, 3)
    cand = np.flatnonzero((land & (np.abs(g.lonlat[:, 1].reshape(H, W)) < 72)).ravel())
    pcand = area.ravel()[cand] / area.ravel()[cand].sum()
    bands = [k for k in ("temperature", "precipitation", "elevation") if k in layers]
    band_width = {"temperature": (2.0, 6.0), "precipitation": (0.3, 0.8), "elevation": (300.0, 1200.0)}
    from geoviz.data import IGBP_NAMES, KOPPEN_CODES

    ranges = np.zeros((S, H, W), dtype=bool)
    niches: list[dict[str, Any]] = []
    for s in range(S):
        for _attempt in range(200):
            ci = int(rng.choice(cand, p=pcand))
            r0, c0 = divmod(ci, W)
            R = float(np.exp(rng.uniform(np.log(radius_km[0]), np.log(radius_km[1]))))
            cosd = xyz @ xyz[r0, c0]
            disc = (cosd >= np.cos(R / EARTH_RADIUS_KM)) & land
            zones, zarea = np.unique(koppen[disc], return_counts=True)
            zones, zarea = zones[zones != 32], zarea[zones != 32]
            k_extra = int(rng.integers(0, 3))
            others = [z for z in zones.tolist() if z != koppen[r0, c0]]
            extra = rng.choice(others, size=min(k_extra, len(others)), replace=False).tolist() if others else []
            tolerated = sorted({int(koppen[r0, c0])} | {int(z) for z in extra})
            rng_mask = disc & np.isin(koppen, tolerated)
            niche: dict[str, Any] = {"centre": [float(g.lonlat[ci, 0]), float(g.lonlat[ci, 1])],
                                     "radius_km": round(R, 1), "koppen": [KOPPEN_CODES[z] for z in tolerated]}
            if rng.random() < 0.5:
                present = [c for c in np.unique(cover[rng_mask]).tolist() if c not in (0, int(cover[r0, c0]))]
                avoid = {13, 15, 16} | set(rng.choice(present, size=min(1, len(present)), replace=False).tolist())
                rng_mask &= ~np.isin(cover, sorted(avoid))
                niche["landcover_avoided"] = [IGBP_NAMES[c] for c in sorted(avoid)]
            if bands and rng.random() < 0.6:
                b = bands[int(rng.integers(len(bands)))]
                v0 = layers[b][r0, c0]
                if np.isfinite(v0):
                    lo_w, hi_w = band_width[b]
                    wdt = rng.uniform(lo_w, hi_w) * (abs(v0) if b == "precipitation" else 1.0)
                    with np.errstate(invalid="ignore"):
                        rng_mask &= np.abs(layers[b] - v0) <= wdt
                    niche[b] = [float(v0 - wdt), float(v0 + wdt)]
            if rng_mask.sum() >= min_cells:
                break
        else:
            raise RuntimeError(f"could not draw a range of >= {min_cells} cells for species {s}; lower min_cells")
        ranges[s] = rng_mask
        niche["cells"] = int(rng_mask.sum())
        niches.append(niche)
    explicit = counts is not None
    if counts is None:
        counts = long_tail_counts(S, n_observations, rng, alpha, min_count)
    else:
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        if counts.shape != (S,) or counts.min() < 1:
            raise ValueError(f"counts must be {S} integers >= 1, got shape {counts.shape}")
        n_observations = int(counts.sum())
    effort = observer_effort(bias, float(resolution)) * area
    res = float(resolution)
    lon_edges_w = -180.0 + np.arange(W) * res
    lat_top = 90.0 - np.arange(H) * res
    pts, labels = [], []
    shrink = 1.0 - 1e-9
    for s in range(S):
        cells = np.flatnonzero(ranges[s].ravel())
        p = effort.ravel()[cells]
        pick = cells[rng.choice(cells.size, size=int(counts[s]), p=p / p.sum())]
        r, c = np.divmod(pick, W)
        u, v = rng.random(pick.size), rng.random(pick.size)
        lon = lon_edges_w[c] + (0.5 + (u - 0.5) * shrink) * res
        s_hi, s_lo = np.sin(np.radians(lat_top[r])), np.sin(np.radians(lat_top[r] - res))
        lat = np.degrees(np.arcsin(s_lo + (0.5 + (v - 0.5) * shrink) * (s_hi - s_lo)))  # area-uniform in cell
        pts.append(np.column_stack([lon, lat]))
        labels.append(np.full(pick.size, s, dtype=np.int64))
    names = [f"virtual_{s:03d}" for s in range(S)] if S <= 1000 else [f"virtual_{s:05d}" for s in range(S)]
    order = rng.permutation(int(counts.sum()))
    obs = make_observations(np.concatenate(pts)[order], np.concatenate(labels)[order], names, min_observations=1,
                            meta={"source": f"virtual:{S}", "bias": bias, "seed": seed})
    params = {"n_species": S, "n_observations": n_observations, "bias": bias, "resolution": res, "seed": seed,
              "min_cells": min_cells, "radius_km": list(radius_km), "alpha": alpha, "min_count": min_count}
    if explicit:
        params["counts"] = [int(c) for c in counts]
    return VirtualSpecies(names, ranges, res, niches, obs, params)
