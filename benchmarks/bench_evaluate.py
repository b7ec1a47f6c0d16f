"""Speed of ``geoviz evaluate``: the default suite's time per part, and the MLP probe vs plain torch.

    .venv/bin/python benchmarks/bench_evaluate.py            # default suite (4 encoders × 8 tasks × 2 probes × 3 splits)
    .venv/bin/python benchmarks/bench_evaluate.py --quick    # 2 encoders × 2 tasks, plus the MLP comparison

Prints wall and CPU seconds of each part (tasks, embedding, linear probe, MLP probe), the ratio
to the 15-minute goal, and (always) geoviz's MLP probe against the baseline of one
``torch.nn.Sequential`` per repetition trained in a plain loop, on the same data and epochs,
measured in the same run (the probe's overhead: standardisation, seeding, prediction).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _loop_mlp(X: np.ndarray, y: np.ndarray, reps, epochs: int) -> None:
    import torch

    for tr, _te, seed in reps:
        torch.manual_seed(seed)
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-12
        x = torch.from_numpy(((X[tr] - mu) / sd).astype(np.float32))
        t = torch.from_numpy(((y[tr] - y[tr].mean()) / y[tr].std()).astype(np.float32))
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                  torch.nn.ReLU(), torch.nn.Linear(64, 1))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(epochs):
            opt.zero_grad()
            loss = ((net(x)[:, 0] - t) ** 2).mean()
            loss.backward()
            opt.step()


def mlp_comparison(epochs: int = 100) -> None:
    from geoviz.data.splits import block_kfold
    from geoviz.evaluation import get_encoder, get_eval_task, make_reps, mlp_probe

    task = get_eval_task("population", n=2000)
    X = get_encoder("geoviz-bluemarble-l10")(task.lonlat)
    reps = make_reps(task, "random", seeds=3)["random"] + make_reps(task, "blocks")["blocks"]
    assert block_kfold  # the blocks split comes from geoviz.data.splits
    mlp_probe(X, task.y, "regression", reps[:1], epochs=5)  # warm-up of both paths
    _loop_mlp(X, task.y, reps[:1], 5)
    t0, c0 = time.perf_counter(), time.process_time()
    mlp_probe(X, task.y, "regression", reps[:3], epochs=epochs)
    mlp_probe(X, task.y, "regression", reps[3:], epochs=epochs)
    tb, cb = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    _loop_mlp(X, task.y, reps, epochs)
    tl, cl = time.perf_counter() - t0, time.process_time() - c0
    print(f"MLP probe, {len(reps)} repetitions × {epochs} epochs, D = {X.shape[1]}: geoviz mlp_probe {tb:.2f} s wall "
          f"({cb:.2f} s CPU), plain nn.Sequential loop {tl:.2f} s wall ({cl:.2f} s CPU): geoviz at {tl / tb:.2f}× "
          f"the baseline's speed (wall), {cl / cb:.2f}× (CPU)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import os

    import torch

    from geoviz.evaluation import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    mlp_comparison()
    enc = ["geoviz-bluemarble-l10", "sh:10"] if args.quick else ["geoviz-bluemarble-l10", "geoclip", "sh:10", "wrap"]
    tasks = ["population", "continents"] if args.quick else "all"
    t0 = time.perf_counter()
    res = evaluate(enc, tasks)
    wall = time.perf_counter() - t0
    print("suite: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
    print(f"suite wall {wall:.0f} s = {wall / 900:.2f} × the 15-minute goal ({len(enc)} encoders, "
          f"{len(res.tasks)} tasks, {len(res.records_)} records); load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
