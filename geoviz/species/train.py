"""Fit a :class:`~geoviz.species.model.SpeciesModel` to presence-only observations.

Each step draws ``batch_size`` observations (shuffled epochs) and as many background points
(``bg_ratio`` times as many) from the background sampler, and minimises the chosen
presence-only loss (:mod:`geoviz.species.losses`) with Adam and a cosine learning-rate decay
over the whole run (so a fixed budget of epochs ends converged).

    >>> from geoviz.species import make_virtual_species, fit_species, SpeciesConfig
    >>> world = make_virtual_species(5, n_observations=2000, seed=0)           # doctest: +SKIP
    >>> model, history = fit_species(world.observations, SpeciesConfig(epochs=5))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .background import get_background
from .data import Observations
from .losses import get_loss
from ..spec import HasEncoderSpec
from .model import DEFAULT_NN_KWARGS, DEFAULT_PE_KWARGS, SpeciesModel

__all__ = ["SpeciesConfig", "fit_species", "scaled_pos_weight", "DEFAULT_POS_WEIGHT_SCALE", "DEFAULT_STEPS",
           "DEFAULT_BACKGROUND", "DEFAULT_HIDDEN_DIM"]

# The tuned recipe (docs/results/species.md, `geoviz results species`): chosen on spatially
# held-out block splits of the observations of two virtual worlds (160 long-tail species and 5
# species), the KDE tuned on the same splits with as many candidates.
DEFAULT_POS_WEIGHT_SCALE = 12.5
"""c in λ = c·(2S − 1): positive : negative weight per row of the ``an-full`` loss is λ : (2S − 1)
(SINR's λ = 2048 at S ≈ 47,000 species is c ≈ 0.022)."""
DEFAULT_STEPS = 250
"""Optimiser steps when ``epochs`` is not given (the step count, not the epochs, sets convergence)."""
DEFAULT_BATCH_SIZE = 1024
"""Observations per step (half SINR's 2048: the same steps at half the cost on a CPU)."""
DEFAULT_BACKGROUND = "uniform"
"""Background sampler of the tuned recipe."""
DEFAULT_HIDDEN_DIM = 256
"""Siren width of the tuned recipe."""


def scaled_pos_weight(n_species: int, scale: float = DEFAULT_POS_WEIGHT_SCALE) -> float:
    """λ = ``scale``·(2S − 1): the positive weight that keeps the presence : pseudo-absence balance
    of each row of the ``an-full`` loss the same for any number of species ``S``."""
    return float(scale) * (2 * int(n_species) - 1)


@dataclass
class SpeciesConfig(HasEncoderSpec):
    """Hyperparameters of a presence-only fit.

    Attributes:
        pe, nn, pe_kwargs, nn_kwargs: the location encoder (default SH L=20 + Siren 256 × 2).
        loss: ``"an"`` or ``"an-full"`` (see :mod:`geoviz.species.losses`).
        pos_weight: λ, the weight of presences; ``None`` (default): scaled to the species
            count, λ = ``pos_weight_scale``·(2S − 1) (:func:`scaled_pos_weight`). SINR's fixed
            2048 belongs to ~47,000 species; with 30 species it weights presences ~1,600× more.
        pos_weight_scale: c of the scaled λ (default :data:`DEFAULT_POS_WEIGHT_SCALE`).
        background: ``"uniform"``, ``"land"``, ``"target"`` (target group: the locations of
            all the training observations, every species), ``"bias:FILE"``, ``"bias:flickr"``,
            an ``(M, 2)`` lon/lat array or a sampler (see :func:`geoviz.species.background.get_background`).
        bg_ratio: background points per observation in each batch.
        batch_size: observations per step.
        epochs: passes over the observations; ``None`` (default): as many as ``steps`` needs
            (at least one). ``max_seconds`` optionally stops earlier (the learning-rate
            schedule still assumes the full run).
        steps: optimiser steps of the run when ``epochs`` is ``None`` (default
            :data:`DEFAULT_STEPS`; rounded up to whole epochs).
        lr, weight_decay: Adam; the learning rate decays by a cosine to ``lr * lr_final``.
        seed: seeds the initialisation, shuffling and background sampling.
        dtype, device: ``"float32"``/``"float64"``; ``"cpu"``, ``"cuda"``, ``"auto"``.
        threads: torch intra-op threads during the fit (``None``: leave as is).
    """

    pe: str = "sphericalharmonics"
    nn: str = "siren"
    pe_kwargs: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PE_KWARGS))
    nn_kwargs: dict[str, Any] = field(default_factory=lambda: {**DEFAULT_NN_KWARGS, "hidden_dim": DEFAULT_HIDDEN_DIM})
    loss: str = "an-full"
    pos_weight: float | None = None
    pos_weight_scale: float = DEFAULT_POS_WEIGHT_SCALE
    background: Any = DEFAULT_BACKGROUND
    bg_ratio: float = 1.0
    batch_size: int = DEFAULT_BATCH_SIZE
    epochs: int | None = None
    steps: int = DEFAULT_STEPS
    max_seconds: float | None = None
    lr: float = 1e-3
    lr_final: float = 0.01
    weight_decay: float = 0.0
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        get_loss(self.loss)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        for name in ("batch_size", "epochs", "steps"):
            v = getattr(self, name)
            if name == "epochs" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.pos_weight is not None and not self.pos_weight > 0:
            raise ValueError(f"pos_weight must be > 0, got {self.pos_weight!r}")
        if not self.pos_weight_scale > 0:
            raise ValueError(f"pos_weight_scale must be > 0, got {self.pos_weight_scale!r}")
        if not self.bg_ratio > 0:
            raise ValueError(f"bg_ratio must be > 0, got {self.bg_ratio!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    def lam(self, n_species: int) -> float:
        """The positive weight λ used for ``n_species`` species (``pos_weight`` or the scaled default)."""
        return float(self.pos_weight) if self.pos_weight is not None else scaled_pos_weight(n_species,
                                                                                            self.pos_weight_scale)

    def num_epochs(self, n_observations: int) -> int:
        """Epochs of a run on ``n_observations`` (``epochs``, or enough for ``steps`` steps)."""
        if self.epochs is not None:
            return int(self.epochs)
        per_epoch = math.ceil(int(n_observations) / max(1, min(int(self.batch_size), int(n_observations))))
        return max(1, math.ceil(int(self.steps) / per_epoch))

    def describe(self) -> dict[str, Any]:
        """The config as plain types (background arrays summarised)."""
        d = dict(self.__dict__)
        d["nn_kwargs"], d["pe_kwargs"] = dict(d["nn_kwargs"]), dict(d["pe_kwargs"])
        if not isinstance(d["background"], str):
            d["background"] = "points" if hasattr(d["background"], "__len__") else "callable"
        return d


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fit_species(obs: Observations, config: SpeciesConfig | None = None, *,
                callback: Callable[[dict[str, Any]], Any] | None = None,
                model: SpeciesModel | None = None) -> tuple[SpeciesModel, list[dict[str, Any]]]:
    """Train a multi-species presence-only model.

    Args:
        obs: :class:`~geoviz.species.data.Observations` (``N`` points, ``S`` species).
        config: :class:`SpeciesConfig` (defaults: the tuned recipe: SH L=20 + Siren 256 × 2,
            ``an-full``, λ = 12.5·(2S − 1), uniform background, 250 steps of 1,024).
        callback: called after each epoch with the history row; return ``False`` to stop.
        model: continue training this model (its species must match ``obs.names``).

    Returns:
        ``(model, history)``: the trained model in eval mode (``meta`` records the config),
        and one dict per epoch ``{"epoch", "loss", "seconds", "steps"}`` (``seconds``: training
        wall time so far, callbacks excluded).
    """
    cfg = config or SpeciesConfig()
    if not isinstance(obs, Observations):
        raise TypeError(f"obs must be geoviz.species.Observations, got {type(obs).__name__}")
    if len(obs) == 0:
        raise ValueError("no observations to train on")
    loss_fn = get_loss(cfg.loss)
    target = isinstance(cfg.background, str) and cfg.background.strip().lower() == "target"
    sampler = get_background(obs.lonlat if target else cfg.background)
    dev = _device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    try:
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        if model is None:
            model = SpeciesModel(obs.names, cfg.pe, cfg.nn, cfg.pe_kwargs, cfg.nn_kwargs)
        elif list(model.names) != list(obs.names):
            raise ValueError("model species do not match the observations' species")
        model.to(device=dev, dtype=dtype).train()
        enc = model.encoder
        n = len(obs)
        bs = min(int(cfg.batch_size), n)
        n_bg = max(1, int(round(bs * cfg.bg_ratio)))
        steps_per_epoch = math.ceil(n / bs)
        n_epochs = cfg.num_epochs(n)
        total = steps_per_epoch * n_epochs
        lam = cfg.lam(obs.num_species)
        try:
            opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):
            opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * min(k, total) / total)))
        lonlat = torch.from_numpy(obs.lonlat)
        species = torch.from_numpy(obs.species).to(dev)
        gen = torch.Generator().manual_seed(cfg.seed)
        history: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        t_cb = 0.0  # time spent in callbacks (not counted in "seconds")
        step = 0
        for epoch in range(1, n_epochs + 1):
            perm = torch.randperm(n, generator=gen)
            tot, cnt = 0.0, 0
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                bg = torch.from_numpy(sampler(n_bg, rng))
                x = torch.cat([lonlat[idx], bg]).to(dtype)
                z = enc(x)  # one pass for observations and background
                loss = loss_fn(z[: idx.shape[0]], species[idx.to(dev)], z[idx.shape[0] :], lam)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                tot += float(loss.detach()) * idx.shape[0]
                cnt += idx.shape[0]
            row = {"epoch": epoch, "loss": tot / cnt, "seconds": time.perf_counter() - t0 - t_cb, "steps": step}
            history.append(row)
            if callback is not None:
                tc = time.perf_counter()
                stop = callback(row) is False
                t_cb += time.perf_counter() - tc
                if stop:
                    break
            if cfg.max_seconds is not None and row["seconds"] >= cfg.max_seconds:
                break
    finally:
        torch.set_num_threads(old_threads)
    model.meta.update({"config": cfg.describe(), "pos_weight_used": lam, "epochs_run": len(history),
                       "train_seconds": history[-1]["seconds"] if history else 0.0,
                       "num_observations": len(obs)})
    return model.eval(), history
