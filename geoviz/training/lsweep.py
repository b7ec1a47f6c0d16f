"""One task fitted with spherical harmonics of increasing order L: Linear(SH) versus Siren(SH).

``legendre_polys = L`` keeps degrees 0..L-1. The talk's rule of thumb for Linear(SH) is a
finest resolvable feature of ``f_max = 180° / (2L)`` (L = 10 → 9°, L = 40 → 2.25°): a linear
layer on those harmonics is a truncated spherical-harmonic expansion, so it goes from a
constant (L = 1) to blurry continents to sharp coasts with ripples (ringing) as L grows.
Siren(SH) is not bound by it: its sine layers create higher harmonics, so it draws sharp
coasts already at small L. :data:`SMOOTHNESS_LESSON` says this in two sentences.

The fits behind the dashboard's *Smoothness* tab and notebook 02 (drawn by
:mod:`geoviz.viz.lsweep`):

* :func:`compare_l_sweep` fits every ``(network, L)`` pair with the recommended settings of
  :data:`SWEEP_SETTINGS` and returns an :class:`LSweep` (maps + test accuracy per L);
* :func:`fit_l` is one such fit (picklable :class:`LFitSpec` in, :class:`LFit` out), so a
  server can run it in a child process (:func:`fit_executor`);
* :func:`fit_l_sweep` is the older one-network helper (maps only).

Every fit is a :class:`geoviz.training.Trainer` run of the spec ``sh:L+<network>``.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "DEFAULT_LS",
    "SWEEP_LS",
    "SWEEP_NETWORKS",
    "SWEEP_SETTINGS",
    "SMOOTHNESS_LESSON",
    "NETWORK_LABELS",
    "f_max_deg",
    "LFitSpec",
    "LFit",
    "LSweep",
    "fit_l",
    "compare_l_sweep",
    "fit_executor",
    "sweep_specs",
    "fit_l_sweep",
]

DEFAULT_LS: tuple[int, ...] = (1, 3, 5, 10, 20, 40)
"""L values of :func:`fit_l_sweep` (kept for old callers)."""

SWEEP_LS: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 40)
"""L values of :func:`compare_l_sweep` and of the dashboard (f_max 90° … 2.25°)."""

SWEEP_NETWORKS: tuple[str, ...] = ("linear", "siren")
"""Networks compared, Linear(SH) first: it is the one f_max bounds."""

NETWORK_LABELS: dict[str, str] = {"linear": "Linear(SH)", "siren": "Siren(SH)", "fcnet": "FCNet(SH)"}

SWEEP_SETTINGS: dict[str, dict[str, Any]] = {
    # Linear(SH) is a logistic regression on L² harmonics: it needs a large step (the paper's
    # lr 1e-3 is still improving after 500 epochs); lr 0.1 converges in 100 epochs (L = 20:
    # 94.8 % test accuracy vs the paper's 94.4 % after 500). The paper's tuned L2 (4e-4)
    # keeps L = 40 from fitting single training points.
    "linear": {"lr": 0.1, "weight_decay": 4e-4, "epochs": 100, "hidden_dim": 0, "num_layers": 0},
    # Siren(SH) at lr 1e-2 (the old default) turns L = 20 into noise; 1e-3 for 100 epochs
    # reaches 95.5 % at L = 10–20 (the paper: 95.8 % after ~350 epochs at lr 1.4e-4).
    "siren": {"lr": 1e-3, "weight_decay": 3.67e-3, "epochs": 100, "hidden_dim": 64, "num_layers": 2},
}
"""Recommended training settings per network (found by experiment on land–ocean, float32,
seed 0; see docs/dashboard.md). Keys: ``lr``, ``weight_decay``, ``epochs``, ``hidden_dim``,
``num_layers`` (the last two unused by ``linear``)."""

SMOOTHNESS_LESSON = (
    "A linear layer on spherical harmonics up to degree L−1 is a truncated spherical-harmonic "
    "expansion, which cannot draw anything finer than about f_max = 180°/(2L) (L = 3: 30°, "
    "L = 10: 9°, L = 40: 2.25°): Linear(SH) goes from a constant (L = 1) to blurry continents to "
    "sharp coasts with ripples (ringing) as L grows. Siren(SH) is not bound by f_max: its sine "
    "layers multiply and compose the harmonics, which creates higher frequencies, so it draws "
    "sharp coastlines already at small L. f_max is a property of the basis (the finest feature "
    "in one direction); the Compare tab's resolved scale is measured (the cell size down to which "
    "a linear probe stays 75 % right, going from coarse to fine boards), and a checkerboard cell c needs degree ≈ 360°/c "
    "in two directions, so Linear(SH) resolves about 360°/L = 4 × f_max (L = 10: about 36°)."
)
"""Three sentences on what the L sweep shows and how f_max relates to the resolved scale (used
by the dashboard and notebook 02)."""


def f_max_deg(L: int) -> float:
    """The talk's finest resolvable feature size for ``legendre_polys = L``: ``180 / (2 L)`` degrees."""
    if not isinstance(L, (int, np.integer)) or isinstance(L, bool) or L < 1:
        raise ValueError(f"L must be a positive int, got {L!r}")
    return 180.0 / (2 * int(L))


# ----------------------------------------------------------------------------- one fit


@dataclass(frozen=True)
class LFitSpec:
    """Everything that defines one fit of SH(L) + network (hashable: a cache key, picklable).

    Attributes:
        task: task name (:func:`geoviz.data.get_task`), e.g. ``"landocean"``.
        L: ``legendre_polys`` (degrees 0..L-1, L² features), positive int.
        nn: network name (``"linear"``, ``"siren"``, ...).
        epochs: training epochs (no early stopping).
        lr, weight_decay: Adam step size and coupled L2.
        hidden_dim, num_layers: network width and hidden layers (ignored by ``linear``).
        resolution: cell size in degrees of the :func:`geoviz.data.regular_grid` the map is
            predicted on (must divide 180).
        seed: initialisation and shuffling seed.
    """

    task: str
    L: int
    nn: str
    epochs: int
    lr: float
    weight_decay: float
    hidden_dim: int = 64
    num_layers: int = 2
    resolution: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        f_max_deg(self.L)
        if not isinstance(self.task, str) or not isinstance(self.nn, str):
            raise TypeError(f"task and nn must be names (str), got {self.task!r}, {self.nn!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if not (np.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ValueError(f"lr must be in (0, 1], got {self.lr!r}")
        if not (np.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (np.isfinite(self.resolution) and self.resolution > 0):
            raise ValueError(f"resolution must be > 0 degrees, got {self.resolution!r}")

    @classmethod
    def default(cls, nn: str, L: int, task: str = "landocean", resolution: float = 1.0,
                **overrides: Any) -> "LFitSpec":
        """The spec of :data:`SWEEP_SETTINGS` for ``nn`` (``overrides``: e.g. ``lr=…``, ``epochs=…``).

        Raises:
            ValueError: ``nn`` has no recommended settings.
        """
        if nn not in SWEEP_SETTINGS:
            raise ValueError(f"no sweep settings for network {nn!r}; known: {sorted(SWEEP_SETTINGS)}")
        kw = {**SWEEP_SETTINGS[nn], **overrides}
        return cls(task=task, L=int(L), nn=nn, epochs=int(kw["epochs"]), lr=float(kw["lr"]),
                   weight_decay=float(kw["weight_decay"]), hidden_dim=int(kw["hidden_dim"]),
                   num_layers=int(kw["num_layers"]), resolution=float(resolution), seed=int(kw.get("seed", 0)))

    @property
    def label(self) -> str:
        """``"Linear(SH)"``, ``"Siren(SH)"``, …"""
        return NETWORK_LABELS.get(self.nn, f"{self.nn}(SH)")


@dataclass(frozen=True)
class LFit:
    """Result of one fit.

    Attributes:
        spec: the :class:`LFitSpec` that was fitted.
        prediction: ``(H*W,)`` on ``regular_grid(spec.resolution)`` (rows north→south):
            float32 probabilities for binary tasks, int64 classes otherwise.
        grid_shape: ``(H, W)``.
        test_accuracy, val_accuracy: fractions in [0, 1] (land–ocean test set: the
            reference's 51,156-point equal-area grid; val: 5,000 uniform points).
        train_loss: mean training loss of the last epoch.
        seconds: wall time of the fit (features, training, test, map).
    """

    spec: LFitSpec
    prediction: np.ndarray = field(repr=False)
    grid_shape: tuple[int, int]
    test_accuracy: float
    val_accuracy: float
    train_loss: float
    seconds: float

    @property
    def f_max(self) -> float:
        """``180 / (2 L)`` degrees."""
        return f_max_deg(self.spec.L)


def fit_l(spec: LFitSpec, *, device: str = "cpu", dtype: str = "float32", threads: int | None = None) -> LFit:
    """Fit one SH(L) + network model (in this process) and score it on the test split.

    Args:
        spec: what to fit (:meth:`LFitSpec.default` gives the recommended settings).
        device: torch device (``"cpu"``, ``"cuda"``, ``"auto"``).
        dtype: ``"float32"`` (default; fast) or ``"float64"``.
        threads: torch intra-op threads during the fit (restored afterwards; None keeps the
            current setting). These models are small: 1 thread is as fast and does not
            stall when the cores are shared.

    Returns:
        :class:`LFit` with the map on ``regular_grid(spec.resolution)`` and test accuracy.
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    try:
        return _fit_l(spec, device, dtype)
    finally:
        torch.set_num_threads(before)


def _fit_l(spec: LFitSpec, device: str, dtype: str) -> LFit:
    from geoviz.data import get_task, regular_grid
    from geoviz.training import TrainConfig, Trainer

    t0 = time.perf_counter()
    task = get_task(spec.task)
    grid = regular_grid(spec.resolution)
    nn_kwargs = {} if spec.nn == "linear" else {"hidden_dim": int(spec.hidden_dim), "num_layers": int(spec.num_layers)}
    cfg = TrainConfig(pe="sphericalharmonics", nn=spec.nn, pe_kwargs={"legendre_polys": int(spec.L)},
                      nn_kwargs=nn_kwargs, lr=float(spec.lr), weight_decay=float(spec.weight_decay),
                      max_epochs=int(spec.epochs), patience=None, seed=int(spec.seed), dtype=dtype, device=device)
    trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=int(spec.epochs))
    last = None
    for last in trainer.run():
        pass
    assert last is not None and last.prediction is not None
    test = trainer.evaluate("test")
    pred = last.prediction.astype(np.float32) if task.kind == "binary" else last.prediction.astype(np.int64)
    return LFit(spec=spec, prediction=pred, grid_shape=tuple(int(s) for s in grid.shape),
                test_accuracy=float(test["accuracy"]), val_accuracy=float(last.val_metrics["accuracy"]),
                train_loss=float(last.train_loss), seconds=time.perf_counter() - t0)


def _fit_in_child(spec: LFitSpec) -> LFit:
    return fit_l(spec, threads=1)


def fit_executor(workers: int = 1, nice: int = 0) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool for :func:`fit_l` in child processes (one torch thread each).

    A :class:`geoviz.training.process.ChildPool`: children come from the training fork
    server (torch, geoviz and the task data already imported, so a child starts in well
    under a second) and are terminated when this process exits. Submit fits with
    ``executor.submit(fit_in_child, spec)`` where ``fit_in_child`` is
    ``geoviz.training.lsweep._fit_in_child``, or use :func:`compare_l_sweep` with ``workers``.

    Args:
        workers: number of child processes (fits running at once).
        nice: niceness added in each child (a server uses 10 so that pages win over fits).
    """
    from geoviz.training.process import ChildPool

    return ChildPool(workers, nice)


# ----------------------------------------------------------------------------- the sweep


@dataclass
class LSweep:
    """Linear-vs-Siren L sweep: one :class:`LFit` per ``(network, L)``.

    Attributes:
        task: task name.
        Ls: L values, ascending.
        networks: network names, Linear first.
        fits: ``{(nn, L): LFit}`` (pairs still missing are absent).
    """

    task: str
    Ls: tuple[int, ...]
    networks: tuple[str, ...]
    fits: dict[tuple[str, int], LFit] = field(default_factory=dict)

    @property
    def grid_shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of the maps (None before the first fit)."""
        for fit in self.fits.values():
            return fit.grid_shape
        return None

    def get(self, nn: str, L: int) -> LFit | None:
        """The fit of ``(nn, L)`` or None."""
        return self.fits.get((nn, int(L)))

    def predictions(self, nn: str) -> dict[int, np.ndarray]:
        """``{L: (H*W,) prediction}`` of one network (the form :func:`l_sweep_layout` draws)."""
        return {L: self.fits[(nn, L)].prediction for L in self.Ls if (nn, L) in self.fits}

    def accuracy(self, nn: str) -> dict[int, float]:
        """``{L: test accuracy (fraction)}`` of one network."""
        return {L: self.fits[(nn, L)].test_accuracy for L in self.Ls if (nn, L) in self.fits}

    def best_L(self, nn: str) -> int | None:
        """The L with the highest test accuracy for ``nn`` (None without fits)."""
        acc = self.accuracy(nn)
        return max(acc, key=acc.get) if acc else None

    def rows(self) -> list[dict[str, Any]]:
        """One dict per L: ``L``, ``features`` (L²), ``f_max (°)``, then ``"<Net> test acc (%)"`` per
        network (None where not fitted) — ``pandas.DataFrame(sweep.rows())`` makes the table."""
        out = []
        for L in self.Ls:
            row: dict[str, Any] = {"L": L, "features": L * L, "f_max (°)": round(f_max_deg(L), 2)}
            for nn in self.networks:
                fit = self.get(nn, L)
                row[f"{NETWORK_LABELS.get(nn, nn)} test acc (%)"] = (
                    None if fit is None else round(100 * fit.test_accuracy, 1))
            out.append(row)
        return out


def sweep_specs(task: str = "landocean", Ls: Sequence[int] = SWEEP_LS, networks: Sequence[str] = SWEEP_NETWORKS,
                *, resolution: float = 1.0, settings: dict[str, dict[str, Any]] | None = None,
                first_L: int | None = None) -> list[LFitSpec]:
    """The :class:`LFitSpec` of every ``(network, L)`` pair, in fitting order.

    Args:
        settings: per-network overrides of :data:`SWEEP_SETTINGS`, e.g. ``{"siren": {"lr": 3e-3}}``.
        first_L: fit this L first (both networks), then the rest in ascending L — a view
            that opens at ``first_L`` fills in quickly.
    """
    settings = settings or {}
    unknown = set(settings) - set(networks)
    if unknown:
        raise ValueError(f"settings for networks not in the sweep: {sorted(unknown)}")
    Ls = sorted({int(L) for L in Ls})
    if not Ls:
        raise ValueError("Ls is empty")
    for L in Ls:
        f_max_deg(L)
    if first_L is not None and int(first_L) in Ls:
        Ls = [int(first_L)] + [L for L in Ls if L != int(first_L)]
    return [LFitSpec.default(nn, L, task=task, resolution=resolution, **settings.get(nn, {}))
            for L in Ls for nn in networks]


def compare_l_sweep(task: str = "landocean", Ls: Sequence[int] = SWEEP_LS,
                    networks: Sequence[str] = SWEEP_NETWORKS, *, resolution: float = 1.0,
                    settings: dict[str, dict[str, Any]] | None = None, workers: int = 0,
                    threads: int | None = 1, progress: Callable[[int, int, LFit], None] | None = None) -> LSweep:
    """Fit ``task`` with SH(L) + each network for every L and score each fit on the test split.

    Args:
        task: task name (``"landocean"``, ``"checkerboard"``).
        Ls: ``legendre_polys`` values (default :data:`SWEEP_LS`: 1, 2, 3, 5, 10, 20, 40).
        networks: default ``("linear", "siren")``.
        resolution: map cell size in degrees (1° shows L = 40's 2.25° features).
        settings: per-network overrides of :data:`SWEEP_SETTINGS` (``lr``, ``epochs``, ...).
        workers: 0 fits here, one after the other; ``n > 0`` runs ``n`` fits at a time in
            child processes (:func:`fit_executor`).
        threads: torch threads of in-process fits (see :func:`fit_l`).
        progress: called as ``progress(done, total, fit)`` after each fit.

    Returns:
        :class:`LSweep`. With the defaults on land–ocean (measured, 2-core CPU, float32):
        Linear 71 → 75 → 75 → 86 → 92 → 95 → 95 % test accuracy over L = 1 … 40, Siren
        71 → 92 → 93 → 95 → 96 → 96 → 93 %; about 30 s for all 14 fits in one process.
    """
    specs = sweep_specs(task, Ls, networks, resolution=resolution, settings=settings)
    sweep = LSweep(task=task, Ls=tuple(sorted({s.L for s in specs})), networks=tuple(networks))
    total = len(specs)

    def record(fit: LFit) -> None:
        sweep.fits[(fit.spec.nn, fit.spec.L)] = fit
        if progress is not None:
            progress(len(sweep.fits), total, fit)

    if workers and workers > 0:
        with fit_executor(int(workers)) as ex:
            futures = [ex.submit(_fit_in_child, s) for s in specs]
            for fut in concurrent.futures.as_completed(futures):
                record(fut.result())
    else:
        for s in specs:
            record(fit_l(s, threads=threads))
    sweep.fits = {k: sweep.fits[k] for k in sorted(sweep.fits, key=lambda k: (list(networks).index(k[0]), k[1]))}
    return sweep


# ----------------------------------------------------------------------------- older helper


def fit_l_sweep(task: Any = "landocean", Ls: Sequence[int] = DEFAULT_LS, epochs: int = 50, *,
                grid: Any = None, resolution: float = 2.0, nn: str = "siren", **train_kwargs: Any) -> dict[int, np.ndarray]:
    """Train one model per L on the same data and predict on a regular grid.

    (For the Linear-vs-Siren comparison with test accuracy and tuned learning rates use
    :func:`compare_l_sweep`.)

    Args:
        task: a task name (``"landocean"``, ``"checkerboard"``) or a :class:`geoviz.data.Task`.
        Ls: values of ``legendre_polys``.
        epochs: ``max_epochs`` of each run (early stopping disabled).
        grid: :class:`geoviz.data.RegularGrid` to predict on (default ``regular_grid(resolution)``).
        resolution: grid cell size in degrees when ``grid`` is None.
        nn: network name; ``**train_kwargs`` go to :class:`geoviz.training.TrainConfig`
            (e.g. ``lr``, ``nn_kwargs``, ``dtype``, ``seed``).

    Returns:
        ``{L: (H*W,) prediction}`` (probabilities for binary tasks, classes otherwise), in
        the order of ``Ls``; the grid is available as ``result_grid = grid`` you passed or
        ``regular_grid(resolution)``.
    """
    from geoviz.data import get_task, regular_grid
    from geoviz.training import TrainConfig, Trainer

    t = get_task(task) if isinstance(task, str) else task
    g = grid if grid is not None else regular_grid(resolution)
    if nn == "linear":
        train_kwargs.setdefault("nn_kwargs", {})  # the default Siren hyperparameters do not apply
    out: dict[int, np.ndarray] = {}
    for L in Ls:
        f_max_deg(L)
        cfg = TrainConfig(pe="sphericalharmonics", nn=nn, pe_kwargs={"legendre_polys": int(L)},
                          max_epochs=int(epochs), patience=None, **train_kwargs)
        trainer = Trainer(t, cfg, predict_lonlat=g.lonlat, predict_every=int(epochs))
        last = None
        for rec in trainer.run():
            last = rec
        out[int(L)] = last.prediction
    return out
