"""Fine-tuning a global model on one region: what it adds, and what it costs elsewhere (issue 28.6).

The experiment (``geoviz results finetune``; :func:`run`):

1. **Before**: the shipped ``geoviz-bluemarble-l40`` (location encoder + image tower).
2. **After**: the same model fine-tuned inside :data:`REGION` with ``geoviz pretrain --init
   geoviz-bluemarble-l40 --region=...`` (:class:`~geoviz.training.pretraining.Pretrainer` with
   ``init`` and ``region``): the same contrastive objective and Sobolev penalty, a lower peak
   learning rate, and
   held-out cells of :data:`FULL` ``["holdout_block_deg"]`` inside the region that are never
   trained on.
3. **Measured on both**, on land inside the region: PCA-RGB maps of the embedding (one PCA
   fitted on both, so colours compare), checkerboard accuracy by cell size (ridge classifier,
   50/50 split, averaged over seeds), ridge R² of temperature and elevation (bootstrap
   intervals over the test points), retrieval among places in the region's held-out cells;
   and, for what the fine-tune costs elsewhere, the same temperature probe and held-out-cell
   retrieval over the whole globe.

Degree L resolves wavelengths down to about 40,000 km / L (L = 40: ~1,000 km; half a
wavelength, the smallest checkerboard cell a linear probe can follow, ~500 km ≈ 4.5°).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DOC = "docs/results/finetune.md"
COMMAND = "geoviz results finetune"

REGION = "-12,34,32,60"
"""Europe and the Mediterranean rim (lon0, lat0, lon1, lat1): varied land cover at small scales."""

FULL: dict[str, Any] = {
    "base": "geoviz-bluemarble-l40", "region": REGION, "steps": 1000, "epochs": 4, "lr": 1e-4,
    "batch_size": 256, "land_fraction": 0.9, "holdout_block_deg": 4.0, "holdout_fraction": 0.15,
    "eval_n": 500, "probe_n": 4000, "cells": [8.0, 4.0, 2.0, 1.0, 0.5], "board_seeds": 3, "bootstrap": 1000,
    "global_eval_n": 1000, "threads": 1, "seed": 0, "map_deg": 0.1,
}
"""The full run (about 10 minutes on one core)."""

SMALL: dict[str, Any] = {
    **FULL, "steps": 4, "epochs": 2, "batch_size": 16, "eval_n": 32, "probe_n": 400, "cells": [8.0, 2.0],
    "board_seeds": 1, "bootstrap": 50, "global_eval_n": 64, "map_deg": 1.0,
}
"""The small run (same code path, seconds; uses a tiny self-trained base when asked)."""


def _embed(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([model.location(torch.from_numpy(x[i:i + 8192])).double().numpy()
                               for i in range(0, len(x), 8192)])


def _land_in(region: Any, n: int, seed: int) -> np.ndarray:
    from geoviz.data import is_land
    from geoviz.training.regions import sample_accepted

    return sample_accepted(n, np.random.default_rng(seed), lambda p: is_land(p) & region.contains(p), region.bbox(),
                           what="the region's land")


def _r2_ci(pred: np.ndarray, y: np.ndarray, B: int, seed: int) -> list[float]:
    def r2(i: np.ndarray) -> float:
        return float(1 - ((pred[i] - y[i]) ** 2).sum() / ((y[i] - y[i].mean()) ** 2).sum())

    rng = np.random.default_rng(seed)
    boots = [r2(rng.integers(0, len(y), len(y))) for _ in range(B)]
    return [r2(np.arange(len(y))), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))]


def _probe_fields(E: np.ndarray, x: np.ndarray, P: dict[str, Any]) -> dict[str, list[float]]:
    from geoviz.data import get_field
    from geoviz.evaluation.probes import linear_probe

    perm = np.random.default_rng(P["seed"]).permutation(len(x))
    tr, te = np.sort(perm[: len(x) // 2]), np.sort(perm[len(x) // 2:])
    out = {}
    for name in ("temperature", "elevation"):
        y = np.asarray(get_field(name).sample(x), dtype=np.float64)
        ok = np.isfinite(y)
        tr_ok, te_ok = tr[ok[tr]], te[ok[te]]
        pred = linear_probe(E, y, "regression", [(tr_ok, te_ok, 0)])[0]
        out[name] = _r2_ci(pred, y[te_ok], P["bootstrap"], P["seed"])
    return out


def _boards(E_of: Callable[[np.ndarray], np.ndarray], region: Any, P: dict[str, Any]) -> list[float]:
    from geoviz.evaluation.probes import linear_probe, score
    from geoviz.evaluation.resolution import checkerboard_labels

    acc = []
    for c in P["cells"]:
        vals = []
        for s in range(P["board_seeds"]):
            x = _land_in(region, P["probe_n"] // 2, 100 + s)
            shifted = x + np.random.default_rng(s).uniform(0, c, (1, 2))  # a random phase of the board per seed
            shifted[:, 0] = (shifted[:, 0] + 180) % 360 - 180
            shifted[:, 1] = np.clip(shifted[:, 1], -90, 90)
            y = checkerboard_labels(shifted, c)
            perm = np.random.default_rng(s).permutation(len(x))
            tr, te = np.sort(perm[: len(x) // 2]), np.sort(perm[len(x) // 2:])
            vals.append(score("classification", y[te], linear_probe(E_of(x), y, "classification", [(tr, te, 0)])[0]))
        acc.append(float(np.mean(vals)))
    return acc


def _retrieval(model: Any, cfg: Any, n: int) -> dict[str, float]:
    from geoviz.training.pretraining import evaluate_retrieval

    return evaluate_retrieval(model.location, model.image, n=n, seed=cfg.eval_seed, land_fraction=cfg.land_fraction,
                              pixels=cfg.pixels, accept=cfg.validation_mask(), box=cfg.region_box())


def _measure(model: Any, cfg_region: Any, cfg_global: Any, region: Any, P: dict[str, Any]) -> dict[str, Any]:
    from geoviz.data import uniform_sphere

    x = _land_in(region, P["probe_n"], P["seed"])
    E = _embed(model, x)
    out: dict[str, Any] = {"region_fields": _probe_fields(E, x, P)}
    out["boards"] = _boards(lambda p: _embed(model, p), region, P)
    out["region_retrieval"] = {k: v for k, v in _retrieval(model, cfg_region, P["eval_n"]).items()
                               if k in ("top1", "top10", "chance_top10", "n")}
    out["global_retrieval"] = {k: v for k, v in _retrieval(model, cfg_global, P["global_eval_n"]).items()
                               if k in ("top1", "top10", "chance_top10", "n")}
    g = uniform_sphere(P["probe_n"], seed=77)
    out["global_fields"] = {"temperature": _probe_fields(_embed(model, g), g, P)["temperature"]}
    return out


def _maps(before: Any, after: Any, region: Any, P: dict[str, Any], path: Path) -> None:
    from geoviz import render
    from geoviz.analysis import pca_rgb
    from geoviz.data import is_land

    lon0, lat0, lon1, lat1 = region.bbox()
    d = P["map_deg"]
    lons = np.arange(lon0 + d / 2, lon1, d)
    lats = np.arange(lat1 - d / 2, lat0, -d)
    g = np.stack(np.meshgrid(lons, lats), axis=-1).reshape(-1, 2)
    land = is_land(g)
    E = np.concatenate([_embed(before, g), _embed(after, g)])
    # one PCA per model (each on its own land cells): colours show each embedding's own structure
    rgb = [pca_rgb(E[i * len(g):(i + 1) * len(g)], mask=land, fill=1.0).reshape(len(lats), len(lons), 3)
           for i in range(2)]
    ext = (lon0, lon1, lat0, lat1)
    fig, axes = render.map_figure(1, 2, panel_width=6.0, extent=ext)
    for ax, img, title in zip(axes.flat, rgb, ("before: geoviz-bluemarble-l40", "after: fine-tuned on the region")):
        render.show_raster(ax, img, extent=ext, kind="rgb")
        render.style_map_axes(ax, title, extent=ext)
    render.save_figure(fig, path)


def run(out: Path, *, small: bool = False, progress: Callable[[str], Any] = print, base: str | None = None
        ) -> dict[str, Any]:
    """Run the experiment (module docstring); ``base`` overrides the model to fine-tune (a file)."""
    import torch

    from geoviz.training.pretraining import PretrainConfig, Pretrainer, init_architecture, init_recipe
    from geoviz.training.regions import Region

    P = dict(SMALL if small else FULL)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = base or P["base"]
    if small and base == FULL["base"]:
        base = str(_tiny_base(out))
    region = Region(P["region"])
    arch = init_architecture(base)
    common = dict(arch, **init_recipe(base), batch_size=P["batch_size"], seed=P["seed"], threads=P["threads"], lr=P["lr"],
                  land_fraction=P["land_fraction"])
    cfg = PretrainConfig(**common, init=base, region=P["region"], holdout_block_deg=P["holdout_block_deg"],
                         holdout_fraction=P["holdout_fraction"], epochs=P["epochs"],
                         steps_per_epoch=max(1, P["steps"] // P["epochs"]), eval_n=P["eval_n"])
    cfg_global = PretrainConfig(**common, eval_n=P["global_eval_n"])
    t0 = time.perf_counter()
    tr = Pretrainer(cfg)
    before = copy.deepcopy(tr.model).eval()
    progress("measuring the base model")
    rec: dict[str, Any] = {"params": P, "base": base, "area_km2": region.area_km2(), "sh_smoothness": cfg.sh_smoothness,
                           "before": _measure(before, cfg, cfg_global, region, P)}
    hist = []
    for r in tr.run():
        hist.append({"epoch": r.epoch, "step": r.step, "loss": r.loss, "top10": r.retrieval.get("top10")})
        progress(f"fine-tune epoch {r.epoch}: loss {r.loss:.3f}, region held-out top-10 "
                 f"{100 * r.retrieval.get('top10', float('nan')):.1f} %")
    after = tr.model.eval()
    rec["history"] = hist
    rec["train_seconds"] = round(time.perf_counter() - t0, 1)
    progress("measuring the fine-tuned model")
    with torch.no_grad():
        rec["after"] = _measure(after, cfg, cfg_global, region, P)
    _maps(before, after, region, P, out / "finetune_maps.png")
    rec["figure"] = "finetune_maps.png"
    return rec


def _tiny_base(out: Path) -> Path:
    """A tiny L = 6 model trained for a few steps (the small run must not depend on shipped files)."""
    from geoviz.commands import main

    p = out / "tiny-base.safetensors"
    if not p.is_file():
        main(["pretrain", "--legendre-polys", "6", "--hidden-dim", "32", "--epochs", "1", "--steps-per-epoch", "3",
              "--batch-size", "16", "--pixels", "16", "--eval-n", "0", "--threads", "1", "--save", str(p)])
    return p


def _ci(t: list[float]) -> str:
    return f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"


def render(record: dict[str, Any]) -> str:
    P, b, a = record["params"], record["before"], record["after"]
    lines = [f"Generated by `{record.get('command', COMMAND)}` ({record.get('seconds', '?')} s): base "
             f"`{Path(record['base']).name}`, region `{P['region']}` ({record['area_km2'] / 1e6:.1f} million km²), {P['steps']} steps × "
             f"batch {P['batch_size']}, peak lr {P['lr']:g}, Sobolev λ {record.get('sh_smoothness', 0):g} (the base model's), held-out cells of {P['holdout_block_deg']:g}° "
             f"({100 * P['holdout_fraction']:.0f} % of them) inside the region.", "",
             f"![before and after](finetune/{record['figure']})", "",
             "| measure | before | after |", "|---|---|---|"]
    for f in ("temperature", "elevation"):
        lines.append(f"| region: {f} ridge R² | {_ci(b['region_fields'][f])} | {_ci(a['region_fields'][f])} |")
    for c, x, y in zip(P["cells"], b["boards"], a["boards"]):
        lines.append(f"| region: {c:g}° checkerboard accuracy % | {100 * x:.1f} | {100 * y:.1f} |")
    for k, lab in (("region_retrieval", "region"), ("global_retrieval", "globe")):
        lines.append(f"| {lab}: held-out-cell retrieval top-10 % (chance {100 * b[k]['chance_top10']:.1f}) | "
                     f"{100 * b[k]['top10']:.1f} | {100 * a[k]['top10']:.1f} |")
    lines.append(f"| globe: temperature ridge R² | {_ci(b['global_fields']['temperature'])} | "
                 f"{_ci(a['global_fields']['temperature'])} |")
    lines += ["", "Region held-out-cell retrieval top-10 % during the fine-tune (step 0 = the base model): "
              + ", ".join([f"step 0: {100 * b['region_retrieval']['top10']:.1f}"]
                          + [f"step {h['step']}: {100 * h['top10']:.1f}" for h in record["history"]]) + "."]
    return "\n".join(lines) + "\n"


def claims(record: dict[str, Any]) -> list[str]:
    return []
