"""Evaluation of range models: mean average precision and AUC against known ranges, held-out
AUC on presence/background data, and a kernel-density baseline.

Against virtual species (:mod:`geoviz.species.virtual`) the truth is known everywhere, so a
model is scored as a *ranker of locations* per species, on equal-area points (a Fibonacci
lattice: every point stands for the same area) over land: average precision (area under the
precision–recall curve, SINR's headline metric) and ROC AUC per species, averaged over
species (scikit-learn's ``average_precision_score``/``roc_auc_score``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .data import Observations

__all__ = ["evaluation_points", "range_metrics", "KDEBaseline", "evaluate_virtual", "evaluate_presence_background",
           "presence_background_auc"]


def evaluation_points(n: int = 50_000, domain: str = "land") -> np.ndarray:
    """Equal-area evaluation points: a Fibonacci lattice of ``n`` points on the sphere, kept
    where ``domain`` holds (``"land"``: Köppen land, where virtual ranges can be; ``"globe"``).

    Returns:
        ``(M, 2)`` float64 (lon, lat) degrees (``M ≈ 0.29 n`` on land).
    """
    from geoviz.data import fibonacci_lattice, koppen_zones

    pts = fibonacci_lattice(int(n))
    if domain == "globe":
        return pts
    if domain != "land":
        raise ValueError(f"domain must be 'land' or 'globe', got {domain!r}")
    return pts[koppen_zones(pts) != 32]


def range_metrics(scores: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Per-species average precision and ROC AUC of ``scores`` against ``truth``.

    Args:
        scores: ``(N, S)`` float (any monotone score: logits, probabilities, log-densities).
        truth: ``(N, S)`` bool true presence at the same points.

    Returns:
        ``{"map", "mean_auc", "ap" (S,), "auc" (S,), "evaluated" (S,) bool}``; species
        without both present and absent points are NaN and excluded from the means.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    if scores.shape != truth.shape or scores.ndim != 2:
        raise ValueError(f"scores and truth must both be (N, S), got {scores.shape} and {truth.shape}")
    S = scores.shape[1]
    ap, auc = np.full(S, np.nan), np.full(S, np.nan)
    ok = truth.any(0) & ~truth.all(0)
    for s in np.flatnonzero(ok):
        ap[s] = average_precision_score(truth[:, s], scores[:, s])
        auc[s] = roc_auc_score(truth[:, s], scores[:, s])
    return {"map": float(np.nanmean(ap)) if ok.any() else math.nan,
            "mean_auc": float(np.nanmean(auc)) if ok.any() else math.nan, "ap": ap, "auc": auc, "evaluated": ok}


class KDEBaseline:
    """Per-species kernel density of the observations on the sphere (the baseline).

    scikit-learn ``KernelDensity(metric="haversine", kernel="gaussian")`` on (lat, lon) in
    radians, one per species. One bandwidth for all species is chosen from ``bandwidths_deg``
    by the held-out log-likelihood of a random 20 % of each species' observations (never the
    truth). A species without observations scores 0 everywhere.

    Args:
        obs: the training observations.
        bandwidths_deg: candidate bandwidths (great-circle degrees); a single number skips
            the selection.
        seed: seed of the held-out split.
    """

    def __init__(self, obs: Observations, bandwidths_deg: Any = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0), seed: int = 0,
                 max_points_per_species: int = 2000) -> None:
        self.names = list(obs.names)
        rng = np.random.default_rng(seed)
        self._pts = []
        for s in range(obs.num_species):
            p = obs.lonlat[obs.species == s]
            if p.shape[0] > max_points_per_species:  # a subsample keeps scoring fast; ranking barely moves
                p = p[rng.choice(p.shape[0], max_points_per_species, replace=False)]
            self._pts.append(np.radians(p[:, ::-1]))
        cands = np.atleast_1d(np.asarray(bandwidths_deg, dtype=np.float64))
        if cands.size == 1:
            self.bandwidth_deg = float(cands[0])
        else:
            ll = []
            for h in cands:
                tot = 0.0
                for p in self._pts:
                    if p.shape[0] < 5:
                        continue
                    te = rng.random(p.shape[0]) < 0.2
                    if te.all() or not te.any():
                        continue
                    kde = self._kde(p[~te], h)
                    tot += float(kde.score(p[te]))
                ll.append(tot)
            self.bandwidth_deg = float(cands[int(np.argmax(ll))])
            self.selection = dict(zip(cands.tolist(), ll))

    @staticmethod
    def _kde(p_rad: np.ndarray, h_deg: float) -> Any:
        from sklearn.neighbors import KernelDensity

        return KernelDensity(bandwidth=math.radians(h_deg), metric="haversine", kernel="gaussian",
                             algorithm="ball_tree", rtol=1e-3).fit(p_rad)

    def score_species(self, s: int, lonlat: Any) -> np.ndarray:
        """``(N,)`` log-densities of species ``s`` alone (0 where it has no points)."""
        q = np.radians(np.asarray(lonlat, dtype=np.float64)[:, ::-1])
        p = self._pts[int(s)]
        return self._kde(p, self.bandwidth_deg).score_samples(q) if p.shape[0] else np.zeros(q.shape[0])

    def score(self, lonlat: Any) -> np.ndarray:
        """``(N, S)`` log-densities (up to a per-species constant) at ``(N, 2)`` (lon, lat) degrees."""
        q = np.radians(np.asarray(lonlat, dtype=np.float64)[:, ::-1])
        out = np.empty((q.shape[0], len(self._pts)))
        for s, p in enumerate(self._pts):  # a species without points scores 0 everywhere (no ranking)
            out[:, s] = self._kde(p, self.bandwidth_deg).score_samples(q) if p.shape[0] else 0.0
        return out


def evaluate_virtual(world: Any, score_fn: Callable[[np.ndarray], np.ndarray], n_points: int = 50_000,
                     points: np.ndarray | None = None) -> dict[str, Any]:
    """Score ``score_fn`` (``(N, 2)`` lon/lat → ``(N, S)`` scores) against a
    :class:`~geoviz.species.virtual.VirtualSpecies` world's true ranges on equal-area land points.

    Returns:
        :func:`range_metrics` plus ``"points"`` (how many evaluation points).
    """
    pts = evaluation_points(n_points) if points is None else points
    m = range_metrics(score_fn(pts), world.truth(pts))
    m["points"] = int(pts.shape[0])
    return m


def presence_background_auc(presence_scores: Any, background_scores: Any) -> float:
    """ROC AUC of held-out presences (positives) against background points (negatives)."""
    from sklearn.metrics import roc_auc_score

    p, b = np.asarray(presence_scores, float).ravel(), np.asarray(background_scores, float).ravel()
    if p.size == 0 or b.size == 0:
        raise ValueError("need at least one presence and one background score")
    return float(roc_auc_score(np.r_[np.ones(p.size), np.zeros(b.size)], np.r_[p, b]))


def evaluate_presence_background(presence: Any, background: Any, config: Any = None, *, block_deg: float = 0.5,
                                 test_fraction: float = 0.3, seed: int = 0, name: str = "species",
                                 kde_bandwidths_deg: Any = (0.05, 0.1, 0.2, 0.4, 0.8)) -> dict[str, Any]:
    """Held-out AUC of a single-species range model on presence/background data, spatial blocks.

    All points (presences and background) are split by whole equal-area blocks of
    ``block_deg`` (:func:`geoviz.data.splits.block_split`), so test presences are not next to
    training presences. The model trains on the training presences with the training
    background points as its (target-group) background; the KDE baseline on the same
    presences. Both are scored by ROC AUC of test presences against test background points.

    Args:
        presence, background: ``(P, 2)`` and ``(B, 2)`` (lon, lat) degrees.
        config: :class:`~geoviz.species.train.SpeciesConfig` (its ``background`` is replaced).

    Returns:
        ``{"auc_model", "auc_kde", "kde_bandwidth_deg", "n_train_presence", "n_test_presence",
        "n_train_background", "n_test_background", "seconds", "model"}``.
    """
    from dataclasses import replace

    from geoviz.data.splits import block_split

    from .data import make_observations
    from .train import SpeciesConfig, fit_species

    pres, bg = np.asarray(presence, np.float64), np.asarray(background, np.float64)
    allp = np.vstack([pres, bg])
    tr, te = block_split(allp, block_deg, test_fraction, seed)
    is_p = np.r_[np.ones(len(pres), bool), np.zeros(len(bg), bool)]
    p_tr, p_te = allp[tr][is_p[tr]], allp[te][is_p[te]]
    b_tr, b_te = allp[tr][~is_p[tr]], allp[te][~is_p[te]]
    obs = make_observations(p_tr, [name] * len(p_tr), meta={"split": f"blocks:{block_deg}"})
    cfg = replace(config or SpeciesConfig(), background=b_tr)
    model, hist = fit_species(obs, cfg)
    kde = KDEBaseline(obs, bandwidths_deg=kde_bandwidths_deg, seed=seed)
    return {
        "auc_model": presence_background_auc(model.logits(p_te, 0), model.logits(b_te, 0)),
        "auc_kde": presence_background_auc(kde.score(p_te)[:, 0], kde.score(b_te)[:, 0]),
        "kde_bandwidth_deg": kde.bandwidth_deg,
        "n_train_presence": len(p_tr), "n_test_presence": len(p_te),
        "n_train_background": len(b_tr), "n_test_background": len(b_te),
        "seconds": hist[-1]["seconds"], "model": model,
    }
