"""geoviz.training.process: a Trainer in a child process, streamed back record by record."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import psutil
import pytest

from geoviz.data import get_task, regular_grid
from geoviz.training import TrainConfig, Trainer
from geoviz.training.process import RunInfo, TrainingError, TrainingProcess, train_in_process

CFG = dict(dtype="float32", patience=None, lr=1e-2, nn_kwargs={"hidden_dim": 16, "num_layers": 2},
           pe_kwargs={"legendre_polys": 5})


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_records_match_an_in_process_run():
    cfg = TrainConfig(max_epochs=4, **CFG)
    with TrainingProcess("landocean", cfg, grid_resolution=4.0, min_frame_interval=0.0) as proc:
        recs = list(proc.records(timeout=120))
        pid = proc.pid
        info = proc.info
    assert pid != os.getpid()
    assert [r.epoch for r in recs] == [1, 2, 3, 4] and recs[-1].stopped == "max_epochs"
    assert isinstance(info, RunInfo) and info.grid_shape == (45, 90) and info.feature_dim == 25
    assert info.device_label in ("CPU",) or info.device_label.startswith("GPU")
    assert all(r.prediction is not None and r.prediction.shape == (45 * 90,) for r in recs)
    # the same seed in this process gives the same losses and map (single torch thread in both)
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = Trainer(get_task("landocean"), cfg, predict_lonlat=regular_grid(4.0).lonlat, predict_every=4,
                      predict_dtype="float32")
        ref_recs = list(ref.run())
    finally:
        torch.set_num_threads(n)
    np.testing.assert_allclose([r.val_loss for r in recs], [r.val_loss for r in ref_recs], rtol=1e-6)
    np.testing.assert_allclose(recs[-1].prediction, ref_recs[-1].prediction, atol=1e-6)
    assert _gone(pid)


def test_frames_are_rate_limited_first_and_last_always():
    with TrainingProcess("landocean", TrainConfig(max_epochs=6, **CFG), grid_resolution=6.0,
                         min_frame_interval=3600.0) as proc:
        recs = list(proc.records(timeout=120))
    assert [r.prediction is not None for r in recs] == [True, False, False, False, False, True]


def test_stop_ends_a_long_run_and_the_child_exits():
    proc = TrainingProcess("checkerboard", TrainConfig(max_epochs=100_000, **CFG)).start()
    it = proc.records(timeout=120)
    first = next(it)
    proc.stop()
    rest = list(it)
    proc.close()
    assert first.epoch == 1 and rest[-1].stopped == "stopped" and rest[-1].epoch < 100
    assert not proc.running and _gone(proc.pid)


def test_close_terminates_a_child_that_nobody_reads():
    proc = TrainingProcess("landocean", TrainConfig(max_epochs=100_000, **CFG), grid_resolution=1.0,
                           min_frame_interval=0.0).start()
    next(proc.records(timeout=120))
    proc.close(timeout=2.0)  # the child may be blocked writing 1° maps into a full pipe
    assert _gone(proc.pid)


def test_asyncio_iteration_does_not_block_the_loop():
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main():
        t = asyncio.ensure_future(ticker())
        proc = TrainingProcess("landocean", TrainConfig(max_epochs=3, **CFG), grid_resolution=6.0)
        await asyncio.to_thread(proc.start)
        recs = [r async for r in proc.arecords()]
        await asyncio.to_thread(proc.close)
        t.cancel()
        return recs

    recs = asyncio.run(main())
    assert [r.epoch for r in recs] == [1, 2, 3]
    assert len(ticks) > 5  # the loop kept running while it waited for the child


@pytest.mark.parametrize("task, cfg, needle", [
    ("nope", {}, "unknown task 'nope'"),
    ("landocean", {"pe": "bogus"}, "unknown positional encoding 'bogus'"),
    ("landocean", {"nn_kwargs": {"hidden_dim": 0}}, "hidden_dim"),
])
def test_errors_in_the_child_are_raised_with_their_message(task, cfg, needle):
    with pytest.raises(TrainingError, match=needle):
        train_in_process(task, TrainConfig(max_epochs=2, **{**CFG, **cfg}))


def test_bad_arguments_are_rejected_in_the_parent():
    with pytest.raises(TypeError, match="TrainConfig"):
        TrainingProcess("landocean", {"max_epochs": 3})
    with pytest.raises(ValueError, match="grid_resolution"):
        TrainingProcess("landocean", TrainConfig(), grid_resolution=-1)
    with pytest.raises(ValueError, match="min_frame_interval"):
        TrainingProcess("landocean", TrainConfig(), min_frame_interval=-1)


def test_train_in_process_returns_the_final_map():
    last, info = train_in_process("landocean", TrainConfig(max_epochs=3, **CFG), grid_resolution=6.0)
    assert last.epoch == 3 and last.prediction.shape == (30 * 60,) and info.grid_shape == (30, 60)
    assert np.all((last.prediction >= 0) & (last.prediction <= 1))


def test_close_from_several_threads_at_once():
    import threading

    proc = TrainingProcess("landocean", TrainConfig(max_epochs=100_000, **CFG)).start()
    next(proc.records(timeout=120))
    errors = []

    def close():
        try:
            proc.close(timeout=2.0)
        except Exception as exc:  # pragma: no cover - the failure this test guards against
            errors.append(exc)

    threads = [threading.Thread(target=close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and _gone(proc.pid)


def test_records_timeout_is_a_timeout():
    proc = TrainingProcess("landocean", TrainConfig(max_epochs=3, **CFG))
    proc.start()
    try:
        with pytest.raises(TimeoutError, match="no message"):
            next(proc.records(timeout=1e-4))  # the child cannot have built its trainer yet
    finally:
        proc.close()


def _two_thread_reduction() -> tuple[int, bool]:
    """Runs in a fork-server child: a torch reduction large enough for an OpenMP region."""
    import torch

    torch.set_num_threads(2)
    x = torch.randn(4_000_000)
    return torch.get_num_threads(), bool(torch.isfinite(x).all())


def test_fork_server_children_can_run_openmp_regions():
    """The cold-cache Species tab hung: the fork server had opened an OpenMP pool (task data
    built with two torch threads), and a forked child's first parallel region waited for ever
    in ``gomp_team_barrier_wait_end``. A child must finish a two-thread reduction."""
    from geoviz.viz.lsweep import fit_executor

    ex = fit_executor(1)
    try:
        fut = ex.submit(_two_thread_reduction)
        assert fut.result(timeout=45) == (2, True)
    finally:
        for p in list(getattr(ex, "_processes", {}).values()):
            if p.is_alive():
                p.kill()
        ex.shutdown(wait=True, cancel_futures=True)


def test_fork_server_has_no_openmp_threads():
    """Only the main thread and OpenBLAS's fork-safe pthread server live in the fork server."""
    from multiprocessing import forkserver

    from geoviz.training.process import warm_up

    warm_up(wait=True)
    pid = forkserver._forkserver._forkserver_pid
    assert pid is not None
    threads = psutil.Process(pid).num_threads()
    import numpy  # noqa: F401  (the baseline: a process that imported numpy)
    import threadpoolctl

    blas = sum(max(0, i["num_threads"] - 1) for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    assert threads <= 1 + blas, f"fork server has {threads} threads"


_SERVER_LIKE = r"""
import signal, sys, time
if __name__ == "__main__":
    from geoviz.training.process import ChildPool
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # like a server's graceful SIGTERM
    pool = ChildPool(1, nice=5)
    fut = pool.submit(time.sleep, 300)   # a long background job, like a cold-cache build
    while not pool._processes:
        time.sleep(0.05)
    time.sleep(0.5)
    print(*pool._processes, flush=True)
    while True:
        time.sleep(0.1)
"""


def test_sigterm_exits_promptly_and_takes_the_pool_workers_along(tmp_path):
    """A ``panel serve`` stopped with SIGTERM freed its port but stayed alive until a running
    background job finished (concurrent.futures joins its pools at exit)."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "server_like.py"
    script.write_text(_SERVER_LIKE)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers = [int(w) for w in proc.stdout.readline().split()]
        assert workers and all(psutil.pid_exists(w) for w in workers)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - t0
        assert took < 10, f"exit took {took:.1f} s"
        for w in workers:
            assert _gone(w), f"worker {w} outlived its parent"
        assert "leaked semaphore" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
