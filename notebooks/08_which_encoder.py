# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
# probe on frozen embeddings, why hold out regions); ridge and logistic regression. About
# 4 minutes on a 2-core CPU (about a minute in small mode).
#
# The same comparison is a dashboard tab (*Compare encoders*) and a command line
# (`geoviz evaluate --encoders geoviz-bluemarble-l10,sh:10,raw --tasks temperature,koppen`).

# %% tags=["parameters"]
import os

# The test suite sets GEOVIZ_NOTEBOOK_SMALL=1: fewer points, repetitions and epochs.
# Leave it unset for the full-size run (a few minutes on a laptop CPU).
SMALL = os.environ.get("GEOVIZ_NOTEBOOK_SMALL", "0") == "1"

# Encoders to compare (specs of geoviz.evaluation.get_encoder): pretrained names, "sh:L",
# positional encodings ("wrap", "theory", ...), "raw", or a SatCLIP checkpoint path.
# "geoclip" works too when installed, but is slow on a CPU (~13 s per 10,000 points).
ENCODERS = ["geoviz-bluemarble-l10", "geoviz-bluemarble-l40", "sh:10", "raw"]
TASKS = ["temperature", "koppen", "countries"]

# %%
import numpy as np
from IPython.display import Image, display

from geoviz.app.compare_tab import compare_encoders, figure_png, maps_figure
from geoviz.evaluation import EmbeddingCache, evaluate, get_eval_task
from geoviz.evaluation.resolution import plot_resolution_comparison, resolution_diagnostics

N = 600 if SMALL else 2000          # points per task (half train, half test in the random split)
SEEDS = 1 if SMALL else 3           # repetitions of the random split
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
# * the **MLP probe**: two hidden ReLU layers of 64, Adam, full batch (SatCLIP's recipe). It
#   can bend the features, so it gets more out of weak ones.
#
# and scores them on a **random** 50/50 split and on **spatial blocks** (10° cells, K-fold:
# the test points lie in blocks that have no training points).

# %%
result = evaluate(ENCODERS, TASKS, probes=("linear", "mlp"), splits=("random", "blocks"), n=N, seeds=SEEDS,
                  folds=FOLDS, epochs=EPOCHS, cache=cache)
for probe in ("linear", "mlp"):
    for split in ("random", "blocks"):
        print(f"\n{probe} probe, {split} split (mean ± std; R² or accuracy %; * best)")
        print(result.table(probe, split))
print("\ntime (s):", {k: round(v, 1) for k, v in result.timings.items()})

# %% [markdown]
# The same numbers as heat maps (bold: the best encoder of each task):

# %%
show(result.figure())


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
def mean(enc, task, probe, split):
    return result.get(enc, task, probe, split).mean


for (probe, split), winners in result.wins().items():
    print(f"{probe:6s} {split:6s} best:", ", ".join(f"{t} → {e}" for t, e in winners.items()))
print()
for task in TASKS:
    gaps = {e: mean(e, task, "mlp", "random") - mean(e, task, "linear", "random") for e in ENCODERS}
    drop = {e: mean(e, task, "linear", "random") - mean(e, task, "linear", "blocks") for e in ENCODERS}
    print(f"{task:12s} MLP − linear (random):", ", ".join(f"{e} {g:+.2f}" for e, g in gaps.items()))
    print(f"{'':12s} random − blocks (linear):", ", ".join(f"{e} {d:+.2f}" for e, d in drop.items()))

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
for r in comp.runs:
    rmse = np.sqrt(np.mean((r.predictions["linear"] - comp.y_test) ** 2))
    print(f"{r.spec:24s} linear R² {r.scores['linear']:.3f}  RMSE {rmse:.1f} °C   MLP R² {r.scores['mlp']:.3f}")
show(maps_figure(comp, "linear"))

# %% [markdown]
# Look for *structure* in the residuals, not only their size. `geoviz-bluemarble-l40`'s are
# blue across the tropics and red towards the poles: its linear probe flattens the
# pole-to-equator gradient, the largest feature of the map. `sh:10`'s residuals are small and
# show no continent-wide pattern. A band of one colour along a mountain range or a coast would
# mean the encoder cannot draw that feature at this scale.

# %% [markdown]
# ## 4 · What scale does an encoder resolve?
#
# A checkerboard of cell size c (90°, 45°, … 1°) is a task with a known scale. For cells of
# 22.5° and smaller the points are drawn in a box of 16 × 16 cells, so the probe sees about
# the same number of points per cell at every fine scale. We fit the linear probe on the
# frozen features and plot test accuracy (chance is 50 %) against cell size. The **resolved
# scale** is where accuracy falls below halfway between chance and its best. A task whose
# structure is finer than an encoder's resolved scale needs another encoder (or a non-linear
# probe, or a model trained on the task).

# %%
BOARD = dict(n=600, regions=1, anchors=100) if SMALL else dict(n=1500, regions=3, anchors=300)
res = [resolution_diagnostics(e, siren_L=0, cache=cache, **BOARD) for e in ENCODERS]
for r in res:
    acc = ", ".join(f"{c:g}° {100 * a:.0f}%" for c, a in zip(r.cells, r.accuracy))
    scale = f"{r.resolved_scale:.0f}°" if np.isfinite(r.resolved_scale) else "nothing (never clearly above chance)"
    print(f"{r.encoder:24s} resolved scale: {scale}\n{'':24s} {acc}")
show(plot_resolution_comparison(res))

# %% [markdown]
# The right panel looks from the embedding's side: how similar (cosine) two points' features
# are against their distance. Raw (lon, lat) stays near 1 out to thousands of kilometres
# (nearby points are nearly parallel 2-vectors). `geoviz-bluemarble-l40`'s similarity falls
# fastest of all, yet its checkerboard curve is among the flattest: features that change
# quickly with distance are not the same as features from which a *linear* probe can draw a
# given pattern. Read the two panels together.
#
# ## 5 · Choosing
#
# What the numbers above say (both the small and the full-size run agree on these):
#
# * **Start from the task's scale.** Temperature varies over thousands of kilometres, mostly
#   with latitude: even raw (lon, lat) reaches R² above 0.9 once the MLP can bend it, and
#   `sh:10` gets there with the linear probe alone.
# * **Pretraining pays where appearance matters.** `geoviz-bluemarble-l10`, trained on what
#   the land looks like from above, wins the Köppen zones under both probes and both splits;
#   on countries it wins with the linear probe on the random split, while `sh:10` wins with
#   the MLP.
# * **Report both probes.** The winner on countries changes with the probe. Published numbers
#   that mix probes differ by ten points or more for the same encoder (SatCLIP's tuned MLPs
#   about 94 % on biomes, RANGE's linear probe about 69 % for the same model).
# * **Judge on blocks** when you will predict where you have no data. From random to blocks
#   the pretrained L10 model loses more on temperature than `sh:10`: it interpolates well
#   between nearby training points, but extrapolates less smoothly into unseen regions.
# * **Finer is not automatically better.** `geoviz-bluemarble-l40` scores below the L10 model
#   on every task, probe and split here, its checkerboard curve stays barely above chance,
#   and on temperature the MLP gains more on it than on any encoder but raw: with a few
#   hundred to a thousand training points its features are hard to read out.
# * **Resolution bounds what a linear probe can draw.** `sh:10` resolves about 360°/L = 36°
#   (its printed resolved scale); no encoder here resolves 10° cells with a linear probe
#   (every curve is near chance from 10° down). Untrained encodings are a serious baseline:
#   check that a pretrained model beats `sh:L` at the same L before paying for it.
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
# climate. Check whether the ranking follows the Köppen one (the land-cover zones that an
# encoder can draw are climate zones) and whether the MLP's gain over the linear probe is
# larger than on temperature.
#
# ```python
# TASKS = ["temperature", "koppen", "countries", "landcover"]
# result = evaluate(ENCODERS, TASKS, splits=("random", "blocks"), n=N, seeds=SEEDS, folds=FOLDS,
#                   epochs=EPOCHS, cache=cache)
# print(result.table("linear", "blocks"))
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
# resolved scale should shrink roughly as 1/L: compare each printed scale with 360°/L. On
# `countries`, more features make more borders drawable, but L = 40 has 1,600 features, more
# than the training points of the small run: look at the block split, where overfitting
# shows first, and at how the ridge probe's cross-validated regularisation copes.
#
# ```python
# res = [resolution_diagnostics(e, siren_L=0, cache=cache) for e in ["sh:10", "sh:20", "sh:40"]]
# [(r.encoder, round(r.resolved_scale, 1), round(360 / r.legendre_polys, 1)) for r in res]
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
