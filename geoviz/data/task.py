"""The task types: a :class:`Task` (a classification or regression problem on the sphere
with fixed train/validation/test splits (:class:`Split`) and a ground-truth labeller).

Built by :mod:`geoviz.data.tasks` (the benchmark tasks), :mod:`geoviz.data.fields` (global
fields as regression tasks) and :func:`geoviz.data.points.task_from_points` (a user's points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
import torch

__all__ = ["LabelFn", "Split", "Task"]

LabelFn = Callable[[Any], np.ndarray]
"""``(N, 2)`` (lon, lat) degrees → ``(N,)`` labels (the task's ground truth anywhere)."""


@dataclass
class Split:
    """One data split.

    Attributes:
        lonlat: ``(N, 2)`` float64 ``(lon, lat)`` in degrees.
        y: ``(N,)`` labels: float32 0.0/1.0 for binary tasks (unsqueeze to ``(N, 1)`` for
            ``BCEWithLogitsLoss`` on a 1-output model), int64 class ids in ``[0, C)`` for
            multiclass tasks, float32 targets ``(N,)`` or ``(N, K)`` for regression.
    """

    lonlat: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if self.lonlat.ndim != 2 or self.lonlat.shape[1] != 2:
            raise ValueError(f"lonlat must have shape (N, 2), got {self.lonlat.shape}")
        if self.y.shape[0] != self.lonlat.shape[0]:
            raise ValueError(f"y has {self.y.shape[0]} rows but lonlat has {self.lonlat.shape[0]}")

    def __len__(self) -> int:
        return int(self.lonlat.shape[0])

    def tensors(self, dtype: torch.dtype = torch.float64, device: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The split as torch tensors (copies).

        Args:
            dtype: float dtype for ``lonlat`` (and for binary ``y``).
            device: target device (default CPU).

        Returns:
            ``(lonlat (N, 2) dtype, y)`` with ``y`` ``(N,)`` of ``dtype`` for binary labels or
            int64 for class ids.
        """
        x = torch.tensor(self.lonlat, dtype=dtype, device=device)
        ydt = dtype if self.y.dtype.kind == "f" else torch.int64
        return x, torch.tensor(self.y, dtype=ydt, device=device)


@dataclass
class Task:
    """A classification or regression task with fixed train/val/test splits and a ground-truth labeller.

    Attributes:
        name: registry name (``"landocean"``, ``"checkerboard"``, ``"field:temperature"``, ...).
        kind: ``"binary"`` (BCE-with-logits on 1 output; land when logit > 0),
            ``"multiclass"`` (cross-entropy on ``num_classes`` outputs) or ``"regression"``
            (MSE on standardised targets; ``Split.y`` float32 ``(N,)`` or ``(N, K)``).
        num_classes: 2 for binary tasks, ``C`` for multiclass, 0 for regression.
        output_dim: model output width: 1 for binary, ``C`` for multiclass, ``K`` (1 for a
            scalar target) for regression.
        train, val, test: the splits.
        label_fn: maps any ``(N, 2)`` ``(lon, lat)`` degrees (numpy or torch) to ``(N,)``
            labels of the same dtype convention as ``Split.y`` (for ground-truth maps).
        class_names: optional names indexed by class id.
        meta: extra task information (e.g. checkerboard support points, land fractions;
            for regression ``"units"`` (str) and ``"target_names"`` (list[str])).
    """

    name: str
    kind: Literal["binary", "multiclass", "regression"]
    num_classes: int
    output_dim: int
    train: Split
    val: Split
    test: Split
    label_fn: LabelFn
    class_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def splits(self) -> dict[str, Split]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}
