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
  animation), with the float32 prediction path; the 1° grid is a regular lon/lat grid, so
  predictions go through the separable SH first layer (``geoviz.training.grid_predict``); the
  dense path is timed beside it (``separable_grid=False``).

``--reproduce-estimate`` instead times a few epochs of every land–ocean reproduction cell
(one thread, the reproduction's float64 or ``--dtypes``) and multiplies the per-epoch CPU
time by the number of epochs each cell ran in a results file (``--results``, default
``out/reproduce/landocean.jsonl``; 500 epochs per run when absent) to estimate the CPU time
of ``geoviz reproduce landocean`` (150 runs) and its wall time with ``--workers 2``.

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


_ONE_TIME: dict[str, float] = {}


def _bench(dtype: str, epochs: int, live_epochs: int, threads: int) -> dict:
    import torch

    from geoviz.data import get_task, regular_grid
    from geoviz.training import Trainer, TrainConfig

    torch.set_num_threads(threads)
    # the first optimizer step of a process imports torch._dynamo (~2 s, once per process;
    # the dashboard's fork server preloads it): paid here so the runs below are steady-state
    t = time.perf_counter()
    import torch._dynamo  # noqa: F401
    _ONE_TIME.setdefault("torch._dynamo import s", round(time.perf_counter() - t, 2))
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
    dense = Trainer(task, TrainConfig(max_epochs=1, patience=None, dtype=dtype, device="cpu"),
                    predict_lonlat=grid.lonlat, predict_dtype="float32", separable_grid=False)
    pred_dense = best_of(dense.predict)
    del dense
    t, c = time.perf_counter(), time.process_time()
    n_pred = sum(rec.prediction is not None for rec in live.run())
    live_s, live_cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "dtype": dtype, "threads": threads, "setup_s": setup, "epochs": len(per_epoch), "run_s": run_s,
        "run_cpu_s": run_cpu, "live_cpu_s_per_epoch": live_cpu / live_epochs,
        "epoch_median_s": statistics.median(per_epoch), "epoch_mean_s": statistics.fmean(per_epoch),
        "test_accuracy": acc, "predict_1deg_s": pred_same[0], "predict_1deg_float32_path_s": pred_f32[0],
        "predict_1deg_cpu_s": pred_same[1], "predict_1deg_float32_path_cpu_s": pred_f32[1],
        "predict_1deg_float32_dense_s": pred_dense[0],
        "live_epochs": live_epochs, "live_predictions": n_pred, "live_epochs_per_s": live_epochs / live_s,
        "grid_points": len(grid.lonlat),
    }


def _reproduce_estimate(results: str, dtype: str, epochs: int) -> dict:
    """Per-cell CPU ms per epoch (1 thread, ``epochs`` timed after 2 warm-up epochs, setup
    excluded) × epochs run per cell in ``results`` → CPU and 2-worker wall estimates."""
    import torch

    from geoviz.data import get_task
    from geoviz.training.reproduce import load_records, make_config, parse_subset
    from geoviz.training import Trainer, TrainConfig

    torch.set_num_threads(1)
    task = get_task("landocean")
    recs = [r for r in load_records(results) if r.get("task") == "landocean"
            and r.get("variant", "reference") == "reference"] if os.path.exists(results) else []
    rows = []
    for pe, nn in parse_subset(None, "landocean"):
        cfg = make_config("landocean", pe, nn, 0, "reference", epochs + 2)
        cfg.update(patience=None, dtype=dtype)
        t = time.perf_counter()
        trainer = Trainer(task, TrainConfig(**cfg))
        setup = time.perf_counter() - t
        it = trainer.run()
        next(it), next(it)
        c = time.process_time()
        for _ in range(epochs):
            next(it)
        per_epoch = (time.process_time() - c) / epochs
        cell = [r for r in recs if r["pe"] == pe and r["nn"] == nn]
        run_epochs = sum(r["epochs"] for r in cell) * 5 / len(cell) if cell else 5 * 500
        rows.append({"pe": pe, "nn": nn, "cpu_ms_per_epoch": 1e3 * per_epoch, "setup_s": setup,
                     "epochs_5_seeds": run_epochs, "cpu_s_5_seeds": run_epochs * per_epoch + 5 * setup})
    total = sum(r["cpu_s_5_seeds"] for r in rows)
    return {"dtype": dtype, "rows": rows, "cpu_s": total, "wall_2_workers_min": total / 2 / 60,
            "epochs_from": results if recs else "500 per run (no results file)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--live-epochs", type=int, default=100)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--reproduce-estimate", action="store_true",
                    help="estimate the CPU / 2-worker wall time of `geoviz reproduce landocean` instead")
    ap.add_argument("--results", default="out/reproduce/landocean.jsonl",
                    help="reproduction JSONL giving the epochs each cell ran (--reproduce-estimate)")
    ap.add_argument("--estimate-epochs", type=int, default=3, help="epochs timed per cell (--reproduce-estimate)")
    args = ap.parse_args()
    if args.reproduce_estimate:
        _set_threads(1)
        load0 = os.getloadavg()[0]
        dtypes = args.dtypes if args.dtypes != ["float32", "float64"] else ["float64"]
        out = [_reproduce_estimate(args.results, d, args.estimate_epochs) for d in dtypes]
        print(f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}; epochs per cell from {out[0]['epochs_from']}")
        for est in out:
            print(f"\n{est['dtype']}: | PE | NN | CPU ms / epoch (1 thread) | setup s | epochs (5 seeds) | CPU s (5 seeds) |")
            print("|---|---|---:|---:|---:|---:|")
            for r in sorted(est["rows"], key=lambda r: -r["cpu_s_5_seeds"]):
                print(f"| {r['pe']} | {r['nn']} | {r['cpu_ms_per_epoch']:.1f} | {r['setup_s']:.2f} | "
                      f"{r['epochs_5_seeds']:.0f} | {r['cpu_s_5_seeds']:.0f} |")
            print(f"total {est['cpu_s'] / 60:.1f} CPU min -> ~{est['wall_2_workers_min']:.1f} min wall with --workers 2 "
                  f"(idle machine, perfect packing)")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(out, fh, indent=2)
        return
    _set_threads(args.threads)
    import torch

    load0 = os.getloadavg()[0]
    rows = [_bench(d, args.epochs, args.live_epochs, args.threads) for d in args.dtypes]
    load1 = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, threads {args.threads}, load average {load0:.1f} -> {load1:.1f}")
    print("| dtype | setup s | epoch wall ms (median / mean) | full run wall s (CPU s) [epochs] | "
          "1° grid predict wall ms, same dtype / float32 path (CPU ms) [float32 dense path] | "
          "epochs/s with a 1° map every epoch "
          "(CPU ms per such epoch) | test acc % |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dtype']} | {r['setup_s']:.2f} | {r['epoch_median_s'] * 1e3:.1f} / {r['epoch_mean_s'] * 1e3:.1f}"
              f" | {r['run_s']:.2f} ({r['run_cpu_s']:.2f}) [{r['epochs']}] | {r['predict_1deg_s'] * 1e3:.1f} / "
              f"{r['predict_1deg_float32_path_s'] * 1e3:.1f} ({r['predict_1deg_cpu_s'] * 1e3:.1f} / "
              f"{r['predict_1deg_float32_path_cpu_s'] * 1e3:.1f}) [{r['predict_1deg_float32_dense_s'] * 1e3:.1f}] | "
              f"{r['live_epochs_per_s']:.1f} "
              f"({r['live_cpu_s_per_epoch'] * 1e3:.1f}) | {100 * r['test_accuracy']:.2f} |")
    print(f"one-time per process, before the runs: {_ONE_TIME}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"load_before": load0, "load_after": load1, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
