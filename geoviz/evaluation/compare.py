"""Compare frozen location encoders on one task: both probes, test predictions, resolution curves.

The computation behind the dashboard's *Compare encoders* tab and notebook 08
(:func:`compare_encoders`, or step by step :func:`run_encoder` per encoder), with its
scoreboard and Matplotlib figures (:mod:`geoviz.render`: object API, safe in worker threads and
child processes).
One run embeds the task's points once per encoder (an optional
:class:`~geoviz.evaluation.EmbeddingCache`), scores the **linear** and the **MLP** probe
(:data:`geoviz.evaluation.PROBES`) on one random 50/50 split, keeps their test predictions,
and measures each encoder's checkerboard accuracy against cell size
(:func:`geoviz.evaluation.resolution.resolution_diagnostics`, small boards, no Siren
baseline) with its *resolved scale* (the smallest cell still classified ≥ 75 % right; boards on
land for image-derived models: see :mod:`geoviz.evaluation.resolution`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from geoviz import render

__all__ = ["DEFAULT_ENCODERS", "DEFAULT_SELECTION", "RESOLUTION_SETTINGS", "EncoderRun", "Comparison",
           "available_encoders", "new_comparison", "run_encoder", "compare_encoders", "scoreboard_html",
           "maps_figure", "resolution_figure", "figure_png", "truth_figure",
           "build_task", "one_thread", "draw_all", "maps_png", "split_halves"]

DEFAULT_ENCODERS: tuple[str, ...] = ("geoviz-bluemarble-l10", "sh:10", "wrap", "raw", "geoviz-bluemarble-l40")
"""Cheap encoders offered by the tab (GeoCLIP is added when installed: about 13 s per 10k points on CPU)."""

DEFAULT_SELECTION: tuple[str, ...] = ("geoviz-bluemarble-l10", "sh:10", "raw")
DEFAULT_TASK = "temperature"
DEFAULT_POINTS = 1000
POINT_OPTIONS = (500, 1000, 2000)
MAX_ENCODERS = 3
GEOCLIP_MAX_POINTS = 500
"""With GeoCLIP selected the tab uses at most this many task points (its CPU embedding is slow)."""

RESOLUTION_SETTINGS: dict[str, Any] = {"n": 600, "regions": 1, "anchors": 60, "siren_L": 0}
"""Small checkerboards for the tab (600 points per cell size, one region, no Siren baseline):
about a second per cheap encoder on an idle 2-core CPU; noisier than ``geoviz evaluate --resolution``."""

AGREE_COLORS = render.AGREE_COLORS
MAP_WIDTH_IN = 4.4
FIGURE_DPI = 90
"""Resolution of the figures here (their PNGs from :func:`figure_png`)."""


def available_encoders() -> list[str]:
    """:data:`DEFAULT_ENCODERS` that load offline now, plus ``geoclip`` when installed."""
    from geoviz.pretrained import is_available

    out = []
    for spec in DEFAULT_ENCODERS:
        try:
            ok = spec.startswith(("sh:", "raw", "wrap")) or is_available(spec)
        except Exception:  # an unknown name in a trimmed install
            ok = False
        if ok:
            out.append(spec)
    try:
        if is_available("geoclip"):
            out.append("geoclip")
    except Exception:
        pass
    return out


@dataclass
class EncoderRun:
    """One encoder on one task.

    Attributes:
        spec: encoder spec; description: one line; dim: feature count ``D``.
        scores: ``{probe: R² or accuracy}`` on the test points.
        predictions: ``{probe: (n_test,) array}`` (target units, or class indices).
        resolution: :class:`~geoviz.evaluation.resolution.ResolutionResult` or None (not measured).
        seconds: ``{"embedding", "probes", "resolution"}`` wall times.
    """

    spec: str
    description: str
    dim: int
    scores: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    resolution: Any = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Comparison:
    """Encoders compared on one task and one random 50/50 split.

    Attributes:
        task: the :class:`~geoviz.evaluation.EvalTask`.
        train, test: ``(n,)`` int64 indices into ``task.lonlat``.
        runs: one :class:`EncoderRun` per encoder, in the order asked.
        probes: probe names scored.
    """

    task: Any
    train: np.ndarray
    test: np.ndarray
    runs: list[EncoderRun] = field(default_factory=list)
    probes: tuple[str, ...] = ("linear", "mlp")

    @property
    def y_test(self) -> np.ndarray:
        """``(n_test,)`` true targets at the test points."""
        return self.task.y[self.test]

    @property
    def lonlat_test(self) -> np.ndarray:
        """``(n_test, 2)`` (lon, lat) degrees of the test points."""
        return self.task.lonlat[self.test]

    def best(self, probe: str) -> str | None:
        """Spec of the encoder with the highest score under ``probe`` (None without runs)."""
        runs = [r for r in self.runs if probe in r.scores]
        return max(runs, key=lambda r: r.scores[probe]).spec if runs else None


def split_halves(task: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` of the random 50/50 split number ``seed`` of ``task`` (as the evaluation suite makes it)."""
    from geoviz.evaluation import make_reps

    tr, te, _ = make_reps(task, "random", seeds=seed + 1)["random"][seed]
    return np.asarray(tr, np.int64), np.asarray(te, np.int64)


def new_comparison(task: Any, seed: int = 0) -> "Comparison":
    """An empty :class:`Comparison` of ``task`` on its random 50/50 split number ``seed``
    (:func:`split_halves`); add runs with :func:`run_encoder`."""
    train, test = split_halves(task, seed)
    return Comparison(task, train, test)


def run_encoder(spec: str, task: Any, train: np.ndarray, test: np.ndarray, *, cache: Any = None,
                probes: Sequence[str] = ("linear", "mlp"), epochs: int | None = None, resolution: bool = True,
                resolution_settings: dict[str, Any] | None = None, seed: int = 0) -> EncoderRun:
    """Embed ``task``'s points with ``spec``, score each probe on (``train``, ``test``), and
    optionally measure the checkerboard resolution.

    Args:
        spec: encoder spec (``"sh:10"``, ``"raw"``, a pretrained name, ...).
        task: :class:`~geoviz.evaluation.EvalTask`.
        train, test: int index arrays into the task's points.
        cache: :class:`~geoviz.evaluation.EmbeddingCache` (a fresh one by default).
        probes: names of :data:`geoviz.evaluation.PROBES`.
        epochs: MLP epochs (default :data:`geoviz.evaluation.MLP_EPOCHS`).
        resolution: run :func:`~geoviz.evaluation.resolution.resolution_diagnostics`
            with ``resolution_settings`` (default :data:`RESOLUTION_SETTINGS`).
        seed: seed of the MLP's initial weights and of the boards.

    Returns:
        :class:`EncoderRun`.

    Raises:
        ValueError: bad spec or probe name (from :mod:`geoviz.evaluation`).
    """
    from geoviz.evaluation import MLP_EPOCHS, PROBES, EmbeddingCache, get_encoder, score

    bad = [p for p in probes if p not in PROBES]
    if bad:
        raise ValueError(f"unknown probe(s) {bad}; valid: {list(PROBES)}")
    cache = cache if cache is not None else EmbeddingCache()
    enc = get_encoder(spec)
    t0 = time.perf_counter()
    X = cache.get(enc, task.lonlat)
    run = EncoderRun(enc.spec, enc.description, int(X.shape[1]))
    run.seconds["embedding"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = [(np.asarray(train), np.asarray(test), int(seed))]
    for p in probes:
        kw = {"epochs": int(epochs or MLP_EPOCHS)} if p == "mlp" else {}
        pred = PROBES[p](X, task.y, task.kind, rep, n_classes=task.n_classes, **kw)[0]
        run.predictions[p] = np.asarray(pred)
        run.scores[p] = score(task.kind, task.y[test], pred)
    run.seconds["probes"] = time.perf_counter() - t0
    if resolution:
        from geoviz.evaluation.resolution import resolution_diagnostics

        t0 = time.perf_counter()
        run.resolution = resolution_diagnostics(enc, cache=cache, seed=seed,
                                                **(resolution_settings or RESOLUTION_SETTINGS))
        run.seconds["resolution"] = time.perf_counter() - t0
    return run


def compare_encoders(encoders: Sequence[str], task: str | Any, *, n: int = DEFAULT_POINTS, seed: int = 0,
                     cache: Any = None, probes: Sequence[str] = ("linear", "mlp"), epochs: int | None = None,
                     resolution: bool = True, resolution_settings: dict[str, Any] | None = None,
                     progress: Callable[[str], None] | None = None) -> Comparison:
    """Compare encoders on one task (what the tab's *Compare* button runs, step by step).

    Args:
        encoders: 1 to 3 encoder specs (duplicates dropped).
        task: a task name (built with ``n`` points, ``seed``) or an :class:`~geoviz.evaluation.EvalTask`.
        n: points of the task (half train, half test). seed: task sampling, split and MLP seed.
        cache, probes, epochs, resolution, resolution_settings: as :func:`run_encoder`.
        progress: called with a one-line message after each encoder.

    Returns:
        :class:`Comparison`.

    Raises:
        ValueError: no encoders, more than :data:`MAX_ENCODERS`, an unknown task or spec.
    """
    from geoviz.evaluation import EmbeddingCache, get_eval_task

    specs = list(dict.fromkeys(s.strip() for s in encoders if isinstance(s, str) and s.strip()))
    if not specs:
        raise ValueError("pick at least one encoder")
    if len(specs) > MAX_ENCODERS:
        raise ValueError(f"pick at most {MAX_ENCODERS} encoders, got {len(specs)}: {specs}")
    t = get_eval_task(task, n=n, seed=seed) if isinstance(task, str) else task
    train, test = split_halves(t, seed)
    cache = cache if cache is not None else EmbeddingCache()
    comp = Comparison(t, train, test, probes=tuple(probes))
    for s in specs:
        comp.runs.append(run_encoder(s, t, train, test, cache=cache, probes=probes, epochs=epochs,
                                     resolution=resolution, resolution_settings=resolution_settings, seed=seed))
        if progress is not None:
            progress(f"{s} done")
    return comp


# ---------------------------------------------------------------------------- views (pure)


def _fmt_score(metric: str, v: float) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{100 * v:.1f} %" if metric == "accuracy" else f"{v:.3f}"


def scoreboard_html(comp: Comparison) -> str:
    """An HTML table: one row per encoder; the linear and MLP scores side by side (best per
    probe in bold), feature count, resolved scale and time."""
    import html

    t = comp.task
    metric = "accuracy" if t.metric == "accuracy" else "R²"
    best = {p: comp.best(p) for p in comp.probes}
    head = "".join(f"<th>{p} probe {metric}</th>" for p in comp.probes)
    rows = []
    for r in comp.runs:
        cells = []
        for p in comp.probes:
            s = _fmt_score(t.metric, r.scores.get(p, float("nan")))
            cells.append(f"<td><b>{s}</b></td>" if best[p] == r.spec and len(comp.runs) > 1 else f"<td>{s}</td>")
        res = r.resolution
        scale = "–" if res is None else (f"{res.resolved_scale:.0f}°" if np.isfinite(res.resolved_scale) else "none")
        secs = sum(r.seconds.values())
        rows.append(f"<tr><td style='text-align:left'><code>{html.escape(r.spec)}</code></td><td>{r.dim}</td>"
                    + "".join(cells) + f"<td>{scale}</td><td>{secs:.1f} s</td></tr>")
    cap = (f"<b>{html.escape(t.name)}</b>: {len(comp.train)} training and {len(comp.test)} test points "
           f"(random 50/50 split); best per probe in bold")
    return ('<table class="geoviz-results" style="border-collapse:collapse">'
            f"<caption style='caption-side:top;text-align:left'>{cap}</caption>"
            f"<thead><tr><th style='text-align:left'>encoder</th><th>D</th>{head}<th>resolved scale</th>"
            f"<th>time</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _map_axes(ax: Any, title: str) -> None:
    render.style_map_axes(ax, title, ticks=False, coast_color="0.45", coast_width=0.4, facecolor="#f4f6f8",
                          fontsize=8.5)


def _point_size(n: int) -> float:
    return float(np.clip(3000.0 / max(n, 1), 2.0, 9.0))


def maps_figure(comp: Comparison, probe: str = "linear") -> Any:
    """Maps of the test points, one column per encoder (a Matplotlib ``Figure``, :mod:`geoviz.render`).

    Regression: row 1 the prediction (shared colour scale with the truth, task units), row 2
    the residual prediction − truth (diverging, symmetric, task units). Classification: row 1
    the predicted class, row 2 agreement with the true class (green correct, red wrong).
    Each map is 2:1 (lon −180..180, lat −90..90) with coastlines.
    """
    t = comp.task
    runs = [r for r in comp.runs if probe in r.predictions]
    k = max(1, len(runs))
    fig, axes = render.map_figure(2, k, panel_width=MAP_WIDTH_IN, dpi=FIGURE_DPI, extra_width=0.9, extra_height=0.45)
    p, y = comp.lonlat_test, comp.y_test
    size = _point_size(len(y))
    if t.kind == "regression":
        st = render.field_style(t.name if t.name in render.FIELD_CMAPS else None, y, (2, 98))
        (lo, hi), cmap = st["clim"], st["cmap"]
        res_all = np.concatenate([r.predictions[probe] - y for r in runs]) if runs else np.zeros(1)
        rlo, rhi = render.symmetric_clim(res_all, 98)
        im1 = im2 = None
        for j, r in enumerate(runs):
            pred = r.predictions[probe]
            _map_axes(axes[0, j], f"{r.spec}: predicted ({probe}, R² {r.scores[probe]:.2f})")
            im1 = axes[0, j].scatter(p[:, 0], p[:, 1], c=pred, s=size, cmap=cmap, vmin=lo, vmax=hi,
                                     linewidths=0, zorder=2)
            _map_axes(axes[1, j], f"{r.spec}: residual (RMSE {np.sqrt(np.mean((pred - y) ** 2)):.2g} {t.units})")
            im2 = axes[1, j].scatter(p[:, 0], p[:, 1], c=pred - y, s=size, cmap=render.DIVERGING_CMAP, vmin=rlo,
                                     vmax=rhi, linewidths=0, zorder=2)
        if im1 is not None:
            render.add_colorbar(fig, im1, axes[0, :], f"predicted {t.name} [{t.units}]", center=st["center"], shrink=0.9)
            render.add_colorbar(fig, im2, axes[1, :], f"predicted − true [{t.units}]", center=0.0, shrink=0.9)
    else:
        cmap, norm = render.class_colormap(max(t.n_classes, 1))
        for j, r in enumerate(runs):
            pred = r.predictions[probe]
            _map_axes(axes[0, j], f"{r.spec}: predicted class ({probe})")
            axes[0, j].scatter(p[:, 0], p[:, 1], c=pred, s=size, cmap=cmap, norm=norm, linewidths=0, zorder=2)
            ok = pred == y
            _map_axes(axes[1, j], f"{r.spec}: agrees with truth ({100 * ok.mean():.0f} %)")
            axes[1, j].scatter(p[ok, 0], p[ok, 1], c=AGREE_COLORS["correct"], s=size, linewidths=0, zorder=2)
            axes[1, j].scatter(p[~ok, 0], p[~ok, 1], c=AGREE_COLORS["wrong"], s=size, linewidths=0, zorder=3)
        render.class_legend(fig, [AGREE_COLORS["correct"], AGREE_COLORS["wrong"]], ["correct class", "wrong class"],
                            loc="outside lower center", ncol=2, fontsize=8)
    for j in range(len(runs), k):
        axes[0, j].set_visible(False)
        axes[1, j].set_visible(False)
    return fig


def truth_figure(comp: Comparison) -> Any:
    """The true target at the test points (2:1 map, colour bar in the task's units or classes)."""
    t = comp.task
    fig, axes = render.map_figure(1, 1, panel_width=MAP_WIDTH_IN, dpi=FIGURE_DPI, extra_width=0.9, extra_height=0.45)
    ax = axes[0, 0]
    p, y = comp.lonlat_test, comp.y_test
    size = _point_size(len(y))
    _map_axes(ax, f"true {t.name} at the {len(y)} test points")
    if t.kind == "regression":
        st = render.field_style(t.name if t.name in render.FIELD_CMAPS else None, y, (2, 98))
        (lo, hi) = st["clim"]
        im = ax.scatter(p[:, 0], p[:, 1], c=y, s=size, cmap=st["cmap"], vmin=lo, vmax=hi, linewidths=0, zorder=2)
        render.add_colorbar(fig, im, ax, f"{t.name} [{t.units}]", center=st["center"], shrink=0.9)
    else:
        K = max(t.n_classes, 1)
        cmap, norm = render.class_colormap(K)
        ax.scatter(p[:, 0], p[:, 1], c=y, s=size, cmap=cmap, norm=norm, linewidths=0, zorder=2)
        ax.set_title(f"true {t.name} at the {len(y)} test points ({K} classes)", fontsize=8.5)
    return fig


def resolution_figure(comp: Comparison) -> Any:
    """Checkerboard linear-probe accuracy vs cell size, one curve per encoder, resolved scales marked."""
    fig = render.new_figure((6.2, 3.3), dpi=FIGURE_DPI)
    ax = fig.subplots()
    cells = None
    for i, r in enumerate(comp.runs):
        res = r.resolution
        if res is None:
            continue
        cells = res.cells
        sc = res.resolved_scale
        where = ", land" if res.extra.get("land_only") else ""
        lab = (f"{r.spec} (resolved {sc:.0f}°{where})" if np.isfinite(sc)
               else f"{r.spec} (resolves no board{where})")
        ax.plot(res.cells, 100 * np.asarray(res.accuracy), "o-", color=f"C{i}", label=lab)
        if np.isfinite(sc):
            ax.axvline(sc, color=f"C{i}", ls=":", lw=1.2)
    ax.axhline(50, color="0.6", lw=1, ls="--", label="chance")
    ax.axhline(75, color="0.3", lw=0.8, ls=":", label="75 %: resolved above this")
    ax.set_xscale("log")
    if cells:
        ax.set_xticks(cells, [f"{c:g}°" for c in cells])
        ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_ylim(35, 105)
    ax.set_xlabel("checkerboard cell size (finer →)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("What scale does each encoder resolve? (linear probe on frozen features)", fontsize=9)
    ax.legend(fontsize=7.5, loc="upper right")
    return fig


figure_png = render.figure_png
"""PNG bytes of a Matplotlib ``Figure`` at ``dpi`` (default the figure's own: :data:`FIGURE_DPI`
for the figures here): :func:`geoviz.render.figure_png`."""


def build_task(name: str, n: int) -> Any:
    """The evaluation task ``name`` with ``n`` points (seed 0), as the tab uses it."""
    from geoviz.evaluation import get_eval_task

    return get_eval_task(name, n=n, seed=0)


def one_thread(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Run ``fn`` with torch on one intra-op thread (a worker of a shared server)."""
    import torch

    torch.set_num_threads(1)
    return fn(*args, **kw)


def draw_all(comp: "Comparison", probe: str) -> dict[str, bytes]:
    """PNG bytes of the three figures of a comparison: ``truth``, ``maps`` (for ``probe``), ``curves``."""
    return {"truth": figure_png(truth_figure(comp)), "maps": figure_png(maps_figure(comp, probe)),
            "curves": figure_png(resolution_figure(comp))}


def maps_png(comp: "Comparison", probe: str) -> bytes:
    """PNG bytes of :func:`maps_figure` for ``probe``."""
    return figure_png(maps_figure(comp, probe))
