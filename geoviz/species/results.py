"""Regenerate the figures and numbers of ``docs/results/species.md``.

    nice python -m geoviz.species.results --out docs/results/species

Virtual species (known truth): one world of ``--species`` species / ``--observations``
observations with Flickr observer bias; SH(L=20)+Siren(256) trained with ``an-full`` and with
``an``; the KDE baseline; mAP and mean AUC on equal-area land points; per-species AP against
the number of observations; four-panel figures for a few species. Real data: elapid's
*Ariolimax buttoni*, held-out AUC with 0.5° spatial blocks, model vs KDE.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/results/species", help="folder for PNGs and results.json")
    ap.add_argument("--species", type=int, default=30, help="virtual species (default 30)")
    ap.add_argument("--observations", type=int, default=20_000, help="observations (default 20k)")
    ap.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    ap.add_argument("--batch-size", type=int, default=1024, help="batch size (default 1024)")
    ap.add_argument("--losses", default="an-full,an", help="losses to compare (default an-full,an)")
    ap.add_argument("--real-epochs", type=int, default=100, help="epochs on the slug data (default 100)")
    ap.add_argument("--real-l", type=int, default=20, help="SH degrees of the slug model drawn (default 20; 40 also scored)")
    ap.add_argument("--skip-virtual", action="store_true", help="only the real dataset")
    ap.add_argument("--skip-real", action="store_true", help="only the virtual species")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from . import (KDEBaseline, SpeciesConfig, evaluation_points, fit_species, load_ariolimax,
                   make_virtual_species, range_metrics)
    from .evaluate import evaluate_presence_background
    from .figures import species_figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if not args.skip_virtual:
        world = make_virtual_species(args.species, args.observations, bias="flickr", seed=0)
        obs = world.observations
        pts = evaluation_points(50_000)
        truth = world.truth(pts)
        counts = obs.counts()
        v: dict = {"species": args.species, "observations": len(obs), "bias": "flickr", "eval_points": len(pts),
                   "counts": counts.tolist(), "prevalence": truth.mean(0).tolist()}
        t = time.perf_counter()
        kde = KDEBaseline(obs)
        r = range_metrics(kde.score(pts), truth)
        v["kde"] = {"map": r["map"], "mean_auc": r["mean_auc"], "ap": r["ap"].tolist(), "auc": r["auc"].tolist(),
                    "bandwidth_deg": kde.bandwidth_deg, "seconds": time.perf_counter() - t}
        print(f"KDE (bandwidth {kde.bandwidth_deg}°): mAP {r['map']:.4f} AUC {r['mean_auc']:.4f}", flush=True)
        models = {}
        for loss in args.losses.split(","):
            cfg = SpeciesConfig(loss=loss, epochs=args.epochs, batch_size=args.batch_size, threads=args.threads)
            model, hist = fit_species(obs, cfg)
            r = range_metrics(model.logits(pts), truth)
            v[loss] = {"map": r["map"], "mean_auc": r["mean_auc"], "ap": r["ap"].tolist(), "auc": r["auc"].tolist(),
                       "seconds": hist[-1]["seconds"], "epochs": len(hist), "final_loss": hist[-1]["loss"]}
            models[loss] = model
            print(f"{loss}: mAP {r['map']:.4f} AUC {r['mean_auc']:.4f} ({hist[-1]['seconds']:.0f} s)", flush=True)
        results["virtual"] = v
        main_model = models[args.losses.split(",")[0]]
        # figures: the most, a middling and the least observed species
        order = np.argsort(-counts)
        picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
        for s in picks:
            name = obs.names[s]
            species_figure(main_model, s, observations=obs.lonlat[obs.species == s], truth=world, threshold=0.9,
                           title=f"{name}: {counts[s]} observations, niche {world.niches[s]['koppen']}",
                           path=out / f"{name}.png")
        # per-species AP vs observation count
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=110, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.scatter(counts, v["kde"]["ap"], s=14, label=f"KDE baseline (mAP {v['kde']['map']:.2f})", c="#999999")
        for loss, col in zip(models, ("#2166ac", "#b2182b")):
            ax.scatter(counts, v[loss]["ap"], s=14, label=f"SH+Siren {loss} (mAP {v[loss]['map']:.2f})", c=col)
        ax.scatter(counts, v["prevalence"], s=8, marker="x", c="k", label="random ranking (prevalence)")
        ax.set_xscale("log")
        ax.set_xlabel("observations of the species")
        ax.set_ylabel("average precision vs true range")
        ax.legend(fontsize=7)
        fig.savefig(out / "ap_vs_observations.png")
        results["virtual_figures"] = [obs.names[s] for s in picks]
    if not args.skip_real:
        pres, bg = load_ariolimax()
        real = {}
        for L in sorted({args.real_l, 40}):
            cfg = SpeciesConfig(pe_kwargs={"legendre_polys": L}, epochs=args.real_epochs, batch_size=256,
                                loss="an", threads=args.threads)
            r = evaluate_presence_background(pres, bg, cfg, name="Ariolimax buttoni")
            model = r.pop("model")
            real[f"L{L}"] = r
            print(f"slug SH L={L}: AUC {r['auc_model']:.4f}, KDE {r['auc_kde']:.4f} (bw {r['kde_bandwidth_deg']}°)",
                  flush=True)
            if L == args.real_l:
                species_figure(model, 0, observations=pres, panels=["observations", "probability", "range"],
                               extent=(-125.5, -113.5, 32.0, 43.0), threshold=0.9,
                               title=f"Ariolimax buttoni (elapid): SH L={L} + Siren 256, block-split AUC "
                                     f"{r['auc_model']:.3f}", path=out / "ariolimax.png")
        results["real"] = real
    results_path.write_text(json.dumps(results, indent=1))
    print(f"wrote {results_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
