"""Drawing the L sweep (:mod:`geoviz.training.lsweep`): Linear(SH) above Siren(SH) per L.

* :func:`comparison_map` / :func:`comparison_layout` / :func:`comparison_holomaps` draw the
  Linear map above the Siren map for one L (or with an L slider), :func:`accuracy_curve` the
  test accuracy vs L, :func:`l_sweep_layout` one map per L;
* the fits and their data types (:class:`LSweep`, :class:`LFit`, :func:`compare_l_sweep`, ...)
  live in :mod:`geoviz.training.lsweep` and are re-exported here for the notebooks.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from geoviz.training.lsweep import (DEFAULT_LS, NETWORK_LABELS, SMOOTHNESS_LESSON, SWEEP_LS, SWEEP_NETWORKS,
                                    SWEEP_SETTINGS, LFit, LFitSpec, LSweep, compare_l_sweep, f_max_deg, fit_executor,
                                    fit_l, fit_l_sweep, sweep_specs)

from ._hv import hv as _hv
from .colors import PLAND_CMAP

__all__ = [
    "SWEEP_CMAP",
    "fit_caption",
    "comparison_map",
    "comparison_layout",
    "comparison_holomaps",
    "accuracy_curve",
    "l_sweep_layout",
    # the fits, from geoviz.training.lsweep
    "DEFAULT_LS", "SWEEP_LS", "SWEEP_NETWORKS", "SWEEP_SETTINGS", "SMOOTHNESS_LESSON", "NETWORK_LABELS",
    "f_max_deg", "LFitSpec", "LFit", "LSweep", "fit_l", "compare_l_sweep", "fit_executor", "sweep_specs",
    "fit_l_sweep",
]

SWEEP_CMAP = PLAND_CMAP
"""Colormap of the P(land) maps: :data:`geoviz.viz.colors.PLAND_CMAP` (ocean teal (0), white at
the 0.5 decision boundary, land brown (1)), as on the dashboard's Training tab. A diverging map
makes Linear(SH)'s low-amplitude ripples (ringing) visible, which the two-tone ``landocean``
ramp hides."""


# ----------------------------------------------------------------------------- drawing


def fit_caption(nn: str, L: int, fit: LFit | None, status: str = "") -> str:
    """``"Linear(SH), L = 10 (f_max = 180°/(2L) = 9°) · test accuracy 91.8 %"`` (or ``· status``
    when ``fit`` is None)."""
    name = NETWORK_LABELS.get(nn, f"{nn}(SH)")
    head = f"{name}, L = {L} (f_max = 180°/(2L) = {f_max_deg(int(L)):.3g}°)"
    if fit is not None:
        return f"{head} · test accuracy {100 * fit.test_accuracy:.1f} %"
    return f"{head} · {status or 'not fitted'}"


def comparison_map(fit: LFit | None, *, nn: str | None = None, L: int | None = None,
                   grid_shape: Sequence[int] = (180, 360), width: int = 640, status: str = "",
                   title: str | None = None, coastlines: bool = True, cmap: str | None = SWEEP_CMAP,
                   n_classes: int | None = None) -> Any:
    """One equirectangular map of a fit at a true 2:1 aspect, P(land) colourbar, titled with
    the network, L, f_max and the test accuracy.

    Args:
        fit: the :class:`LFit`, or None for an empty placeholder (then ``nn`` and ``L`` name it
            and ``status`` says why it is empty, e.g. ``"fitting…"``).
        grid_shape: ``(H, W)`` of the placeholder.
        width: width in pixels of the map frame (its height is ``width // 2``; the colourbar
            and axes come on top).
        title: plot title (default: network, L, f_max, test accuracy; ``""`` for none).
        cmap: colormap of P(land) (default :data:`SWEEP_CMAP`; None: the ``landocean`` ramp).
        n_classes: for a multiclass task (e.g. checkerboard): the number of classes, so that the
            placeholder and every fit share one class colour bar (default: from the fit).

    Returns:
        ``hv.Image`` (binary: P(land) in [0, 1]; multiclass: class colours) overlaid with coastlines.
    """
    from .maps import flat_map

    hv = _hv()
    if fit is not None:
        nn, L = fit.spec.nn, fit.spec.L
        values, shape = fit.prediction, fit.grid_shape
        kind = "categorical" if np.issubdtype(values.dtype, np.integer) else "continuous"
    else:
        if nn is None or L is None:
            raise ValueError("pass a fit, or nn and L for a placeholder")
        shape = tuple(grid_shape)
        values = np.full(int(shape[0]) * int(shape[1]), np.nan)
        kind = "categorical" if n_classes else "continuous"
    label = "P(land)" if kind == "continuous" else "class"
    m = flat_map(values, shape, kind=kind, clim=(0, 1) if kind == "continuous" else None,
                 cmap=cmap if kind == "continuous" else None,
                 title=fit_caption(nn, int(L), fit, status) if title is None else title, coastlines=coastlines,
                 label=label)
    frame: dict[str, Any] = dict(frame_width=int(width), frame_height=int(width) // 2, width=None, height=None,
                                 xticks=[-180, -120, -60, 0, 60, 120, 180], yticks=[-90, -60, -30, 0, 30, 60, 90],
                                 fontsize={"title": "11pt"})
    if kind == "continuous":
        frame["colorbar_opts"] = {"title": "P(land)"}
    else:
        from .colors import categorical_palette, hex_colors

        n = int(n_classes) if n_classes else int(np.max(values)) + 1
        frame.update(cmap=hex_colors(categorical_palette(n)), clim=(-0.5, n - 0.5), color_levels=n, colorbar=True,
                     colorbar_opts={"title": "class"})
    return m.opts(hv.opts.Image(**frame))


def comparison_layout(sweep: LSweep, L: int, *, width: int = 640, status: str = "") -> Any:
    """The maps of every network of ``sweep`` at one ``L``, stacked (Linear on top).

    Returns:
        ``hv.Layout`` with one column.
    """
    hv = _hv()
    shape = sweep.grid_shape or (180, 360)
    maps = [comparison_map(sweep.get(nn, L), nn=nn, L=int(L), grid_shape=shape, width=width, status=status)
            for nn in sweep.networks]
    return hv.Layout(maps).cols(1).opts(shared_axes=False)


def comparison_holomaps(sweep: LSweep, *, width: int = 560) -> Any:
    """Linear and Siren maps with one L slider (an ``hv.Layout`` of ``hv.HoloMap`` keyed on L).

    In a notebook ``pn.panel(comparison_holomaps(sweep))`` shows the slider (rendered by the
    kernel, or embedded with ``widget_location`` / ``embed=True`` for a static page).
    """
    hv = _hv()
    if not sweep.fits:
        raise ValueError("the sweep has no fits")
    Ls = [L for L in sweep.Ls if all((nn, L) in sweep.fits for nn in sweep.networks)]
    hmaps = [hv.HoloMap({L: comparison_map(sweep.get(nn, L), width=width) for L in Ls}, kdims=["L"])
             for nn in sweep.networks]
    return hv.Layout(hmaps).cols(1).opts(shared_axes=False)


_NET_COLORS = {"linear": "#1f77b4", "siren": "#d62728", "fcnet": "#2ca02c"}


def accuracy_curve(sweep: LSweep, *, L: int | None = None, width: int = 420, height: int = 260) -> Any:
    """Test accuracy (%) versus L for every network (log L axis), the current ``L`` marked.

    Returns:
        ``hv.Overlay`` of ``hv.Curve`` + ``hv.Scatter`` per network (and a ``hv.VLine`` at ``L``).
    """
    hv = _hv()
    layers = []
    for nn in sweep.networks:
        acc = sweep.accuracy(nn)
        pts = [(L_, 100 * a) for L_, a in acc.items()]
        name = NETWORK_LABELS.get(nn, nn)
        color = _NET_COLORS.get(nn, "black")
        layers.append(hv.Curve(pts, "L", ("acc", "test accuracy (%)"), label=name).opts(color=color, line_width=2))
        layers.append(hv.Scatter(pts, "L", ("acc", "test accuracy (%)"), label=name).opts(
            color=color, size=7, tools=["hover"]))
    if L is not None:
        layers.append(hv.VLine(float(L)).opts(color="gray", line_dash="dashed", line_width=1))
    Ls = list(sweep.Ls)
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(width=width, height=height, logx=True, xlim=(min(Ls) * 0.8, max(Ls) * 1.25),
                        title="Test accuracy vs L", legend_position="bottom_right", show_grid=True,
                        xticks=[(v, str(v)) for v in Ls]))


def l_sweep_layout(results: dict[int, Any], grid: Any, *, kind: str | None = None, cmap: str | None = SWEEP_CMAP,
                   cols: int = 3, width: int = 360, height: int = 180, coastlines: bool = True) -> Any:
    """Lay out one flat map per L, titled ``L = .., f_max = 180°/(2L) = ..°``.

    Args:
        results: ``{L: (H*W,) values}`` from :func:`fit_l_sweep` (or :meth:`LSweep.predictions`).
        grid: :class:`geoviz.data.RegularGrid` or ``(H, W)``.
        kind: colouring (inferred: integer predictions → categorical).
        cmap: colormap of continuous values (default :data:`SWEEP_CMAP`, which shows ringing).
        width, height: size of each map's frame in pixels (use a 2:1 ratio for a true
            equirectangular aspect; the colourbar and axes come on top).

    Returns:
        ``hv.Layout`` with ``cols`` columns.
    """
    hv = _hv()

    from .maps import flat_map

    shape = getattr(grid, "shape", grid)
    panels = []
    for L, pred in results.items():
        p = np.asarray(pred)
        k = kind or ("categorical" if np.issubdtype(p.dtype, np.integer) else "continuous")
        title = f"L = {L}  (f_max = 180°/(2L) = {f_max_deg(int(L)):.2f}°)"
        m = flat_map(p, shape, kind=k, cmap=cmap, title=title, coastlines=coastlines,
                     label="P(land)" if k == "continuous" else "class")
        frame: dict[str, Any] = dict(frame_width=int(width), frame_height=int(height), width=None, height=None)
        if k == "continuous":
            frame["colorbar_opts"] = {"title": "P(land)"}
        panels.append(m.opts(hv.opts.Image(**frame)))
    if not panels:
        raise ValueError("results is empty")
    return hv.Layout(panels).cols(cols)
