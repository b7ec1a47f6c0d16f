# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Which encoder for my task?
#
# There are many location encoders: untrained ones (raw coordinates, sine–cosine "wrap",
# spherical harmonics up to a degree L) and pretrained ones (geoviz's Blue Marble models,
# GeoCLIP, SatCLIP). Papers disagree on which is best by ten points or more, mostly because
# they measure differently. This notebook measures them the same way, on your task.
#
# **Learning objectives.** After this notebook you can
#
# 1. evaluate any frozen encoder on a downstream task with `geoviz.evaluation`: embed once,
#    fit a **linear** probe and the SatCLIP-recipe **MLP** probe on the same split;
# 2. read a scoreboard with both probes side by side, and say what a large gap between them
#    means;
# 3. explain why a random split flatters an encoder and a spatial-block split does not;
# 4. measure what scale an encoder *resolves* (checkerboard accuracy against cell size) and
#    match it to the scale of your task.
#
# **Prerequisites.** Notebook 02 (spherical harmonics, what L means) and notebook 06 (a linear
# probe on frozen embeddings, why hold out regions); ridge and logistic regression.
#
# **Run time.** Run All at full size: 2½ to 3 minutes on a 2-core CPU from a cold cache (the
# upper end with other programs competing for the cores). About half a minute in small mode.
#
# The same comparison is a dashboard tab (*Compare encoders*) and a command line
# (`geoviz evaluate --encoders geoviz-bluemarble-l10,sh:10,raw --tasks temperature,koppen`).

# %% tags=["parameters"]
import os

# The test suite sets GEOVIZ_NOTEBOOK_SMALL=1: fewer points, repetitions and epochs.
# Leave it unset for the full-size run (see the run time above).
SMALL = os.environ.get("GEOVIZ_NOTEBOOK_SMALL", "0") == "1"

# Encoders to compare (specs of geoviz.evaluation.get_encoder): pretrained names, "sh:L",
# positional encodings ("wrap", "theory", ...), "raw", or a SatCLIP checkpoint path.
# "geoclip" works too when installed, but is slow on a CPU (~13 s per 10,000 points).
ENCODERS = ["geoviz-bluemarble-l10", "geoviz-bluemarble-l40", "sh:10", "raw"]
TASKS = ["temperature", "koppen", "countries"]

# %%
import numpy as np
import pandas as pd
from IPython.display import Image, display
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from geoviz.evaluation.compare import compare_encoders, figure_png, maps_figure
from geoviz.evaluation import EmbeddingCache, evaluate, get_eval_task
from geoviz.evaluation.resolution import plot_resolution_comparison, resolution_diagnostics

N = 600 if SMALL else 2000          # points per task (half train, half test in the random split)
SEEDS = 1 if SMALL else 3           # seeds: each draws a new task sample and one repetition per split
FOLDS = 3 if SMALL else 5           # spatial-block folds
EPOCHS = 100 if SMALL else 200      # full-batch Adam epochs of the MLP probe
cache = EmbeddingCache()            # every (encoder, point set) is embedded once


def show(fig, dpi=80):
    """Show a Matplotlib figure as a PNG (works whatever backend a library has selected)."""
    display(Image(figure_png(fig, dpi=dpi)))

# %% [markdown]
# ## 1 · The tasks
#
# Each task is a set of points with a target: land air temperature (regression, R²), the
# Köppen–Geiger climate zone (about 30 classes, accuracy) and the country (over a hundred
# classes, accuracy). They differ in **scale**: temperature changes over thousands of kilometres
# (mostly with latitude), climate zones over hundreds, countries have borders everywhere.

# %%
for name in TASKS:
    t = get_eval_task(name, n=N)
    print(f"{name:12s} {t.kind:14s} metric={t.metric:9s} N={len(t)}  classes={t.n_classes or '-'}")
    print(f"{'':12s} {t.sampling}")

# %% [markdown]
# ## 2 · The scoreboard: two probes, two splits
#
# `evaluate` embeds each task's points once per encoder, then fits
#
# * the **linear probe**: ridge regression / ridge classifier on standardised features, the
#   regularisation chosen by cross-validation. It only finds what the features already lay out
#   linearly.
# * the **MLP probe**: two hidden ReLU layers of 64, Adam, full batch (SatCLIP's recipe), its
#   learning rate and weight decay chosen by 3-fold cross-validation on the training points
#   (as the linear probe's regularisation is), the same small grid for every encoder. It can
#   bend the features, so it gets more out of weak ones.
#
# and scores them on a **random** 50/50 split and on **spatial blocks** (10° cells: the test
# points lie in blocks that have no training points). Each seed draws a new sample of the task
# and one repetition of each split, and every split trains on the same number of points, so
# a gap between the splits is the protocol's, not the sample size's.
#
# All scores are in **%**: accuracy for the classification tasks, and for temperature
# R² × 100, the share of the variance the probe explains (100 % = perfect, 0 % = no better
# than predicting the mean, negative = worse). Differences are in percentage points.

# %%
PROBES, SPLITS = ("linear", "mlp"), ("random", "blocks")
result = evaluate(ENCODERS, TASKS, probes=PROBES, splits=SPLITS, n=N, seeds=SEEDS, folds=FOLDS, epochs=EPOCHS,
                  cache=cache)
SHORT = {"geoviz-bluemarble-l10": "BM L10", "geoviz-bluemarble-l40": "BM L40"}   # short names for figures


def pct(enc, task, probe, split):
    """Mean score in %: accuracy, or R² × 100."""
    return 100 * result.get(enc, task, probe, split).mean


def task_label(task):
    return f"{task} ({'R²' if result.get(ENCODERS[0], task, 'linear', 'random').metric == 'r2' else 'acc'} %)"


def score_table(probe, split):
    """Tasks × encoders: mean ± std over repetitions in %, the best encoder of each task marked *."""
    rows = {}
    for task in TASKS:
        recs = {e: result.get(e, task, probe, split) for e in ENCODERS}
        best = max(r.mean for r in recs.values())
        rows[task_label(task)] = {e: f"{100 * r.mean:.1f} ± {100 * r.std:.1f}{' *' if r.mean == best else ''}"
                                  for e, r in recs.items()}
    return pd.DataFrame(rows).T


for probe in PROBES:
    for split in SPLITS:
        print(f"\n{probe} probe, {split} split (mean ± std in %; * best)")
        print(score_table(probe, split).to_string())
print("\ntime (s):", {k: round(v, 1) for k, v in result.timings.items()})

# %% [markdown]
# The same numbers as heat maps, in % (bold and boxed: the best encoder of each task):

# %%
fig = Figure(figsize=(13, 7.5), constrained_layout=True)
axes = fig.subplots(len(PROBES), len(SPLITS), squeeze=False)
for i, probe in enumerate(PROBES):
    for j, split in enumerate(SPLITS):
        ax = axes[i, j]
        M = np.array([[pct(e, t, probe, split) for e in ENCODERS] for t in TASKS])
        im = ax.imshow(np.clip(M, 0, 100), vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for a in range(len(TASKS)):
            for b in range(len(ENCODERS)):
                best = M[a, b] == M[a].max()
                ax.text(b, a, f"{M[a, b]:.0f}", ha="center", va="center", fontsize=20,
                        color="black" if M[a, b] > 60 else "white", fontweight="bold" if best else "normal")
                if best:
                    ax.add_patch(Rectangle((b - 0.46, a - 0.44), 0.92, 0.88, fill=False, edgecolor="black",
                                           linewidth=3))
        ax.set_xticks(range(len(ENCODERS)), [SHORT.get(e, e) for e in ENCODERS], fontsize=14)
        ax.set_yticks(range(len(TASKS)), [task_label(t) for t in TASKS] if j == 0 else [], fontsize=14)
        ax.set_title(f"{probe} probe, {split} split", fontsize=17)
fig.suptitle("scores in % (bold, boxed: the best encoder of each task); BM = geoviz-bluemarble", fontsize=15)
cb = fig.colorbar(im, ax=axes, shrink=0.7)
cb.set_label("score (%)", fontsize=14)
cb.ax.tick_params(labelsize=12)
show(fig, dpi=100)


# %% [markdown]
# Three questions to ask of a scoreboard, answered from the numbers above by code (so that
# the answers stay true when you change the encoders):
#
# 1. **Who wins each task, under each probe?** The winner can change with the probe.
# 2. **How big is the gap between MLP and linear?** A large gap means the information is in
#    the features but not linearly readable: raw (lon, lat) is the extreme case, two numbers
#    from which no straight line draws a climate map.
# 3. **How much is lost from random to block split?** A random split puts training points
#    next to every test point; blocks make the probe *extrapolate* into unseen regions.

# %%
for (probe, split), winners in result.wins().items():
    print(f"{probe:6s} {split:6s} best:", ", ".join(f"{t} → {e}" for t, e in winners.items()))
print()
print("differences in percentage points:")
for task in TASKS:
    gaps = {e: pct(e, task, "mlp", "random") - pct(e, task, "linear", "random") for e in ENCODERS}
    drop = {e: pct(e, task, "linear", "random") - pct(e, task, "linear", "blocks") for e in ENCODERS}
    print(f"{task:12s} MLP − linear (random):   ",
          ", ".join(f"{SHORT.get(e, e)} {g:+.1f}" for e, g in gaps.items()))
    print(f"{'':12s} random − blocks (linear):", ", ".join(f"{SHORT.get(e, e)} {d:+.1f}" for e, d in drop.items()))

# %% [markdown]
# ## 3 · Where are the errors? Maps of one task
#
# A score is an average; a map shows *where* an encoder fails. Here each encoder predicts
# temperature at the test points of one random split (the same split for all), with the
# linear probe: the top row is the prediction (one colour scale with the truth), the bottom
# row the residual, prediction − truth in °C (red: too warm, blue: too cold).

# %%
MAP_ENCODERS = ENCODERS[:3]
comp = compare_encoders(MAP_ENCODERS, get_eval_task("temperature", n=N), epochs=EPOCHS, cache=cache,
                        resolution=False)
abs_lat = np.abs(comp.lonlat_test[:, 1])
tropics, poleward = abs_lat < 23.5, abs_lat > 50
for r in comp.runs:
    resid = r.predictions["linear"] - comp.y_test
    rmse = np.sqrt(np.mean(resid ** 2))
    print(f"{r.spec:24s} linear R² {100 * r.scores['linear']:.1f} %  RMSE {rmse:.1f} °C   "
          f"MLP R² {100 * r.scores['mlp']:.1f} %")
    t_mean, p_mean = resid[tropics].mean(), resid[poleward].mean()
    flat = t_mean < -1 and p_mean > 1
    print(f"{'':24s} mean residual: tropics (|lat| < 23.5°) {t_mean:+.1f} °C, poleward of 50° {p_mean:+.1f} °C"
          + (": too cold in the tropics, too warm towards the poles — it flattens the pole-to-equator gradient"
             if flat else ": no pole-to-equator bias beyond 1 °C"))
show(maps_figure(comp, "linear"))

# %% [markdown]
# Look for *structure* in the residuals, not only their size. The mean residual per latitude
# band (printed above the maps) catches the largest kind: an encoder whose residuals are
# negative (blue) across the tropics and positive (red) towards the poles flattens the
# pole-to-equator gradient, the largest feature of the map. A band of one colour along a
# mountain range or a coast would mean the encoder cannot draw that feature at this scale.

# %% [markdown]
# ## 4 · What scale does an encoder resolve?
#
# A checkerboard of cell size c (90°, 45°, … 1°) is a task with a known scale. For cells of
# 22.5° and smaller the points are drawn in a box of 16 × 16 cells, so the probe sees about
# the same number of points per cell at every fine scale. We fit the linear probe on the
# frozen features and plot test accuracy (chance is 50 %) against cell size. The **resolved
# scale** is the smallest cell down to which accuracy stays at or above 75 % (halfway between
# chance and perfect): one absolute threshold for every encoder, so a curve that lies lower at
# every cell never resolves finer. Image-derived models (the Blue Marble models, GeoCLIP) are
# tested on land only, where their imagery varies; `sh:L` and `raw` globally. (The Smoothness
# tab's f_max = 180°/(2L) is a property of the SH basis in one direction; a checkerboard cell c
# needs degree ≈ 360°/c, so Linear(SH L) resolves about 360°/L = 4 × f_max.) A task whose
# structure is finer than an encoder's resolved scale needs another encoder (or a non-linear
# probe, or a model trained on the task).

# %%
BOARD = dict(n=600, regions=1, anchors=100) if SMALL else dict(n=1500, regions=3, anchors=300)
res = [resolution_diagnostics(e, siren_L=0, cache=cache, **BOARD) for e in ENCODERS]
for r in res:
    acc = ", ".join(f"{c:g}° {100 * a:.0f} %" for c, a in zip(r.cells, r.accuracy))
    scale = f"{r.resolved_scale:.0f}°" if np.isfinite(r.resolved_scale) else "no board (below 75 % even at 90°)"
    print(f"{r.encoder:24s} resolved scale: {scale}\n{'':24s} {acc}")
show(plot_resolution_comparison(res))

# the two panels side by side: how fast the features change, how well a linear probe draws a board
D_KM = 1000
sim_at = {r.encoder: float(np.interp(D_KM, r.distances_km, r.sim_median)) for r in res}
lift = {r.encoder: 100 * (max(r.accuracy) - 0.5) for r in res}    # best checkerboard accuracy above chance
print(f"\nmedian cosine similarity at {D_KM:,} km:",
      ", ".join(f"{SHORT.get(e, e)} {v:.2f}" for e, v in sim_at.items()))
print("best checkerboard accuracy above chance (points):",
      ", ".join(f"{SHORT.get(e, e)} {v:+.0f}" for e, v in lift.items()))
fastest = min(sim_at, key=sim_at.get)
flattest = sorted(lift, key=lift.get)[:2]
print(f"fastest-changing features: {fastest}; flattest checkerboard curves: {', '.join(flattest)}"
      + (f" — {fastest} is both" if fastest in flattest else ""))

# %% [markdown]
# The right panel looks from the embedding's side: how similar (cosine) two points' features
# are against their distance. Raw (lon, lat) stays near 1 out to thousands of kilometres
# (nearby points are nearly parallel 2-vectors). The last lines above compare the two panels:
# where the encoder whose similarity falls fastest also has one of the flattest checkerboard
# curves, features that change quickly with distance are evidently not the same as features
# from which a *linear* probe can draw a given pattern. Read the two panels together.
#
# ## 5 · Choosing
#
# The cell below reads the answers to six questions off the numbers above, so they stay true
# for your encoders, tasks and run size (the small test run and the full run can differ):
#
# 1. **Start from the task's scale.** Temperature varies over thousands of kilometres, mostly
#    with latitude: how far do raw (lon, lat) and `sh:10` get, with which probe?
# 2. **Pretraining pays where appearance matters.** Which encoder wins each task under each
#    probe and split? A model pretrained on what the land looks like from above should help
#    most on climate zones.
# 3. **Report both probes.** Does the winner change with the probe? Published numbers that mix
#    probes differ by ten points or more for the same encoder (SatCLIP's tuned MLPs about 94 %
#    on biomes, RANGE's linear probe about 69 % for the same model).
# 4. **Judge on blocks** when you will predict where you have no data: which encoder loses
#    most from the random to the block split? Interpolating between nearby training points
#    is easier than extrapolating into unseen regions.
# 5. **A weak checkpoint is not a verdict on L.** Does the shipped `geoviz-bluemarble-l40`
#    lose even to raw (lon, lat)? If it does, that checkpoint is undertrained, and its low
#    scores say nothing about whether L = 40 itself helps: exercise 2 asks that question of
#    `sh:L`, where training plays no part.
# 6. **Resolution bounds what a linear probe can draw.** Does each encoder resolve about
#    360°/L, and does any resolve 10° cells?

# %%
cells = [(p, s) for p in PROBES for s in SPLITS]


def winner(task, probe, split):
    return max(ENCODERS, key=lambda e: pct(e, task, probe, split))


if {"raw", "sh:10"} <= set(ENCODERS) and "temperature" in TASKS:
    t = "temperature"
    print(f"1. {t}: raw (lon, lat) R² {pct('raw', t, 'linear', 'random'):.0f} % with the linear probe, "
          f"{pct('raw', t, 'mlp', 'random'):.0f} % with the MLP; sh:10 {pct('sh:10', t, 'linear', 'random'):.0f} % "
          f"with the linear probe alone (random split)")
print("2. winners:")
for task in TASKS:
    w = {c: winner(task, *c) for c in cells}
    if len(set(w.values())) == 1:
        print(f"   {task}: {next(iter(w.values()))} under both probes and both splits")
    else:
        print(f"   {task}: " + "; ".join(f"{p}/{s} {e}" for (p, s), e in w.items()))
changed = [(t, s) for t in TASKS for s in SPLITS if winner(t, "linear", s) != winner(t, "mlp", s)]
print("3. the winner changes with the probe on "
      + (", ".join(f"{t} ({s} split)" for t, s in changed) if changed else "no task"))
for task in TASKS:
    drop = {e: pct(e, task, "linear", "random") - pct(e, task, "linear", "blocks") for e in ENCODERS}
    worst = max(drop, key=drop.get)
    print(f"4. {task}, random → blocks (linear probe): {worst} loses most ({drop[worst]:.1f} points); "
          + ", ".join(f"{SHORT.get(e, e)} {d:.1f}" for e, d in drop.items()))
L40 = "geoviz-bluemarble-l40"
if {L40, "raw"} <= set(ENCODERS):
    for task in TASKS:
        lose = [(p, s) for p, s in cells if pct(L40, task, p, s) < pct("raw", task, p, s)]
        print(f"5. {task}: {L40} scores below raw (lon, lat) in {len(lose)} of {len(cells)} probe/split cells")
    lose_any = any(pct(L40, t, p, s) < pct("raw", t, p, s) for t in TASKS for p, s in cells)
    print("   " + ("an encoder that loses to two raw numbers is a weak, undertrained checkpoint: "
                   "this says nothing about L = 40 itself (exercise 2)" if lose_any
                   else f"{L40} beats raw (lon, lat) everywhere: no sign of a weak checkpoint"))
for r in res:
    expect = f" (360°/L = {360 / r.legendre_polys:.0f}°)" if r.legendre_polys else ""
    scale = f"{r.resolved_scale:.0f}°" if np.isfinite(r.resolved_scale) else "nothing"
    print(f"6. {r.encoder}: resolves {scale}{expect}")
fine = [r.encoder for r in res if np.isfinite(r.resolved_scale) and r.resolved_scale <= 10]
print("   10° cells are resolved by " + (", ".join(fine) if fine else "no encoder here, with a linear probe"))

# %% [markdown]
# Untrained encodings are a serious baseline: check that a pretrained model beats `sh:L` at
# the same L before paying for it, and judge it on the split and with the probe you will use.
#
# ## Exercises
#
# 1. **A fine-scale task.** Add `"landcover"` to `TASKS` and rerun sections 2 and 4. Is the
#    ranking of the encoders the same as for temperature? Use the resolved scales to explain
#    what you see.
#
# <details><summary>Solution 1</summary>
#
# MODIS land cover changes over tens of kilometres (a forest edge, a city, a river valley),
# far finer than every resolved scale printed in section 4, so what any encoder can get is
# the large-scale part of land cover (deserts, boreal and tropical forest), which follows
# climate. So expect the ranking of the Köppen zones, not that of temperature: in a
# full-size run (measured before the equal-training-size protocol, so blocks then trained on
# more points, and with the former Blue Marble models) the linear probe ranks `geoviz-bluemarble-l10` first on land cover (62 % on
# the random split, 55 % on blocks), then `sh:10` (55 %, 47 %), as on Köppen, while on
# temperature `sh:10` wins. With the MLP, `sh:10` draws level with the L10 model on the
# random split (63 % each), but not on blocks (53 % against 58 %).
#
# ```python
# TASKS = ["temperature", "koppen", "countries", "landcover"]
# result = evaluate(ENCODERS, TASKS, probes=PROBES, splits=SPLITS, n=N, seeds=SEEDS, folds=FOLDS,
#                   epochs=EPOCHS, cache=cache)
# for probe in PROBES:
#     for split in SPLITS:
#         print(f"\n{probe} probe, {split} split")
#         print(score_table(probe, split).to_string())
# ```
#
# </details>
#
# 2. **Raise L.** Add `"sh:20"` and `"sh:40"` to `ENCODERS`. How does the resolved scale move
#    with L, and what happens to the linear probe on `countries`?
#
# <details><summary>Solution 2</summary>
#
# Spherical harmonics of degree below L cannot draw checkerboard cells much smaller than
# about 360°/L with a linear read-out (a board's fundamental needs degree ≈ 360°/c), so the
# resolved scale shrinks roughly as 1/L, near 360°/L = 36°, 18° and 9° for L = 10, 20 and
# 40; `sh:40` is the only encoder in this notebook that can resolve 10° cells. So a finer L does draw finer patterns, which is why a weak
# checkpoint says nothing about L itself (geoviz's former L = 40 model was one: it memorised
# its training places; `docs/pretrained.md` shows how a smoothness prior fixed it). On `countries`, more
# features make more borders drawable, but L = 40 has 1,600 features, more than the 1,000
# training points of a random split here (300 in the small run): in a full-size run (before
# the equal-training-size protocol) the
# linear probe gains from L = 10 to 20 on both splits (74 % → 83 % random, 63 % → 73 %
# blocks), L = 40 adds nothing on the random split (82 %) and falls below L = 10 on blocks
# (59 %): the block split is where overfitting shows first.
#
# ```python
# res_L = [resolution_diagnostics(e, siren_L=0, cache=cache) for e in ["sh:10", "sh:20", "sh:40"]]
# print([(r.encoder, round(r.resolved_scale, 1), round(360 / r.legendre_polys, 1)) for r in res_L])
# result_L = evaluate(["sh:10", "sh:20", "sh:40"], ["countries"], probes=("linear",), splits=SPLITS,
#                     n=N, seeds=SEEDS, folds=FOLDS, cache=cache)
# print(result_L.table("linear", "random"), result_L.table("linear", "blocks"), sep="\n")
# ```
#
# </details>
#
# 3. **Your own data.** Build an `EvalTask` from your own points and target and pass it with
#    `task_objects=[...]` to `evaluate`.
#
# <details><summary>Solution 3</summary>
#
# ```python
# from geoviz.evaluation import EvalTask
# my = EvalTask("mine", "regression", lonlat, y, "r2", units="mm")   # lonlat (N, 2) degrees, y (N,)
# res_my = evaluate(ENCODERS, tasks=[], task_objects=[my], splits=("random", "blocks"), n=len(y))
# print(res_my.table("linear", "blocks"))
# ```
#
# Use at least a few hundred points; with fewer, the block split's folds get small and the
# MLP's scores vary a lot between repetitions (look at the ± column).
#
# </details>
