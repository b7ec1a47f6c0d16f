"""Results page ``docs/results/evaluation.md``: which frozen location encoder for which task.

The protocol (:func:`geoviz.evaluation.evaluate`): every seed draws its own sample of every
task; one repetition per seed of each split (random 50/50, one fold of 10° spatial blocks,
held-out Asia and Africa as Natural Earth draws them); every repetition's training side cut
to the same ``n_train`` points; linear probe (ridge, LOO alpha) and MLP probe (lr × weight
decay tuned by 3-fold inner CV on the first seed's training side of each encoder × task ×
split); scores on all test points, without Antarctica (lat ≥ −60°) and in Antarctica alone;
mean over seeds with a 95 % Student-t interval over the seed results. Differences between
two encoders are judged by a paired 95 % t-interval over the seeds (both see the same sample
and split in each seed). Plus the checkerboard resolution diagnostic
(:func:`geoviz.evaluation.resolution.resolution_diagnostics`: on land for image-derived
models, globally for the rest; one definition of the resolved scale).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["DOC", "COMMAND", "FULL", "SMALL", "run", "render", "claims"]

DOC = "docs/results/evaluation.md"
COMMAND = "geoviz results evaluation"

FULL: dict[str, Any] = {
    "encoders": ["geoviz-bluemarble-l10", "geoviz-bluemarble-l40", "geoclip", "sh:10", "wrap"],
    "tasks": ["temperature", "precipitation", "elevation", "population", "countries", "koppen", "landcover",
              "continents"],
    "n": 1200, "n_train": 400, "seeds": 5, "epochs": 200, "folds": 5, "block_deg": 10.0,
    "resolution": {"encoders": ["geoviz-bluemarble-l10", "geoviz-bluemarble-l40", "geoclip", "sh:10", "wrap"],
                   "n": 2000, "regions": 8, "anchors": 200, "cells": [90.0, 45.0, 22.5, 10.0, 5.0, 2.5, 1.0]},
}
SMALL: dict[str, Any] = {
    "encoders": ["sh:10", "wrap"], "tasks": ["temperature", "countries"],
    "n": 300, "n_train": 100, "seeds": 2, "epochs": 30, "folds": 5, "block_deg": 20.0,
    "resolution": {"encoders": ["sh:10"], "n": 200, "regions": 1, "anchors": 40, "cells": [90.0, 45.0, 22.5, 10.0]},
}
HEADLINE_TASKS = ("temperature", "precipitation", "elevation")
ANT = "antarctica"


def _paired(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean difference a − b over seeds and its paired 95 % t-interval."""
    from geoviz.evaluation import t_interval

    d = np.asarray(a, float) - np.asarray(b, float)
    lo, hi = t_interval(d)
    return float(d.mean()), lo, hi


def run(out: Path, *, small: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the suite and the resolution diagnostic; write ``evaluation.png`` and the resolution figure to ``out``."""
    import torch

    from geoviz.evaluation import EmbeddingCache, evaluate
    from geoviz.evaluation.harness import ANTARCTICA_LAT
    from geoviz.evaluation.resolution import land_only, plot_resolution_comparison, resolution_diagnostics

    cfg = SMALL if small else FULL
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cache = EmbeddingCache()
    res = evaluate(cfg["encoders"], cfg["tasks"], ("linear", "mlp"), ("random", "blocks", "continents"),
                   n=cfg["n"], seeds=cfg["seeds"], n_train=cfg["n_train"], epochs=cfg["epochs"], folds=cfg["folds"],
                   block_deg=cfg["block_deg"], cache=cache, progress=progress)
    res.figure(out / "evaluation.png")
    suite_s = time.perf_counter() - t0
    # where the variance is: Antarctica's share of points and of the sum of squares, per regression task
    shares = {}
    for name, ts in res.samples.items():
        if ts[0].kind != "regression":
            continue
        pts, var = [], []
        for t in ts:
            ant = t.lonlat[:, 1] < ANTARCTICA_LAT
            ss = (t.y - t.y.mean()) ** 2
            pts.append(100 * ant.mean())
            var.append(100 * ss[ant].sum() / ss.sum())
        shares[name] = {"points_pct": float(np.mean(pts)), "variance_pct": float(np.mean(var))}
    # resolution
    t1 = time.perf_counter()
    rc = cfg["resolution"]
    resolution = []
    for spec in rc["encoders"]:
        r = resolution_diagnostics(spec, cells=rc["cells"], n=rc["n"], regions=rc["regions"], anchors=rc["anchors"],
                                   siren_L=0, cache=cache)
        progress(f"resolution {spec}: {r.resolved_scale:.1f}° (land only: {land_only(spec)})")
        resolution.append(r)
    plot_resolution_comparison(resolution, out / "resolution_comparison.png")
    settings = {k: v for k, v in res.settings.items() if k != "mlp_tuning"}
    chosen: dict[str, int] = {}
    for v in res.settings["mlp_tuning"].values():
        key = f"lr {v['chosen']['lr']:g}, weight decay {v['chosen']['weight_decay']:g}"
        chosen[key] = chosen.get(key, 0) + 1
    return {
        "small": small,
        "encoders": res.encoders,
        "tasks": list(res.tasks),
        "settings": settings,
        "task_sampling": {k: t.sampling for k, t in res.tasks.items()},
        "records": res.records(values=True),
        "antarctica_share": shares,
        "mlp_chosen": chosen,
        "mlp_tuning": res.settings["mlp_tuning"],
        "resolution": [{"encoder": r.encoder, "land_only": bool(r.extra.get("land_only")), "cells": r.cells,
                        "accuracy": r.accuracy, "resolved_scale": r.resolved_scale,
                        "sim_median": dict(zip([f"{d:g}" for d in r.distances_km], r.sim_median))} for r in resolution],
        "timings": {**{k: round(v, 1) for k, v in res.timings.items()}, "suite": round(suite_s, 1),
                    "resolution": round(time.perf_counter() - t1, 1)},
    }


# ---------------------------------------------------------------------------------------------


def _get(record: dict[str, Any], enc: str, task: str, probe: str, split: str, region: str) -> dict[str, Any] | None:
    for r in record["records"]:
        if (r["encoder"], r["task"], r["probe"], r["split"], r["region"]) == (enc, task, probe, split, region):
            return r
    return None


def _row(record: dict[str, Any], task: str, probe: str, split: str, region: str) -> list[dict[str, Any] | None]:
    return [_get(record, e, task, probe, split, region) for e in record["encoders"]]


def winner(record: dict[str, Any], task: str, probe: str, split: str, region: str) -> dict[str, Any] | None:
    """Best and runner-up encoder of one row, with the paired difference over seeds."""
    recs = [r for r in _row(record, task, probe, split, region) if r is not None]
    if len(recs) < 2:
        return None
    recs.sort(key=lambda r: -r["mean"])
    d, lo, hi = _paired(recs[0]["values"], recs[1]["values"])
    return {"best": recs[0]["encoder"], "second": recs[1]["encoder"], "diff": d, "lo": lo, "hi": hi,
            "within_noise": not (lo > 0)}


def _fmt(r: dict[str, Any] | None, bold: bool = False) -> str:
    if r is None:
        return "–"
    k, d = (100.0, 1) if r["metric"] == "accuracy" else (1.0, 2)
    s = f"{k * r['mean']:.{d}f}"
    if np.isfinite(r.get("ci_low", np.nan)):
        s += f" [{k * r['ci_low']:.{d}f}, {k * r['ci_high']:.{d}f}]"
    return f"**{s}**" if bold else s


def _table(record: dict[str, Any], probe: str, split: str, region: str) -> list[str]:
    encs = record["encoders"]
    lines = ["| task | " + " | ".join(f"`{e}`" for e in encs) + " | best − runner-up [paired 95 %] |",
             "|---|" + "---|" * (len(encs) + 1)]
    any_row = False
    for t in record["tasks"]:
        recs = _row(record, t, probe, split, region)
        if all(r is None for r in recs):
            continue
        any_row = True
        best = max(r["mean"] for r in recs if r is not None)
        w = winner(record, t, probe, split, region)
        metric = next(r["metric"] for r in recs if r is not None)
        k, d = (100.0, 1) if metric == "accuracy" else (1.0, 2)
        if w is None:
            wtxt = "–"
        else:
            wtxt = f"`{w['best']}` +{k * w['diff']:.{d}f} [{k * w['lo']:.{d}f}, {k * w['hi']:.{d}f}]"
            wtxt += " (within noise)" if w["within_noise"] else ""
        unit = "acc %" if metric == "accuracy" else "R²"
        lines.append(f"| {t} ({unit}) | " + " | ".join(_fmt(r, r is not None and r["mean"] == best) for r in recs)
                     + f" | {wtxt} |")
    return lines if any_row else []


def render(record: dict[str, Any]) -> str:
    """The generated block: settings, Antarctica's share, the score tables, MLP tuning, resolution, time."""
    from geoviz.evaluation.harness import split_label

    st = record["settings"]
    enc = ", ".join(f"`{e}`" for e in record["encoders"])
    grid = "; ".join(f"lr {g['lr']:g} × weight decay {g['weight_decay']:g}" for g in st["mlp_grid"])
    n_train = sorted(set(v for v in st["n_train"].values() if v is not None))
    lines = [
        f"Generated by `{record.get('command', COMMAND)}` in {record.get('seconds', float('nan')):.0f} s "
        f"(suite {record['timings']['suite']:.0f} s, resolution {record['timings']['resolution']:.0f} s).",
        "",
        f"Encoders: {enc}. Tasks: {', '.join(record['tasks'])}. {st['seeds']} seeds; every seed draws its own "
        f"sample of {st['n']} points per task and one repetition of each split; every training side is cut to "
        f"{', '.join(map(str, n_train))} points (all splits). Blocks: fold `seed mod {st['folds']}` of a "
        f"{st['folds']}-fold {st['block_deg']:g}° block partition shuffled by the seed. MLP: 2 × 64 ReLU, "
        f"{st['epochs']} full-batch Adam epochs, tuned by {st['inner_folds']}-fold inner CV over {{{grid}}}. "
        f"Cells: mean over seeds [95 % Student-t interval over the seed results]; R² for regression, accuracy (%) "
        f"for classification; **bold** = highest mean. Last column: the highest mean minus the runner-up's, with "
        f"the paired 95 % t-interval over seeds (\"within noise\" when it includes 0). Antarctica = test points "
        f"south of −60°; \"without Antarctica\" scores the same predictions on the other test points.",
        "",
        "### Antarctica's share of the regression targets",
        "",
        "| task | points south of −60° (%) | share of the target's variance (%) |",
        "|---|---|---|",
    ]
    for t, s in record["antarctica_share"].items():
        lines.append(f"| {t} | {s['points_pct']:.1f} | {s['variance_pct']:.0f} |")
    sections = [("random", "no-antarctica", "Random split, without Antarctica (the headline)"),
                ("random", "all", "Random split, all test points (Antarctica included)"),
                ("random", ANT, "Random split, Antarctica only"),
                ("blocks", "no-antarctica", "Spatial blocks, without Antarctica"),
                ("blocks", "all", "Spatial blocks, all test points")]
    splits = list(dict.fromkeys(r["split"] for r in record["records"]))
    for s in splits:
        if s.startswith("continent:"):
            sections.append((s, "all", split_label(s)[0].upper() + split_label(s)[1:]))
    for split, region, title in sections:
        for probe in ("linear", "mlp"):
            tab = _table(record, probe, split, region)
            if tab:
                lines += ["", f"### {title}: {probe} probe", "", *tab]
    lines += ["", "### MLP tuning: configurations chosen by the inner CV (encoder × task × split)", "",
              "| configuration | times chosen |", "|---|---|"]
    for k, v in sorted(record["mlp_chosen"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v} |")
    res = record["resolution"]
    if res:
        cells = res[0]["cells"]
        lines += ["", "### Effective resolution (checkerboard, linear probe on frozen features)", "",
                  "| encoder | boards | accuracy (%) at " + " / ".join(f"{c:g}°" for c in cells)
                  + " | resolved scale (≥ 75 %) | cosine sim. at 100 / 500 / 2,000 km |", "|---|---|---|---|---|"]
        for r in res:
            sc = f"{r['resolved_scale']:.1f}°" if np.isfinite(r["resolved_scale"]) else "none"
            sim = " / ".join(f"{r['sim_median'].get(d, float('nan')):.2f}" for d in ("100", "500", "2000"))
            lines.append(f"| `{r['encoder']}` | {'land only' if r['land_only'] else 'global'} | "
                         + " / ".join(f"{100 * a:.0f}" for a in r["accuracy"]) + f" | {sc} | {sim} |")
    lines += ["", "Time (s, wall): " + ", ".join(f"{k} {v:.0f}" for k, v in record["timings"].items())]
    return "\n".join(lines) + "\n"


def claims(record: dict[str, Any]) -> list[str]:
    """Sentences the page must state: the R² winners with and without Antarctica, Antarctica's
    share of the variance, and each encoder's resolved scale."""
    out: list[str] = []
    for region, words in (("no-antarctica", "without Antarctica"), ("all", "with Antarctica")):
        for probe in ("linear", "mlp"):
            for t in HEADLINE_TASKS:
                w = winner(record, t, probe, "random", region)
                if w is not None:
                    out.append(f"{words}, `{w['best']}` has the highest R² on {t} under the {probe} probe")
    for t in ("temperature", "elevation"):
        s = record["antarctica_share"].get(t)
        if s:
            out.append(f"Antarctica holds {s['points_pct']:.1f} % of the {t} points but {s['variance_pct']:.0f} % "
                       "of its variance")
    for r in record["resolution"]:
        sc = r["resolved_scale"]
        out.append(f"`{r['encoder']}` resolves {sc:.0f}°" if np.isfinite(sc) else f"`{r['encoder']}` resolves no board")
    return out
