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
# # 02 · Spherical harmonics and the resolution knob $L$
#
# Spherical harmonics $Y_l^m$ are the Fourier basis of the sphere: every smooth function on
# the globe is a sum $f(\lambda, \varphi) = \sum_{l \ge 0} \sum_{m=-l}^{l} w_l^m Y_l^m(\lambda, \varphi)$.
# Keeping the degrees $l < L$ gives $L^2$ features: the `sphericalharmonics` positional
# encoding with `legendre_polys=L`.
#
# **Learning objectives.** After this notebook you can
#
# 1. read a spherical harmonic's degree $l$ (number of nodal lines) and order $m$ (how many
#    of them run north–south) off a globe;
# 2. check numerically that the harmonics are orthonormal on the sphere;
# 3. explain the difference between **Linear(SH)** (a weighted sum of harmonics, exactly the
#    formula above) and **Siren(SH)** (a sine network on top of the harmonics);
# 4. predict from $L$ the finest detail Linear(SH) can draw, $f_{\max} = 180^\circ / (2L)$, and
#    recognise the progression constant → continents → ringing as $L$ grows.
#
# **Prerequisites.** Notebook 01 (training a location encoder on land–ocean); Fourier series
# in one dimension help but are not required.
#
# **Run time.** Run All at full size: ½ to 1½ minutes on a 2-core CPU from a cold cache (the
# upper end with other programs competing for the cores).

# %% tags=["parameters"]
import os

# The test suite sets GEOVIZ_NOTEBOOK_SMALL=1: fewer epochs, coarser grids, smaller samples.
# Leave it unset for the full-size run (see the run time above).
SMALL = os.environ.get("GEOVIZ_NOTEBOOK_SMALL", "0") == "1"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import holoviews as hv
import panel as pn

from geoviz import viz
from geoviz.data import fibonacci_lattice, get_task, regular_grid
from geoviz.encoders import sh_index, spherical_harmonics
from geoviz.training import TrainConfig, Trainer

hv.extension("bokeh", inline=True)   # inline JavaScript: the saved outputs render without internet
pn.extension(inline=True)            # HoloViews objects are shown through pn.panel(...) for the same reason

GRID_RES = 4.0 if SMALL else 1.0
GALLERY_L = 4                               # degrees 0..3 in the gallery
EPOCHS = 15 if SMALL else 150
LINEAR_EPOCHS = 60 if SMALL else 150         # Linear(SH) is cheap; fewer epochs leave it unconverged
L_VALUES = [1, 3, 10] if SMALL else [1, 3, 10, 30]

# %% [markdown]
# ## 1 · A gallery of the basis
#
# Column `l*l + l + m` of `spherical_harmonics(lonlat, L)` holds $Y_l^m$ (`sh_index(l, m)`).
# Row $l$ of the gallery shows its $2l + 1$ orders: $m = 0$ (centre) is *zonal*, it depends only
# on latitude; $|m| = l$ is *sectoral*, its sign changes only with longitude; the rest are
# *tesseral* patches. Red is positive, blue negative.

# %%
grid = regular_grid(GRID_RES)
Y = spherical_harmonics(grid.lonlat, legendre_polys=GALLERY_L)     # (H*W, L^2) float64
vmax = np.abs(Y).max()
print("features:", Y.shape, "| largest |Y|: %.3f" % vmax)

fig, axes = plt.subplots(GALLERY_L, 2 * GALLERY_L - 1, figsize=(12, 6.2))
for ax in axes.ravel():
    ax.axis("off")
for l in range(GALLERY_L):
    for m in range(-l, l + 1):
        field = viz.GridField(Y[:, sh_index(l, m)], grid.shape, cmap="RdBu_r", clim=(-vmax, vmax))
        ax = axes[l, GALLERY_L - 1 + m]
        ax.imshow(viz.render_globe(field, lon0=20, lat0=25, size=120))
        ax.set_title(f"l={l}, m={m}", fontsize=9)
plt.tight_layout()
plt.show()


# %% [markdown]
# **Live widget.** Pick a harmonic and rotate the globe with the sliders (or drag it) in a
# running notebook; clicking prints the location.

# %%
def harmonic_field(k):
    return viz.GridField(Y[:, k], grid.shape, cmap="RdBu_r", clim=(-vmax, vmax))


globe = viz.Globe(harmonic_field(sh_index(2, 1)), size=320, lat0=30)
options = {f"l={l}, m={m}": sh_index(l, m) for l in range(GALLERY_L) for m in range(-l, l + 1)}
choice = pn.widgets.Select(label="harmonic", options=options, value=sh_index(2, 1))
choice.param.watch(lambda event: globe.set_field(harmonic_field(event.new)), "value")
pn.Column(choice, globe.view())

# %% [markdown]
# ## 2 · Orthonormal on the sphere
#
# $\int Y_i Y_j \, d\Omega = \delta_{ij}$. With $n$ points spread evenly over the sphere (a
# Fibonacci lattice), the Gram matrix $\frac{4\pi}{n} Y^\top Y$ should be close to the identity.

# %%
pts = fibonacci_lattice(20000 if SMALL else 100000)
Yp = spherical_harmonics(pts, legendre_polys=10)
gram = 4 * np.pi / len(pts) * Yp.T @ Yp
print("L=10 (100 features): max |Gram - I| = %.1e" % np.abs(gram - np.eye(len(gram))).max())

# %% [markdown]
# ## 3 · Linear(SH) versus Siren(SH)
#
# `Linear(SH)` learns one weight per harmonic, so it can only draw functions made of degrees
# below $L$: smooth, with ripples near sharp edges (the Gibbs phenomenon). `Siren(SH)` feeds the
# same 100 features through sine layers; products of harmonics contain higher degrees than the
# input, so it draws sharper coastlines from the same $L$.

# %%
task = get_task("landocean")


def train(nn, L, epochs=EPOCHS, **nn_kwargs):
    """Train nn(SH with legendre_polys=L) on land-ocean; returns (trainer, prediction on the grid)."""
    linear = nn == "linear"
    cfg = TrainConfig(pe="sphericalharmonics", nn=nn, pe_kwargs={"legendre_polys": L}, nn_kwargs=nn_kwargs,
                      lr=1e-2 if linear else 1e-3, weight_decay=0.0 if linear else 1e-4, max_epochs=epochs,
                      patience=None, dtype="float32", device="cpu", seed=0)
    trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=epochs)
    *_, last = trainer.run()
    return trainer, last.prediction


lin, lin_map = train("linear", 10, epochs=LINEAR_EPOCHS)
sir, sir_map = train("siren", 10, hidden_dim=64, num_layers=2)
panels = [viz.flat_map(p, grid.shape, title=f"{name}, L=10: test accuracy {tr.evaluate('test')['accuracy']:.3f}",
                       width=460, height=230, label="P(land)")
          for name, tr, p in [("Linear(SH)", lin, lin_map), ("Siren(SH)", sir, sir_map)]]
pn.panel(hv.Layout(panels).cols(2))

# %% [markdown]
# ## 4 · $L$ controls smoothness
#
# The highest degree $L-1$ has about $L$ wavelengths around a great circle, so the smallest
# feature Linear(SH) can represent is about half a wavelength,
# $f_{\max} = 180^\circ / (2L)$ (Rußwurm et al., 2024): $L=3$ gives 30°, $L=10$ gives 9°,
# $L=30$ gives 3°. This bounds **Linear(SH)** only, because its output is a sum of the
# harmonics themselves. **Siren(SH)** multiplies and composes them through sine layers, which
# creates frequencies above degree $L-1$, so it can draw detail finer than $f_{\max}$.
#
# Below, each row is one $L$: Linear(SH) on the left, Siren(SH) on the right, both trained the
# the same way (Adam with 2,000-point batches, lr 1e-2 for Linear and 1e-3 for Siren), each
# map titled with its test accuracy on the 51,156-point grid. Read the Linear column from top to bottom:
# $L=1$ is a single constant (the land fraction, 0.28, everywhere); $L=3$ only a
# hemisphere-scale tilt (more land in the north and over Eurasia–Africa than over the
# Pacific); $L=10$ blurry but recognisable continents; $L=30$ sharper coasts, with ripples
# over the oceans around them (ringing, the Gibbs phenomenon of a truncated series). Siren(SH)
# already draws sharp continents at $L=3$.

# %%
rows, maps = [], {}
for L in L_VALUES:
    for name, nn, kw in [("Linear(SH)", "linear", {}), ("Siren(SH)", "siren", {"hidden_dim": 64, "num_layers": 2})]:
        tr, maps[name, L] = train(nn, L, epochs=LINEAR_EPOCHS if nn == "linear" else EPOCHS, **kw)
        rows.append({"L": L, "network": name, "features L^2": L * L, "f_max (deg)": viz.f_max_deg(L),
                     "f_max at the equator (km)": round(viz.f_max_deg(L) * 111.2),
                     "test accuracy": tr.evaluate("test")["accuracy"]})
sweep = pd.DataFrame(rows).set_index(["L", "network"])
sweep.round(3)

# %%
from geoviz.viz.coastlines import coastline_paths

coasts = coastline_paths(simplify=0.3)
fig, axes = plt.subplots(len(L_VALUES), 2, figsize=(13, 3.5 * len(L_VALUES)), squeeze=False, layout="constrained")
for r, L in enumerate(L_VALUES):
    for c, name in enumerate(["Linear(SH)", "Siren(SH)"]):
        ax = axes[r, c]
        im = ax.imshow(maps[name, L].reshape(grid.shape), extent=(-180, 180, -90, 90), origin="upper",
                       cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        for path in coasts:
            ax.plot(path[:, 0], path[:, 1], color="white", lw=0.5)
        acc = sweep.loc[(L, name), "test accuracy"]
        ax.set_title(f"{name}, L={L} ({L * L} features, f_max {viz.f_max_deg(L):.1f}°): test accuracy {acc:.3f}",
                     fontsize=11)
        ax.set_xticks(range(-180, 181, 60))
        ax.set_yticks(range(-90, 91, 30))
        ax.tick_params(labelsize=9)
        ax.set_xlim(-180, 180)
        ax.set_ylim(-90, 90)
fig.colorbar(im, ax=axes, shrink=0.5, label="P(land)")
plt.show()

# %%
acc = sweep["test accuracy"].unstack("network")
pn.panel((hv.Curve((acc.index, acc["Linear(SH)"]), "L", "test accuracy", label="Linear(SH)") *
          hv.Curve((acc.index, acc["Siren(SH)"]), "L", "test accuracy", label="Siren(SH)")).opts(
    hv.opts.Curve(width=520, height=300, line_width=3, logx=True, tools=["hover"]),
    hv.opts.Overlay(title="test accuracy against L", legend_position="bottom_right")))

# %% [markdown]
# ## Exercises
#
# 1. **Counting sign changes.** Which harmonic in the gallery changes sign most often along
#    the equator, and how often? Relate the count to $m$.
#
# <details><summary>Solution 1</summary>
#
# Along a parallel, $Y_l^m \propto \cos(m\lambda)$ or $\sin(|m|\lambda)$, which changes sign
# $2|m|$ times around the circle. In the gallery ($l \le 3$) the sectoral harmonics
# $Y_3^{\pm 3}$ change sign most often: 6 times along the equator. Zonal harmonics ($m=0$)
# never change sign along a parallel; their $l$ nodal lines are all parallels of latitude. On the
# equator itself, harmonics with $l + m$ odd vanish everywhere, so pick a parallel slightly off
# the equator to count them.
#
# </details>
#
# 2. **Siren beyond $f_{\max}$.** In the sweep, compare Siren(SH) and Linear(SH) at $L=3$. Can
#    the sine network draw detail finer than $f_{\max} = 30^\circ$? What does that tell you
#    about the formula?
#
# <details><summary>Solution 2</summary>
#
# Yes: Siren(SH) at $L=3$ draws continents with recognisable outlines, far sharper than 30°,
# and its test accuracy is well above Linear(SH)'s at the same $L$. The sine layers multiply
# harmonics, and products of degree-$l$ harmonics contain degrees up to the sum of theirs,
# so the network's output has frequencies well above $L-1$. $f_{\max}$ bounds the *encoding
# read linearly*, not what a non-linear network builds on top of it. The flip side: Siren at
# large $L$ has so many high frequencies available that it can fit noise (compare its
# accuracy at $L=30$ with $L=10$).
#
# </details>
#
# 3. **No gradient descent.** Fit Linear(SH) by least squares of the land indicator on the
#    features over a Fibonacci lattice (`np.linalg.lstsq`, the cell below). Compare with the
#    trained map. Where do values outside [0, 1] come from?
#
# <details><summary>Solution 3</summary>
#
# Least squares on an evenly spread lattice is (up to quadrature error) the projection of the
# land indicator onto the first $L^2$ harmonics: the truncated spherical-harmonic series. A
# truncated series of a step function overshoots on both sides of the step, by about 9 % of
# the jump, whatever $L$ (the Gibbs phenomenon): values below 0 off the coasts and above 1
# inland. The trained Linear(SH) passes the same sum through a sigmoid and is fitted with
# cross-entropy, so its values stay in (0, 1), but the ripples remain visible as bands
# around the coasts.
#
# </details>

# %%
# Exercise 3, a starting point: the least-squares Linear(SH) fit of the land indicator
L = 10
pts_fit = fibonacci_lattice(20000)
coef, *_ = np.linalg.lstsq(spherical_harmonics(pts_fit, L), task.label_fn(pts_fit), rcond=None)
lstsq_map = spherical_harmonics(grid.lonlat, L) @ coef
print("least-squares Linear(SH) values range from %.2f to %.2f" % (lstsq_map.min(), lstsq_map.max()))
