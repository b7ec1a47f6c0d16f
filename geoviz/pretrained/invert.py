"""Embedding → location: invert a location encoder.

* :func:`sh_features_to_lonlat` — raw spherical-harmonic features are inverted exactly, in
  closed form, from their degree-1 block: with geoviz's ordering (column ``l² + l + m``),
  columns 1, 2, 3 are ``Y_{1,-1}, Y_{1,0}, Y_{1,1} = √(3/4π) · (y, z, x)`` of the unit
  vector ``(x, y, z) = (cos φ cos λ, cos φ sin λ, sin φ)``, so ``λ = atan2(y, x)`` and
  ``φ = atan2(z, √(x² + y²))`` (SatCLIP's convention only rescales these columns by
  ``-1``, ``-π``, ``-1``: :func:`~geoviz.encoders.convention_scale` undoes it).
* :func:`invert_embeddings` — a learned encoder (SH + Siren, GeoCLIP, …) has no closed
  form: the nearest point of a dense Fibonacci-lattice gallery (embedded once per model
  through :func:`geoviz.embed.embed_points` and kept in memory), then a few gradient steps
  on the sphere (Adam on a unit vector, renormalised after each step, the gradient going
  through the encoder via the differentiable SH path), keeping per point the best place
  seen. Practice in the sources (GeoCLIP ``predict``, SatCLIP's B02 notebook) stops at the
  gallery argmax; the refinement removes most of the gallery's spacing error.

:class:`geoviz.estimators.LocationEmbedder.inverse_transform` calls :func:`invert_embeddings`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.sampling import fibonacci_lattice
from ..embed import embed_points, model_fingerprint
from ..encoders.spherical_harmonics import CONVENTIONS, convention_scale

__all__ = ["sh_features_to_lonlat", "invert_embeddings", "great_circle_km", "METRICS"]

from ..data.sampling import EARTH_RADIUS_KM, great_circle_km  # noqa: F401  (re-exported)

METRICS: tuple[str, ...] = ("cosine", "euclidean")
_GALLERIES: OrderedDict[tuple[str, int, str], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_MAX_GALLERIES = 2


def _unit_to_lonlat(u: torch.Tensor) -> torch.Tensor:
    lon = torch.rad2deg(torch.atan2(u[:, 1], u[:, 0]))
    lat = torch.rad2deg(torch.atan2(u[:, 2], torch.linalg.vector_norm(u[:, :2], dim=1)))
    return torch.stack([lon, lat], dim=1)


def _lonlat_to_unit(lonlat: torch.Tensor) -> torch.Tensor:
    lon, lat = torch.deg2rad(lonlat[:, 0]), torch.deg2rad(lonlat[:, 1])
    return torch.stack([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], dim=1)


def sh_features_to_lonlat(features: Any, convention: str = "standard") -> np.ndarray:
    """Exact inverse of :func:`geoviz.encoders.spherical_harmonics` from the degree-1 columns.

    Args:
        features: ``(N, L²)`` SH features with ``L >= 2`` (numpy or torch), any scale.
        convention: the convention they were computed in (``"standard"`` or ``"satclip"``).

    Returns:
        ``(N, 2)`` float64 (lon, lat) degrees; lon in ``(-180, 180]`` (``0`` at the poles).

    Raises:
        ValueError: not 2-D, fewer than 4 columns, an unknown convention, or rows whose
            degree-1 block is zero (not SH features).
    """
    f = torch.as_tensor(features).detach().to("cpu", torch.float64)
    if f.ndim != 2 or f.shape[1] < 4:
        raise ValueError(f"features must be (N, L²) with L >= 2, got shape {tuple(f.shape)}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown SH convention {convention!r}; choose one of {CONVENTIONS}")
    yzx = f[:, 1:4] / convention_scale(2, convention)[1:4]
    u = yzx[:, [2, 0, 1]]  # (x, y, z), up to the common factor √(3/4π)
    if bool((torch.linalg.vector_norm(u, dim=1) == 0).any()):
        raise ValueError("a row has an all-zero degree-1 block: these are not SH features")
    return _unit_to_lonlat(u).numpy()


def _gallery(model: nn.Module, n: int, metric: str, device: torch.device, dtype: torch.dtype
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(lonlat (G, 2) float64, embeddings (G, D)) of a Fibonacci lattice, normalised for cosine; cached."""
    key = (model_fingerprint(model), int(n), metric)
    hit = _GALLERIES.get(key)
    if hit is None:
        pts = fibonacci_lattice(int(n))
        emb = torch.as_tensor(embed_points(model, pts, device=device, dtype=dtype))
        if metric == "cosine":
            emb = F.normalize(emb, dim=1)
        hit = (torch.from_numpy(pts), emb)
        _GALLERIES[key] = hit
        while len(_GALLERIES) > _MAX_GALLERIES:
            _GALLERIES.popitem(last=False)
    else:
        _GALLERIES.move_to_end(key)
    return hit[0], hit[1].to(device=device, dtype=dtype)


def _score(emb: torch.Tensor, target: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-row mismatch to minimise: ``1 − cos`` or the squared Euclidean distance."""
    if metric == "cosine":
        return 1.0 - (F.normalize(emb, dim=1) * F.normalize(target, dim=1)).sum(dim=1)
    return ((emb - target) ** 2).sum(dim=1)


def invert_embeddings(
    model: nn.Module,
    embeddings: Any,
    *,
    gallery_size: int = 100_000,
    refine_steps: int = 40,
    metric: str = "cosine",
    batch_size: int = 1024,
    return_score: bool = False,
) -> Any:
    """Locations whose embeddings best match ``embeddings`` (gallery search + refinement).

    1. **Gallery**: the ``gallery_size`` points of a Fibonacci lattice (spacing ≈
       ``√(4π/G)`` rad: ~71 km for 100,000) are embedded once per model (kept in memory for
       the last two models) and each query takes the gallery point of highest cosine
       similarity (``metric="cosine"``) or smallest Euclidean distance.
    2. **Refinement**: ``refine_steps`` Adam steps on a unit vector per point (renormalised
       after each step; step size from half the gallery spacing decaying to 1/50 of it),
       minimising ``1 − cos`` or the squared distance through the encoder; each point keeps
       the best place seen, so the result is never worse than the gallery match.

    Args:
        model: location encoder ``(n, 2)`` lon/lat degrees → ``(n, D)``, differentiable
            with respect to its input (a geoviz :class:`~geoviz.LocationEncoder` is; for
            ``refine_steps=0`` any module works). Used in eval mode, never changed.
        embeddings: ``(N, D)`` embeddings (numpy or torch).
        gallery_size: number of gallery points (≥ 2).
        refine_steps: gradient steps (0: gallery argmax only).
        metric: ``"cosine"`` (default; contrastive embeddings are compared by angle) or
            ``"euclidean"``.
        batch_size: queries per similarity block and refinement batch.
        return_score: also return the final per-point mismatch.

    Returns:
        ``(N, 2)`` float64 (lon, lat) degrees; with ``return_score``, also an ``(N,)`` array
        of ``1 − cos`` (or squared distances).

    Raises:
        ValueError: embeddings not ``(N, D)`` with the model's ``D``, NaN/inf, bad options.

    Example:
        >>> from geoviz.pretrained import load_pretrained
        >>> from geoviz.pretrained.invert import invert_embeddings
        >>> enc = load_pretrained("geoviz-bluemarble-l10")
        >>> E = enc(torch.tensor([[2.35, 48.85]])).detach()
        >>> invert_embeddings(enc, E)            # doctest: +SKIP
        array([[ 2.3..., 48.8...]])
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    for name, v, lo in (("gallery_size", gallery_size, 2), ("refine_steps", refine_steps, 0),
                        ("batch_size", batch_size, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    E = torch.as_tensor(np.asarray(embeddings) if not isinstance(embeddings, torch.Tensor) else embeddings)
    if E.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {tuple(E.shape)}")
    if not E.is_floating_point() or not bool(torch.isfinite(E).all()):
        raise ValueError("embeddings must be finite floats")
    was_training = model.training
    model.eval()
    try:
        g_ll, g_emb = _gallery(model, gallery_size, metric, device, dtype)
        if E.shape[1] != g_emb.shape[1]:
            raise ValueError(f"embeddings have {E.shape[1]} columns, the model gives {g_emb.shape[1]}")
        E = E.detach().to(device=device, dtype=dtype)
        spacing = math.sqrt(4 * math.pi / gallery_size)  # radians
        out = np.empty((len(E), 2))
        scores = np.empty(len(E))
        for s in range(0, len(E), batch_size):
            q = E[s:s + batch_size]
            with torch.no_grad():
                if metric == "cosine":
                    idx = (F.normalize(q, dim=1) @ g_emb.T).argmax(dim=1)
                else:
                    idx = torch.cdist(q, g_emb).argmin(dim=1)
            start = g_ll[idx.cpu()].to(device)
            ll, sc = _refine(model, q, start, metric, refine_steps, spacing)
            out[s:s + len(q)] = ll.cpu().numpy()
            scores[s:s + len(q)] = sc.cpu().numpy()
    finally:
        model.train(was_training)
    return (out, scores) if return_score else out


def _refine(model: nn.Module, target: torch.Tensor, start: torch.Tensor, metric: str, steps: int,
            spacing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on unit vectors from ``start`` (lon/lat degrees); the best (lon/lat, score) per row."""
    best_ll = start.to(torch.float64).clone()
    with torch.no_grad():
        best = _score(model(best_ll), target, metric).to(torch.float64)
    if steps == 0:
        return best_ll, best
    u = _lonlat_to_unit(best_ll).requires_grad_(True)
    lr0 = spacing / 2
    opt = torch.optim.Adam([u], lr=lr0)
    for k in range(steps):
        for g in opt.param_groups:  # geometric decay from spacing/2 to spacing/50
            g["lr"] = lr0 * (0.04 ** (k / max(1, steps - 1)))
        ll = _unit_to_lonlat(u)
        score = _score(model(ll), target, metric)
        with torch.no_grad():
            better = score.to(torch.float64) < best
            best = torch.where(better, score.to(torch.float64), best)
            best_ll[better] = ll.detach()[better]
        opt.zero_grad(set_to_none=True)
        score.sum().backward()
        opt.step()
        with torch.no_grad():
            u /= torch.linalg.vector_norm(u, dim=1, keepdim=True)
    with torch.no_grad():  # the last step's result
        ll = _unit_to_lonlat(u)
        score = _score(model(ll), target, metric).to(torch.float64)
        better = score < best
        best = torch.where(better, score, best)
        best_ll[better] = ll[better]
    return best_ll, best
