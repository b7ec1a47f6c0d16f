"""Generate the teaching notebooks in ``notebooks/`` from the cell lists below.

The notebooks are written with their outputs cleared, ready to commit. Edit the cells
here, not in the ``.ipynb`` files, then run::

    .venv/bin/python scripts/make_notebooks.py           # (re)write notebooks/*.ipynb
    .venv/bin/python scripts/make_notebooks.py --check   # exit 1 if a notebook is stale

Every notebook starts with the same parameter cell: ``GEOVIZ_NOTEBOOK_SMALL=1`` in the
environment (what ``tests/test_notebooks.py`` sets) shrinks epochs, grids and sample sizes
so that each notebook runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"

Cell = tuple[str, str]  # ("md" | "code", source)


def md(src: str) -> Cell:
    return ("md", textwrap.dedent(src).strip("\n"))


def code(src: str) -> Cell:
    return ("code", textwrap.dedent(src).strip("\n"))


PARAMS = code(
    """
    import os

    # The test suite sets GEOVIZ_NOTEBOOK_SMALL=1: fewer epochs, coarser grids, smaller samples.
    # Leave it unset for the full-size run (a few minutes on a laptop CPU).
    SMALL = os.environ.get("GEOVIZ_NOTEBOOK_SMALL", "0") == "1"
    """
)

VIZ_SETUP = """
        hv.extension("bokeh", inline=True)   # inline JavaScript: the saved outputs render without internet
        pn.extension(inline=True)            # HoloViews objects are shown through pn.panel(...) for the same reason
"""

# --------------------------------------------------------------------------------------
# 01


NB01: list[Cell] = [
    md(
        """
        # 01 · A neural network as a map: land and ocean as an implicit neural representation

        **Idea.** A map is a *function over space*: give it a location $(\\lambda, \\varphi)$
        (longitude, latitude in degrees) and it returns a value, here "is this land?". Classical
        geostatistics builds that function by *interpolating* between observed points
        (kriging = Gaussian-process regression). An **implicit neural representation** instead
        *stores* the function in the weights of a small neural network, a **location encoder**
        $f(\\lambda, \\varphi) = \\mathrm{NN}(\\mathrm{PE}(\\lambda, \\varphi))$.

        In this notebook you will

        1. look at the land–ocean task (5,000 random training points on the sphere);
        2. fit a Gaussian process (kriging) with scikit-learn and *time* it as the number of
           points grows;
        3. train Siren(SH), a spherical-harmonic positional encoding followed by a sine-activated
           network, and watch the map appear epoch by epoch;
        4. compare the two on the 51,156-point equal-area test grid.

        Coordinates are always `(lon, lat)` in degrees, arrays of shape `(N, 2)`.
        """
    ),
    PARAMS,
    code(
        """
        import tempfile
        import time

        import numpy as np
        import pandas as pd
        import holoviews as hv
        import panel as pn
        from IPython.display import Image

        from geoviz import viz
        from geoviz.data import get_task, lonlat_to_unit, regular_grid
        from geoviz.training import TrainConfig, Trainer
        """
        + VIZ_SETUP
        + """
        GRID_RES = 4.0 if SMALL else 2.0                        # map resolution in degrees
        GP_SIZES = [200, 400, 800, 1600] if SMALL else [625, 1250, 2500, 5000]
        TEST_STRIDE = 5 if SMALL else 1                          # score kriging on every k-th test point
        EPOCHS = 12 if SMALL else 150
        PREDICT_EVERY = 4 if SMALL else 10
        """
    ),
    md(
        """
        ## 1 · The task

        `get_task("landocean")` rebuilds the benchmark of Rußwurm et al. (ICLR 2024) offline from the
        shipped Natural Earth 1:110m land polygon: 5,000 training and 5,000 validation points drawn
        uniformly *on the sphere* (not uniformly in lon/lat, which would crowd the poles), and an
        equal-area test grid of 51,156 points.
        """
    ),
    code(
        """
        task = get_task("landocean")
        grid = regular_grid(GRID_RES)                         # cell centres, rows north -> south
        truth = task.label_fn(grid.lonlat)                    # (H*W,) float32, 1 = land
        print("train:", task.train.lonlat.shape, "land fraction %.3f" % task.train.y.mean())
        print("test grid:", task.test.lonlat.shape, "| map grid:", grid.shape)

        train_points = hv.Points((task.train.lonlat[:, 0], task.train.lonlat[:, 1], task.train.y),
                                 ["lon", "lat"], "land").opts(color="land", cmap=["#ffffff", "#d62728"], size=1.5)
        pn.panel(viz.flat_map(truth, grid.shape, title="ground truth and the 5,000 training points", label="land")
                 * train_points)
        """
    ),
    md(
        """
        ## 2 · The classical answer: kriging (a Gaussian process)

        A Gaussian process predicts at a new location $\\mathbf{c}$ by comparing it with **every
        training point**: $\\hat y(\\mathbf{c}) = k(\\mathbf{c}, X)\\,(K + \\sigma^2 I)^{-1} y$,
        where $K_{ij} = k(x_i, x_j)$ is the $n \\times n$ kernel matrix. So

        * the kernel matrix, and the memory and time to build it, grow as $n^2$ (solving with it,
          as $n^3$ once $n$ is large);
        * every prediction costs $n$ kernel evaluations: the model *is* the training data.

        We use an RBF kernel on 3-D unit vectors (chordal distance), which is a valid kernel on the
        sphere and has no seam at the date line. The length scale is fixed (no hyperparameter
        search) so that the timing measures only the core algebra.
        """
    ),
    code(
        """
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, WhiteKernel


        def fit_kriging(n, length_scale=0.12):
            \"\"\"GP regression of the 0/1 land label on the first n training points; returns (gp, seconds).\"\"\"
            X = lonlat_to_unit(task.train.lonlat[:n])               # (n, 3) unit vectors
            gp = GaussianProcessRegressor(RBF(length_scale) + WhiteKernel(0.05), optimizer=None)
            t0 = time.perf_counter()
            gp.fit(X, task.train.y[:n])
            return gp, time.perf_counter() - t0


        def predict_kriging(gp, lonlat, chunk=8192):
            \"\"\"(M,) GP mean at (M, 2) lon/lat degrees (about 0 = ocean, 1 = land), chunked to bound memory.\"\"\"
            X = lonlat_to_unit(lonlat)
            return np.concatenate([gp.predict(X[i:i + chunk]) for i in range(0, len(X), chunk)])


        test_ll, test_y = task.test.lonlat[::TEST_STRIDE], task.test.y[::TEST_STRIDE]
        rows = []
        for n in GP_SIZES:
            gp, fit_s = fit_kriging(n)
            t0 = time.perf_counter()
            p_test = predict_kriging(gp, test_ll)
            pred_s = time.perf_counter() - t0
            rows.append({"n": n, "kernel matrix (MB)": 8 * n * n / 1e6, "fit (s)": fit_s,
                         "predict per 10k points (s)": pred_s * 1e4 / len(test_ll),
                         "test accuracy": ((p_test > 0.5) == (test_y > 0.5)).mean()})
        gp_table = pd.DataFrame(rows)
        gp_table.round(4)
        """
    ),
    code(
        """
        n = gp_table["n"].to_numpy(float)
        fit_s = gp_table["fit (s)"].to_numpy()
        slope = np.polyfit(np.log(n), np.log(fit_s), 1)[0]
        measured = hv.Curve((n, fit_s), "training points n", "fit time (s)", label=f"measured (slope {slope:.2f})")
        guides = [hv.Curve((n, fit_s[-1] * (n / n[-1]) ** p), label=f"n^{p}").opts(color="gray", line_dash=dash)
                  for p, dash in [(2, "dashed"), (3, "dotted")]]
        pn.panel(hv.Overlay([measured.opts(color="#d62728", line_width=3)] + guides).opts(
            hv.opts.Curve(logx=True, logy=True, width=520, height=320),
            hv.opts.Overlay(legend_position="top_left", title="kriging: fit time grows with n^2 to n^3")))
        """
    ),
    md(
        """
        On a log–log plot a power law $t \\propto n^p$ is a straight line of slope $p$. The kernel
        matrix column is exactly $8n^2$ bytes. (Timings on a shared CPU are noisy, and for small $n$
        fixed overheads flatten the curve.) Now the map kriging draws from the most points:
        """
    ),
    code(
        """
        gp_big, _ = fit_kriging(GP_SIZES[-1])
        p_gp = np.clip(predict_kriging(gp_big, grid.lonlat), 0, 1)
        pn.panel(viz.flat_map(p_gp, grid.shape, title=f"kriging with n = {GP_SIZES[-1]} points", label="P(land)"))
        """
    ),
    md(
        """
        ## 3 · The neural answer: Siren(SH) learns the map

        The location encoder has two parts:

        * **positional encoding** `sphericalharmonics` with `legendre_polys=L=10`: the $L^2 = 100$
          real spherical harmonics $Y_l^m(\\lambda, \\varphi)$, $l < L$ (notebook 02 looks at them);
        * **network** `siren`: a small MLP with sine activations (64 hidden units, 2 layers).

        The trainer encodes the fixed training points once, so an epoch costs only the network:
        training and prediction are **linear in the number of points**, and the model does not grow
        with the data. We ask the trainer for a prediction on the map grid every few epochs.

        (We use `lr=1e-3` without early stopping so that a short run already looks good; the paper's
        tuned setting is `lr=1.42e-4` with early stopping, see `docs/results/landocean.md`.)
        """
    ),
    code(
        """
        cfg = TrainConfig(pe="sphericalharmonics", nn="siren",
                          pe_kwargs={"legendre_polys": 10}, nn_kwargs={"hidden_dim": 64, "num_layers": 2},
                          lr=1e-3, max_epochs=EPOCHS, patience=None, dtype="float32", device="cpu", seed=0)
        trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=PREDICT_EVERY)
        records = list(trainer.run())
        last = records[-1]
        print(f"{last.epoch} epochs in {last.elapsed:.1f} s, validation accuracy {last.val_metrics['accuracy']:.3f}")
        """
    ),
    md(
        """
        Drag the **epoch** slider (or press play): the network starts as a smooth blob of low-degree
        harmonics and then sharpens the coastlines.
        """
    ),
    code(
        """
        pn.panel(viz.training_holomap(records, grid, width=640, height=320))
        """
    ),
    md(
        """
        The same run as an animated GIF (plain image, works anywhere, e.g. in slides):
        """
    ),
    code(
        """
        gif = viz.training_gif(records, grid, f"{tempfile.mkdtemp()}/landocean_siren_sh.gif", fps=4)
        Image(filename=str(gif))
        """
    ),
    code(
        """
        losses = hv.Curve([(r.epoch, r.train_loss) for r in records], "epoch", "loss", label="train") * \\
                 hv.Curve([(r.epoch, r.val_loss) for r in records], "epoch", "loss", label="validation")
        pn.panel(losses.opts(hv.opts.Curve(width=500, height=280), hv.opts.Overlay(title="binary cross-entropy")))
        """
    ),
    md(
        """
        **Live widget.** `LiveTrainer` runs the same loop in a background thread with controls for
        the encoding, the network, $L$, the epochs and the learning rate; press **Start** in a
        running notebook and watch the map update each epoch (nothing trains until you press it).
        """
    ),
    code(
        """
        from geoviz.widgets import LiveTrainer

        LiveTrainer(resolution=GRID_RES, epochs=EPOCHS)
        """
    ),
    md(
        """
        ## 4 · Side by side

        Both methods see the same kind of training points. Kriging's cost lives in the *data*:
        storing and comparing with every point. The network's cost lives in *training*; afterwards
        the map is a few thousand numbers, and evaluating it anywhere is cheap.
        """
    ),
    code(
        """
        t0 = time.perf_counter()
        siren_test = trainer.evaluate("test")        # the test grid's SH features are cached: network only
        siren_pred_s = time.perf_counter() - t0
        n_params = sum(p.numel() for p in trainer.model.parameters())
        gp_last = gp_table.iloc[-1]
        summary = pd.DataFrame([
            {"model": f"kriging, n = {int(gp_last['n'])}", "stored numbers": 4 * int(gp_last["n"]),
             "test accuracy": gp_last["test accuracy"], "predict per 10k points (s)": gp_last["predict per 10k points (s)"]},
            {"model": "Siren(SH), n = 5000", "stored numbers": n_params, "test accuracy": siren_test["accuracy"],
             "predict per 10k points (s)": siren_pred_s * 1e4 / len(task.test)},
        ])
        summary.round(4)
        """
    ),
    md(
        """
        ## Exercises

        1. **Kernel width.** Refit kriging with `length_scale=0.05` and `0.3`. What happens to the
           coastlines and to the accuracy? Let scikit-learn choose it
           (`optimizer="fmin_l_bfgs_b"`): which value does it pick, and how much slower is the fit?
        2. **Data size.** Train Siren(SH) on `get_task("landocean", n_train=1000)`. How much accuracy do
           you lose? Does the time per epoch shrink five-fold?
        3. **The classic MLP.** Replace `nn="siren"` by `nn="fcnet"` (a ReLU network) and compare the
           animations. Which one gets sharp coastlines first?
        """
    ),
    code(
        """
        # Exercise 1, a starting point: a wider kernel on the smallest sample
        gp_wide, _ = fit_kriging(GP_SIZES[0], length_scale=0.3)
        acc = ((predict_kriging(gp_wide, test_ll) > 0.5) == (test_y > 0.5)).mean()
        print(f"kriging, length_scale=0.3, n={GP_SIZES[0]}: test accuracy {acc:.3f}")
        """
    ),
]

# --------------------------------------------------------------------------------------
# 02


NB02: list[Cell] = [
    md(
        """
        # 02 · Spherical harmonics and the resolution knob $L$

        Spherical harmonics $Y_l^m$ are the Fourier basis of the sphere: every smooth function on
        the globe is a sum $f(\\lambda, \\varphi) = \\sum_{l \\ge 0} \\sum_{m=-l}^{l} w_l^m Y_l^m(\\lambda, \\varphi)$.
        Keeping the degrees $l < L$ gives $L^2$ features: the `sphericalharmonics` positional
        encoding with `legendre_polys=L`.

        In this notebook you will

        1. look at the basis functions on the globe (degree $l$ = number of nodal lines, order $m$ =
           how many of them run north–south);
        2. check numerically that they are orthonormal on the sphere;
        3. compare **Linear(SH)** (a weighted sum of harmonics, exactly the formula above) with
           **Siren(SH)** (a sine network on top of the harmonics);
        4. see how $L$ sets the finest detail Linear(SH) can draw, $f_{\\max} = 180^\\circ / (2L)$.
        """
    ),
    PARAMS,
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import holoviews as hv
        import panel as pn

        from geoviz import viz
        from geoviz.data import fibonacci_lattice, get_task, regular_grid
        from geoviz.encoders import sh_index, spherical_harmonics
        from geoviz.training import TrainConfig, Trainer
        """
        + VIZ_SETUP
        + """
        GRID_RES = 4.0 if SMALL else 1.0
        GALLERY_L = 4                               # degrees 0..3 in the gallery
        EPOCHS = 15 if SMALL else 150
        L_VALUES = [3, 10] if SMALL else [3, 5, 10, 20, 30]
        """
    ),
    md(
        """
        ## 1 · A gallery of the basis

        Column `l*l + l + m` of `spherical_harmonics(lonlat, L)` holds $Y_l^m$ (`sh_index(l, m)`).
        Row $l$ of the gallery shows its $2l + 1$ orders: $m = 0$ (centre) is *zonal*, it depends only
        on latitude; $|m| = l$ is *sectoral*, its sign changes only with longitude; the rest are
        *tesseral* patches. Red is positive, blue negative.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        **Live widget.** Pick a harmonic and rotate the globe with the sliders (or drag it) in a
        running notebook; clicking prints the location.
        """
    ),
    code(
        """
        def harmonic_field(k):
            return viz.GridField(Y[:, k], grid.shape, cmap="RdBu_r", clim=(-vmax, vmax))


        globe = viz.Globe(harmonic_field(sh_index(2, 1)), size=320, lat0=30)
        options = {f"l={l}, m={m}": sh_index(l, m) for l in range(GALLERY_L) for m in range(-l, l + 1)}
        choice = pn.widgets.Select(label="harmonic", options=options, value=sh_index(2, 1))
        choice.param.watch(lambda event: globe.set_field(harmonic_field(event.new)), "value")
        pn.Column(choice, globe.view())
        """
    ),
    md(
        """
        ## 2 · Orthonormal on the sphere

        $\\int Y_i Y_j \\, d\\Omega = \\delta_{ij}$. With $n$ points spread evenly over the sphere (a
        Fibonacci lattice), the Gram matrix $\\frac{4\\pi}{n} Y^\\top Y$ should be close to the identity.
        """
    ),
    code(
        """
        pts = fibonacci_lattice(20000 if SMALL else 100000)
        Yp = spherical_harmonics(pts, legendre_polys=10)
        gram = 4 * np.pi / len(pts) * Yp.T @ Yp
        print("L=10 (100 features): max |Gram - I| = %.1e" % np.abs(gram - np.eye(len(gram))).max())
        """
    ),
    md(
        """
        ## 3 · Linear(SH) versus Siren(SH)

        `Linear(SH)` learns one weight per harmonic, so it can only draw functions made of degrees
        below $L$: smooth, with ripples near sharp edges (the Gibbs phenomenon). `Siren(SH)` feeds the
        same 100 features through sine layers; products of harmonics contain higher degrees than the
        input, so it draws sharper coastlines from the same $L$.
        """
    ),
    code(
        """
        task = get_task("landocean")


        def train(nn, L, epochs=EPOCHS, **nn_kwargs):
            \"\"\"Train nn(SH with legendre_polys=L) on land-ocean; returns (trainer, prediction on the grid).\"\"\"
            linear = nn == "linear"
            cfg = TrainConfig(pe="sphericalharmonics", nn=nn, pe_kwargs={"legendre_polys": L}, nn_kwargs=nn_kwargs,
                              lr=1e-2 if linear else 1e-3, weight_decay=0.0 if linear else 1e-4, max_epochs=epochs,
                              patience=None, dtype="float32", device="cpu", seed=0)
            trainer = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=epochs)
            *_, last = trainer.run()
            return trainer, last.prediction


        lin, lin_map = train("linear", 10)
        sir, sir_map = train("siren", 10, hidden_dim=64, num_layers=2)
        panels = [viz.flat_map(p, grid.shape, title=f"{name}, L=10: test accuracy {tr.evaluate('test')['accuracy']:.3f}",
                               width=460, height=230, label="P(land)")
                  for name, tr, p in [("Linear(SH)", lin, lin_map), ("Siren(SH)", sir, sir_map)]]
        pn.panel(hv.Layout(panels).cols(2))
        """
    ),
    md(
        """
        ## 4 · $L$ controls smoothness

        The highest degree $L-1$ has about $L$ wavelengths around a great circle, so the smallest
        feature Linear(SH) can represent is about half a wavelength,
        $f_{\\max} = 180^\\circ / (2L)$ (Rußwurm et al., 2024): $L=10$ gives 9°, $L=40$ gives 2.25°.
        Small $L$ draws a blurry continent-scale map; large $L$ draws fine coastlines, but has more
        weights to fit and more ringing.
        """
    ),
    code(
        """
        rows, maps = [], {}
        for L in L_VALUES:
            tr, maps[L] = train("linear", L)
            rows.append({"L": L, "features L^2": L * L, "f_max (deg)": viz.f_max_deg(L),
                         "f_max at the equator (km)": round(viz.f_max_deg(L) * 111.2),
                         "test accuracy": tr.evaluate("test")["accuracy"]})
        sweep = pd.DataFrame(rows)
        sweep.round(3)
        """
    ),
    code(
        """
        pn.panel(viz.l_sweep_layout(maps, grid, cols=3 if len(maps) > 2 else 2, width=340, height=170))
        """
    ),
    md(
        """
        ## Exercises

        1. Which harmonic in the gallery changes sign most often along the equator, and how often?
           Relate the count to $m$.
        2. Train `Siren(SH)` with `L=3`. Can the sine network recover detail finer than
           $f_{\\max} = 30^\\circ$? What does that tell you about the formula, which holds for Linear(SH)?
        3. Fit Linear(SH) *without* gradient descent: least squares of the land indicator on the
           features over a Fibonacci lattice (`np.linalg.lstsq`). Compare with the trained map. Where
           do values outside [0, 1] come from?
        """
    ),
    code(
        """
        # Exercise 3, a starting point: the least-squares Linear(SH) fit of the land indicator
        L = 10
        pts_fit = fibonacci_lattice(20000)
        coef, *_ = np.linalg.lstsq(spherical_harmonics(pts_fit, L), task.label_fn(pts_fit), rcond=None)
        lstsq_map = spherical_harmonics(grid.lonlat, L) @ coef
        print("least-squares Linear(SH) values range from %.2f to %.2f" % (lstsq_map.min(), lstsq_map.max()))
        """
    ),
]

# --------------------------------------------------------------------------------------
# 03


NB03: list[Cell] = [
    md(
        """
        # 03 · Positional encodings compared

        A location encoder is $\\mathrm{NN}(\\mathrm{PE}(\\lambda, \\varphi))$. Rußwurm et al. (ICLR 2024)
        compared ten positional encodings (PE) with three networks (NN) on land–ocean
        classification. The encodings fall into three families:

        | family | encodings | idea |
        |---|---|---|
        | raw coordinates | `direct`, `cartesian3d`, `wrap` | lon/lat as numbers, as a 3-D unit vector, or lon wrapped through sin/cos |
        | multi-scale sinusoids on the lon/lat *rectangle* | `grid`, `theory` | sin/cos of lon and lat at $S$ wavelengths (Space2Vec) |
        | multi-scale sinusoids with sphere terms | `spherec`, `spherec+`, `spherem`, `spherem+` | products of sin/cos of lon and lat (Sphere2Vec) |
        | the sphere's own Fourier basis | `sphericalharmonics` | real spherical harmonics up to degree $L-1$ |

        In this notebook you will

        1. measure how each encoding sees two points that are close **on the sphere** but far apart
           in lon/lat numbers (across the date line, across a pole);
        2. train a reduced version of the paper's table (fewer epochs, one seed) and put it beside
           the full reproduction in `docs/results/landocean.md`;
        3. look at accuracy near the poles.
        """
    ),
    PARAMS,
    code(
        """
        from pathlib import Path

        import pandas as pd
        import holoviews as hv
        import panel as pn
        import torch

        import geoviz
        from geoviz import reproduce, viz
        from geoviz.data import get_task
        from geoviz.training import TrainConfig, Trainer
        """
        + VIZ_SETUP
        + """
        if SMALL:
            PES = ["direct", "wrap", "grid", "spherec+", "sphericalharmonics"]
            NETS = ["linear", "siren"]
            EPOCHS = 8
        else:
            PES = list(reproduce.PES)              # all ten, in the paper's row order
            NETS = ["linear", "siren"]             # add "fcnet" for the full 10 x 3 table (slower)
            EPOCHS = 50                            # the paper: up to 500 with early stopping, 5 seeds
        """
    ),
    md(
        """
        ## 1 · Close on the sphere, far apart in the features?

        Take pairs of points that are **1° apart on the sphere**: one pair on the equator (the easy
        case), one pair straddling the date line (lon −179.5° and +179.5°), and one pair on opposite
        sides of the north pole (lon 0° and 180° at lat 89.5°). A good global encoding maps all three
        pairs to equally close features. The table shows the feature distance relative to the
        equator pair (1 = the encoding respects the sphere).

        Spherical harmonics pass exactly: by the *addition theorem*
        $\\sum_m Y_l^m(x)\\,Y_l^m(y) = \\frac{2l+1}{4\\pi} P_l(\\cos\\gamma)$, the distance between two
        SH feature vectors depends only on the angle $\\gamma$ between the points.
        """
    ),
    code(
        """
        pairs = {
            "equator": ([[-0.5, 0.0]], [[0.5, 0.0]]),
            "date line": ([[-179.5, 0.0]], [[179.5, 0.0]]),
            "north pole": ([[0.0, 89.5]], [[180.0, 89.5]]),
        }


        def encoder_of(pe):
            \"\"\"The tuned land-ocean Siren cell's encoding, with correct units (no reference quirks).\"\"\"
            kw = dict(reproduce.LANDOCEAN_HPARAMS[(pe, "siren")]["pe_kwargs"])
            return geoviz.get_positional_encoding(pe, **kw).double()


        rows = []
        for pe in reproduce.PES:
            enc = encoder_of(pe)
            dist = {name: torch.linalg.norm(enc(torch.tensor(a, dtype=torch.float64)) -
                                            enc(torch.tensor(b, dtype=torch.float64))).item()
                    for name, (a, b) in pairs.items()}
            rows.append({"encoding": reproduce.PE_LABELS[pe], "features": enc.embedding_dim,
                         "date line / equator": dist["date line"] / dist["equator"],
                         "north pole / equator": dist["north pole"] / dist["equator"]})
        pd.DataFrame(rows).set_index("encoding").round(2)
        """
    ),
    md(
        """
        Read the table: `direct` puts the two polar points (1° apart) as far apart as points 180° of
        longitude apart would be, and `wrap` (longitude through one sine/cosine turn) fixes the date
        line but not the pole. The multi-scale encodings use wavelengths that do not divide 360°, so
        even their sphere variants keep a seam at the date line and a distortion at the pole. Only
        `cartesian3d` and spherical harmonics give 1 in both columns. Everything else the network has
        to *learn* from data, and the polar caps are small, so few training points fall there.

        ## 2 · A reduced version of the paper's table

        Every cell uses the tuned hyperparameters of the paper (`geoviz.reproduce.LANDOCEAN_HPARAMS`)
        with the reference protocol (`reproduce.make_config`), but in float32, one seed and a short
        epoch budget, so absolute numbers are lower than the paper's, most of all for the cells with
        small tuned learning rates.
        """
    ),
    code(
        """
        task = get_task("landocean")
        results, models = [], {}
        for pe in PES:
            for nn in NETS:
                cfg = TrainConfig(**reproduce.make_config("landocean", pe, nn, seed=0, variant="float32", max_epochs=EPOCHS))
                trainer = Trainer(task, cfg)
                *_, last = trainer.run()
                models[pe, nn] = trainer.model
                test = trainer.evaluate("test")
                results.append({"pe": reproduce.PE_LABELS[pe], "nn": nn, "accuracy %": 100 * test["accuracy"],
                                "epochs": last.epoch, "seconds": last.elapsed})
                print(f"{pe:20s} {nn:7s} {100 * test['accuracy']:5.1f} %  ({last.epoch} epochs, {last.elapsed:.1f} s)")
        ours = pd.DataFrame(results).pivot(index="pe", columns="nn", values="accuracy %")
        ours = ours.loc[[reproduce.PE_LABELS[p] for p in PES], NETS]
        """
    ),
    md(
        """
        Beside it: the full reproduction (5 seeds, up to 500 epochs, `geoviz reproduce landocean`)
        from `docs/results/landocean.md`, which also lists the paper's numbers. If that file is not
        there (a fresh checkout before the reproduction was run), the paper's table
        (`geoviz.reproduce.PAPER_LANDOCEAN`) is shown instead.
        """
    ),
    code(
        """
        doc = Path("..") / "docs" / "results" / "landocean.md"
        if doc.exists():
            reference = pn.pane.Markdown(doc.read_text(), width=620)
        else:
            paper = pd.DataFrame({nn: {reproduce.PE_LABELS[pe]: "%.1f ± %.1f" % reproduce.PAPER_LANDOCEAN[pe, nn]
                                       for pe in reproduce.PES} for nn in reproduce.NETS})
            reference = pn.Column("### The paper's table (accuracy %, 5 seeds)", pn.pane.DataFrame(paper))
        pn.Row(pn.Column(f"### This run ({EPOCHS} epochs, seed 0, accuracy %)", pn.pane.DataFrame(ours.round(1))),
               reference)
        """
    ),
    md(
        """
        ## 3 · Why the sphere matters near the poles

        The test grid is equal-area, so the polar caps hold few test points and barely move the
        global accuracy. Splitting the accuracy by latitude shows where the encodings differ.
        (`reproduce.latitude_band_accuracy` does the bookkeeping.)
        """
    ),
    code(
        """
        rows = []
        for (pe, nn), model in models.items():
            if nn != "siren":
                continue
            pred = viz.model_function(model)(task.test.lonlat) > 0.5
            bands = reproduce.latitude_band_accuracy(task.test.lonlat, task.test.y > 0.5, pred, band_deg=30)
            row = {"pe": reproduce.PE_LABELS[pe]}
            row.update({f"{lo:+.0f}..{hi:+.0f}": acc for lo, hi, acc in zip(bands["lat_lo"], bands["lat_hi"], bands["accuracy"])})
            rows.append(row)
        (100 * pd.DataFrame(rows).set_index("pe")).round(1)
        """
    ),
    md(
        """
        And the Antarctic coast seen from below, every Siren model evaluated exactly at each pixel
        of an orthographic view centred on the south pole:
        """
    ),
    code(
        """
        panels = []
        for (pe, nn), model in models.items():
            if nn == "siren":
                img = viz.render_globe(model, lon0=0, lat0=-90, size=140 if SMALL else 260)
                panels.append(hv.RGB(img, bounds=(-1, -1, 1, 1)).opts(
                    title=reproduce.PE_LABELS[pe], xaxis=None, yaxis=None, width=200, height=200))
        truth = viz.render_globe(lambda ll: task.label_fn(ll).astype(float), lon0=0, lat0=-90, size=140 if SMALL else 260)
        panels.insert(0, hv.RGB(truth, bounds=(-1, -1, 1, 1)).opts(title="ground truth", xaxis=None, yaxis=None,
                                                                 width=200, height=200))
        pn.panel(hv.Layout(panels).cols(3))
        """
    ),
    md(
        """
        ## Exercises

        1. Add `"fcnet"` to `NETS`. The paper found that spherical harmonics work well with all
           networks and Siren works well with all encodings. Does your reduced table agree?
        2. Run a few cells with `variant="correct_units"` instead of `"float32"`: the multi-scale
           baselines then feed radians to sin/cos, as their papers intended, instead of the
           reference code's degrees. Does the ranking change? (`reproduce.VARIANTS` lists the variants.)
        3. In section 1, replace the polar pair by two points 1° apart on the parallel at 80° N
           (lon 0° and lon ≈ 5.76°: there a degree of longitude is only cos 80° ≈ 0.17° of arc).
           How fast does the distortion of the rectangular encodings fade away from the pole?
        """
    ),
]

# --------------------------------------------------------------------------------------
# 04


NB04: list[Cell] = [
    md(
        """
        # 04 · The checkerboard and the poles: why the sphere matters

        The checkerboard task puts 200 support points on a Fibonacci lattice (evenly spread over
        the sphere) and gives every location the class (0–15) of its nearest support point by
        great-circle distance. All cells have about the same area **at every latitude**, so the task
        is a fair test of how an encoder behaves near the poles.

        *Rectangular* encodings (`grid`, `theory`, ...) treat longitude and latitude as a flat
        plane: near a pole, points a few kilometres apart can differ by 180° in longitude, and the
        network has to learn that they are neighbours. Spherical harmonics are smooth functions
        *on the sphere*, so the pole is no special place.

        You will train the same Siren on spherical harmonics and on rectangular encodings and
        measure **accuracy per latitude band**.
        """
    ),
    PARAMS,
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import holoviews as hv
        import panel as pn

        from geoviz import reproduce, viz
        from geoviz.data import get_task, regular_grid
        from geoviz.training import TrainConfig, Trainer
        """
        + VIZ_SETUP
        + """
        GRID_RES = 4.0 if SMALL else 1.0
        EPOCHS = 15 if SMALL else 100
        BAND = 30 if SMALL else 15                      # latitude band width in degrees
        ENCODINGS = {                                   # label -> (pe, pe_kwargs)
            "SH (L=15)": ("sphericalharmonics", {"legendre_polys": 15}),
            "grid": ("grid", {"frequency_num": 32, "min_radius": 1}),
        }
        if not SMALL:
            ENCODINGS["sphereC+"] = ("spherec+", {"frequency_num": 32, "min_radius": 1})
            ENCODINGS["theory"] = ("theory", {"frequency_num": 32, "min_radius": 1})
        """
    ),
    code(
        """
        task = get_task("checkerboard")
        grid = regular_grid(GRID_RES)
        support = task.meta["support_lonlat"]
        print(task.num_classes, "classes |", len(task.train), "train points |", len(task.test), "test points (Fibonacci lattice)")
        pn.panel(viz.flat_map(task.label_fn(grid.lonlat), grid.shape, kind="categorical", coastlines=False, label="class",
                              title="ground truth and support points (plate carrée stretches the polar cells)")
                 * hv.Points(support, ["lon", "lat"]).opts(color="black", size=3))
        """
    ),
    md(
        """
        ## Train one Siren per encoding

        Same network, optimiser, data and seed; only the positional encoding changes.
        """
    ),
    code(
        """
        trainers, maps = {}, {}
        for name, (pe, pe_kwargs) in ENCODINGS.items():
            cfg = TrainConfig(pe=pe, nn="siren", pe_kwargs=pe_kwargs, nn_kwargs={"hidden_dim": 128, "num_layers": 1},
                              lr=1e-3, weight_decay=1e-5, max_epochs=EPOCHS, patience=None, dtype="float32",
                              device="cpu", seed=0)
            trainers[name] = Trainer(task, cfg, predict_lonlat=grid.lonlat, predict_every=EPOCHS)
            *_, last = trainers[name].run()
            maps[name] = last.prediction
            print(f"{name:10s} test accuracy {trainers[name].evaluate('test')['accuracy']:.3f}  ({last.elapsed:.1f} s)")
        """
    ),
    md(
        """
        ## Accuracy by latitude band

        The test points form a Fibonacci lattice, so each band holds a number of points proportional
        to its area: the polar bands are small, which is why a global accuracy hides polar errors.
        """
    ),
    code(
        """
        test_fn = {name: viz.model_function(tr.model) for name, tr in trainers.items()}   # lon/lat -> class
        bands = {name: reproduce.latitude_band_accuracy(task.test.lonlat, task.test.y, fn(task.test.lonlat), band_deg=BAND)
                 for name, fn in test_fn.items()}
        first = next(iter(bands.values()))
        centres = (np.array(first["lat_lo"]) + np.array(first["lat_hi"])) / 2
        table = pd.DataFrame({name: b["accuracy"] for name, b in bands.items()},
                             index=pd.Index(centres, name="band centre (lat)"))
        table["test points"] = first["count"]
        curves = [hv.Curve((centres, table[name]), "latitude (band centre)", "accuracy", label=name) *
                  hv.Scatter((centres, table[name]), "latitude (band centre)", "accuracy", label=name)
                  for name in test_fn]
        pn.panel(hv.Overlay(curves).opts(hv.opts.Curve(width=560, height=300),
                                         hv.opts.Overlay(legend_position="bottom", title="test accuracy by latitude band")))
        """
    ),
    code(
        """
        table.round(3)
        """
    ),
    md(
        """
        ## Looking at the poles

        A plate-carrée map hides the pole: it is stretched into the top row. Below, the northern
        hemisphere seen from above the pole (orthographic view), each model evaluated exactly at
        the pixels' locations. Seams and star-shaped artefacts of the rectangular encodings show up
        where all meridians meet.
        """
    ),
    code(
        """
        size = 160 if SMALL else 320
        truth_fn = lambda ll: task.label_fn(ll)
        views = [("ground truth", truth_fn)] + list(test_fn.items())
        fig, axes = plt.subplots(1, len(views), figsize=(3.2 * len(views), 3.4))
        for ax, (title, fn) in zip(axes, views):
            ax.imshow(viz.render_globe(viz.FunctionField(fn, kind="categorical"), lon0=0, lat0=90, size=size))
            ax.set(title=title, xticks=[], yticks=[])
        plt.show()
        """
    ),
    md(
        """
        ## Exercises

        1. Give `grid` a coarser smallest scale, `min_radius=10` degrees. Does the polar accuracy change?
        2. Try `direct` (raw lon/lat) with Siren. The talk says Siren needs no positional encoding
           "in moderate latitudes". Does your band table agree?
        3. Make the checkerboard finer with `get_task("checkerboard", n_support=800)`. Which $L$ does
           the spherical-harmonic encoding need now? (Compare $f_{\\max} = 180^\\circ/(2L)$ with the
           spacing of the support points.)
        """
    ),
]

# --------------------------------------------------------------------------------------
# 05

MODEL_PARAMS = """
        # Which pretrained location encoder to study: the embedded geoviz model by default;
        # "geoclip" (shipped with the geoclip package) or a SatCLIP name also work.
        MODEL_NAME = os.environ.get("GEOVIZ_NOTEBOOK_MODEL", "geoviz-bluemarble-l10")
        # Path to a SatCLIP checkpoint (satclip-*.ckpt) if you have one; None skips SatCLIP.
        SATCLIP_CHECKPOINT = os.environ.get("SATCLIP_CHECKPOINT")
"""

NB05: list[Cell] = [
    md(
        """
        # 05 · Location embeddings: what a pretrained location encoder knows

        Notebooks 01–04 trained a location encoder for one task with labels. **SatCLIP**
        (Klemmer et al., 2024) pretrains one *without* labels: it plays GeoGuessr. A satellite
        image encoder and a location encoder Siren(SH) are trained contrastively (as CLIP does
        for images and text) so that the embedding of a location matches the embedding of the
        image taken there. Afterwards the location encoder alone turns any $(\\lambda, \\varphi)$
        into a 256-dimensional vector that summarises *what that place looks like from above*.

        geoviz ships its own small SatCLIP-style model, `geoviz-bluemarble-l10`, pretrained the
        same way on NASA Blue Marble image patches (so it runs offline). If you have a SatCLIP
        checkpoint, set `SATCLIP_CHECKPOINT` to its path; to download one (about 57 MB for ResNet18-L10),
        with your explicit consent, use

        ```python
        geoviz.pretrained.load_pretrained("satclip-resnet18-l10", download=True)
        ```

        In this notebook you will

        1. embed a global grid and show the embeddings as colours (PCA → RGB), on a map and a globe;
        2. cluster them with k-means and compare the clusters with Köppen climate zones;
        3. find **places that look alike but are far apart**, the spatial-similarity confusions
           that make these embeddings useful and sometimes misleading.
        """
    ),
    code(PARAMS[1] + "\n\n" + textwrap.dedent(MODEL_PARAMS).strip("\n")),
    code(
        """
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
        """
        + VIZ_SETUP
        + """
        SPACING = 4.0 if SMALL else 1.0          # grid cell size in degrees
        KS = [8] if SMALL else [4, 8, 16]         # numbers of k-means clusters
        """
    ),
    md(
        """
        ## 1 · The models

        `list_pretrained()` names every registered model; `is_available` says which ones load right
        now without a download.
        """
    ),
    code(
        """
        pd.DataFrame([{"name": n, "available offline": is_available(n), "L": get_model_info(n).legendre_polys,
                       "dim": get_model_info(n).embedding_dim, "description": get_model_info(n).description}
                      for n in list_pretrained()]).set_index("name")
        """
    ),
    code(
        """
        model = load_pretrained(MODEL_NAME)            # an eval-mode geoviz LocationEncoder
        models = {MODEL_NAME: model}
        if SATCLIP_CHECKPOINT:
            models["SatCLIP (" + os.path.basename(SATCLIP_CHECKPOINT) + ")"] = load_satclip(SATCLIP_CHECKPOINT)
        print(model)
        """
    ),
    md(
        """
        ## 2 · Embeddings as colours

        `embed_grid` evaluates the encoder at the centre of every grid cell (and caches the result on
        disk). Each cell gets a 256-d vector; PCA keeps the three directions of largest variance and
        maps them to red, green and blue, fitted on land cells. Similar colours = similar embeddings.
        """
    ),
    code(
        """
        grids = {name: embed_grid(m, SPACING) for name, m in models.items()}
        g = grids[MODEL_NAME]
        land = koppen_zones(g.lonlat) != KOPPEN_OCEAN            # Köppen's own coastline
        print("grid", g.shape, "-> embeddings", g.embeddings.shape, "| land cells:", int(land.sum()))
        rgb = pca_rgb(g.embeddings, mask=land)                   # (H*W, 3) in [0, 1]
        pn.panel(viz.flat_map(rgb, g.shape, kind="rgb", title=f"{MODEL_NAME}: first 3 principal components as RGB"))
        """
    ),
    md(
        """
        **Live widget:** the same colours on a globe you can rotate (sliders or drag) in a running
        notebook.
        """
    ),
    code(
        """
        globe = viz.Globe(viz.GridField(rgb, g.shape, kind="rgb"), size=360, lat0=20, lon0=20)
        globe.view()
        """
    ),
    code(
        """
        for name, grid in grids.items():            # the static figure for reports (and SatCLIP, if loaded)
            display(figures.pca_rgb_map_png(grid, land_only=True, title=f"{name}: PCA -> RGB", dpi=60))
        """
    ),
    md(
        """
        ## 3 · Clusters beside climate zones

        SatCLIP's authors observed that its embeddings "cluster well with biomes". Here we run
        k-means on the land embeddings and measure the agreement with the Köppen–Geiger climate
        zones (and MODIS land cover) by the *adjusted mutual information* (AMI: 0 = unrelated,
        1 = the same partition up to renaming).

        A fair comparison needs a baseline: clusters of the **coordinates alone** (3-D unit
        vectors) already follow latitude, and climate does too. The embeddings are only
        informative beyond that if they beat this baseline.
        """
    ),
    code(
        """
        xyz = lonlat_to_unit(g.lonlat)
        rows = []
        for k in KS:
            for source, feats in [("embeddings", g.embeddings), ("coordinates only (x, y, z)", xyz)]:
                labels = kmeans_clusters(feats, k, mask=land, seed=0)
                ami = agreement_with_zones(g.lonlat, labels, land=land)
                rows.append({"k": k, "clustered": source, "AMI Köppen": ami["koppen"], "AMI MODIS": ami["modis"]})
        pd.DataFrame(rows).set_index(["k", "clustered"]).round(3)
        """
    ),
    code(
        """
        figures.cluster_map_png(g, k=KS[-1], land_only=True, title=f"{MODEL_NAME}: k-means (k={KS[-1]})", dpi=60)
        """
    ),
    md(
        """
        ## 4 · Similar images, far apart

        A location embedding is close to another when the *images* there look alike, wherever they
        are. So deserts in Africa and Australia, or tundra in Canada and Siberia, get similar
        vectors. This breaks Tobler's first law ("near things are more related than distant
        things") on purpose, and it can confuse a downstream model that expects neighbours to be
        similar.

        For a few query places we search the whole grid for the most similar embedding **more than
        3,000 km away** and compare their Köppen zones and their Blue Marble image patches.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        Expect both kinds of match: look-alikes in the same climate zone on another continent
        (the "its zone" column agrees), and true confusions, where only the colours agree (bright
        desert sand and ice both look pale from above). The image patches show what the encoder
        was shown during pretraining.
        """
    ),
    code(
        """
        patches = blue_marble_patch(np.array([p for _, q, m in pairs for p in (q, m)]), size_deg=4.0, pixels=64)
        panels = []
        for i, (name, q, m) in enumerate(pairs):
            for j, (label, ll) in enumerate([(name, q), ("its far-away look-alike", m)]):
                panels.append(hv.RGB(patches[2 * i + j], bounds=(0, 0, 1, 1)).opts(
                    title=f"{label} ({ll[0]:.0f}, {ll[1]:.0f})", xaxis=None, yaxis=None, width=200, height=200))
        pn.panel(hv.Layout(panels).cols(4))
        """
    ),
    code(
        """
        name, q, _ = pairs[0]
        figures.similarity_map_png(g, q, model=model, index=index, top_k=5, title=f"cosine similarity to {name}", dpi=60)
        """
    ),
    md(
        """
        ## Exercises

        1. Switch to the finer model `MODEL_NAME = "geoviz-bluemarble-l40"` (or SatCLIP L=40 if you
           have it). How do the PCA colours and the AMI change? Relate it to
           $f_{\\max} = 180^\\circ/(2L)$ from notebook 02.
        2. Add your home town to `queries`. Which far-away place does the model think looks like it?
           Do you agree when you compare the image patches?
        3. The AMI baseline used 3-D coordinates. Which *other* cheap baseline would be fair (hint:
           notebook 02's spherical harmonics are features too)? Does the embedding still win?
        """
    ),
]

# --------------------------------------------------------------------------------------
# 06


NB06: list[Cell] = [
    md(
        """
        # 06 · Query by click and a downstream task

        Embeddings become useful when you *use* them: to search for places, and as input features
        for a model of something else. In this notebook you will

        1. click on an interactive map (ipyleaflet, no tiles, works offline) to find the places whose
           embeddings are most similar to the clicked one;
        2. look at nearest-embedding search as plain code;
        3. train a **linear probe**, a logistic regression on frozen embeddings, to predict the
           Köppen climate group and the MODIS land-cover class, and compare it with the same probe on
           raw coordinates, evaluated on held-out *regions* (not random points).

        The embedded geoviz model is used by default. With a SatCLIP checkpoint, set
        `SATCLIP_CHECKPOINT` to its path, or download one once, with your explicit consent:
        `geoviz.pretrained.load_pretrained("satclip-resnet18-l10", download=True)`.
        """
    ),
    code(PARAMS[1] + "\n\n" + textwrap.dedent(MODEL_PARAMS).strip("\n")),
    code(
        """
        import numpy as np
        import pandas as pd

        from geoviz.analysis import SimilarityIndex
        from geoviz.data import lonlat_to_unit, uniform_sphere
        from geoviz.data.zones import IGBP_NAMES, KOPPEN_CODES, KOPPEN_OCEAN, koppen_zones, modis_landcover
        from geoviz.embed import embed_grid, embed_points
        from geoviz.encoders import spherical_harmonics
        from geoviz.pretrained import load_pretrained, load_satclip
        from geoviz.widgets import EmbeddingExplorer

        SPACING = 4.0 if SMALL else 1.0
        N_POINTS = 4000 if SMALL else 20000           # random points on the sphere for the probe (land kept)
        """
    ),
    code(
        """
        model = load_satclip(SATCLIP_CHECKPOINT) if SATCLIP_CHECKPOINT else load_pretrained(MODEL_NAME)
        g = embed_grid(model, SPACING)
        print("embeddings of a", g.shape, "grid:", g.embeddings.shape)
        """
    ),
    md(
        """
        ## 1 · The `EmbeddingExplorer`

        The map shows the PCA→RGB colours of notebook 05. **Click anywhere**: white marks your
        click, yellow circles mark the `k` most similar grid cells, and the table lists them with
        their cosine similarity. (The map has no tile layer, so it needs no internet; in a plain
        Python session the explorer prints a note instead of a map.)
        """
    ),
    code(
        """
        explorer = EmbeddingExplorer(grid=g, k=8)
        explorer
        """
    ),
    md(
        """
        Clicks can also be made from code, which is handy for reproducible teaching material. This
        is exactly what a click on Lake Victoria would do:
        """
    ),
    code(
        """
        res = explorer.query(33.0, -1.0)
        pd.DataFrame({"lon": res.lonlat[:, 0], "lat": res.lonlat[:, 1], "cosine": res.similarity}).round(3)
        """
    ),
    md(
        """
        ## 2 · Nearest-embedding search in code

        `SimilarityIndex` L2-normalises the embeddings once; a query is a single matrix–vector
        product (exact cosine search). Here: the ten cells most similar to Munich, and how far away
        they are.
        """
    ),
    code(
        """
        index = SimilarityIndex(g, model=model)
        munich = np.array([11.58, 48.14])
        top = index.query(lonlat=munich, k=10)
        km = 6371.0 * np.arccos(np.clip(lonlat_to_unit(top.lonlat) @ lonlat_to_unit(munich[None])[0], -1, 1))
        pd.DataFrame({"lon": top.lonlat[:, 0], "lat": top.lonlat[:, 1], "cosine": top.similarity,
                      "distance (km)": km.round(), "Köppen": [KOPPEN_CODES[int(z)] for z in koppen_zones(top.lonlat)]})
        """
    ),
    md(
        """
        ## 3 · A downstream task: the linear probe

        Targets, on land points drawn uniformly on the sphere:

        * **Köppen group**: the first letter of the Köppen–Geiger zone (A tropical, B arid,
          C temperate, D continental, E polar), 5 classes;
        * **MODIS land cover**: the 17 IGBP classes (forest types, shrublands, croplands, ...).

        Feature sets, each fed to the same `LogisticRegression` after standardisation:

        * raw `(lon, lat)` in degrees: a linear model can only draw straight boundaries in lon/lat;
        * spherical harmonics with $L = 10$ (100 fixed features, notebook 02): a strong,
          training-free positional encoding;
        * the pretrained **embeddings**.

        Spatial autocorrelation makes random train/test splits too optimistic (the test point's
        neighbour is in the training set), so we hold out whole **20° × 20° blocks**
        (`GroupShuffleSplit`).
        """
    ),
    code(
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.model_selection import GroupShuffleSplit
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        pts = uniform_sphere(N_POINTS, seed=42)
        kg = koppen_zones(pts)
        pts, kg = pts[kg != KOPPEN_OCEAN], kg[kg != KOPPEN_OCEAN]
        targets = {
            "Köppen group": np.array([KOPPEN_CODES[int(z)][0] for z in kg]),
            "MODIS land cover": np.array([IGBP_NAMES[int(c)] for c in modis_landcover(pts)]),
        }
        features = {
            "lon/lat": pts,
            "SH (L=10)": spherical_harmonics(pts, legendre_polys=10),
            "embeddings": np.asarray(embed_points(model, pts), dtype=np.float64),
        }
        blocks = (np.floor((pts[:, 0] + 180) / 20) * 100 + np.floor((pts[:, 1] + 90) / 20)).astype(int)
        train, test = next(GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=0).split(pts, groups=blocks))
        print(f"{len(pts)} land points: {len(train)} train, {len(test)} test in {len(np.unique(blocks[test]))} held-out blocks")
        """
    ),
    code(
        """
        rows = []
        for target, y in targets.items():
            majority = pd.Series(y[train]).mode()[0]
            rows.append({"target": target, "features": "(majority class)", "accuracy": np.mean(y[test] == majority),
                         "macro F1": f1_score(y[test], np.full(len(test), majority), average="macro")})
            for fname, X in features.items():
                probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
                probe.fit(X[train], y[train])
                pred = probe.predict(X[test])
                rows.append({"target": target, "features": fname, "accuracy": accuracy_score(y[test], pred),
                             "macro F1": f1_score(y[test], pred, average="macro")})
        probe_table = pd.DataFrame(rows).set_index(["target", "features"])
        probe_table.round(3)
        """
    ),
    md(
        """
        How to read the table: the majority class is the floor; lon/lat shows what a linear model
        gets from position alone; SH shows how far a good *fixed* encoding of position goes. Where
        the embeddings beat SH, the images they were pretrained on carry information beyond
        position; where they do not, the encoder has mostly learned a smooth function of position
        (the small geoviz model saw only 4-arc-minute Blue Marble colours, and the test run uses
        few points). Try a SatCLIP checkpoint if you have one.

        ## Exercises

        1. Replace the linear probe by a k-nearest-neighbour classifier on lon/lat
           (`sklearn.neighbors.KNeighborsClassifier`). Does a non-linear model on coordinates catch
           up with the linear probe on embeddings? Why does the spatial block split matter here?
        2. Make it a yes/no question: is a point arid (Köppen group `"B"`)? Deserts lie at the same
           latitudes as very wet places (the Sahara and southern China), so position alone struggles.
           Which feature set helps most?
        3. With a SatCLIP checkpoint, compare L=10 and L=40 models as probe features.
        """
    ),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "01_land_ocean_implicit_representation": NB01,
    "02_spherical_harmonics_and_L": NB02,
    "03_positional_encodings_compared": NB03,
    "04_checkerboard_and_longitude": NB04,
    "05_location_embeddings": NB05,
    "06_query_by_click": NB06,
}
"""Notebook stem -> cells, in the learning-path order."""


def build(cells: list[Cell]) -> nbformat.NotebookNode:
    """A v4 notebook with outputs cleared and the venv's ``python3`` kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, src) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        cell["id"] = f"cell-{i:02d}"
        if kind == "code" and src.lstrip().startswith("import os\n\n# The test suite sets"):
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(cells: list[Cell]) -> str:
    """The ``.ipynb`` text written for ``cells``."""
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that notebooks/ is up to date")
    args = ap.parse_args(argv)
    stale = []
    NB_DIR.mkdir(exist_ok=True)
    for stem, cells in NOTEBOOKS.items():
        path = NB_DIR / f"{stem}.ipynb"
        text = render(cells)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text)
    if args.check:
        if stale:
            print("stale notebooks (run scripts/make_notebooks.py):", ", ".join(stale))
            return 1
        return 0
    print("wrote", ", ".join(stale) if stale else "nothing (all up to date)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
