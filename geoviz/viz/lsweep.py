"""Side-by-side maps of one task fitted with SH of increasing order L.

``legendre_polys = L`` keeps degrees 0..L-1; the talk's rule of thumb for Linear(SH) is a
finest resolvable feature of ``f_max = 180° / (2L)`` (L = 10 → 9°, L = 40 → 2.25°), which
each panel's title states.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._hv import hv as _hv

__all__ = ["DEFAULT_LS", "f_max_deg", "fit_l_sweep", "l_sweep_layout"]

DEFAULT_LS: tuple[int, ...] = (1, 3, 5, 10, 20, 40)


def f_max_deg(L: int) -> float:
    """The talk's finest resolvable feature size for ``legendre_polys = L``: ``180 / (2 L)`` degrees."""
    if not isinstance(L, (int, np.integer)) or isinstance(L, bool) or L < 1:
        raise ValueError(f"L must be a positive int, got {L!r}")
    return 180.0 / (2 * int(L))


def fit_l_sweep(task: Any = "landocean", Ls: Sequence[int] = DEFAULT_LS, epochs: int = 50, *,
                grid: Any = None, resolution: float = 2.0, nn: str = "siren", **train_kwargs: Any) -> dict[int, np.ndarray]:
    """Train one model per L on the same data and predict on a regular grid.

    Args:
        task: a task name (``"landocean"``, ``"checkerboard"``) or a :class:`geoviz.data.Task`.
        Ls: values of ``legendre_polys``.
        epochs: ``max_epochs`` of each run (early stopping disabled).
        grid: :class:`geoviz.data.RegularGrid` to predict on (default ``regular_grid(resolution)``).
        resolution: grid cell size in degrees when ``grid`` is None.
        nn: network name; ``**train_kwargs`` go to :class:`geoviz.training.TrainConfig`
            (e.g. ``lr``, ``nn_kwargs``, ``dtype``, ``seed``).

    Returns:
        ``{L: (H*W,) prediction}`` (probabilities for binary tasks, classes otherwise), in
        the order of ``Ls``; the grid is available as ``result_grid = grid`` you passed or
        ``regular_grid(resolution)``.
    """
    from geoviz.data import get_task, regular_grid
    from geoviz.training import TrainConfig, Trainer

    t = get_task(task) if isinstance(task, str) else task
    g = grid if grid is not None else regular_grid(resolution)
    if nn == "linear":
        train_kwargs.setdefault("nn_kwargs", {})  # the default Siren hyperparameters do not apply
    out: dict[int, np.ndarray] = {}
    for L in Ls:
        f_max_deg(L)
        cfg = TrainConfig(pe="sphericalharmonics", nn=nn, pe_kwargs={"legendre_polys": int(L)},
                          max_epochs=int(epochs), patience=None, **train_kwargs)
        trainer = Trainer(t, cfg, predict_lonlat=g.lonlat, predict_every=int(epochs))
        last = None
        for rec in trainer.run():
            last = rec
        out[int(L)] = last.prediction
    return out


def l_sweep_layout(results: dict[int, Any], grid: Any, *, kind: str | None = None, cmap: str | None = None,
                   cols: int = 3, width: int = 360, height: int = 180, coastlines: bool = True) -> Any:
    """Lay out one flat map per L, titled ``L = .., f_max = 180°/(2L) = ..°``.

    Args:
        results: ``{L: (H*W,) values}`` from :func:`fit_l_sweep`.
        grid: :class:`geoviz.data.RegularGrid` or ``(H, W)``.
        kind: colouring (inferred: integer predictions → categorical).

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
        panels.append(flat_map(p, shape, kind=k, cmap=cmap, title=title, width=width, height=height,
                               coastlines=coastlines, label="p(land)" if k == "continuous" else "class"))
    if not panels:
        raise ValueError("results is empty")
    return hv.Layout(panels).cols(cols)
