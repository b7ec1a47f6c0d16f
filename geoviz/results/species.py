"""Species ranges, tuned fairly: the network and the KDE baseline tuned on the same spatially
held-out split of the observations, then scored against the true ranges by observation count.

The experiment (``geoviz results species``; :func:`run`):

1. **World**: ``n_species`` virtual species (:func:`geoviz.species.make_virtual_species`,
   Flickr observer bias) whose observation counts are spread evenly in log between 1 and
   ``max_count`` (:func:`geoviz.species.virtual.log_uniform_counts`: a long tail with species
   in every bucket 1–5, 6–20, 21–100, > 100 observations).
2. **Validation split of the observations**: whole equal-area blocks of ``block_deg``
   (:func:`geoviz.data.splits.block_split`) hold out ``val_fraction`` of the observations. The
   score of a candidate is the validation mAP: per species, the average precision of its
   held-out observations against ``n_val_background`` random land points, averaged over
   species with observations on both sides. The truth is never used for tuning.
3. **Tuning, same budget for both**: the network by a coordinate search (λ = c·(2S − 1), then
   the background, then the number of steps, then the width; each stage keeps the best so
   far) with as many candidates as the KDE's bandwidth grid has bandwidths.
4. **Test**: both refitted on all observations with their tuned settings; per-species AP and
   AUC against the true ranges on equal-area land points (a 50,000-point Fibonacci lattice),
   averaged per count bucket with a bootstrap over the species of the bucket (paired for the
   difference).
5. ***Ariolimax buttoni*** (elapid): the tuned recipe against the KDE on a 0.5° block split of
   presences and background points (the KDE's bandwidth by AUC on an inner block split).
6. **CLI defaults**: ``geoviz species fit virtual:N --evaluate`` with the old defaults
   (λ = 2048, 20 epochs) and with the tuned recipe, against the CLI's KDE.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

DOC = "docs/results/species.md"
COMMAND = "geoviz results species"

BUCKETS: list[tuple[str, int, int]] = [("1–5", 1, 5), ("6–20", 6, 20), ("21–100", 21, 100), ("> 100", 101, 10**9)]
"""Observation-count buckets ``(label, lowest, highest)``."""

FULL: dict[str, Any] = {
    "n_species": 160, "max_count": 1000, "bias": "flickr", "seed": 0, "block_deg": 5.0, "val_fraction": 0.25,
    "n_val_background": 10000, "eval_points": 50000, "bootstrap": 2000, "batch_size": 1024,
    "aux_species": 5, "aux_observations": 2500,
    "base": {"c": 2.5, "background": "uniform", "steps": 500, "hidden_dim": 256},
    "grid": {"c": [0.5, 12.5], "background": ["land", "target"], "steps": [250, 1000], "hidden_dim": []},
    "kde_bandwidths": [round(float(h), 3) for h in np.geomspace(0.5, 8.0, 7)],
    "cli_sizes": [5, 20, 40], "slug": True,
}
"""The full run (about 15 minutes on 2 otherwise idle cores)."""

SMALL: dict[str, Any] = {
    "n_species": 24, "max_count": 150, "bias": "flickr", "seed": 0, "block_deg": 5.0, "val_fraction": 0.25,
    "n_val_background": 2000, "eval_points": 5000, "bootstrap": 200, "batch_size": 1024,
    "aux_species": 3, "aux_observations": 600,
    "base": {"c": 2.5, "background": "uniform", "steps": 40, "hidden_dim": 64},
    "grid": {"c": [0.5], "background": ["target"], "steps": [80], "hidden_dim": []},
    "kde_bandwidths": [1.0, 2.0, 4.0, 8.0, 16.0],
    "cli_sizes": [3], "slug": False,
}
"""The small run (same code path; about a minute)."""

OLD_CLI = {"pos_weight": 2048.0, "epochs": 20, "background": "land", "hidden_dim": 256}
"""``geoviz species fit``'s defaults before issue 27."""


def _bucket_of(count: np.ndarray) -> np.ndarray:
    out = np.full(count.shape, -1)
    for b, (_, lo, hi) in enumerate(BUCKETS):
        out[(count >= lo) & (count <= hi)] = b
    return out


def _config(recipe: dict[str, Any], *, small: bool, seed: int = 0, threads: int | None = None,
            batch_size: int = 1024) -> Any:
    from geoviz.species import SpeciesConfig

    nn = {"hidden_dim": int(recipe["hidden_dim"]), "num_layers": 2}
    return SpeciesConfig(pe_kwargs={"legendre_polys": 10 if small else 20}, nn_kwargs=nn, loss="an-full",
                         pos_weight_scale=float(recipe["c"]), background=recipe["background"],
                         steps=int(recipe["steps"]), batch_size=int(batch_size), seed=seed, threads=threads)


def validation_map(scores_val: np.ndarray, species_val: np.ndarray, scores_bg: np.ndarray,
                   species: np.ndarray) -> float:
    """Mean over ``species`` of the AP of each one's held-out observations (``scores_val``
    rows where ``species_val`` is it) against the background points' scores."""
    from sklearn.metrics import average_precision_score

    aps = []
    for s in species:
        pos = scores_val[species_val == s, s]
        y = np.r_[np.ones(pos.size), np.zeros(scores_bg.shape[0])]
        aps.append(average_precision_score(y, np.r_[pos, scores_bg[:, s]]))
    return float(np.mean(aps))


def _bootstrap(values: np.ndarray, n: int, rng: np.random.Generator) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    means = v[rng.integers(0, v.size, size=(n, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return (float(v.mean()), float(lo), float(hi))


def run(out: Path, *, small: bool = False, progress: Callable[[str], Any] = print) -> dict[str, Any]:
    """The experiment (see the module docstring); returns the JSON-ready record."""
    import torch

    from geoviz.data.splits import block_split
    from geoviz.species import KDEBaseline, fit_species, make_virtual_species, range_metrics
    from geoviz.species.background import land_points
    from geoviz.species.evaluate import evaluation_points
    from geoviz.species.virtual import log_uniform_counts

    P = SMALL if small else FULL
    threads = 2 if not small else None
    torch.set_num_threads(2)
    rng = np.random.default_rng(P["seed"])
    t_all = time.perf_counter()
    counts = log_uniform_counts(P["n_species"], P["max_count"], np.random.default_rng(P["seed"]))
    world = make_virtual_species(P["n_species"], bias=P["bias"], seed=P["seed"], counts=counts)
    obs = world.observations
    S = obs.num_species
    progress(f"world: {S} species, {len(obs)} observations")

    # --- validation splits of the observations (spatial blocks): the long-tail world and a
    # small uniform-effort world, so that the recipe holds for few species as well as many ---
    aux = make_virtual_species(P["aux_species"], P["aux_observations"], seed=P["seed"] + 1)
    bg_val = land_points(P["n_val_background"], np.random.default_rng(P["seed"] + 1))
    splits = []
    for name, o in (("long tail", obs), (f"virtual:{P['aux_species']}", aux.observations)):
        tr, va = block_split(o.lonlat, P["block_deg"], P["val_fraction"], P["seed"])
        o_tr, o_va = o.subset(tr), o.subset(va)
        scored = np.flatnonzero((o_tr.counts() > 0) & (o_va.counts() > 0))
        splits.append({"name": name, "train": o_tr, "val": o_va, "scored": scored, "all": o.lonlat})
    main_split = splits[0]

    def val_score(score_fn: Callable[[np.ndarray], np.ndarray], sp: dict[str, Any]) -> float:
        o_va = sp["val"]
        return validation_map(score_fn(o_va.lonlat), o_va.species, score_fn(bg_val), sp["scored"])

    def kde_val_score(kde: Any, sp: dict[str, Any]) -> float:  # the same score, only the columns it needs
        from sklearn.metrics import average_precision_score

        o_va, aps = sp["val"], []
        for s in sp["scored"]:
            v = kde.score_species(s, np.vstack([o_va.lonlat[o_va.species == s], bg_val]))
            y = np.r_[np.ones(int((o_va.species == s).sum())), np.zeros(bg_val.shape[0])]
            aps.append(average_precision_score(y, v))
        return float(np.mean(aps))

    # --- network: coordinate search on the mean validation mAP of the two worlds ---
    trials: list[dict[str, Any]] = []
    cache: dict[tuple, float] = {}

    def trial(recipe: dict[str, Any], stage: str) -> float:
        key = tuple(sorted(recipe.items()))
        if key in cache:
            return cache[key]
        vs, secs = [], 0.0
        for sp in splits:
            cfg = _config(recipe, small=small, seed=P["seed"], threads=threads, batch_size=P["batch_size"])
            if recipe["background"] == "target":
                # the target group is every observation's location, held-out ones included (no
                # labels): drawn from the training side only, the held-out blocks would be the
                # only land without background points, and their observations would score high
                cfg = replace(cfg, background=sp["all"])
            model, hist = fit_species(sp["train"], cfg)
            vs.append(val_score(model.logits, sp))
            secs += hist[-1]["seconds"]
        v = float(np.mean(vs))
        cache[key] = v
        trials.append({"stage": stage, **recipe, "lambda": cfg.lam(S), "val_map": v, "val_maps": vs,
                       "seconds": round(secs, 1)})
        progress(f"  network {stage}: {recipe} → validation mAP {v:.4f} {np.round(vs, 4).tolist()} ({secs:.0f} s)")
        return v

    best = dict(P["base"])
    trial(best, "base")
    for key in ("c", "background", "steps", "hidden_dim"):
        for value in P["grid"][key]:
            cand = {**best, key: value}
            trial(cand, key)
        best = min((dict(k) for k in cache), key=lambda r: -cache[tuple(sorted(r.items()))])
    tuned = dict(best)
    progress(f"tuned network: {tuned} (validation mAP {cache[tuple(sorted(tuned.items()))]:.4f})")

    # --- KDE: one bandwidth by the same validation score, as many candidates ---
    kde_trials = []
    for h in P["kde_bandwidths"]:
        vs = [kde_val_score(KDEBaseline(sp["train"], bandwidths_deg=float(h), seed=P["seed"]), sp) for sp in splits]
        kde_trials.append({"bandwidth_deg": float(h), "val_map": float(np.mean(vs)), "val_maps": vs})
        progress(f"  KDE {h}°: validation mAP {np.mean(vs):.4f} {np.round(vs, 4).tolist()}")
    kde_best = max(kde_trials, key=lambda r: r["val_map"])
    kde_h = kde_best["bandwidth_deg"]
    kde_lik = KDEBaseline(main_split["train"], seed=P["seed"]).bandwidth_deg  # likelihood-chosen (old way)
    tr, va = len(main_split["train"]), len(main_split["val"])
    scored = main_split["scored"]

    # --- test: refit on all observations, score against the truth ---
    pts = evaluation_points(P["eval_points"])
    truth = world.truth(pts)
    t0 = time.perf_counter()
    cfg = _config(tuned, small=small, seed=P["seed"], threads=threads, batch_size=P["batch_size"])
    model, hist = fit_species(obs, cfg)
    fit_s = time.perf_counter() - t0
    m_model = range_metrics(model.logits(pts), truth)
    t0 = time.perf_counter()
    kde = KDEBaseline(obs, bandwidths_deg=kde_h, seed=P["seed"])
    m_kde = range_metrics(kde.score(pts), truth)
    kde_s = time.perf_counter() - t0
    progress(f"test: model mAP {m_model['map']:.3f}, KDE mAP {m_kde['map']:.3f}")
    count = obs.counts()
    bucket = _bucket_of(count)
    area = truth.mean(axis=0)  # prevalence on land = AP of a random ranking
    brng = np.random.default_rng(P["seed"] + 2)
    buckets = []
    for b, (label, lo, hi) in enumerate(BUCKETS):
        sel = np.flatnonzero(bucket == b)
        row: dict[str, Any] = {"bucket": label, "species": int(sel.size),
                               "observations": [int(count[sel].min()), int(count[sel].max())] if sel.size else None}
        for name, m in (("model", m_model), ("kde", m_kde)):
            row[f"{name}_map"] = _bootstrap(m["ap"][sel], P["bootstrap"], brng)
            row[f"{name}_auc"] = _bootstrap(m["auc"][sel], P["bootstrap"], brng)
        row["diff_map"] = _bootstrap(m_model["ap"][sel] - m_kde["ap"][sel], P["bootstrap"], brng)
        row["random_map"] = float(area[sel].mean()) if sel.size else math.nan
        row["model_wins_species"] = int((m_model["ap"][sel] > m_kde["ap"][sel]).sum())
        # where does the KDE win? AP difference for the smaller and the larger half of the ranges
        med = np.median(area)
        for part, mask in (("small", area[sel] < med), ("large", area[sel] >= med)):
            d = (m_model["ap"][sel] - m_kde["ap"][sel])[mask]
            row[f"diff_{part}_ranges"] = [float(d.mean()) if d.size else math.nan, int(d.size)]
        buckets.append(row)
    overall = {"model_map": _bootstrap(m_model["ap"], P["bootstrap"], brng),
               "kde_map": _bootstrap(m_kde["ap"], P["bootstrap"], brng),
               "diff_map": _bootstrap(m_model["ap"] - m_kde["ap"], P["bootstrap"], brng),
               "model_auc": float(m_model["mean_auc"]), "kde_auc": float(m_kde["mean_auc"]),
               "random_map": float(area.mean())}
    per_species = {"count": count.tolist(), "prevalence": area.tolist(), "ap_model": m_model["ap"].tolist(),
                   "ap_kde": m_kde["ap"].tolist(), "auc_model": m_model["auc"].tolist(),
                   "auc_kde": m_kde["auc"].tolist()}
    _figure(out, per_species, small)

    # --- CLI defaults, old and tuned ---
    cli = []
    from geoviz.species import SpeciesConfig

    cli_pts = evaluation_points(P["eval_points"])
    for n in P["cli_sizes"]:
        w = make_virtual_species(n)  # what `virtual:N` generates
        tr_ = w.truth(cli_pts)
        k = range_metrics(KDEBaseline(w.observations).score(cli_pts), tr_)
        row = {"n_species": n, "observations": len(w.observations), "kde_map": k["map"], "kde_auc": k["mean_auc"]}
        old = SpeciesConfig(pos_weight=OLD_CLI["pos_weight"], epochs=OLD_CLI["epochs"], threads=threads,
                            background=OLD_CLI["background"], batch_size=2048, lr=1e-3, loss="an-full",
                            pe_kwargs={"legendre_polys": 10 if small else 20},
                            nn_kwargs={"hidden_dim": 64 if small else 256, "num_layers": 2})
        new = _config(tuned, small=small, threads=threads, batch_size=P["batch_size"])
        for name, c in (("old", old), ("tuned", new)):
            mdl, h = fit_species(w.observations, c)
            m = range_metrics(mdl.logits(cli_pts), tr_)
            row.update({f"{name}_map": m["map"], f"{name}_auc": m["mean_auc"], f"{name}_steps": h[-1]["steps"],
                        f"{name}_seconds": round(h[-1]["seconds"], 1), f"{name}_lambda": c.lam(n)})
        progress(f"  virtual:{n}: old {row['old_map']:.3f}, tuned {row['tuned_map']:.3f}, KDE {row['kde_map']:.3f}")
        cli.append(row)

    slug = _slug(tuned, P, small, threads, progress) if P["slug"] else None
    record = {
        "small": small, "settings": {k: v for k, v in P.items()},
        "world": {"species": S, "observations": len(obs), "counts_min": int(count.min()),
                  "counts_median": float(np.median(count)), "counts_max": int(count.max()),
                  "validation_observations": int(va), "training_observations": int(tr),
                  "aux_validation": {"name": splits[1]["name"], "observations": len(aux.observations),
                                     "validation_observations": len(splits[1]["val"]),
                                     "validation_species": int(splits[1]["scored"].size)},
                  "validation_species": int(scored.size), "evaluation_points": int(pts.shape[0])},
        "tuning": {"network": trials, "kde": kde_trials, "tuned": tuned,
                   "tuned_val_map": cache[tuple(sorted(tuned.items()))], "kde_bandwidth_deg": kde_h,
                   "kde_val_map": kde_best["val_map"], "kde_likelihood_bandwidth_deg": kde_lik},
        "test": {"overall": overall, "buckets": buckets, "model_seconds": round(fit_s, 1),
                 "model_steps": hist[-1]["steps"], "kde_seconds": round(kde_s, 1), "lambda": cfg.lam(S)},
        "per_species": per_species, "cli": cli, "slug": slug,
        "total_seconds": round(time.perf_counter() - t_all, 1),
    }
    return record


def _slug(tuned: dict[str, Any], P: dict[str, Any], small: bool, threads: int | None,
          progress: Callable[[str], Any]) -> dict[str, Any]:
    """Ariolimax buttoni: tuned recipe vs KDE on a 0.5° block split (KDE bandwidth by inner-split AUC)."""
    from geoviz.data.splits import block_split
    from geoviz.species import KDEBaseline, fit_species, load_ariolimax, make_observations, presence_background_auc

    pres, bg = load_ariolimax()
    allp = np.vstack([pres, bg])
    is_p = np.r_[np.ones(len(pres), bool), np.zeros(len(bg), bool)]
    tr, te = block_split(allp, 0.5, 0.3, P["seed"])
    p_tr, p_te = allp[tr][is_p[tr]], allp[te][is_p[te]]
    b_tr, b_te = allp[tr][~is_p[tr]], allp[te][~is_p[te]]
    # KDE bandwidth: inner 0.5° block split of the training side, AUC of inner held-out presences
    itr, ite = block_split(allp[tr], 0.5, 0.3, P["seed"] + 1)
    ip = is_p[tr]
    inner = make_observations(allp[tr][itr][ip[itr]], ["slug"] * int(ip[itr].sum()))
    sel = []
    for h in (0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6):
        k = KDEBaseline(inner, bandwidths_deg=h)
        sel.append((presence_background_auc(k.score(allp[tr][ite][ip[ite]])[:, 0],
                                            k.score(allp[tr][ite][~ip[ite]])[:, 0]), h))
    h_best = max(sel)[1]
    obs = make_observations(p_tr, ["Ariolimax buttoni"] * len(p_tr))
    kde = KDEBaseline(obs, bandwidths_deg=h_best)
    cfg = replace(_config(tuned, small=small, threads=threads, batch_size=P["batch_size"]), background=b_tr)
    model, hist = fit_species(obs, cfg)
    res = {"n_train_presence": len(p_tr), "n_test_presence": len(p_te), "n_train_background": len(b_tr),
           "n_test_background": len(b_te), "kde_bandwidth_deg": h_best,
           "kde_selection": [[h, a] for a, h in sel],
           "auc_model": presence_background_auc(model.logits(p_te, 0), model.logits(b_te, 0)),
           "auc_kde": presence_background_auc(kde.score(p_te)[:, 0], kde.score(b_te)[:, 0]),
           "model_seconds": round(hist[-1]["seconds"], 1), "lambda": cfg.lam(1)}
    progress(f"slug: model AUC {res['auc_model']:.3f}, KDE AUC {res['auc_kde']:.3f} (bw {h_best}°)")
    return res


def _figure(out: Path, ps: dict[str, Any], small: bool) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    c = np.asarray(ps["count"])
    ax.scatter(c, ps["ap_kde"], s=12, c="#999999", label="tuned KDE")
    ax.scatter(c, ps["ap_model"], s=12, c="#2166ac", label="tuned SH+Siren")
    ax.scatter(c, ps["prevalence"], s=6, marker="x", c="k", label="random ranking (prevalence)")
    for edge in (5.5, 20.5, 100.5):
        ax.axvline(edge, color="#cccccc", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("observations of the species")
    ax.set_ylabel("average precision vs true range")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(out) / "ap_by_count.png")


def _ci(t: Any, nd: int = 2) -> str:
    m, lo, hi = t
    return f"{m:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def _diff(t: Any) -> str:
    m, lo, hi = t
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _recipe(r: dict[str, Any]) -> str:
    return f"c = {r['c']:g}, background {r['background']}, {r['steps']} steps, width {r['hidden_dim']}"


def render(record: dict[str, Any]) -> str:
    """The generated block: tuning, mAP/AUC by bucket, CLI defaults, the slug."""
    w, tu, te = record["world"], record["tuning"], record["test"]
    lines = [f"Generated by `{record.get('command', COMMAND)}` "
             f"({record.get('seconds', record.get('total_seconds', 0)):.0f} s on 2 cores; record "
             f"`docs/results/species/species.json`).", ""]
    lines += [f"**World**: {w['species']} virtual species, {w['observations']:,} observations (Flickr observer "
              f"bias; {w['counts_min']}–{w['counts_max']} per species, median {w['counts_median']:g}); "
              f"validation split: {w['validation_observations']:,} observations in held-out "
              f"{record['settings']['block_deg']:g}° blocks ({w['validation_species']} species on both sides), "
              f"scored against {record['settings']['n_val_background']:,} random land points. A second world "
              f"for validation only, {w['aux_validation']['name']} (seed 1, uniform observer effort, "
              f"{w['aux_validation']['observations']:,} observations; {w['aux_validation']['validation_observations']:,} "
              f"held out), keeps the recipe fit for few species: candidates are ranked by the mean of the two "
              f"validation mAPs.", ""]
    L = 10 if record.get("small") else 20
    lines += [f"**Tuning the network** (SH L = {L} + Siren × 2, `an-full`, batch {record['settings']['batch_size']}; λ = c·(2S − 1); "
              "coordinate search, each stage from the best so far):", "",
              f"| stage | c (λ at {w['species']} species) | background | steps | width | validation mAP: mean | long tail | "
              f"{w['aux_validation']['name']} | training (both) |", "|---|---|---|---|---|---|---|---|---|"]
    best = tu["tuned_val_map"]
    for t in tu["network"]:
        v = f"**{t['val_map']:.3f}**" if t["val_map"] == best else f"{t['val_map']:.3f}"
        lines.append(f"| {t['stage']} | {t['c']:g} ({t['lambda']:.1f}) | {t['background']} | {t['steps']} | "
                     f"{t['hidden_dim']} | {v} | {t['val_maps'][0]:.3f} | {t['val_maps'][1]:.3f} | {t['seconds']:.0f} s |")
    lines += ["", "**Tuning the KDE** (one Gaussian bandwidth for all species, same split, same score):", "",
              "| bandwidth (validation mAP) | " + " | ".join(f"{k['bandwidth_deg']:g}°" for k in tu["kde"]) + " |",
              "|---|" + "---|" * len(tu["kde"]),
              "| mean | " + " | ".join(
                  (f"**{k['val_map']:.3f}**" if k["bandwidth_deg"] == tu["kde_bandwidth_deg"] else f"{k['val_map']:.3f}")
                  for k in tu["kde"]) + " |",
              "| long tail | " + " | ".join(f"{k['val_maps'][0]:.3f}" for k in tu["kde"]) + " |",
              f"| {w['aux_validation']['name']} | " + " | ".join(f"{k['val_maps'][1]:.3f}" for k in tu["kde"]) + " |",
              ""]
    lines += [f"Tuned: network {_recipe(tu['tuned'])} (validation mAP {tu['tuned_val_map']:.3f}); KDE bandwidth "
              f"{tu['kde_bandwidth_deg']:g}° (validation mAP {tu['kde_val_map']:.3f}; held-out likelihood would "
              f"pick {tu['kde_likelihood_bandwidth_deg']:g}°).", ""]
    lines += [f"**Test against the true ranges** (both refitted on all observations; {w['evaluation_points']:,} "
              f"equal-area land points; mean over the species of the bucket, [95 % bootstrap interval over "
              f"species]; λ = {te['lambda']:.1f}, {te['model_steps']} steps, {te['model_seconds']:.0f} s of "
              f"training; KDE {te['kde_seconds']:.0f} s):", "",
              "| observations per species | species | mAP model | mAP KDE | model − KDE | model better on | "
              "AUC model | AUC KDE | random mAP |", "|---|---|---|---|---|---|---|---|---|"]
    for b in te["buckets"]:
        lines.append(f"| {b['bucket']} | {b['species']} | {_ci(b['model_map'])} | {_ci(b['kde_map'])} | "
                     f"{_diff(b['diff_map'])} | {b['model_wins_species']} of {b['species']} | "
                     f"{_ci(b['model_auc'], 3)} | {_ci(b['kde_auc'], 3)} | {b['random_map']:.3f} |")
    o = te["overall"]
    lines.append(f"| all | {w['species']} | {_ci(o['model_map'])} | {_ci(o['kde_map'])} | {_diff(o['diff_map'])} | "
                 f"{sum(b['model_wins_species'] for b in te['buckets'])} of {w['species']} | {o['model_auc']:.3f} | "
                 f"{o['kde_auc']:.3f} | {o['random_map']:.3f} |")
    lines += ["", "Mean AP difference (model − KDE) by true-range size (below / at least the median range of all "
              "species), species in brackets:", "",
              "| observations per species | smaller ranges | larger ranges |", "|---|---|---|"]
    for b in te["buckets"]:
        sm, lg = b["diff_small_ranges"], b["diff_large_ranges"]
        lines.append(f"| {b['bucket']} | {sm[0]:+.2f} ({sm[1]}) | {lg[0]:+.2f} ({lg[1]}) |")
    lines += ["", "![AP per species vs observations](species/ap_by_count.png)", ""]
    lines += ["**`geoviz species fit virtual:N --evaluate`**, old defaults (λ = 2048, 20 epochs) vs the tuned "
              "recipe, against the CLI's KDE (bandwidth by held-out likelihood):", "",
              "| source | observations | old: mAP (steps, s) | tuned: mAP (λ, steps, s) | KDE mAP | "
              "AUC old / tuned / KDE |", "|---|---|---|---|---|---|"]
    for c in record["cli"]:
        lines.append(f"| virtual:{c['n_species']} | {c['observations']:,} | {c['old_map']:.3f} ({c['old_steps']}, "
                     f"{c['old_seconds']:.0f} s) | {c['tuned_map']:.3f} ({c['tuned_lambda']:.1f}, {c['tuned_steps']}, "
                     f"{c['tuned_seconds']:.0f} s) | {c['kde_map']:.3f} | {c['old_auc']:.3f} / {c['tuned_auc']:.3f} / "
                     f"{c['kde_auc']:.3f} |")
    s = record.get("slug")
    if s:
        lines += ["", f"***Ariolimax buttoni*** (elapid), 0.5° block split: {s['n_train_presence']} / "
                  f"{s['n_train_background']} presences / background points to train, {s['n_test_presence']} / "
                  f"{s['n_test_background']} to test; the model uses the training background points as its "
                  f"background (λ = {s['lambda']:g}); KDE bandwidth {s['kde_bandwidth_deg']:g}° by AUC on an inner "
                  f"block split of the training side.", "",
                  "| model | held-out AUC |", "|---|---|",
                  f"| tuned recipe, SH L = {L} + Siren | {s['auc_model']:.3f} |",
                  f"| tuned KDE | {s['auc_kde']:.3f} |"]
    return "\n".join(lines) + "\n"


def _beats(b: dict[str, Any]) -> bool:
    return b["diff_map"][0] > 0


def claims(record: dict[str, Any]) -> list[str]:
    """Exact phrases the page's prose must contain."""
    te, tu = record["test"], record["tuning"]
    bs = te["buckets"]
    k = sum(_beats(b) for b in bs)
    sig = [b["bucket"] for b in bs if b["diff_map"][1] > 0]
    sig_kde = [b["bucket"] for b in bs if b["diff_map"][2] < 0]
    out = [f"the model beats the tuned KDE in {k} of 4 buckets",
           f"tuned recipe: {_recipe(tu['tuned'])}",
           f"KDE bandwidth {tu['kde_bandwidth_deg']:g}°",
           f"overall mAP {te['overall']['model_map'][0]:.2f} vs {te['overall']['kde_map'][0]:.2f}"]
    out.append("the model is significantly better (interval of the difference above 0) in "
               + (", ".join(sig) if sig else "no bucket"))
    out.append("the KDE is significantly better (interval below 0) in " + (", ".join(sig_kde) if sig_kde else "no bucket"))
    for c in record["cli"]:
        out.append(f"virtual:{c['n_species']}: {c['old_map']:.2f} → {c['tuned_map']:.2f} (KDE {c['kde_map']:.2f})")
    s = record.get("slug")
    if s:
        who = "the model" if s["auc_model"] > s["auc_kde"] else "the KDE"
        out.append(f"on the slug {who} wins ({s['auc_model']:.3f} vs {s['auc_kde']:.3f})")
    return out
