"""Where pretraining may draw its locations: held-out cells and a fine-tuning region.

Two ideas, both plain masks over ``(N, 2)`` (lon, lat) degrees:

* :class:`HeldOutCells` — a fixed random share of the roughly equal-area cells of
  :func:`geoviz.data.splits.block_ids` (default 15° cells, 10 % of them) is never trained
  on. Training rejects every location whose patch could reach into a held-out cell (a
  buffer of half the largest patch plus the coordinate jitter); the retrieval validation
  and the geolocation benchmark draw only from the cells' interior. Scores on that set
  are held out *by region*, not only by random seed: a model that memorises the places it
  saw gains nothing there.
* :class:`Region` — a box ``lon0,lat0,lon1,lat1`` (``lon0 > lon1`` crosses the
  antimeridian), a continent name, or a GeoJSON polygon file: the area a regional
  fine-tune draws from (``geoviz pretrain --region``).

The samplers draw uniformly over the sphere (area-weighted) inside a region's bounding
box and keep what the masks accept, so small regions cost no more than the globe.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["HeldOutCells", "Region", "uniform_in_box", "sample_accepted"]

Mask = Callable[[np.ndarray], np.ndarray]
"""``(N, 2)`` lon/lat degrees → ``(N,)`` bool."""


def _offsets(lonlat: np.ndarray, radius_deg: float) -> list[np.ndarray]:
    """The point and 8 points ``radius_deg`` of latitude away (longitude scaled by 1/cos lat)."""
    if radius_deg <= 0:
        return [lonlat]
    lat = lonlat[:, 1]
    dlon = np.minimum(radius_deg / np.maximum(np.cos(np.radians(lat)), 1e-3), 180.0)
    out = []
    for sx in (-1, 0, 1):
        for sy in (-1, 0, 1):
            q = np.empty_like(lonlat)
            q[:, 0] = (lonlat[:, 0] + sx * dlon + 180.0) % 360.0 - 180.0
            q[:, 1] = np.clip(lat + sy * radius_deg, -90.0, 90.0)
            out.append(q)
    return out


@dataclass(frozen=True)
class HeldOutCells:
    """A fixed random share of equal-area cells that training never sees.

    Attributes:
        block_deg: cell size in degrees (:func:`geoviz.data.splits.block_ids`).
        fraction: share of the cells held out, in ``[0, 1)``; ``0`` holds nothing out.
        seed: which cells (a permutation of all cell ids by ``default_rng(seed)``).
    """

    block_deg: float = 15.0
    fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.fraction) < 1.0:
            raise ValueError(f"holdout fraction must be in [0, 1), got {self.fraction!r}")
        if not 0.0 < float(self.block_deg) <= 90.0:
            raise ValueError(f"holdout block size must be in (0, 90] degrees, got {self.block_deg!r}")

    @property
    def active(self) -> bool:
        return self.fraction > 0

    def cells(self) -> np.ndarray:
        """Sorted ``(K,)`` int64 ids of the held-out cells."""
        from ..data.splits import block_ids

        n_cells = int(block_ids(np.array([[180.0, 90.0]]), self.block_deg)[0]) + 1
        k = int(round(self.fraction * n_cells)) if self.active else 0
        if self.active:
            k = max(k, 1)
        return np.sort(np.random.default_rng(self.seed).permutation(n_cells)[:k])

    def contains(self, lonlat: np.ndarray, buffer_deg: float = 0.0) -> np.ndarray:
        """``(N,)`` bool: the point, or any point ``buffer_deg`` around it, lies in a held-out cell."""
        from ..data.splits import block_ids

        p = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        if not self.active or len(p) == 0:
            return np.zeros(len(p), dtype=bool)
        held = self.cells()
        hit = np.zeros(len(p), dtype=bool)
        for q in _offsets(p, buffer_deg):
            hit |= np.isin(block_ids(q, self.block_deg), held)
        return hit

    def interior(self, lonlat: np.ndarray, margin_deg: float = 0.0) -> np.ndarray:
        """``(N,)`` bool: the point and everything ``margin_deg`` around it lie in held-out cells."""
        from ..data.splits import block_ids

        p = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        if not self.active or len(p) == 0:
            return np.zeros(len(p), dtype=bool)
        held = self.cells()
        ok = np.ones(len(p), dtype=bool)
        for q in _offsets(p, margin_deg):
            ok &= np.isin(block_ids(q, self.block_deg), held)
        return ok

    def area_fraction(self) -> float:
        """Share of the sphere's area in held-out cells (cells are roughly, not exactly, equal-area)."""
        from ..data.splits import block_ids

        g = np.random.default_rng(0)
        x = uniform_in_box(20_000, g)
        return float(np.isin(block_ids(x, self.block_deg), self.cells()).mean()) if self.active else 0.0


@dataclass(frozen=True)
class Region:
    """An area to train in: a lon/lat box, a continent name, or a GeoJSON polygon file.

    Attributes:
        spec: ``"lon0,lat0,lon1,lat1"`` (degrees; ``lon0 > lon1`` crosses the antimeridian),
            a name from :data:`geoviz.data.splits.CONTINENTS`, or the path of a GeoJSON file
            (Polygon/MultiPolygon geometries, a Feature or a FeatureCollection, lon/lat).
    """

    spec: str

    def __post_init__(self) -> None:
        self.bbox()  # validates

    def _geometry(self):  # shapely geometry of a polygon file, else None
        p = Path(self.spec)
        if not (p.suffix.lower() in (".json", ".geojson") or p.is_file()):
            return None
        if not p.is_file():
            raise FileNotFoundError(f"region polygon file not found: {p}")
        from shapely.geometry import shape
        from shapely.ops import unary_union

        try:
            obj = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"region file {p} is not GeoJSON: {exc}") from None
        feats = obj.get("features") if obj.get("type") == "FeatureCollection" else [obj]
        geoms = [shape(f["geometry"] if f.get("type") == "Feature" else f) for f in feats]
        geoms = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not geoms:
            raise ValueError(f"region file {p} holds no Polygon or MultiPolygon")
        return unary_union(geoms)

    def bbox(self) -> tuple[float, float, float, float]:
        """``(lon0, lat0, lon1, lat1)`` that encloses the region (``lon0 > lon1``: across ±180°)."""
        from ..data.splits import CONTINENTS, parse_box

        geom = self._geometry()
        if geom is not None:
            b = geom.bounds
            return (b[0], b[1], b[2], b[3])
        box = parse_box(self.spec)
        if box is not None:
            return box
        if isinstance(self.spec, str) and self.spec.strip().lower() in {c.lower() for c in CONTINENTS}:
            return (-180.0, -90.0, 180.0, 90.0)
        raise ValueError(f"region must be 'lon0,lat0,lon1,lat1', a continent ({', '.join(CONTINENTS)}) "
                         f"or a GeoJSON polygon file, got {self.spec!r}")

    def contains(self, lonlat: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: inside the region (box edges inclusive)."""
        from ..data.splits import region_mask

        p = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        geom = self._geometry()
        if geom is None:
            return region_mask(p, self.spec)
        import shapely

        return np.asarray(shapely.contains_xy(geom, p[:, 0], p[:, 1]), dtype=bool)

    def area_km2(self) -> float:
        """Approximate area (Monte Carlo in the bounding box, 20,000 points)."""
        lon0, lat0, lon1, lat1 = self.bbox()
        width = (lon1 - lon0) % 360.0 or 360.0
        box_area = math.radians(width) * (math.sin(math.radians(lat1)) - math.sin(math.radians(lat0))) * 6371.0 ** 2
        x = uniform_in_box(20_000, np.random.default_rng(0), self.bbox())
        return float(box_area * self.contains(x).mean())


def uniform_in_box(n: int, rng: np.random.Generator, box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """``(n, 2)`` float64 (lon, lat) degrees uniform on the sphere's surface inside ``box`` (default: all)."""
    lon0, lat0, lon1, lat1 = box if box is not None else (-180.0, -90.0, 180.0, 90.0)
    width = (lon1 - lon0) % 360.0 if box is not None else 360.0
    if width == 0.0:
        width = 360.0
    lon = (lon0 + rng.uniform(0.0, width, n) + 180.0) % 360.0 - 180.0
    s0, s1 = math.sin(math.radians(lat0)), math.sin(math.radians(lat1))
    lat = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))
    return np.stack([lon, lat], axis=1)


def sample_accepted(n: int, rng: np.random.Generator, accept: Mask | None = None,
                    box: tuple[float, float, float, float] | None = None, what: str = "the sampling area") -> np.ndarray:
    """``(n, 2)`` points uniform on the sphere inside ``box``, kept where ``accept`` says so.

    Raises:
        ValueError: the accepted share is so small (< 1 in 100,000 draws) that the area is
            empty for practical purposes; the message names ``what``.
    """
    if n <= 0:
        return np.zeros((0, 2))
    if accept is None:
        return uniform_in_box(n, rng, box)
    parts, need, drawn = [], n, 0
    batch = max(256, 4 * n)
    while need > 0:
        cand = uniform_in_box(batch, rng, box)
        drawn += batch
        keep = cand[accept(cand)][:need]
        parts.append(keep)
        need -= len(keep)
        if need > 0 and drawn >= 100_000 and (n - need) < drawn / 100_000:
            raise ValueError(f"{what} is (almost) empty: {n - need} of {drawn} random points fell in it")
        if need > 0 and len(keep):
            batch = min(1_000_000, max(256, int(need * drawn / max(1, n - need) * 1.2)))
    return np.concatenate(parts, axis=0)
