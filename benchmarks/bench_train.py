"""Training speed: SH(L=10) + Siren(64, 2 layers) on land–ocean, float32 and float64.

Usage::

    python benchmarks/bench_train.py                  # 2 threads, 500 epochs, both dtypes
    python benchmarks/bench_train.py --threads 1 --epochs 200 --live-epochs 50

For each dtype it reports

* ``setup``: building the :class:`~geoviz.training.Trainer` (model + cached PE features of
  the 5k train, 5k val and 51,156 test points);
* ``epoch``: median and mean seconds per epoch of a full ``--epochs`` run (3 Adam steps of
  2,000 points + validation on 5,000 points; early stopping off so every run has the same
  length), and the wall time of that run;
* ``predict``: one prediction on the 360 × 180 (1°) grid, min over 5 calls, in the training
  dtype and through the float32 prediction path (``predict_dtype="float32"``);
* ``live``: epochs per second when every epoch also predicts the 1° grid (the dashboard
  animation), with the float32 prediction path.

Numbers depend on the load of the machine; the script prints the 1-minute load average
before and after so a loaded run can be recognised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def _bench(dtype: str, epochs: int, live_epochs: int, threads: int) -> dict:
    import torch

    from geoviz.data import get_task, regular_grid
    from geoviz.training import Trainer, TrainConfig

    torch.set_num_threads(threads)
    task = get_task("landocean")
    grid = regular_grid(1.0)
    cfg = TrainConfig(max_epochs=epochs, patience=None, dtype=dtype, device="cpu", seed=0)

    t = time.perf_counter()
    trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=epochs + 1)
    setup = time.perf_counter() - t
    stamps = [0.0]
    t, c = time.perf_counter(), time.process_time()
    for rec in trainer.run():
        stamps.append(rec.elapsed)
    run_s, run_cpu = time.perf_counter() - t, time.process_time() - c
    per_epoch = [b - a for a, b in zip(stamps, stamps[1:])]
    acc = trainer.evaluate("test")["accuracy"]

    def best_of(fn, reps=5):
        fn()
        ts, cs = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            ts.append(time.perf_counter() - t0)
            cs.append(time.process_time() - c0)
        return min(ts), min(cs)

    pred_same = best_of(trainer.predict)
    live = Trainer(task, TrainConfig(max_epochs=live_epochs, patience=None, dtype=dtype, device="cpu"),
                   predict_lonlat=grid.lonlat, predict_every=1, predict_dtype="float32")
    pred_f32 = best_of(live.predict)
    t, c = time.perf_counter(), time.process_time()
    n_pred = sum(rec.prediction is not None for rec in live.run())
    live_s, live_cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "dtype": dtype, "threads": threads, "setup_s": setup, "epochs": len(per_epoch), "run_s": run_s,
        "run_cpu_s": run_cpu, "live_cpu_s_per_epoch": live_cpu / live_epochs,
        "epoch_median_s": statistics.median(per_epoch), "epoch_mean_s": statistics.fmean(per_epoch),
        "test_accuracy": acc, "predict_1deg_s": pred_same[0], "predict_1deg_float32_path_s": pred_f32[0],
        "predict_1deg_cpu_s": pred_same[1], "predict_1deg_float32_path_cpu_s": pred_f32[1],
        "live_epochs": live_epochs, "live_predictions": n_pred, "live_epochs_per_s": live_epochs / live_s,
        "grid_points": len(grid.lonlat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--live-epochs", type=int, default=100)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args()
    _set_threads(args.threads)
    import torch

    load0 = os.getloadavg()[0]
    rows = [_bench(d, args.epochs, args.live_epochs, args.threads) for d in args.dtypes]
    load1 = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, threads {args.threads}, load average {load0:.1f} -> {load1:.1f}")
    print("| dtype | setup s | epoch wall ms (median / mean) | full run wall s (CPU s) [epochs] | "
          "1° grid predict wall ms, same dtype / float32 path (CPU ms) | epochs/s with a 1° map every epoch "
          "(CPU ms per such epoch) | test acc % |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dtype']} | {r['setup_s']:.2f} | {r['epoch_median_s'] * 1e3:.1f} / {r['epoch_mean_s'] * 1e3:.1f}"
              f" | {r['run_s']:.2f} ({r['run_cpu_s']:.2f}) [{r['epochs']}] | {r['predict_1deg_s'] * 1e3:.1f} / "
              f"{r['predict_1deg_float32_path_s'] * 1e3:.1f} ({r['predict_1deg_cpu_s'] * 1e3:.1f} / "
              f"{r['predict_1deg_float32_path_cpu_s'] * 1e3:.1f}) | {r['live_epochs_per_s']:.1f} "
              f"({r['live_cpu_s_per_epoch'] * 1e3:.1f}) | {100 * r['test_accuracy']:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"load_before": load0, "load_after": load1, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
