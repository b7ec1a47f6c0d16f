"""A ready-made virtual-species demo: data, one fitted model, maps and scores against the truth.

:func:`build_demo` generates virtual species (:func:`geoviz.species.make_virtual_species`),
fits one multi-species :class:`~geoviz.species.SpeciesModel` to all of them, maps each
species on a regular grid and scores the model and the per-species KDE baseline against
the true ranges; :class:`SpeciesDemo` holds the result and saves it as a geoviz model file
of kind ``"species-demo"`` (safetensors arrays + JSON header; no pickle). :func:`build_and_save`
is what the dashboard runs in a child process, and
:func:`range_stats` turns a probability map and a threshold into area statistics. Used by
the dashboard's *Species ranges* tab and notebook 07.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEMO_SETTINGS", "SpeciesDemo", "build_demo", "build_and_save", "cell_area", "demo_path", "range_stats"]

DEMO_SETTINGS: dict[str, Any] = {
    "n_species": 12, "n_observations": 6000, "bias": "flickr", "resolution": 1.0, "seed": 1,
    "legendre_polys": 20, "hidden_dim": 256, "num_layers": 2, "epochs": None, "steps": 250, "batch_size": 1024,
    "lr": 0.001, "loss": "an-full", "pos_weight": None, "pos_weight_scale": 12.5, "background": "uniform",
    "kde_bandwidth_deg": 5.04, "n_eval_points": 20000,
}
"""The server's demo: 12 virtual species, 6,000 Flickr-biased observations, the tuned recipe of
``geoviz results species`` (SH(L=20) + Siren(256 × 2), λ = 12.5·(2S − 1), uniform background,
250 steps of 1,024) and the tuned KDE bandwidth; a cold build took 18 s (10 s of training) on 2 cores."""


@dataclass
class SpeciesDemo:
    """Virtual species, their observations and a fitted model's maps (what the tab shows).

    Attributes:
        names: ``S`` species names.
        lonlat: ``(N, 2)`` float64 observations (lon, lat) degrees; ``species``: ``(N,)`` int64 index.
        truth: ``(S, H, W)`` bool true ranges (row 0 north, column 0 at 180° W).
        probability: ``(S, H, W)`` float32 predicted P(present) on the same grid.
        land: ``(H, W)`` bool land cells (Köppen not ocean).
        resolution: grid cell size in degrees.
        metrics: ``{"model": {"ap", "auc"}, "kde": {"ap", "auc"}}`` with ``(S,)`` float64
            arrays (equal-area land points, :func:`geoviz.species.evaluate_virtual`).
        settings: the generation and training settings; ``train_seconds`` the fit's wall time.
    """

    names: list[str]
    lonlat: np.ndarray
    species: np.ndarray
    truth: np.ndarray
    probability: np.ndarray
    land: np.ndarray
    resolution: float
    metrics: dict[str, dict[str, np.ndarray]]
    settings: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = float("nan")

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.truth.shape[1]), int(self.truth.shape[2]))

    def index(self, name: str | int) -> int:
        if isinstance(name, (int, np.integer)):
            if not 0 <= int(name) < len(self.names):
                raise ValueError(f"species index {name} out of range 0..{len(self.names) - 1}")
            return int(name)
        if name not in self.names:
            raise ValueError(f"unknown species {name!r}; choose from {self.names}")
        return self.names.index(name)

    def counts(self) -> np.ndarray:
        """``(S,)`` observations per species."""
        return np.bincount(self.species, minlength=len(self.names))

    def showcase_species(self) -> str:
        """The species to show first: the widest true range (by area) among the better-observed
        half (at least the median number of observations), readable at world scale."""
        counts = self.counts()
        area = (self.truth * cell_area(self.shape)).sum(axis=(1, 2))
        return self.names[int(np.argmax(np.where(counts >= np.median(counts), area, -1.0)))]

    def observations(self, name: str | int) -> np.ndarray:
        """``(n, 2)`` float64 (lon, lat) of one species' observations."""
        return self.lonlat[self.species == self.index(name)]

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (name kept as given) as a geoviz model file of kind
        ``"species-demo"`` (:mod:`geoviz.model_file`: safetensors arrays + JSON header; no pickle)."""
        import torch

        from geoviz.model_file import save_model_file

        tensors = {"lonlat": np.asarray(self.lonlat, np.float64), "species": np.asarray(self.species, np.int64),
                   "truth": np.asarray(self.truth, bool), "probability": np.asarray(self.probability, np.float32),
                   "land": np.asarray(self.land, bool),
                   **{f"metrics.{k}.{m}": np.asarray(v) for k, d in self.metrics.items() for m, v in d.items()}}
        ts = float(self.train_seconds)
        header = {"kind": "species-demo", "species": list(self.names), "resolution": float(self.resolution),
                  "settings": self.settings, "train_seconds": ts if np.isfinite(ts) else None,
                  "metrics": {k: sorted(d) for k, d in self.metrics.items()}}
        return save_model_file(path, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()},
                               header)

    @classmethod
    def load(cls, path: str | Path) -> "SpeciesDemo":
        """Read a file written by :meth:`save` (ValueError when it is not one; no code from it runs)."""
        from geoviz.model_file import ModelFileError, read_model_file

        try:
            t, h = read_model_file(path, kind="species-demo", what="species demo file")
        except FileNotFoundError as exc:
            raise ValueError(f"{path} is not a species demo file: {exc}") from None
        metrics_keys = h.get("metrics") if isinstance(h.get("metrics"), dict) else {}
        expected = {"lonlat", "species", "truth", "probability", "land"} | {
            f"metrics.{k}.{m}" for k, ms in metrics_keys.items() for m in (ms if isinstance(ms, list) else [])}
        if set(t) != expected:
            raise ModelFileError(path, f"not a species demo file: missing tensor(s) {sorted(expected - set(t))}, "
                                       f"unknown tensor(s) {sorted(set(t) - expected)}")
        metrics: dict[str, dict[str, np.ndarray]] = {}
        for name, v in t.items():
            if name.startswith("metrics."):
                _, who, m = name.split(".", 2)
                metrics.setdefault(who, {})[m] = v.numpy()
        ts = h.get("train_seconds")
        return cls([str(n) for n in h.get("species") or []], t["lonlat"].numpy(), t["species"].numpy(),
                   t["truth"].numpy(), t["probability"].numpy(), t["land"].numpy(), float(h["resolution"]), metrics,
                   dict(h.get("settings") or {}), float("nan") if ts is None else float(ts))


def build_demo(n_species: int = 12, n_observations: int = 6000, *, bias: str = "flickr", resolution: float = 1.0,
               seed: int = 1, legendre_polys: int = 20, hidden_dim: int = 128, num_layers: int = 2,
               epochs: int | None = None, steps: int | None = None, batch_size: int = 512, lr: float = 3e-3,
               loss: str = "an-full", pos_weight: float | None = None, pos_weight_scale: float | None = None,
               background: str | None = None, kde_bandwidth_deg: float | None = None, n_eval_points: int = 20000,
               threads: int | None = 1) -> SpeciesDemo:
    """Generate virtual species, fit one model to all of them, map and score it and the KDE baseline.

    Args:
        n_species, n_observations, bias, seed: :func:`geoviz.species.make_virtual_species`
            (``bias="flickr"`` falls back to ``"uniform"`` when geoclip's coordinates are missing).
        resolution: grid cell size in degrees of the true ranges and the maps (dividing 180).
        legendre_polys, hidden_dim, num_layers, epochs, steps, batch_size, lr, loss, pos_weight,
            pos_weight_scale, background: the :class:`geoviz.species.SpeciesConfig` of the fit
            (SH + Siren); ``None`` keeps SpeciesConfig's default (the tuned recipe: λ scaled
            to the species count, its steps and background).
        kde_bandwidth_deg: the KDE baseline's bandwidth (``None``: chosen by held-out likelihood).
        n_eval_points: Fibonacci points on the sphere for the metrics (land kept, ~29 %).
        threads: torch threads during the fit.

    Returns:
        :class:`SpeciesDemo`.
    """
    from geoviz.data import koppen_zones, regular_grid
    from geoviz.species import KDEBaseline, SpeciesConfig, evaluate_virtual, fit_species, make_virtual_species

    settings = {"n_species": n_species, "n_observations": n_observations, "bias": bias, "resolution": resolution,
                "seed": seed, "legendre_polys": legendre_polys, "hidden_dim": hidden_dim, "num_layers": num_layers,
                "epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr, "loss": loss,
                "pos_weight": pos_weight, "pos_weight_scale": pos_weight_scale, "background": background,
                "kde_bandwidth_deg": kde_bandwidth_deg, "n_eval_points": n_eval_points}
    try:
        world = make_virtual_species(n_species, n_observations, bias=bias, resolution=resolution, seed=seed)
    except FileNotFoundError:  # no geoclip coordinates: uniform observer effort
        settings["bias"] = "uniform"
        world = make_virtual_species(n_species, n_observations, bias="uniform", resolution=resolution, seed=seed)
    obs = world.observations
    opt = {k: v for k, v in (("steps", steps), ("pos_weight_scale", pos_weight_scale), ("background", background))
           if v is not None}
    cfg = SpeciesConfig(loss=loss, pe_kwargs={"legendre_polys": int(legendre_polys)},
                        nn_kwargs={"hidden_dim": int(hidden_dim), "num_layers": int(num_layers)},
                        epochs=None if epochs is None else int(epochs), batch_size=int(batch_size), lr=float(lr),
                        pos_weight=None if pos_weight is None else float(pos_weight), seed=int(seed),
                        threads=threads, **opt)
    model, history = fit_species(obs, cfg)
    probability = np.stack([model.predict_map(s, resolution) for s in range(obs.num_species)]).astype(np.float32)
    m_model = evaluate_virtual(world, lambda p: model.logits(p), n_points=n_eval_points)
    kde = KDEBaseline(obs, seed=seed) if kde_bandwidth_deg is None else KDEBaseline(obs, float(kde_bandwidth_deg))
    m_kde = evaluate_virtual(world, kde.score, n_points=n_eval_points)
    g = regular_grid(resolution)
    land = (koppen_zones(g.lonlat) != 32).reshape(g.shape)
    settings["kde_bandwidth_deg"] = kde.bandwidth_deg
    settings["pos_weight_used"] = cfg.lam(obs.num_species)
    settings["epochs_run"] = len(history)
    settings["steps_run"] = int(history[-1]["steps"]) if history else 0
    return SpeciesDemo(list(obs.names), np.asarray(obs.lonlat, np.float64), np.asarray(obs.species, np.int64),
                       np.asarray(world.ranges, bool), probability, land, float(resolution),
                       {"model": {"ap": m_model["ap"], "auc": m_model["auc"]},
                        "kde": {"ap": m_kde["ap"], "auc": m_kde["auc"]}},
                       settings, float(history[-1]["seconds"]) if history else float("nan"))


def _key(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def demo_path(settings: dict[str, Any] | None = None) -> Path:
    """Where the demo of ``settings`` is cached (``$GEOVIZ_CACHE_DIR/species/demo-<hash>.safetensors``;
    caches of the former ``.npz`` format are not read and are rebuilt)."""
    from geoviz._cache import cache_root

    return Path(cache_root()) / "species" / f"demo-{_key(settings or DEMO_SETTINGS)}.safetensors"


def build_and_save(settings: dict[str, Any], path: str) -> SpeciesDemo:
    """:func:`build_demo` with ``settings``, saved to ``path`` where it can be (a read-only
    cache only costs the next start a rebuild)."""
    demo = build_demo(**settings)
    try:
        demo.save(path)
    except OSError:  # a read-only cache only costs the next start a rebuild
        pass
    return demo


def cell_area(shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` relative area of each cell of a regular grid with ``H`` rows (cos of the row's centre latitude)."""
    H = shape[0]
    lat = 90.0 - (np.arange(H) + 0.5) * 180.0 / H
    return np.broadcast_to(np.cos(np.radians(lat))[:, None], shape)


def range_stats(probability: np.ndarray, threshold: float, land: np.ndarray,
                truth: np.ndarray | None = None) -> dict[str, float]:
    """Area statistics of the range ``probability >= threshold`` over land.

    Args:
        probability: ``(H, W)`` P(present) on a regular grid (row 0 north).
        threshold: in (0, 1).
        land: ``(H, W)`` bool; only land cells count.
        truth: optional ``(H, W)`` bool true range.

    Returns:
        ``{"range_fraction"}``: area fraction of land in the predicted range; with ``truth``
        also ``"true_fraction"``, ``"precision"`` (area of predicted ∩ true / predicted),
        ``"recall"`` (/ true) and ``"iou"`` (/ union), NaN where undefined.
    """
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    a = cell_area(probability.shape) * land
    pred = np.nan_to_num(probability, nan=0.0) >= threshold
    tot = a.sum()
    out = {"range_fraction": float((a * pred).sum() / tot)}
    if truth is not None:
        t = np.asarray(truth, bool)
        inter, ap, at = (a * (pred & t)).sum(), (a * pred).sum(), (a * t).sum()
        union = (a * (pred | t)).sum()
        out.update(true_fraction=float(at / tot), precision=float(inter / ap) if ap else float("nan"),
                   recall=float(inter / at) if at else float("nan"),
                   iou=float(inter / union) if union else float("nan"))
    return out
