#!/usr/bin/env python
"""Figures and numbers for ``docs/results/fields.md`` (the built-in global fields).

1. ``fields_maps.png``: the five fields on their grids, colourbars in units.
2. ``fields_sh_recovery.png`` + a Markdown table: Linear(SH, L) fitted by least squares on
   ``max(4000, 4 L²)`` uniform-sphere points of the geoid and of the magnetic intensity F (and
   of the magnetic potential V, an exact degree-13 SH sum), scored on 4,000 other points (RMSE
   vs L). For the geoid the RMS of the omitted degrees (Parseval, from the model's own
   coefficients) is the expected error.
3. ``--siren``: held-out R² of a Siren(SH) fit of each field's task (10k train, 5k test) with the
   geoviz training engine, a fixed time budget per field.

Usage::

    nice .venv/bin/python scripts/make_fields_docs.py --out docs/results [--siren] [--siren-budget 45]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from geoviz import build_location_encoder
from geoviz.data import _field_sh as fsh
from geoviz.data import get_field, list_fields, uniform_sphere

CMAPS = {"temperature": "RdYlBu_r", "precipitation": "YlGnBu", "elevation": "terrain", "geoid": "RdBu_r",
         "magnetic": "viridis"}


SOURCES = {"temperature": "ERA5 2000–2025 climatology (Copernicus), 0.5°",
           "precipitation": "ERA5 2000–2025 climatology (Copernicus), 0.5°",
           "elevation": "pvlib Altitude.h5 (Mapzen terrain tiles), 1/12°",
           "geoid": "EIGEN-6S degree 240 (GFZ/GRGS), geoviz SH synthesis",
           "magnetic": "IGRF-14 epoch 2025.0 (IAGA), geoviz SH synthesis"}


def maps(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from geoviz.data import land_boundaries

    fig, axes = plt.subplots(3, 2, figsize=(13, 10.5))
    coast = land_boundaries(drop_frame_edges=True)
    for ax, name in zip(axes.ravel(), list_fields()):
        f = get_field(name)
        v, lons, lats = f.grid(0.25 if name == "elevation" else None)
        dlon, dlat = lons[1] - lons[0], lats[0] - lats[1]
        ext = (lons[0] - dlon / 2, lons[-1] + dlon / 2, lats[-1] - dlat / 2, lats[0] + dlat / 2)
        kw = {"norm": LogNorm(50, 5000)} if name == "precipitation" else {}
        if name == "geoid":
            kw = {"vmin": -105, "vmax": 105}
        if name == "elevation":  # 'terrain' is blue below ~23%: put 0 m at the green
            kw = {"vmin": -1900, "vmax": 6500}
        im = ax.imshow(np.clip(v, 50, None) if name == "precipitation" else v, extent=ext, cmap=CMAPS[name],
                       interpolation="nearest", aspect="auto", **kw)
        for ring in coast:
            ax.plot(ring[:, 0], ring[:, 1], color="k", lw=0.3)
        ax.set_xlim(-180, 180)
        ax.set_ylim(-90, 90)
        ax.set_title(f"{name}: {f.long_name}", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.85).set_label(f.units)
    axes[-1, -1].axis("off")
    axes[-1, -1].text(0, 0.5, "\n".join(f"{n} [{get_field(n).units}]: {SOURCES[n]}" for n in list_fields())
                      + "\n\nwhite = undefined (elevation: ocean; Greenland excluded,\nthe source holds bedrock there)",
                      fontsize=9, va="center")
    fig.suptitle("geoviz built-in global fields (geoviz.data.get_field(name).grid())")
    fig.tight_layout()
    fig.savefig(out / "fields_maps.png", dpi=90)
    plt.close(fig)


def fit_rmse(ll: np.ndarray, y: np.ndarray, test: np.ndarray, yt: np.ndarray, L: int) -> float:
    enc = build_location_encoder("sphericalharmonics", "linear", 1, legendre_polys=L).double()
    x = enc.features(torch.from_numpy(ll))
    w = torch.linalg.lstsq(x, torch.from_numpy(y)[:, None]).solution
    with torch.no_grad():
        enc.network.weight.copy_(w.T)
        enc.network.bias.zero_()
        pred = enc(torch.from_numpy(test))[:, 0].numpy()
    return float(np.sqrt(np.mean((pred - yt) ** 2)))


def recovery(out: Path, Ls: list[int]) -> list[dict]:
    geoid, mag = get_field("geoid"), get_field("magnetic")
    test = uniform_sphere(4000, 101)
    wg = geoid.sh_coefficients()
    wm = mag.sh_coefficients()
    gt, ft, vt = geoid.sample(test), mag.sample(test), fsh.sh_evaluate(test, wm)
    rows = []
    for L in Ls:
        n = max(4000, 4 * L * L)
        ll = uniform_sphere(n, 100)
        t0 = time.perf_counter()
        row = {"L": L, "features": L * L, "points": n,
               "geoid_rmse_m": fit_rmse(ll, geoid.sample(ll), test, gt, L),
               "geoid_truncation_m": float(np.sqrt(np.sum(wg[L * L:] ** 2) / (4 * math.pi))),
               "magnetic_F_rmse_nT": fit_rmse(ll, mag.sample(ll), test, ft, L),
               "magnetic_V_rmse_nT": fit_rmse(ll, fsh.sh_evaluate(ll, wm), test, vt, L)}
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(row, flush=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    Lg = np.arange(1, 242)
    a.semilogy(Lg, [np.sqrt(np.sum(wg[L * L:] ** 2) / (4 * math.pi)) for L in Lg], color="0.6",
               label="RMS of omitted degrees (Parseval, EIGEN-6S)")
    a.semilogy([r["L"] for r in rows], [r["geoid_rmse_m"] for r in rows], "o-", color="tab:blue",
               label="Linear(SH, L) least-squares fit, held-out RMSE")
    a.set(xlabel="L (degrees 0..L-1)", ylabel="RMSE (m)", title="geoid (EIGEN-6S, degree 240)")
    b.semilogy([r["L"] for r in rows], [r["magnetic_F_rmse_nT"] for r in rows], "o-", color="tab:red",
               label="intensity F = |−∇V| (not a finite SH sum)")
    b.semilogy([r["L"] for r in rows], [max(r["magnetic_V_rmse_nT"], 1e-9) for r in rows], "s--", color="tab:purple",
               label="potential V/a (exact from L = 14; < 1e-9 drawn at 1e-9)")
    b.axvline(14, color="0.6", ls=":", lw=1)
    b.set(xlabel="L (degrees 0..L-1)", ylabel="RMSE (nT)", title="geomagnetic main field (IGRF-14, 2025.0)")
    for ax in (a, b):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fields_sh_recovery.png", dpi=110)
    plt.close(fig)
    return rows


def siren_r2(budget: float) -> list[dict]:
    from geoviz.training import TrainConfig, Trainer

    rows = []
    for name in list_fields():
        task = get_field(name).task(n_train=10_000, n_test=5_000, seed=0)
        cfg = TrainConfig(pe_kwargs={"legendre_polys": 20}, nn_kwargs={"hidden_dim": 128, "num_layers": 2}, lr=1e-3,
                          weight_decay=0.0, batch_size=500, max_epochs=100_000, patience=50, dtype="float32",
                          device="cpu", restore_best=True)
        t0 = time.perf_counter()
        tr = Trainer(task, cfg)
        epochs = 0
        for rec in tr.run():
            epochs = rec.epoch
            if time.perf_counter() - t0 > budget:
                tr.stop()
        m = tr.evaluate("test")
        rows.append({"field": name, "units": task.meta["units"], "r2": m["r2"], "rmse": m["rmse"], "mae": m["mae"],
                     "epochs": epochs, "seconds": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    ap.add_argument("--L", type=int, nargs="+", default=[2, 4, 8, 12, 14, 16, 24, 32, 40])
    ap.add_argument("--siren", action="store_true")
    ap.add_argument("--siren-budget", type=float, default=45.0)
    ap.add_argument("--skip-maps", action="store_true")
    ap.add_argument("--skip-recovery", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    res: dict = {}
    if not args.skip_maps:
        maps(args.out)
    if not args.skip_recovery:
        res["sh_recovery"] = recovery(args.out, args.L)
    if args.siren:
        res["siren_r2"] = siren_r2(args.siren_budget)
    path = args.out / "fields_numbers.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(res)
    path.write_text(json.dumps(old, indent=1) + "\n")


if __name__ == "__main__":
    main()
