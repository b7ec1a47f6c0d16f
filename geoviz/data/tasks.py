"""Benchmark tasks of the reference paper (locationencoder, ICLR 2024), built offline.

* ``landocean`` - binary land/ocean classification (Natural Earth 1:110m mask):
  train = 5,000 uniform-sphere points (seed 0), val = 5,000 (seed 1), test = the 51,156-point
  EPSG:6933 100 km grid. Land fractions: 27.96% / 28.60% / 29.01% (14,839 points).
* ``checkerboard`` - 16-class nearest-support-point classification: 200 Fibonacci-lattice
  support points with class ``i mod 16``; train = 10,000 uniform-sphere points (seed 0),
  val = 10,000 (seed 1), test = a 10,000-point Fibonacci lattice; each point takes the class
  of its nearest support point (great-circle distance).

The data do not depend on the training seed. Built tasks are cached per argument set; every
call returns fresh copies of the arrays, so callers may modify them freely.

Example::

    from geoviz.data import get_task
    task = get_task("landocean")
    task.train.lonlat.shape, task.train.y.dtype   # (5000, 2), float32
"""

from __future__ import annotations

import copy
import dataclasses
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from geoviz.data.land import LAND_SOURCES, _lonlat_numpy, is_land
from geoviz.data.sampling import equal_area_test_grid, fibonacci_lattice, lonlat_to_unit, uniform_sphere
from geoviz.data.fields import get_field
from geoviz.data.task import Split, Task

__all__ = [
    "Split",
    "Task",
    "land_ocean",
    "checkerboard",
    "nearest_support_labels",
    "BENCHMARK_TASKS",
    "get_task",
    "list_tasks",
]

def _as_int(value: Any, name: str) -> int:
    """``value`` as a plain int; rejects bools, floats with a fraction and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


def _copy_task(task: Task) -> Task:
    """Copy of a cached task with its own arrays (label_fn is shared; it is stateless)."""
    return dataclasses.replace(
        task,
        train=Split(task.train.lonlat.copy(), task.train.y.copy()),
        val=Split(task.val.lonlat.copy(), task.val.y.copy()),
        test=Split(task.test.lonlat.copy(), task.test.y.copy()),
        class_names=None if task.class_names is None else list(task.class_names),
        meta=copy.deepcopy(task.meta),
    )


# --------------------------------------------------------------------------------------
# land-ocean


@lru_cache(maxsize=8)
def _land_ocean(n_train: int, n_val: int, train_seed: int, val_seed: int, source: str) -> Task:
    def label_fn(lonlat: Any) -> np.ndarray:
        """``(N, 2)`` (lon, lat) degrees -> ``(N,)`` float32, 1.0 on land."""
        return is_land(lonlat, source=source).astype(np.float32)

    def make(lonlat: np.ndarray) -> Split:
        return Split(lonlat, label_fn(lonlat))

    train = make(uniform_sphere(n_train, train_seed))
    val = make(uniform_sphere(n_val, val_seed))
    test = make(equal_area_test_grid())
    meta = {
        "source": source,
        "land_fraction": {
            "train": float(train.y.mean(dtype=np.float64)),
            "val": float(val.y.mean(dtype=np.float64)),
            "test": float(test.y.mean(dtype=np.float64)),
        },
        "test_grid": "EPSG:6933 100 km, y-major (rows south to north, x west to east), 147 x 348",
    }
    return Task("landocean", "binary", 2, 1, train, val, test, label_fn, ["ocean", "land"], meta)


def land_ocean(
    n_train: int = 5000,
    n_val: int = 5000,
    train_seed: int = 0,
    val_seed: int = 1,
    source: str = "ne110m",
) -> Task:
    """The reference land-ocean task.

    Train and val are :func:`~geoviz.data.sampling.uniform_sphere` samples; the test set is
    :func:`~geoviz.data.sampling.equal_area_test_grid` (51,156 points). Labels are 1.0 on
    land (:func:`~geoviz.data.land.is_land` with ``source``), 0.0 on ocean. With the
    defaults the land fractions are 27.96% (1,398) / 28.60% (1,430) / 29.01% (14,839).

    Args:
        n_train: number of training points.
        n_val: number of validation points.
        train_seed: ``RandomState`` seed of the training sample.
        val_seed: ``RandomState`` seed of the validation sample.
        source: land mask, ``"ne110m"`` (reference) or ``"globe1km"`` (optional package).

    Returns:
        A binary :class:`Task` (``output_dim=1``, ``y`` float32).
    """
    if source not in LAND_SOURCES:
        raise ValueError(f"unknown land source {source!r}; choose one of {LAND_SOURCES}")
    return _copy_task(
        _land_ocean(
            _as_int(n_train, "n_train"),
            _as_int(n_val, "n_val"),
            _as_int(train_seed, "train_seed"),
            _as_int(val_seed, "val_seed"),
            source,
        )
    )


# --------------------------------------------------------------------------------------
# checkerboard


def nearest_support_labels(
    lonlat: Any, support_lonlat: np.ndarray, support_labels: np.ndarray, chunk: int = 65536
) -> np.ndarray:
    """Label of the nearest support point by great-circle distance.

    The nearest point by haversine distance is the one with the largest dot product of
    unit vectors (the distance is monotone in the angle), so this is a chunked matrix
    product + argmax; ties go to the lowest support index, as ``argmin`` does in the reference.

    Args:
        lonlat: ``(N, 2)`` query ``(lon, lat)`` degrees (numpy or torch).
        support_lonlat: ``(S, 2)`` support ``(lon, lat)`` degrees.
        support_labels: ``(S,)`` labels of the support points.
        chunk: rows per block (bounds memory to ``chunk * S`` floats).

    Returns:
        ``(N,)`` array of ``support_labels[nearest]``.
    """
    q = lonlat_to_unit(_lonlat_numpy(lonlat))
    s = lonlat_to_unit(np.asarray(support_lonlat, dtype=np.float64))
    idx = np.empty(q.shape[0], dtype=np.int64)
    for a in range(0, q.shape[0], chunk):
        idx[a : a + chunk] = np.argmax(q[a : a + chunk] @ s.T, axis=1)
    return np.asarray(support_labels)[idx]


@lru_cache(maxsize=8)
def _checkerboard(
    n_support: int, n_classes: int, n_train: int, n_val: int, n_test: int, train_seed: int, val_seed: int
) -> Task:
    support = fibonacci_lattice(n_support)
    h = n_support // 2
    support_labels = np.mod(np.arange(-h, n_support - h, dtype=np.int64), n_classes)

    def label_fn(lonlat: Any) -> np.ndarray:
        """``(N, 2)`` (lon, lat) degrees -> ``(N,)`` int64 class of the nearest support point."""
        return nearest_support_labels(lonlat, support, support_labels)

    def make(lonlat: np.ndarray) -> Split:
        return Split(lonlat, label_fn(lonlat))

    train = make(uniform_sphere(n_train, train_seed))
    val = make(uniform_sphere(n_val, val_seed))
    test = make(fibonacci_lattice(n_test))
    meta = {"support_lonlat": support, "support_labels": support_labels}
    names = [f"class {k}" for k in range(n_classes)]
    return Task("checkerboard", "multiclass", n_classes, n_classes, train, val, test, label_fn, names, meta)


def checkerboard(
    n_support: int = 200,
    n_classes: int = 16,
    n_train: int = 10000,
    n_val: int = 10000,
    n_test: int = 10000,
    train_seed: int = 0,
    val_seed: int = 1,
) -> Task:
    """The reference checkerboard task.

    Support points: :func:`~geoviz.data.sampling.fibonacci_lattice` of ``n_support`` with
    class ``i mod n_classes`` (``i = -n_support//2, ...``). Train/val: uniform-sphere samples;
    test: a Fibonacci lattice of ``n_test``. Every point is labelled with the class of its
    nearest support point by great-circle distance (:func:`nearest_support_labels`).
    ``meta`` holds ``support_lonlat`` ``(S, 2)`` and ``support_labels`` ``(S,)``.

    Args:
        n_support: number of support points (200 in the paper; the resolution experiment
            scales it by 0.25..16).
        n_classes: number of classes (16).
        n_train: number of training points.
        n_val: number of validation points.
        n_test: size of the Fibonacci test lattice.
        train_seed: ``RandomState`` seed of the training sample.
        val_seed: ``RandomState`` seed of the validation sample.

    Returns:
        A multiclass :class:`Task` (``output_dim = n_classes``, ``y`` int64).
    """
    args = {
        "n_support": n_support,
        "n_classes": n_classes,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "train_seed": train_seed,
        "val_seed": val_seed,
    }
    vals = {k: _as_int(v, k) for k, v in args.items()}
    if vals["n_classes"] < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return _copy_task(_checkerboard(**vals))


# --------------------------------------------------------------------------------------
# registry

BENCHMARK_TASKS: dict[str, Callable[..., Task]] = {"landocean": land_ocean, "checkerboard": checkerboard}
"""Task builders by name; each takes keyword arguments and returns a :class:`Task`."""


def list_tasks() -> list[str]:
    """Names of the registered tasks, sorted."""
    return sorted(BENCHMARK_TASKS)


def get_task(name: str, **kwargs: Any) -> Task:
    """Build (or fetch from cache) a registered task.

    Args:
        name: ``"landocean"`` or ``"checkerboard"`` (``"land_ocean"``/``"land-ocean"`` and
            case variants are accepted), or ``"field:NAME"`` for a built-in global field
            (:func:`geoviz.data.get_field` ``(NAME).task(**kwargs)``, a regression task).
        **kwargs: forwarded to the builder (:func:`land_ocean` / :func:`checkerboard` /
            ``Field.task``).

    Returns:
        The :class:`Task`.

    Raises:
        KeyError: unknown task name (the message lists the known ones).
    """
    if isinstance(name, str) and name.lower().startswith("field:"):
        return get_field(name.split(":", 1)[1].strip()).task(**kwargs)
    key = name.lower().replace("_", "").replace("-", "")
    if key not in BENCHMARK_TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {list_tasks()}")
    return BENCHMARK_TASKS[key](**kwargs)
