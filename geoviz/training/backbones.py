"""Image backbones for contrastive pretraining, written here (no torchvision).

torchvision is not installable beside this project's torch on the machines geoviz is
developed on (PyPI's wheel fails to import against torch 2.13.0), so the ResNet-18 is
implemented in this module. It follows torchvision's ``resnet18`` layout and parameter
names exactly (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``layer2.0.downsample.0``/``.1``,
``fc``), so torchvision/timm weights map onto it one to one where the shapes agree (a
pretrained RGB stem only when ``in_channels=3``; ``fc`` is the embedding head, ``512 → D``).

Normalisation: ``norm="batch"`` (the default) uses
:class:`~geoviz.training.distributed.GlobalBatchNorm2d`: plain ``BatchNorm2d`` in one process
(same state-dict keys as torchvision's), statistics over the **global** batch under
``torchrun``, so no statistic depends on how the batch is split over ranks.
``norm="group"`` uses GroupNorm (``gcd(c, 8)`` groups; per-sample statistics; no buffers,
so its state dict has no ``running_*`` entries).

The small CNN (:class:`geoviz.training.pretraining.PatchEncoder`) is the other backbone;
the registry of both is :data:`geoviz.training.pretraining.BACKBONES`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .distributed import GlobalBatchNorm2d


def check_patches(x: object, in_channels: int, name: str) -> None:
    """Refuse anything but a ``(B, in_channels, P, P)`` tensor with P ≥ 16 (an image tower's
    input), naming the tower ``name`` and what was given."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != in_channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} expects (B, {in_channels}, P, P) float images, got {shape}")
    if x.shape[-1] < 16 or x.shape[-2] < 16:
        raise ValueError(f"{name} needs patches of at least 16 × 16 pixels, got {tuple(x.shape[-2:])}")

__all__ = ["NORMS", "norm_layer", "BasicBlock", "ResNet", "resnet18", "RESNET18_CHANNELS"]

NORMS: tuple[str, ...] = ("batch", "group")
"""Normalisation layers the backbones offer."""

RESNET18_CHANNELS: tuple[int, int, int, int] = (64, 128, 256, 512)
"""torchvision's ResNet-18 stage widths."""


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``"batch"`` → :class:`GlobalBatchNorm2d`; ``"group"`` → ``GroupNorm(gcd(channels, 8), channels)``."""
    if kind == "batch":
        return GlobalBatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class BasicBlock(nn.Module):
    """torchvision's ResNet ``BasicBlock``: two 3×3 convs with a shortcut (1×1 conv + norm when
    the shape changes), ``expansion = 1``."""

    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1, norm: str = "batch") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(norm, c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = norm_layer(norm, c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            norm_layer(norm, c_out))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet with :class:`BasicBlock` stages (torchvision's layout and names), ending in a
    linear embedding head.

    Stem: ``conv1`` 7×7 stride 2 → ``bn1`` → ReLU → 3×3 max-pool stride 2; then ``layer1`` to
    ``layer4`` (the first block of layers 2–4 has stride 2), global average pool, ``fc``.
    Initialisation as torchvision: Kaiming-normal (fan-out, ReLU) convolutions, norm weights 1
    and biases 0, PyTorch's default for ``fc``.

    Args:
        embed_dim: output width (``fc``: ``channels[-1] → embed_dim``).
        channels: the four stage widths (torchvision: 64, 128, 256, 512).
        layers: blocks per stage (ResNet-18: 2, 2, 2, 2).
        in_channels: input bands (e.g. 13 for Sentinel-2, 3 for RGB).
        norm: ``"batch"`` (global-batch BatchNorm) or ``"group"``.

    Shape:
        input ``(B, in_channels, P, P)`` float32, P ≥ 16 (a 32-fold reduction: 32 px → 1 × 1);
        output ``(B, embed_dim)``, un-normalised.
    """

    def __init__(self, embed_dim: int = 256, channels: tuple[int, ...] = RESNET18_CHANNELS,
                 layers: tuple[int, ...] = (2, 2, 2, 2), in_channels: int = 3, norm: str = "batch") -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 4 or min(channels) < 1 or len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"ResNet needs 4 positive stage widths and block counts, got {channels}, {layers}")
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.in_channels = int(in_channels)
        self.conv1 = nn.Conv2d(self.in_channels, channels[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(norm, channels[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = channels[0]
        for i, (c, n) in enumerate(zip(channels, layers)):
            blocks = [BasicBlock(c_in, c, 1 if i == 0 else 2, norm)]
            blocks += [BasicBlock(c, c, 1, norm) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            c_in = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, embed_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patches(x, self.in_channels, "ResNet")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(embed_dim: int = 256, channels: tuple[int, ...] = RESNET18_CHANNELS, in_channels: int = 3,
             norm: str = "batch") -> ResNet:
    """ResNet-18 (``BasicBlock`` × [2, 2, 2, 2]) from scratch; ``channels`` may be narrowed for tests."""
    return ResNet(embed_dim, channels, (2, 2, 2, 2), in_channels=in_channels, norm=norm)
