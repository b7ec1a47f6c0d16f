"""Species-range speed goals (issue 20): 100 virtual species, 100k observations,
SH(L=20) + Siren(256): training to convergence ≤ 2 min on 2 CPU cores, and a 0.5° probability
map of one species ≤ 0.2 s.

Training: ``fit_species`` with the defaults (an-full, λ = 2048, land background, batch 2048,
cosine learning rate over ``--epochs``); after every epoch the model's mAP against the true
ranges is measured (outside the clock) on equal-area land points. *Converged* = the first
epoch whose mAP is within ``--tol`` of the best. Wall and process CPU seconds are printed
(on a shared machine CPU-seconds / threads is the uncontended wall-time estimate).

Map: ``SpeciesModel.predict_map`` (separable SH first layer, one output row, optional land
mask) against the peer measured in the same run: the dense path (SH features of all 259,200
cells through the full network, all species), as ``model.logits(grid)`` would do.

    nice python benchmarks/bench_species.py                 # full (minutes)
    python benchmarks/bench_species.py --quick              # smoke run
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--species", type=int, default=100, help="number of virtual species (default 100)")
    ap.add_argument("--observations", type=int, default=100_000, help="total observations (default 100k)")
    ap.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--tol", type=float, default=0.01, help="mAP tolerance defining convergence")
    ap.add_argument("--eval-points", type=int, default=30_000, help="Fibonacci points before the land mask")
    ap.add_argument("--repeats", type=int, default=5, help="map timing repeats (best of)")
    ap.add_argument("--quick", action="store_true", help="10 species, 5k observations, 3 epochs")
    ap.add_argument("--skip-train", action="store_true", help="only time the map (untrained weights)")
    args = ap.parse_args()
    if args.quick:
        args.species, args.observations, args.epochs, args.repeats = 10, 5000, 3, 2
    torch.set_num_threads(args.threads)
    from geoviz.data import is_land, regular_grid
    from geoviz.species import (SpeciesConfig, SpeciesModel, evaluation_points, fit_species,
                                make_virtual_species, range_metrics)

    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    world = make_virtual_species(args.species, args.observations, bias="flickr", seed=0)
    obs = world.observations
    print(f"{obs.num_species} virtual species, {len(obs)} observations (flickr observer bias)")
    model = SpeciesModel(obs.names)
    if not args.skip_train:
        pts = evaluation_points(args.eval_points)
        truth = world.truth(pts)
        curve: list[tuple[int, float, float, float]] = []
        cpu = [time.process_time(), 0.0]  # [last mark, training CPU seconds so far]

        def cb(row):  # evaluation is outside the clocks (fit_species excludes callback wall time)
            cpu[1] += time.process_time() - cpu[0]
            r = range_metrics(model.logits(pts), truth)
            curve.append((row["epoch"], row["seconds"], cpu[1], r["map"]))
            print(f"epoch {row['epoch']:3d} loss {row['loss']:.4f} wall {row['seconds']:7.1f} s "
                  f"cpu {cpu[1]:7.1f} s  mAP {r['map']:.4f} AUC {r['mean_auc']:.4f}  "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
            cpu[0] = time.process_time()

        fit_species(obs, SpeciesConfig(epochs=args.epochs, threads=args.threads), callback=cb, model=model)
        best = max(m for *_, m in curve)
        ep, wall, cpu_s, m = next(c for c in curve if c[3] >= best - args.tol)
        print(f"converged (mAP {m:.4f}, within {args.tol} of the best {best:.4f}) at epoch {ep}: wall {wall:.1f} s, "
              f"CPU {cpu_s:.1f} s (≈ {cpu_s / args.threads:.1f} s on {args.threads} free cores); goal ≤ 120 s")
    g = regular_grid(0.5)
    land = is_land(g.lonlat).reshape(g.shape)
    name = obs.names[0]

    def best_of(fn) -> tuple[float, float]:
        fn()
        ts, cs = [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            fn()
            ts.append(time.perf_counter() - t)
            cs.append(time.process_time() - c)
        return min(ts), min(cs)

    exact = model.predict_map(name, 0.5)
    fast = model.predict_map(name, 0.5, refine=4)
    fast_land = model.predict_map(name, 0.5, refine=4, mask=land)
    err = float(np.abs(fast - exact).max())
    err_land = float(np.nanmax(np.abs(fast_land - exact)[land]))
    rows = [("exact, separable first layer", lambda: model.predict_map(name, 0.5)),
            ("exact, land cells only", lambda: model.predict_map(name, 0.5, mask=land)),
            ("coarse-to-fine (refine=4)", lambda: model.predict_map(name, 0.5, refine=4)),
            ("coarse-to-fine, land only", lambda: model.predict_map(name, 0.5, refine=4, mask=land)),
            ("dense peer (features of all cells, all species)", lambda: model.logits(g.lonlat))]
    res = {label: best_of(fn) for label, fn in rows}
    peer = res[rows[-1][0]][0]
    print(f"0.5° map of species {name} (259,200 cells), best of {args.repeats} (load {os.getloadavg()[0]:.1f}); goal ≤ 0.2 s")
    for label, (t, c) in res.items():
        print(f"  {label:50s} wall {t:7.3f} s  CPU {c:6.3f} s (≈ {c / args.threads:.3f} s on {args.threads} free cores)"
              f"  {peer / t:5.1f}x vs dense")
    print(f"  coarse-to-fine max |Δp| vs exact: {err:.2e} (globe), {err_land:.2e} (land)")


if __name__ == "__main__":
    main()
