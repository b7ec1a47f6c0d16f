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
# # 05 · Location embeddings: what a pretrained location encoder knows
#
# Notebooks 01–04 trained a location encoder for one task with labels. **SatCLIP**
# (Klemmer et al., 2024) pretrains one *without* labels: it plays GeoGuessr. A satellite
# image encoder and a location encoder Siren(SH) are trained contrastively (as CLIP does
# for images and text) so that the embedding of a location matches the embedding of the
# image taken there. Afterwards the location encoder alone turns any $(\lambda, \varphi)$
# into a 256-dimensional vector that summarises *what that place looks like from above*.
#
# geoviz ships its own small SatCLIP-style model, `geoviz-bluemarble-l10`, pretrained the
# same way on NASA Blue Marble image patches (so it runs offline). If you have a SatCLIP
# checkpoint, set `SATCLIP_CHECKPOINT` to its path; to download one (about 57 MB for ResNet18-L10),
# with your explicit consent, use
#
# ```python
# geoviz.pretrained.load_pretrained("satclip-resnet18-l10", download=True)
# ```
#
# **Learning objectives.** After this notebook you can
#
# 1. embed a global grid with a pretrained location encoder and show the embeddings as
#    colours (PCA → RGB), on a map and a globe;
# 2. cluster them with k-means, compare the clusters with Köppen climate zones by AMI, and
#    judge the result against a coordinates-only baseline;
# 3. find **places that look alike but are far apart**, the spatial-similarity confusions
#    that make these embeddings useful and sometimes misleading.
#
# **Prerequisites.** Notebooks 01–02 (location encoders, spherical harmonics); what PCA and
# k-means do.
#
# **Run time.** Run All at full size: under a minute on a 2-core CPU from a cold cache (later
# runs read the embeddings from the disk cache).

# %% tags=["parameters"]
import os

# The test suite sets GEOVIZ_NOTEBOOK_SMALL=1: fewer epochs, coarser grids, smaller samples.
# Leave it unset for the full-size run (see the run time above).
SMALL = os.environ.get("GEOVIZ_NOTEBOOK_SMALL", "0") == "1"

# Which pretrained location encoder to study: the embedded geoviz model by default;
# "geoclip" (shipped with the geoclip package) or a SatCLIP name also work.
MODEL_NAME = os.environ.get("GEOVIZ_NOTEBOOK_MODEL", "geoviz-bluemarble-l10")
# Path to a SatCLIP checkpoint (satclip-*.ckpt) if you have one; None skips SatCLIP.
SATCLIP_CHECKPOINT = os.environ.get("SATCLIP_CHECKPOINT")

# %%
import numpy as np
import pandas as pd
import holoviews as hv
import panel as pn
from IPython.display import display

from geoviz import figures, viz
from geoviz.analysis import SimilarityIndex, agreement_with_zones, kmeans_clusters, pca_rgb
from geoviz.data import lonlat_to_unit
from geoviz.data.imagery import blue_marble_patch
from geoviz.data.zones import KOPPEN_CODES, KOPPEN_OCEAN, koppen_zones
from geoviz.embed import embed_grid
from geoviz.pretrained import get_model_info, is_available, list_pretrained, load_pretrained, load_satclip

hv.extension("bokeh", inline=True)   # inline JavaScript: the saved outputs render without internet
pn.extension(inline=True)            # HoloViews objects are shown through pn.panel(...) for the same reason

SPACING = 4.0 if SMALL else 1.0          # grid cell size in degrees
KS = [8] if SMALL else [4, 8, 16]         # numbers of k-means clusters

# %% [markdown]
# ## 1 · The models
#
# `list_pretrained()` names every registered model; `is_available` says which ones load right
# now without a download.

# %%
pd.DataFrame([{"name": n, "available offline": is_available(n), "L": get_model_info(n).legendre_polys,
               "dim": get_model_info(n).embedding_dim, "description": get_model_info(n).description}
              for n in list_pretrained()]).set_index("name")

# %%
model = load_pretrained(MODEL_NAME)            # an eval-mode geoviz LocationEncoder
models = {MODEL_NAME: model}
if SATCLIP_CHECKPOINT:
    models["SatCLIP (" + os.path.basename(SATCLIP_CHECKPOINT) + ")"] = load_satclip(SATCLIP_CHECKPOINT)
print(model)

# %% [markdown]
# ## 2 · Embeddings as colours
#
# `embed_grid` evaluates the encoder at the centre of every grid cell (and caches the result on
# disk). Each cell gets a 256-d vector; PCA keeps the three directions of largest variance and
# maps them to red, green and blue, fitted on land cells. Similar colours = similar embeddings.

# %%
grids = {name: embed_grid(m, SPACING) for name, m in models.items()}
g = grids[MODEL_NAME]
land = koppen_zones(g.lonlat) != KOPPEN_OCEAN            # Köppen's own coastline
print("grid", g.shape, "-> embeddings", g.embeddings.shape, "| land cells:", int(land.sum()))
rgb = pca_rgb(g.embeddings, mask=land)                   # (H*W, 3) in [0, 1]
pn.panel(viz.flat_map(rgb, g.shape, kind="rgb", title=f"{MODEL_NAME}: first 3 principal components as RGB"))

# %% [markdown]
# **Live widget:** the same colours on a globe you can rotate (sliders or drag) in a running
# notebook.

# %%
globe = viz.Globe(viz.GridField(rgb, g.shape, kind="rgb"), size=360, lat0=20, lon0=20)
globe.view()

# %%
for name, grid in grids.items():            # the static figure for reports (and SatCLIP, if loaded)
    display(figures.pca_rgb_map_png(grid, land_only=True, dpi=100,
                                    title=f"{name}: PCA -> RGB (red, green, blue = principal components 1, 2, 3)"))

# %% [markdown]
# ## 3 · Clusters beside climate zones
#
# SatCLIP's authors observed that its embeddings "cluster well with biomes". Here we run
# k-means on the land embeddings and measure the agreement with the Köppen–Geiger climate
# zones (and MODIS land cover) by the *adjusted mutual information* (AMI: 0 = unrelated,
# 1 = the same partition up to renaming).
#
# A fair comparison needs a baseline: clusters of the **coordinates alone** (3-D unit
# vectors) already follow latitude, and climate does too. The embeddings are only
# informative beyond that if they beat this baseline.

# %%
xyz = lonlat_to_unit(g.lonlat)
rows = []
for k in KS:
    for source, feats in [("embeddings", g.embeddings), ("coordinates only (x, y, z)", xyz)]:
        labels = kmeans_clusters(feats, k, mask=land, seed=0)
        ami = agreement_with_zones(g.lonlat, labels, land=land)
        rows.append({"k": k, "clustered": source, "AMI Köppen": ami["koppen"], "AMI MODIS": ami["modis"]})
pd.DataFrame(rows).set_index(["k", "clustered"]).round(3)

# %%
display(figures.cluster_map_png(g, k=KS[-1], land_only=True, title=f"{MODEL_NAME}: k-means (k={KS[-1]})", dpi=100))

# legend of the Köppen map (right): the zones present on this grid
import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from geoviz.data.zones import koppen_colors

present = sorted(set(int(z) for z in koppen_zones(g.lonlat)) - {KOPPEN_OCEAN})
fig, ax = plt.subplots(figsize=(12, 1.4))
ax.axis("off")
ax.legend(handles=[Patch(color=koppen_colors(np.array([z]))[0] / 255, label=KOPPEN_CODES[z]) for z in present],
          loc="center", ncol=min(len(present), 15), fontsize=9, frameon=False, title="Köppen–Geiger zones")
plt.show()

# %% [markdown]
# ## 4 · Similar images, far apart
#
# A location embedding is close to another when the *images* there look alike, wherever they
# are. So deserts in Africa and Australia, or tundra in Canada and Siberia, get similar
# vectors. This breaks Tobler's first law ("near things are more related than distant
# things") on purpose, and it can confuse a downstream model that expects neighbours to be
# similar.
#
# For a few query places we search the whole grid for the most similar embedding **more than
# 3,000 km away** and compare their Köppen zones and their Blue Marble image patches.

# %%
index = SimilarityIndex(g, model=model)
queries = {"Sahara": (10.0, 23.0), "Amazon": (-62.0, -4.0), "Siberian taiga": (100.0, 62.0),
           "Australian outback": (133.0, -25.0), "Greenland ice": (-40.0, 72.0)}
if SMALL:
    queries = dict(list(queries.items())[:3])
unit = lonlat_to_unit(g.lonlat)
rows, pairs = [], []
for name, (lon, lat) in queries.items():
    sim = index.similarity_map(lonlat=(lon, lat))
    dist_km = 6371.0 * np.arccos(np.clip(unit @ lonlat_to_unit(np.array([[lon, lat]]))[0], -1, 1))
    far = np.where((dist_km > 3000) & land, sim, -np.inf)
    j = int(np.argmax(far))
    match = g.lonlat[j]
    zq, zm = koppen_zones(np.array([[lon, lat], match]))
    rows.append({"query": name, "query zone": KOPPEN_CODES[int(zq)], "most similar far away (lon, lat)":
                 f"({match[0]:.0f}, {match[1]:.0f})", "distance km": round(float(dist_km[j])),
                 "cosine": round(float(sim[j]), 3), "its zone": KOPPEN_CODES[int(zm)]})
    pairs.append((name, (lon, lat), tuple(match)))
pd.DataFrame(rows).set_index("query")

# %% [markdown]
# Expect both kinds of match: look-alikes in the same climate zone on another continent
# (the "its zone" column agrees), and true confusions, where only the colours agree (bright
# desert sand and ice both look pale from above). The image patches show what the encoder
# was shown during pretraining.

# %%
patches = blue_marble_patch(np.array([p for _, q, m in pairs for p in (q, m)]), size_deg=4.0, pixels=64)
panels = []
for i, (name, q, m) in enumerate(pairs):
    for j, (label, ll) in enumerate([(name, q), ("its far-away look-alike", m)]):
        panels.append(hv.RGB(patches[2 * i + j], bounds=(0, 0, 1, 1)).opts(
            title=f"{label} ({ll[0]:.0f}, {ll[1]:.0f})", xaxis=None, yaxis=None, width=200, height=200))
pn.panel(hv.Layout(panels).cols(4))

# %%
name, q, _ = pairs[0]
figures.similarity_map_png(g, q, model=model, index=index, top_k=5, title=f"cosine similarity to {name}", dpi=100)

# %% [markdown]
# ## Exercises
#
# 1. **A finer model.** Switch to `MODEL_NAME = "geoviz-bluemarble-l40"` (or SatCLIP L=40 if
#    you have it). How do the PCA colours and the AMI change? Relate it to
#    $f_{\max} = 180^\circ/(2L)$ from notebook 02.
#
# <details><summary>Solution 1</summary>
#
# With $L = 10$ the spherical-harmonic input resolves about $f_{\max} = 9^\circ$ (the network
# adds some finer detail, notebook 02), so the colours change smoothly over continents. With
# $L = 40$ ($f_{\max} = 2.25^\circ$) the encoder can separate regions four times smaller, so
# look for finer colour patches (mountain ranges, coastal strips). Whether the AMI rises
# depends on the zones: Köppen zones are large, so finer embeddings can only help along
# their boundaries; compare the AMI tables of the two models.
#
# </details>
#
# 2. **Your home town.** Add it to `queries`. Which far-away place does the model think looks
#    like it? Do you agree when you compare the image patches?
#
# <details><summary>Solution 2</summary>
#
# There is no single answer. Check two things: whether the Köppen zones of the pair agree (a
# look-alike in the same climate on another continent), and whether the image patches share
# only colour (e.g. bright sand and snow, dark forest and dark sea). The embedding was
# pretrained on 4-arc-minute Blue Marble colours, so it cannot tell apart places whose
# satellite colours match.
#
# </details>
#
# 3. **A fair baseline.** The AMI baseline used 3-D coordinates. Which *other* cheap baseline
#    would be fair (hint: notebook 02's spherical harmonics are features too)? Does the
#    embedding still win?
#
# <details><summary>Solution 3</summary>
#
# Cluster `spherical_harmonics(g.lonlat, legendre_polys=10)` (100 fixed features, no training,
# no images) with the same `kmeans_clusters` and compare the AMI. SH features describe position
# at the same resolution as the pretrained encoder's input, so the difference between the two
# rows is what the pretraining on images added beyond "where on Earth".
#
# ```python
# from geoviz.encoders import spherical_harmonics
# sh = spherical_harmonics(g.lonlat, legendre_polys=10)
# labels = kmeans_clusters(sh, KS[-1], mask=land, seed=0)
# agreement_with_zones(g.lonlat, labels, land=land)
# ```
#
# </details>
