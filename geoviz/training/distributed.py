"""Data-parallel contrastive pretraining across processes and machines (``torch.distributed``).

Launch :mod:`geoviz.training.pretraining` with ``torchrun`` (``docs/pretraining-distributed.md``)::

    torchrun --standalone --nproc_per_node=2 -m geoviz pretrain --batch-size 512 ...

What makes W ranks compute exactly what one process computes on the same global batch:

* **The loss is over the global batch.** Each rank embeds its ``B/W`` pairs, the L2-normalised
  embeddings of all ranks are gathered with :func:`all_gather_with_grad` (an autograd
  function whose backward sums every rank's gradient for a slice and hands it to the rank
  that produced it), and rank r evaluates the rows of the symmetric InfoNCE loss that belong
  to its own pairs against all ``B`` candidates (:func:`global_info_nce`, open_clip's
  "local loss"). The mean of the ranks' values is the global ``B``-way loss, and after DDP
  averages the parameter gradients they equal the single-process full-batch gradient.
  (SatCLIP's Lightning DDP contrasts each GPU's batch separately; open_clip's default
  gather without gradient yields the full gradient divided by W.)
* **Disjoint samples, same global batch.** The pretraining draws its data on the fly from a
  seeded stream; as with ``DistributedSampler`` (which has every rank compute the same
  permutation from the shared seed and keep its own indices), every rank draws the same
  cheap batch *plan* (locations, patch sizes, jitter: :func:`~geoviz.training.pretraining.plan_batch`)
  and renders only its rows ``[r·B/W, (r+1)·B/W)`` of it: the expensive patch cut-out and
  the CNN run once per sample, nowhere twice, and the global batch is the one a 1-rank run
  of the same global size draws.
* **No per-rank statistics.** The BatchNorm layers of
  :class:`~geoviz.training.pretraining.PatchEncoder` are :class:`GlobalBatchNorm2d`: the
  batch mean and variance are all-reduced (with gradient) over the ranks, so they are the
  global batch's, as one process computes them (``nn.SyncBatchNorm`` does the same on GPUs
  only: it raises for CPU tensors). The location encoder has no normalisation.
* **Gradients all-reduced** by :class:`torch.nn.parallel.DistributedDataParallel` around
  the two towers; the temperature is a parameter of the same module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

__all__ = [
    "DistInfo",
    "dist_info",
    "init_from_env",
    "all_gather_with_grad",
    "global_info_nce",
    "rank_rows",
    "all_reduce_sum_with_grad",
    "GlobalBatchNorm2d",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0: the rank that prints and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def dist_info() -> DistInfo:
    """The initialised default process group's rank and size (``DistInfo()`` when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def init_from_env(backend: str | None = None) -> DistInfo:
    """Join the process group ``torchrun`` describes in the environment, if any.

    Reads ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT``) as set
    by ``torchrun``; with ``WORLD_SIZE`` unset or 1 nothing is initialised.

    Args:
        backend: ``"gloo"``, ``"nccl"``, ...; default NCCL when CUDA is available, else gloo.

    Returns:
        This process's :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistInfo()
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend=backend)
    return dist_info()


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every rank's ``(b, D)`` tensor into ``(W·b, D)``; backward: sum over ranks, keep own slice."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        world, rank = dist.get_world_size(), dist.get_rank()
        ctx.rank, ctx.rows = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # Every rank's loss depends on every slice: the gradient for this rank's slice is the
        # sum of all ranks' gradients for it (a reduce-scatter, done as all-reduce + slice,
        # which every backend supports).
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; backward: the sum over ranks of the gradients (every rank's loss sees the sum)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = x.contiguous().clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        g = grad.contiguous().clone()
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        return g


def all_reduce_sum_with_grad(x: torch.Tensor) -> torch.Tensor:
    """``Σ_ranks x`` (differentiable; ``x`` itself without a process group of several ranks)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _AllReduceSum.apply(x)


class GlobalBatchNorm2d(torch.nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics cover the global batch of all ranks.

    In one process (or in eval mode) it is exactly :class:`torch.nn.BatchNorm2d` (same
    parameters, buffers and state-dict keys, so checkpoints are interchangeable). In training
    mode inside a process group of W > 1 ranks, the per-channel mean and (biased) variance
    are computed in two passes from all-reduced sums (:func:`all_reduce_sum_with_grad`, so
    their gradient reaches every rank's input), and the running statistics are updated
    with the global values (unbiased variance, as ``BatchNorm2d`` does), identically on all
    ranks. Works on gloo (CPU) and NCCL (GPU) alike.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64, device=x.device)
        dist.all_reduce(count, op=dist.ReduceOp.SUM)
        n = float(count)
        dims = (0, 2, 3)
        mean = all_reduce_sum_with_grad(x.sum(dims)) / n
        centred = x - mean[None, :, None, None]
        var = all_reduce_sum_with_grad((centred * centred).sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1.0, 1.0)), alpha=m)
        return y


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' ``x`` (same shape everywhere) concatenated in rank order, differentiable.

    The backward pass routes ``∂(Σ_ranks loss_r)/∂x_r`` to rank r. Without an initialised
    process group (or with one rank) this returns ``x`` itself.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _AllGatherWithGrad.apply(x)


def global_info_nce(loc_emb: torch.Tensor, img_emb: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """This rank's share of the symmetric InfoNCE loss over the **global** batch.

    Each rank passes its own ``(b, D)`` pairs (the same ``b`` on every rank; row i of both
    matches). With rank r's pairs at global rows ``r·b … r·b+b-1``, the returned value is
    ``(CE(rows of locations r·b.., over all W·b images) + CE(rows of images r·b.., over all
    W·b locations)) / 2``, averaged over this rank's b rows. The mean over ranks is
    :func:`~geoviz.training.pretraining.info_nce` of the whole ``W·b`` batch; with DDP
    averaging the gradients, they are that loss's gradients. With one process this is
    :func:`~geoviz.training.pretraining.info_nce`.

    Args:
        loc_emb, img_emb: ``(b, D)`` un-normalised embeddings of this rank's pairs.
        logit_scale: log of the similarity scale (clamped at ``log 100``).

    Returns:
        Scalar tensor.
    """
    import math

    if loc_emb.ndim != 2 or loc_emb.shape != img_emb.shape:
        raise ValueError(f"global_info_nce needs two (b, D) embeddings of equal shape, got {tuple(loc_emb.shape)} "
                         f"and {tuple(img_emb.shape)}")
    info = dist_info()
    a, b = F.normalize(loc_emb, dim=1), F.normalize(img_emb, dim=1)
    a_all, b_all = all_gather_with_grad(a), all_gather_with_grad(b)
    scale = torch.as_tensor(logit_scale, dtype=a.dtype, device=a.device).clamp(max=math.log(100.0)).exp()
    n = a.shape[0]
    target = torch.arange(n, device=a.device) + info.rank * n
    loc_to_img = scale * a @ b_all.T  # (b, W·b)
    img_to_loc = scale * b @ a_all.T
    return 0.5 * (F.cross_entropy(loc_to_img, target) + F.cross_entropy(img_to_loc, target))


def rank_rows(batch_size: int, info: DistInfo | None = None) -> slice:
    """Rows of a global batch of ``batch_size`` that this rank renders (contiguous, equal sizes).

    Raises:
        ValueError: ``batch_size`` not divisible by the world size (the all-gather needs
            equal shapes on every rank).
    """
    info = info or dist_info()
    if batch_size % info.world_size:
        raise ValueError(f"the global batch_size {batch_size} must be divisible by the number of ranks "
                         f"{info.world_size}")
    b = batch_size // info.world_size
    return slice(info.rank * b, (info.rank + 1) * b)


def all_mean(x: float, info: DistInfo | None = None) -> float:
    """Mean of a float over ranks (the value itself with one process)."""
    info = info or dist_info()
    if not info.distributed:
        return float(x)
    t = torch.tensor([float(x)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / info.world_size


def all_max(x: float, info: DistInfo | None = None) -> float:
    """Maximum of a float over ranks (so that every rank takes the same decision)."""
    info = info or dist_info()
    if not info.distributed:
        return float(x)
    t = torch.tensor([float(x)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)
