"""Presence-only losses for multi-species range models (SINR, Cole et al. 2023).

A model outputs one logit per species at each location; ``p = sigmoid(logit)`` is the
probability that the species is present there. Presence-only data have no recorded
absences, so absences are *assumed*:

- ``"an"`` (assume negative): at each observed location the observed species is a
  presence (weight ``pos_weight``); at each random background location every species is
  an absence. The other species at an observed location are left out.
- ``"an-full"`` (full assume negative, SINR's best loss): as ``"an"``, and in addition every
  *other* species at an observed location is a pseudo-absence.

Both are means over the ``(B, S)`` entries of the observation and background matrices,
exactly as in SINR's ``an_full``::

    L = [ Σ_i λ·(−log p_{i,y_i}) + Σ_{i, s≠y_i} c·(−log(1 − p_{i,s})) ] / (B·S)
        + Σ_{j,s} (−log(1 − p^bg_{j,s})) / (M·S)

with ``c = 1`` for ``"an-full"`` and ``c = 0`` for ``"an"``. Terms use the stable forms
``−log σ(z) = softplus(−z)`` and ``−log(1 − σ(z)) = softplus(z)`` (SINR clips
probabilities with ``log(p + 1e-5)`` instead; the minimisers agree). Everything is
vectorised: no loop over species, so 1 or 50,000 species cost the same Python.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "assume_negative_loss", "full_assume_negative_loss", "get_loss", "list_losses"]

DEFAULT_POS_WEIGHT = 2048.0
"""SINR's positive weight λ."""


def _check(logits_obs: torch.Tensor, species: torch.Tensor, logits_bg: torch.Tensor) -> None:
    if logits_obs.ndim != 2 or logits_bg.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, S); got {tuple(logits_obs.shape)} and {tuple(logits_bg.shape)}")
    if logits_obs.shape[1] != logits_bg.shape[1]:
        raise ValueError(f"observation and background logits disagree on the number of species: "
                         f"{logits_obs.shape[1]} vs {logits_bg.shape[1]}")
    if species.ndim != 1 or species.shape[0] != logits_obs.shape[0]:
        raise ValueError(f"species must be (B,) matching logits_obs (B, S); got {tuple(species.shape)} "
                         f"for logits {tuple(logits_obs.shape)}")
    if species.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"species must be int64 indices, got {species.dtype}")


def _positive_and_background(logits_obs: torch.Tensor, species: torch.Tensor, logits_bg: torch.Tensor,
                             pos_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    _check(logits_obs, species, logits_bg)
    z_pos = logits_obs.gather(1, species.long().view(-1, 1)).squeeze(1)  # (B,) logit of the observed species
    pos = pos_weight * F.softplus(-z_pos).sum()  # Σ_i λ (−log p_{i,y_i})
    bg = F.softplus(logits_bg).mean()  # mean over (M, S) of −log(1 − p)
    return z_pos, pos, bg


def assume_negative_loss(logits_obs: torch.Tensor, species: torch.Tensor, logits_bg: torch.Tensor,
                         pos_weight: float = DEFAULT_POS_WEIGHT) -> torch.Tensor:
    """"Assume negative" loss: observed species present, every species absent at background points.

    Args:
        logits_obs: ``(B, S)`` logits at the observed locations.
        species: ``(B,)`` int64 index of the species observed at each location.
        logits_bg: ``(M, S)`` logits at background (pseudo-absence) locations.
        pos_weight: λ, weight of each presence term.

    Returns:
        Scalar tensor ``Σ_i λ·softplus(−z_{i,y_i}) / (B·S) + mean(softplus(z_bg))``.
    """
    B, S = logits_obs.shape
    _, pos, bg = _positive_and_background(logits_obs, species, logits_bg, pos_weight)
    return pos / max(B * S, 1) + bg


def full_assume_negative_loss(logits_obs: torch.Tensor, species: torch.Tensor, logits_bg: torch.Tensor,
                              pos_weight: float = DEFAULT_POS_WEIGHT) -> torch.Tensor:
    """"Full assume negative" loss (SINR ``an_full``): like :func:`assume_negative_loss`, plus
    every other species at an observed location counts as absent.

    Args and shapes as :func:`assume_negative_loss`.

    Returns:
        Scalar tensor ``[Σ_i λ·softplus(−z_{i,y_i}) + Σ_{i,s≠y_i} softplus(z_{i,s})] / (B·S)
        + mean(softplus(z_bg))``.
    """
    B, S = logits_obs.shape
    z_pos, pos, bg = _positive_and_background(logits_obs, species, logits_bg, pos_weight)
    neg_all = F.softplus(logits_obs).sum() - F.softplus(z_pos).sum()  # all entries but (i, y_i)
    return (pos + neg_all) / max(B * S, 1) + bg


LossFn = Callable[..., torch.Tensor]

LOSSES: dict[str, LossFn] = {
    "an": assume_negative_loss,
    "an-full": full_assume_negative_loss,
}
"""Loss name -> function ``(logits_obs, species, logits_bg, pos_weight) -> scalar``."""


def list_losses() -> list[str]:
    """Names accepted by :func:`get_loss`."""
    return list(LOSSES)


def get_loss(name: str) -> LossFn:
    """The presence-only loss called ``name`` (``"an"`` or ``"an-full"``; ``_`` works for ``-``)."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in LOSSES:
        raise ValueError(f"unknown species loss {name!r}; choose one of {list_losses()}")
    return LOSSES[key]
