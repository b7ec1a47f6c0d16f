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
# # 09 · Where on Earth is this?
#
# Notebook 05 used a pretrained location encoder as a feature extractor. But how was it
# pretrained? Like SatCLIP, geoviz's Blue Marble models learn from pairs (a place, the
# satellite image of that place) with a **contrastive** objective: in each batch of 256
# pairs, the image tower and the location tower must agree on which image goes with which
# place. That is a game of GeoGuessr played 256 times per step — and once trained, the
# model can play it against you.
#
# **Learning objectives.** After this notebook you can
#
# 1. explain the pretext task of contrastive location–image pretraining (InfoNCE) and why it
#    is a geolocation game;
# 2. turn the two towers into a probability map over the globe with `geoviz.geolocate`
#    (a softmax over 0.25° cells at the model's learned temperature, area-weighted);
# 3. score a geolocation in great-circle kilometres against chance, on patches from regions
#    the model never saw (held out *by region*);
# 4. say what a 4 km RGB model can and cannot know about an image.
#
# **Prerequisites.** Notebook 05 (location embeddings, cosine similarity); the softmax.
#
# **Run time.** Under a minute on a 2-core CPU (the 1° gallery of the model is embedded once,
# a few seconds; each query about a second). If the shipped models do not carry an image
# tower yet, the notebook trains a small one first (about 20 seconds) and says so.
#
# The same game is a dashboard tab (*Where on Earth?*) and a command line
# (`geoviz geolocate photo.png --top 5 -o where.png`).

# %% tags=["parameters"]
import os

# The test suite sets GEOVIZ_NOTEBOOK_SMALL=1: fewer rounds, a smaller fallback model.
SMALL = os.environ.get("GEOVIZ_NOTEBOOK_SMALL", "0") == "1"

MODEL = os.environ.get("GEOVIZ_NOTEBOOK_MODEL", "geoviz-bluemarble-l10")  # or -l40, or a model file
ROUNDS = 3 if SMALL else 8

# %%
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Image, display

from geoviz import render
from geoviz.geolocation import (WHAT_IT_CAN_KNOW, GeoGame, chance_within, geolocate, geolocation_map,
                              load_geolocator, train_small_model)


def show(fig, dpi=80):
    """Show a Matplotlib figure as a PNG (works whatever backend a library has selected)."""
    display(Image(render.figure_png(fig, dpi=dpi)))


try:
    geo = load_geolocator(MODEL)
    print(f"using {geo.name}: learned scale s = {geo.logit_scale:.1f}")
except ValueError as exc:  # the shipped file has no image tower (yet)
    print(f"{MODEL} cannot play: {exc}\n")
    path = Path(tempfile.mkdtemp()) / "small-model.safetensors"
    print("Training a small model instead (tiny L, a few dozen steps): its answers will be poor, "
          "but every step below works the same way.")
    train_small_model(path, legendre_polys=8, hidden_dim=64, steps=20 if SMALL else 60, batch_size=64)
    geo = load_geolocator(path)
    print(f"using {geo.name}: learned scale s = {geo.logit_scale:.1f}")

# %% [markdown]
# ## 1. The pretext task
#
# For a batch of B places x₁…x_B and their image patches I₁…I_B, the location tower f and
# the image tower g give unit vectors; the logits are `s · cos(f(xᵢ), g(Iⱼ))` with a
# **learned** scale s (an inverse temperature, at most 100). InfoNCE is the cross-entropy of
# "patch j comes from place j" among the B places, and of "place i shows patch i" among the
# B patches. Asked for *every* place on Earth instead of the B of a batch, the same softmax is
# a probability map:
#
# p(cell) ∝ area(cell) · exp(s · cos(f(cell), g(I)))
#
# over 0.25° cells (area ∝ cos lat, so the prior is uniform on the sphere, not on the map).
# `geolocate` computes it coarse-to-fine: the 1° gallery once per model, then the 4 × 4
# sub-cells of every 1° cell within 12 logits of the best.

# %%
from geoviz.data.imagery import blue_marble_patch

sahara = blue_marble_patch(np.array([[25.0, 23.0]]), 3.0, geo.pixels)[0]
res = geolocate(sahara, geo, top_k=5)
print("top places (lon, lat, probability within 125 km):")
for q in res.top:
    print(f"  {q.lon:8.2f} {q.lat:7.2f}  {q.probability:.3f}")
print(f"probability sums to {res.probability.sum():.6f}; mass outside the refined cells: {res.mass_outside:.1e}")
print(f"top place is {res.error_km(25.0, 23.0):,.0f} km from the truth (25°E, 23°N); query {res.seconds:.2f} s")
show(geolocation_map(res, truth=(25.0, 23.0), title="A 3° patch of the Sahara: where on Earth?"))
display(Image(render.png_bytes(render.resize_nearest(sahara, 144, 144))))

# %% [markdown]
# The map is a **distribution**, not one answer: a desert patch can match every desert of
# similar colour (the Arabian peninsula, Australia's interior), and several peaks are the
# honest answer for 24 pixels of sand-coloured Blue Marble. The probability of a *place* is the mass within 125 km of it,
# and the places are peaks at least 250 km apart.

# %% [markdown]
# ## 2. Play a few rounds on held-out regions
#
# `GeoGame` draws patches only from the 15° cells that pretraining never touched (10 % of
# them), so neither the model nor a memorised neighbour has seen them. Here the "player"
# guesses the centre of the continent the patch looks most like — replace `my_guess` with
# your own clicks in the dashboard.

# %%
game = GeoGame(geo, seed=2028)


def my_guess(rnd):
    """A naive player: always 'somewhere in central Africa'."""
    return 20.0, 5.0


for _ in range(ROUNDS):
    rnd = game.new_round()
    out = game.guess(*my_guess(rnd))
    print(f"round {rnd.index + 1}: truth ({rnd.lon:7.2f}, {rnd.lat:6.2f})  you {out.user_km:8,.0f} km  "
          f"model {out.model_km:8,.0f} km  -> {out.winner}")
print(game.score())
last = game.rounds[-1]
show(geolocation_map(last.result, truth=(last.round.lon, last.round.lat), guess=last.guess,
                     title=f"round {last.round.index + 1}: the model's map, the truth (star), the guess (x)"))

# %% [markdown]
# ## 3. Against chance
#
# A guess uniform on the sphere lands within r of the truth with probability
# `(1 − cos(r/R)) / 2`: 0.35 % within 750 km, 3.8 % within 2,500 km. The results page
# `docs/results/geolocation.md` reports the shipped models' accuracy at 25 / 200 / 750 /
# 2,500 km on 1,000 held-out patches beside this and a uniform guess over land.

# %%
for r in (25, 200, 750, 2500):
    print(f"uniform on the sphere, within {r:>5,} km: {100 * float(chance_within(r)):.3f} %")
errs = np.array([x.model_km for x in game.rounds])
print(f"the model in these {len(errs)} rounds: within 2,500 km in {np.mean(errs <= 2500) * 100:.0f} % "
      f"(far too few rounds to say more)")

# %% [markdown]
# ## 4. What it can know
#
# An uploaded photo goes through the same pipeline (centre-cropped to a square, shrunk to
# 24 × 24 pixels), so read its map with this in mind:

# %%
print(WHAT_IT_CAN_KNOW)

# %% [markdown]
# ## Exercises
#
# 1. **The temperature.** Call `geo.locate(...)` on the Sahara patch's embedding
#    (`geo.embed_images(sahara)[0]`) after setting `geo.logit_scale` to 5 and to 100. What
#    happens to the top place's probability and to `mass_outside`, and why does the learned
#    scale matter for a calibrated map?
#
# <details><summary>Solution 1</summary>
#
# The logits are s · cos, so s sharpens or flattens the same ranking: at s = 5 the logits
# span at most 10 (cosines lie in [−1, 1]), spread over a million cells, so the map is broad,
# the top place holds little mass and many 1° cells lie within 12 logits of the best (up to
# the refinement budget: `mass_outside` grows); at s = 100 almost all mass sits in a few
# cells, few 1° cells are within 12 logits, and `mass_outside` is tiny. The ranking, and so the top place, does not change. Only the
# learned s, fitted by the contrastive loss, makes the probabilities mean what they say
# (a softmax at the training temperature is the model's own estimate).
#
# ```python
# e = geo.embed_images(sahara)[0]
# s0 = geo.logit_scale
# for s in (5.0, 100.0):
#     geo.logit_scale = s
#     r = geo.locate(e)
#     print(s, r.best, f"{r.mass_outside:.1e}")
# geo.logit_scale = s0
# ```
#
# </details>
#
# 2. **Land versus ocean.** Play 30 rounds of `GeoGame(geo, seed=1, land_fraction=0.0)` (patches
#    drawn uniformly on the sphere, so most are ocean) and compare the model's median error on
#    the rounds whose patch is centred on land (`rnd.land`) with the others. Where is the model
#    better, and why?
#
# <details><summary>Solution 2</summary>
#
# Open ocean is nearly the same dark blue everywhere, so an ocean patch tells the model little
# beyond "ocean, maybe this latitude band" (sea ice, a coast in the corner): its map spreads
# over whole basins and the errors are thousands of km. Land patches carry colour and texture
# (desert, forest, tundra) that vary with climate, so expect smaller errors on land (30 rounds
# give a noisy median: `docs/results/geolocation.md` splits 1,000 patches by land and ocean).
#
# ```python
# g = GeoGame(geo, seed=1, land_fraction=0.0)
# for _ in range(30):
#     g.new_round()
#     g.guess(0.0, 0.0)
# for where in (True, False):
#     errs = [r.model_km for r in g.rounds if r.round.land == where]
#     print("land" if where else "ocean", len(errs), f"{np.median(errs):,.0f} km")
# ```
#
# </details>
