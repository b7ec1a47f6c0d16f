"""Shared helpers for tests/test_pretrained.py and tests/test_download.py.

Builds small checkpoints in the exact layout of SatCLIP's released Lightning ``.ckpt`` files
(key names, hyper-parameter names, duplicated ``model.nnet.*`` tensors, an image backbone
that must be ignored), with random weights and only plain types, and independent numpy /
scipy references of SatCLIP's location encoder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import sph_harm_y


def satclip_hyper_parameters(L: int, capacity: int, layers: int, embed_dim: int) -> dict[str, Any]:
    """The hyper-parameter names SatCLIP's Lightning module saves (plain types only)."""
    return {
        "embed_dim": embed_dim,
        "image_resolution": 256,
        "vision_layers": "moco_resnet18",
        "vision_width": 768,
        "vision_patch_size": 32,
        "in_channels": 13,
        "le_type": "sphericalharmonics",
        "pe_type": "siren",
        "frequency_num": 16,
        "max_radius": 260,
        "min_radius": 1,
        "legendre_polys": L,
        "harmonics_calculation": "analytic",
        "sh_embedding_dims": 32,
        "learning_rate": 1e-4,
        "weight_decay": 0.01,
        "num_hidden_layers": layers,
        "capacity": capacity,
    }


def satclip_location_state(L: int, capacity: int, layers: int, embed_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random float64 Siren weights with SatCLIP's init ranges, keyed like ``nnet.*`` (no prefix)."""
    g = torch.Generator().manual_seed(seed)

    def u(shape: tuple[int, ...], s: float) -> torch.Tensor:
        return (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * s

    state = {}
    for i in range(layers):
        d_in = L * L if i == 0 else capacity
        s = 1.0 / d_in if i == 0 else math.sqrt(6.0 / d_in)
        state[f"layers.{i}.weight"] = u((capacity, d_in), s)
        state[f"layers.{i}.bias"] = u((capacity,), s)
    s = math.sqrt(6.0 / capacity)
    state["last_layer.weight"] = u((embed_dim, capacity), s)
    state["last_layer.bias"] = u((embed_dim,), s)
    return state


def make_satclip_checkpoint(
    path: Path,
    L: int = 10,
    capacity: int = 32,
    layers: int = 2,
    embed_dim: int = 16,
    seed: int = 0,
    hparams: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    replace: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Write a Lightning-like SatCLIP checkpoint to ``path``; return its location state (``nnet.*`` keys).

    ``hparams`` overrides/extends the hyper-parameters; ``drop`` removes full state-dict keys;
    ``replace`` sets full state-dict keys.
    """
    loc = satclip_location_state(L, capacity, layers, embed_dim, seed)
    sd: dict[str, torch.Tensor] = {}
    g = torch.Generator().manual_seed(seed + 1)
    sd["model.logit_scale"] = torch.tensor(math.log(1 / 0.07))
    sd["model.visual.conv1.weight"] = torch.randn(8, 13, 3, 3, generator=g)
    sd["model.visual.bn1.running_mean"] = torch.zeros(8)
    sd["model.visual.bn1.num_batches_tracked"] = torch.tensor(7, dtype=torch.long)
    for k, v in loc.items():
        sd[f"model.location.nnet.{k}"] = v
    for k, v in loc.items():
        sd[f"model.nnet.{k}"] = v  # the same tensors, registered twice in SatCLIP
    for k in drop:
        sd.pop(k)
    sd.update(replace or {})
    hp = satclip_hyper_parameters(L, capacity, layers, embed_dim)
    hp.update(hparams or {})
    ckpt = {
        "epoch": 499,
        "global_step": 12345,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": sd,
        "hyper_parameters": hp,
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                              "param_groups": [{"lr": 1e-4, "weight_decay": 0.01, "params": [0]}]}],
        "lr_schedulers": [],
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(1.5),
                                                                  "best_model_path": "/tmp/x.ckpt"}},
        "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 500}}}},
    }
    torch.save(ckpt, path)
    return loc


def satclip_sh_reference(lonlat: np.ndarray, L: int) -> np.ndarray:
    """SatCLIP's SH features from their literal definition, via scipy.

    θ = deg2rad(lat + 90) (measured from the south pole), φ = deg2rad(lon + 180); real
    orthonormal harmonics without the Condon–Shortley phase (scipy's complex ``sph_harm_y``
    includes it, so multiply by ``(-1)^m``); ``m = 0`` columns multiplied by π (SatCLIP's
    generator bug). Columns l-major, m = -l..l. Returns ``(N, L²)`` float64.
    """
    theta = np.deg2rad(lonlat[:, 1] + 90.0)
    phi = np.deg2rad(lonlat[:, 0] + 180.0)
    cols = []
    for l in range(L):
        for m in range(-l, l + 1):
            y = sph_harm_y(l, abs(m), theta, phi) * (-1.0) ** abs(m)
            if m > 0:
                cols.append(math.sqrt(2) * y.real)
            elif m < 0:
                cols.append(math.sqrt(2) * y.imag)
            else:
                cols.append(math.pi * y.real)
    return np.stack(cols, axis=1)


def siren_reference(x: np.ndarray, loc: dict[str, torch.Tensor], layers: int, w0: float = 1.0, w0_initial: float = 30.0) -> np.ndarray:
    """numpy Siren forward: sin(w0_initial·(xW₀ᵀ+b₀)), then sin(w0·(hWᵢᵀ+bᵢ)), then linear last layer."""
    h = x
    for i in range(layers):
        W = loc[f"layers.{i}.weight"].numpy()
        b = loc[f"layers.{i}.bias"].numpy()
        h = np.sin((w0_initial if i == 0 else w0) * (h @ W.T + b))
    return h @ loc["last_layer.weight"].numpy().T + loc["last_layer.bias"].numpy()


def random_lonlat(n: int, seed: int = 0) -> np.ndarray:
    """``n`` uniform points on the sphere plus both poles and the dateline, (lon, lat) degrees float64."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    lon = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
    lat = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    extra = np.array([[0.0, 90.0], [0.0, -90.0], [180.0, 0.0], [-180.0, 45.0], [2.35, 48.86]])
    return np.concatenate([np.stack([lon, lat], 1), extra])
