"""One short GPU check (≤ 5 minutes on a CUDA machine): correctness, the paper's accuracy, speed.

Usage::

    python benchmarks/gpu_check.py                 # on a CUDA machine (fails if CUDA is missing)
    python benchmarks/gpu_check.py --device cpu --quick   # dry run of the same code on a CPU

What it checks, printed as one table at the end (and as JSON with ``--json FILE``):

1. **SH exactness on the device**: :func:`geoviz.encoders.spherical_harmonics` on the device
   (torch recurrence) against the CPU numba kernel, float32 and float64, ``L`` = 10, 40, 100,
   on random points plus both poles, the date line and the equator. Reported: the largest
   absolute difference; pass when ≤ 1e-5 (float32) / 1e-11 (float64). SH features are
   bounded by ``sqrt((2l+1)/4π) ≤ 1.6`` for ``l < 100``, so absolute and relative errors agree.
2. **Land–ocean SH(L=10) + Siren(64×2)** with the paper's hyper-parameters
   (:class:`geoviz.training.TrainConfig` defaults, float32, up to 500 epochs with early
   stopping as the reference), tested on the 51,156-point equal-area grid. The paper reports
   95.8 ± 0.1 %; pass when ≥ 95.5 %.
3. **Live-training speed**: epochs per second when every epoch also predicts the 1° map
   (360 × 180, the dashboard's animation), float32.
4. **Embedding grid**: a SatCLIP-shaped encoder (SH L=40, Siren 512 × 2, 256 outputs, random
   weights) on the 1° grid (64,800 points), float32, median of 5 after a warm-up.

The script only reads the project and writes nothing unless ``--json`` is given.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _test_points(n: int, seed: int = 0) -> np.ndarray:
    """``(n + 8, 2)`` lon/lat degrees: uniform random points plus poles, date line, equator."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-180, 180, n)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    special = np.array([[0.0, 90.0], [123.0, 90.0], [0.0, -90.0], [-77.0, -90.0],
                        [180.0, 0.0], [-180.0, 45.0], [0.0, 0.0], [179.999, -89.999]])
    return np.concatenate([np.stack([lon, lat], 1), special])


def check_sh(device: torch.device, Ls: tuple[int, ...], n: int) -> list[dict[str, Any]]:
    """Device SH against the CPU kernel; one row per (dtype, L)."""
    from geoviz.encoders import spherical_harmonics

    rows = []
    pts = _test_points(n)
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-11)):
        for L in Ls:
            ref = spherical_harmonics(torch.tensor(pts, dtype=torch.float64), L).numpy()
            # on a CPU dry run, requires_grad selects the same torch recurrence CUDA runs
            x = torch.tensor(pts, dtype=dtype, device=device, requires_grad=device.type == "cpu")
            out = spherical_harmonics(x, L)
            _sync(device)
            got = out.detach().cpu().double().numpy()
            # float32 inputs are rounded coordinates: compare with the reference at those coordinates
            if dtype == torch.float32:
                ref = spherical_harmonics(torch.tensor(pts.astype(np.float32).astype(np.float64)), L).numpy()
            err = float(np.abs(got - ref).max())
            finite = bool(np.isfinite(got).all())
            rows.append({"check": f"SH {str(dtype).split('.')[-1]} L={L} ({got.shape[1]} features, poles incl.)",
                         "value": f"max |Δ| {err:.2e}", "ok": finite and err <= tol, "limit": f"≤ {tol:g}"})
    return rows


def check_landocean(device: torch.device, max_epochs: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Train the paper's SH + Siren land–ocean model on ``device``; test accuracy and time."""
    from geoviz.data import get_task
    from geoviz.training import Trainer, TrainConfig

    task = get_task("landocean")
    cfg = TrainConfig(dtype="float32", device=str(device), max_epochs=max_epochs)
    trainer = Trainer(task, cfg)
    t = time.perf_counter()
    last = None
    for last in trainer.run():
        pass
    _sync(device)
    wall = time.perf_counter() - t
    acc = 100.0 * trainer.evaluate("test")["accuracy"]
    n_test = len(task.test)
    ok = acc >= 95.5 if max_epochs >= 300 else None
    row = {"check": f"land–ocean SH(10)+Siren(64×2), {last.epoch} epochs ({last.stopped}), test n={n_test:,}",
           "value": f"{acc:.2f} % in {wall:.1f} s", "ok": ok, "limit": "≥ 95.5 % (paper 95.8 ± 0.1)"}
    return [row], {"accuracy": acc, "train_s": wall, "epochs": float(last.epoch)}


def check_live(device: torch.device, epochs: int) -> list[dict[str, Any]]:
    """Epochs per second with a 1° prediction map every epoch (float32)."""
    from geoviz.data import get_task, regular_grid
    from geoviz.training import Trainer, TrainConfig

    task = get_task("landocean")
    grid = regular_grid(1.0)
    cfg = TrainConfig(dtype="float32", device=str(device), max_epochs=epochs + 5, patience=None)
    trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=1)
    times = []
    t = time.perf_counter()
    for rec in trainer.run():
        _sync(device)
        now = time.perf_counter()
        if rec.epoch > 5:  # the first epochs pay one-time costs (kernels, allocator)
            times.append(now - t)
        t = now
    rate = 1.0 / statistics.median(times)
    return [{"check": "live training with a 1° map each epoch (float32)", "value": f"{rate:.1f} epochs/s",
             "ok": rate >= 20.0, "limit": "≥ 20 epochs/s"}]


def check_embed_grid(device: torch.device, repeats: int) -> list[dict[str, Any]]:
    """SatCLIP-shaped encoder on the 1° grid, float32, median of ``repeats``."""
    import geoviz
    from geoviz.embed import embed_grid

    torch.manual_seed(0)
    model = geoviz.build_location_encoder("sphericalharmonics", "siren", 256, legendre_polys=40,
                                          convention="satclip", hidden_dim=512, num_layers=2)
    model = model.to(device=device, dtype=torch.float32).eval()
    embed_grid(model, 1.0, cache=False, device=device, dtype="float32")  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        g = embed_grid(model, 1.0, cache=False, device=device, dtype="float32")
        _sync(device)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    n = g.embeddings.shape[0]
    return [{"check": f"1° embedding grid, SH(40)→Siren 512×2→256 ({n:,} points, float32)",
             "value": f"{med * 1e3:.0f} ms ({n / med / 1e6:.2f} M points/s)", "ok": med <= 1.0, "limit": "≤ 1.0 s"}]


def _table(rows: list[dict[str, Any]]) -> str:
    w = max(len(r["check"]) for r in rows)
    v = max(len(r["value"]) for r in rows)
    out = [f"{'check':<{w}}  {'result':<{v}}  {'bound':<28}  ok", "-" * (w + v + 36)]
    for r in rows:
        ok = "n/a" if r["ok"] is None else ("PASS" if r["ok"] else "FAIL")
        out.append(f"{r['check']:<{w}}  {r['value']:<{v}}  {r['limit']:<28}  {ok}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="torch device to check (default cuda; 'cpu' for a dry run)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (L up to 40, 30 training epochs, 20 live epochs, 2 grid repeats): a dry run")
    p.add_argument("--json", metavar="FILE", help="also write the rows and the machine description as JSON")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available on this machine: run with --device cpu for a dry run.", file=sys.stderr)
        return 2
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"device: {device} ({card}); torch {torch.__version__}; python {platform.python_version()}")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    rows += check_sh(device, (10, 40) if args.quick else (10, 40, 100), 2000 if args.quick else 20000)
    lo_rows, _ = check_landocean(device, 30 if args.quick else 500)
    rows += lo_rows
    rows += check_live(device, 20 if args.quick else 100)
    rows += check_embed_grid(device, 2 if args.quick else 5)
    total = time.perf_counter() - t0
    print()
    print(_table(rows))
    print(f"\ntotal {total:.0f} s on {card}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "card": card, "torch": torch.__version__, "total_s": total,
                       "rows": rows}, f, indent=2)
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
