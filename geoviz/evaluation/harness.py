"""Run encoders × tasks × probes × splits and report the scores.

    >>> from geoviz.evaluation import evaluate
    >>> res = evaluate(["geoviz-bluemarble-l10", "sh:10"], ["temperature", "countries"])
    >>> print(res.table("linear", "random"))
    >>> res.records()      # [{"encoder", "task", "probe", "split", "region", "metric", "mean", "std",
    ...                    #   "ci_low", "ci_high", "n_train", "n_test"}, ...]

The protocol (:func:`evaluate`): every seed draws its own sample of each task, each split
gives one repetition per seed, every repetition's training side is cut to the same number of
points (``n_train``), and each score is reported as the mean over seeds with a 95 % Student-t
interval over the seed results, for all test points and separately without / only
Antarctica (lat < −60°, :data:`ANTARCTICA_LAT`).

Splits (:data:`SPLITS`):

- ``random``: 50/50 random split of the seed's sample (the SatCLIP notebook).
- ``blocks``: one fold of a spatial-block K-fold (:func:`geoviz.data.splits.block_kfold`,
  ``block_deg`` cells, ``folds`` folds, shuffled with the seed; fold ``seed mod folds``).
- ``continents``: train outside, test inside a continent, separately for Asia and Africa
  (SatCLIP Table 3), reported as the splits ``continent:Asia`` and ``continent:Africa``.
  Continents are Natural Earth's (:func:`geoviz.data.splits.continent_of`): **Russia,
  Siberia included, is in Europe**, so held-out "Asia" has no Siberia
  (:data:`CONTINENT_LABELS`). Not defined for the ``continents`` task.

:func:`make_reps` is the older fixed-sample expansion (``seeds`` random splits, every block
fold, the same hold-out per seed), used by the Compare tab's single split.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .encoders import EmbeddingCache, get_encoder
from .probes import INNER_FOLDS, MLP_EPOCHS, MLP_GRID, PROBES, Rep, score
from .tasks import DEFAULT_N, EvalTask, get_eval_task, list_eval_tasks

__all__ = ["SPLITS", "HOLDOUT_CONTINENTS", "CONTINENT_LABELS", "REGIONS", "REGION_LABELS", "ANTARCTICA_LAT",
           "DEFAULT_SEEDS", "Record", "EvaluationResult", "evaluate", "make_reps", "protocol_reps", "t_interval",
           "region_masks", "split_label", "parse_list"]

HOLDOUT_CONTINENTS = ("Asia", "Africa")
SPLITS = ("random", "blocks", "continents")
CONTINENT_LABELS = {"Asia": "Asia (Natural Earth: Russia is in Europe)", "Africa": "Africa (Natural Earth)"}
"""How the held-out continents are named in tables: as the Natural Earth polygons define them."""
ANTARCTICA_LAT = -60.0
"""Antarctica, for scoring, is every point south of this latitude (the Antarctic Treaty line)."""
REGIONS = ("all", "no-antarctica", "antarctica")
REGION_LABELS = {"all": "all test points", "no-antarctica": "without Antarctica (lat ≥ −60°)",
                 "antarctica": "Antarctica only (lat < −60°)"}
DEFAULT_SEEDS = 5


def split_label(split: str) -> str:
    """A split's name for tables (``continent:Asia`` → ``held-out Asia (Natural Earth: Russia is in Europe)``)."""
    if split.startswith("continent:"):
        c = split.split(":", 1)[1]
        return f"held-out {CONTINENT_LABELS.get(c, c)}"
    return split


@dataclass
class Record:
    """One cell of the results: an encoder's score on a task under a probe and split."""

    encoder: str
    task: str
    probe: str
    split: str
    metric: str
    mean: float
    std: float
    n_train: int
    n_test: int
    values: list[float] = field(default_factory=list)
    region: str = "all"
    ci_low: float = float("nan")
    ci_high: float = float("nan")

    def as_json(self, values: bool = False) -> dict[str, Any]:
        """The published record keys (``values``, the per-seed scores, only when asked)."""
        d = asdict(self)
        if not values:
            d.pop("values")
        return d


def parse_list(text: str | Sequence[str], allowed: Sequence[str] | None = None, what: str = "item") -> list[str]:
    """``"a,b,c"`` (or a list) → ``["a", "b", "c"]``; ``"all"`` → ``allowed``; unknown names raise ValueError."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if not items:
        raise ValueError(f"no {what} given")
    if allowed is not None:
        if items == ["all"]:
            return list(allowed)
        bad = [s for s in items if s.lower() not in allowed]
        if bad:
            raise ValueError(f"unknown {what}(s) {bad}; valid: {list(allowed)} (or 'all')")
        items = [s.lower() for s in items]
    return items


def make_reps(task: EvalTask, split: str, *, seeds: int = 3, block_deg: float = 10.0, folds: int = 5
              ) -> dict[str, list[Rep]]:
    """Expand a split name into named repetition lists for ``task``.

    Returns:
        ``{split_label: [(train_idx, test_idx, seed), ...]}``; ``"continents"`` gives two labels
        (``continent:Asia``, ``continent:Africa``) and nothing for the ``continents`` task.

    Raises:
        ValueError: unknown split; a repetition with an empty train or test side (named).
    """
    from geoviz.data import splits as S

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {list(SPLITS)}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    n = len(task)
    out: dict[str, list[Rep]] = {}
    if split == "random":
        out["random"] = [(*S.random_split(n, 0.5, seed=s), s) for s in range(seeds)]
    elif split == "blocks":
        out["blocks"] = [(tr, te, f) for f, (tr, te) in enumerate(S.block_kfold(task.lonlat, block_deg, k=folds, seed=0))]
    elif task.name != "continents":
        cont = S.continent_of(task.lonlat)
        for c in HOLDOUT_CONTINENTS:
            m = cont == c
            if task.kind == "classification" and m.any() and (~m).any() and not np.isin(task.y[m], task.y[~m]).any():
                continue  # no test class is ever seen in training (e.g. countries): accuracy is 0 by construction
            out[f"continent:{c}"] = [(np.flatnonzero(~m), np.flatnonzero(m), s) for s in range(seeds)]
    for label, reps in out.items():
        for tr, te, _ in reps:
            if len(tr) == 0 or len(te) == 0:
                side = "train" if len(tr) == 0 else "test"
                raise ValueError(f"split {label!r} of task {task.name!r} has an empty {side} set "
                                 f"({len(task)} points); use more points or another split")
    return out


@dataclass
class EvaluationResult:
    """All records of a run plus timings (seconds) and the task descriptions."""

    records_: list[Record]
    timings: dict[str, float]
    tasks: dict[str, EvalTask]
    encoders: list[str]
    settings: dict[str, Any]
    samples: dict[str, list[EvalTask]] = field(default_factory=dict)

    def records(self, values: bool = False) -> list[dict[str, Any]]:
        """JSON-ready records ``{"encoder", "task", "probe", "split", "region", "metric", "mean", "std",
        "ci_low", "ci_high", "n_train", "n_test"}`` (``"values"``: the per-seed scores, when asked)."""
        return [r.as_json(values) for r in self.records_]

    def splits(self) -> list[str]:
        """Split labels present, in run order."""
        return list(dict.fromkeys(r.split for r in self.records_))

    def probes(self) -> list[str]:
        return list(dict.fromkeys(r.probe for r in self.records_))

    def get(self, encoder: str, task: str, probe: str, split: str, region: str = "all") -> Record | None:
        for r in self.records_:
            if (r.encoder, r.task, r.probe, r.split, r.region) == (encoder, task, probe, split, region):
                return r
        return None

    def table(self, probe: str, split: str, fmt: str = "text", region: str = "all") -> str:
        """Tasks × encoders table of ``mean [95 % interval]`` for one probe, split and region (best per row marked).

        Args:
            fmt: ``"text"`` (aligned, best marked ``*``) or ``"markdown"`` (best in bold).
            region: a key of :data:`REGION_LABELS`.
        """
        header = ["task (metric)", *self.encoders]
        rows = []
        for t in self.tasks:
            recs = [self.get(e, t, probe, split, region) for e in self.encoders]
            if all(r is None for r in recs):
                continue
            best = max((r.mean for r in recs if r is not None), default=np.nan)
            cells = []
            for r in recs:
                if r is None:
                    cells.append("n/a")
                    continue
                k = 100.0 if r.metric == "accuracy" else 1.0
                d = 1 if r.metric == "accuracy" else 3
                s = f"{k * r.mean:.{d}f}"
                if np.isfinite(r.ci_low):
                    s += f" [{k * r.ci_low:.{d}f}, {k * r.ci_high:.{d}f}]"
                if r.mean == best and len(self.encoders) > 1:
                    s = f"**{s}**" if fmt == "markdown" else f"{s} *"
                cells.append(s)
            metric = next(r.metric for r in recs if r is not None)
            rows.append([f"{t} ({'acc %' if metric == 'accuracy' else 'R²'})", *cells])
        if fmt == "markdown":
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            return "\n".join(lines)
        widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
        fmt_row = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
        return "\n".join([fmt_row(header), fmt_row(["-" * w for w in widths]), *map(fmt_row, rows)])

    def wins(self) -> dict[tuple[str, str], dict[str, str]]:
        """``{(probe, split): {task: best encoder}}``."""
        out: dict[tuple[str, str], dict[str, str]] = {}
        for p in self.probes():
            for s in self.splits():
                d = {}
                for t in self.tasks:
                    recs = [r for r in (self.get(e, t, p, s) for e in self.encoders) if r is not None]
                    if recs:
                        d[t] = max(recs, key=lambda r: r.mean).encoder
                if d:
                    out[(p, s)] = d
        return out

    def markdown(self) -> str:
        """A markdown report: settings, timings, one table per probe and split, task notes."""
        st = self.settings
        lines = [
            "# geoviz evaluate",
            "",
            f"Encoders: {', '.join(f'`{e}`' for e in self.encoders)}. Points per task: {st.get('n')}; seeds: "
            f"{st.get('seeds')} (each its own task sample); training points per repetition: {st.get('n_train')}; "
            f"blocks: one fold per seed of a {st.get('folds')}-fold, {st.get('block_deg')}° partition; MLP: "
            f"{st.get('epochs')} full-batch Adam epochs, 2 × 64 ReLU, lr × weight decay tuned by "
            f"{st.get('inner_folds')}-fold inner CV over {st.get('mlp_grid')}. Scores: mean [95 % Student-t "
            "interval] over seeds; R² for regression, accuracy (%) for classification; best per row in bold. "
            "Antarctica = lat < −60°.",
            "",
            "Time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items()),
            "",
        ]
        for p in self.probes():
            for s in self.splits():
                for reg in self.settings.get("regions", ["all"]):
                    tab = self.table(p, s, "markdown", reg)
                    if tab.count("\n") >= 2:
                        lines += [f"## {p} probe, split {split_label(s)}, {REGION_LABELS.get(reg, reg)}", "", tab, ""]
        lines += ["## Tasks", "", "| task | N | sampling | data and licence |", "|---|---|---|---|"]
        for t in self.tasks.values():
            lines.append(f"| `{t.name}` | {len(t)} | {t.sampling} | {t.licence} |")
        return "\n".join(lines) + "\n"

    def figure(self, path: str | Path | None = None) -> Any:
        """Heat maps (tasks × encoders) of the mean score, one panel per probe × split.

        Returns the matplotlib ``Figure`` (saved to ``path`` when given).
        """
        # the object API (no pyplot, no backend switch): safe in notebooks and threads
        from matplotlib.figure import Figure

        probes, splits = self.probes(), self.splits()
        tasks = list(self.tasks)
        fig = Figure(figsize=(2.2 + 1.1 * len(self.encoders) * len(splits), 0.9 + 0.42 * len(tasks) * len(probes)),
                     constrained_layout=True)
        axes = fig.subplots(len(probes), len(splits), squeeze=False)
        im = None
        for i, p in enumerate(probes):
            for j, s in enumerate(splits):
                ax = axes[i, j]
                M = np.full((len(tasks), len(self.encoders)), np.nan)
                for a, t in enumerate(tasks):
                    for b, e in enumerate(self.encoders):
                        r = self.get(e, t, p, s)
                        if r is not None:
                            M[a, b] = r.mean
                im = ax.imshow(np.clip(M, 0, 1), vmin=0, vmax=1, cmap="viridis", aspect="auto")
                for a in range(len(tasks)):
                    for b in range(len(self.encoders)):
                        if np.isfinite(M[a, b]):
                            best = np.nanmax(M[a]) == M[a, b]
                            ax.text(b, a, f"{M[a, b]:.2f}", ha="center", va="center", fontsize=7,
                                    color="k" if M[a, b] > 0.6 else "w", fontweight="bold" if best else "normal")
                ax.set_xticks(range(len(self.encoders)), self.encoders, rotation=35, ha="right", fontsize=7)
                ax.set_yticks(range(len(tasks)), tasks if j == 0 else [""] * len(tasks), fontsize=7)
                ax.set_title(f"{p} probe · {s}  (bold: best)", fontsize=8)
        if im is not None:
            fig.colorbar(im, ax=axes, shrink=0.8, label="R² or accuracy (R² < 0 drawn as 0)")
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def write(self, out_dir: str | Path, json_path: str | Path | None = None) -> dict[str, Path]:
        """Write ``evaluation.md``, ``evaluation.png`` (and the JSON records) and return the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"markdown": out / "evaluation.md", "figure": out / "evaluation.png"}
        paths["markdown"].write_text(self.markdown())
        self.figure(paths["figure"])
        if json_path is not None:
            paths["json"] = Path(json_path)
            paths["json"].parent.mkdir(parents=True, exist_ok=True)
            paths["json"].write_text(json.dumps(self.records(), indent=1))
        return paths


def _subsample(tr: np.ndarray, n_train: int | None, seed: int) -> np.ndarray:
    """``tr`` cut to ``n_train`` indices (seeded, sorted); unchanged when already that small."""
    tr = np.asarray(tr)
    if n_train is None or len(tr) <= n_train:
        return tr
    return np.sort(np.random.default_rng(50_000 + int(seed)).choice(tr, size=int(n_train), replace=False))


def protocol_reps(task: EvalTask, split: str, seed: int, *, block_deg: float = 10.0, folds: int = 5
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The repetition of seed ``seed`` of a split (before the training side is cut to ``n_train``).

    ``random``: the 50/50 split ``seed``; ``blocks``: fold ``seed mod folds`` of the
    ``folds``-fold block partition shuffled with ``seed``; ``continents``: train outside, test
    inside each of :data:`HOLDOUT_CONTINENTS` (as Natural Earth draws them: Russia is in Europe).
    """
    from geoviz.data import splits as S

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {list(SPLITS)}")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if split == "random":
        out["random"] = S.random_split(len(task), 0.5, seed=seed)
    elif split == "blocks":
        out["blocks"] = S.block_kfold(task.lonlat, block_deg, k=folds, seed=seed)[seed % folds]
    elif task.name != "continents":
        cont = S.continent_of(task.lonlat)
        for c in HOLDOUT_CONTINENTS:
            m = cont == c
            if task.kind == "classification" and m.any() and (~m).any() and not np.isin(task.y[m], task.y[~m]).any():
                continue  # no test class is ever seen in training (e.g. countries): accuracy is 0 by construction
            out[f"continent:{c}"] = (np.flatnonzero(~m), np.flatnonzero(m))
    for label, (tr, te) in out.items():
        if len(tr) == 0 or len(te) == 0:
            side = "train" if len(tr) == 0 else "test"
            raise ValueError(f"split {label!r} of task {task.name!r} has an empty {side} set "
                             f"({len(task)} points); use more points or another split")
    return out


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (NaN with fewer than 2 values)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if len(v) < 2:
        return float("nan"), float("nan")
    from scipy.stats import t

    h = float(t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return float(v.mean() - h), float(v.mean() + h)


def region_masks(lonlat: np.ndarray, regions: Sequence[str] = REGIONS) -> dict[str, np.ndarray]:
    """Boolean masks of the scoring regions: ``all``, ``no-antarctica`` (lat ≥ −60°),
    ``antarctica`` (lat < :data:`ANTARCTICA_LAT`)."""
    lat = np.asarray(lonlat)[:, 1]
    ant = lat < ANTARCTICA_LAT
    masks = {"all": np.ones(len(lat), bool), "no-antarctica": ~ant, "antarctica": ant}
    return {r: masks[r] for r in regions}


def evaluate(
    encoders: Sequence[str],
    tasks: Sequence[str] | str = "all",
    probes: Sequence[str] = ("linear", "mlp"),
    splits: Sequence[str] = SPLITS,
    *,
    n: int = DEFAULT_N,
    seeds: int = DEFAULT_SEEDS,
    n_train: int | str | None = "equal",
    resample: bool = True,
    block_deg: float = 10.0,
    folds: int = 5,
    epochs: int = MLP_EPOCHS,
    mlp_grid: Sequence[dict[str, float]] | None = MLP_GRID,
    inner_folds: int = INNER_FOLDS,
    regions: Sequence[str] = REGIONS,
    cache: EmbeddingCache | None = None,
    task_objects: Sequence[EvalTask] = (),
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Score frozen encoders on downstream tasks with linear and MLP probes.

    The protocol: for each seed ``s`` (``seeds`` of them) every registry task draws its own
    sample of ``n`` points (``resample``; ``task_objects`` stay fixed), each split gives one
    repetition (:func:`protocol_reps`) whose training side is cut to the same ``n_train``
    points for every split, and each probe is scored on the test side over every region of
    ``regions`` (all test points, those north of −60°, those south of it). Scores are
    summarised by the mean over seeds and a 95 % Student-t interval over the seed results
    (:func:`t_interval`). The MLP's learning rate and weight decay are chosen from
    ``mlp_grid`` by ``inner_folds``-fold CV on the first seed's training side of each encoder
    × task × split and reused for the other seeds (:func:`~geoviz.evaluation.probes.tune_mlp`).

    Args:
        encoders: encoder specs (:func:`geoviz.evaluation.get_encoder`).
        tasks: task names (:func:`geoviz.evaluation.list_eval_tasks`) or ``"all"``.
        probes: subset of ``("linear", "mlp")``.
        splits: subset of :data:`SPLITS`.
        n: points per task sample. seeds: repetitions (samples × splits × MLP initialisations).
        n_train: training points of every repetition: an int, ``"equal"`` (the smallest
            training side over the task's splits and seeds) or ``None`` (no cut).
        resample: every seed draws its own task sample (registry tasks).
        block_deg: block size of the ``blocks`` split (degrees). folds: its K.
        epochs: MLP epochs. mlp_grid: its tuning grid (``None``: fixed lr 1e-3, no weight decay).
        inner_folds: folds of the MLP's inner CV. regions: scoring regions (:func:`region_masks`).
        cache: an :class:`EmbeddingCache` (a fresh in-memory one by default).
        task_objects: extra ready-made :class:`EvalTask` objects (e.g. synthetic ones).
        progress: called with a one-line message after each step.

    Returns:
        :class:`EvaluationResult`.

    Raises:
        ValueError: bad encoder spec, unknown task / probe / split / region, an empty split.
    """
    from .probes import tune_mlp

    t_start = time.perf_counter()
    cpu_start = time.process_time()
    enc_specs = parse_list(encoders, None, "encoder")
    task_names = parse_list(tasks, list_eval_tasks(), "task") if (tasks or not task_objects) else []
    probe_names = parse_list(probes, list(PROBES), "probe")
    split_names = parse_list(splits, list(SPLITS), "split")
    region_names = parse_list(regions, list(REGIONS), "region")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    cache = cache if cache is not None else EmbeddingCache()
    say = progress or (lambda msg: None)
    timings = {"load encoders": 0.0, "build tasks": 0.0, "embedding": 0.0, **{f"probe {p}": 0.0 for p in probe_names}}

    t0 = time.perf_counter()
    encs = [get_encoder(s) for s in enc_specs]   # bad specs fail before any work
    timings["load encoders"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples: dict[str, list[EvalTask]] = {
        t: [get_eval_task(t, n=n, seed=s if resample else 0) for s in range(seeds)] for t in task_names}
    for t in task_objects:
        samples[t.name] = [t] * seeds
    timings["build tasks"] = time.perf_counter() - t0
    say(f"tasks built in {timings['build tasks']:.1f} s")
    reps: dict[str, list[dict[str, tuple[np.ndarray, np.ndarray]]]] = {}
    n_train_of: dict[str, int | None] = {}
    for name, ts in samples.items():
        per_seed = [{lab: r for sp in split_names
                     for lab, r in protocol_reps(t, sp, s, block_deg=block_deg, folds=folds).items()}
                    for s, t in enumerate(ts)]
        labels = [lab for lab in per_seed[0] if all(lab in d for d in per_seed)]
        per_seed = [{lab: d[lab] for lab in labels} for d in per_seed]
        if n_train == "equal":
            nt = min((len(tr) for d in per_seed for tr, _ in d.values()), default=None)
        else:
            nt = None if n_train is None else int(n_train)
        n_train_of[name] = nt
        reps[name] = [{lab: (_subsample(tr, nt, s), te) for lab, (tr, te) in d.items()} for s, d in enumerate(per_seed)]
    records: list[Record] = []
    tuned: dict[str, dict[str, Any]] = {}
    emb0 = cache.seconds
    for name, ts in samples.items():
        kind = ts[0].kind
        for enc in encs:
            Xs = [cache.get(enc, t.lonlat) for t in ts]
            for p in probe_names:
                t0 = time.perf_counter()
                for label in reps[name][0]:
                    kw: dict[str, Any] = {}
                    if p == "mlp":
                        kw["epochs"] = epochs
                        if mlp_grid:
                            tr0 = reps[name][0][label][0]
                            cfg, inner = tune_mlp(Xs[0], ts[0].y, kind, tr0, ts[0].n_classes, grid=mlp_grid,
                                                  folds=inner_folds, epochs=epochs, seed=0)
                            kw.update(cfg)
                            tuned[f"{enc.spec}|{name}|{label}"] = {"chosen": cfg, "inner_scores": inner}
                    vals: dict[str, list[float]] = {r: [] for r in region_names}
                    n_te: dict[str, list[int]] = {r: [] for r in region_names}
                    for s, t in enumerate(ts):
                        tr, te = reps[name][s][label]
                        pred = PROBES[p](Xs[s], t.y, kind, [(tr, te, s)], n_classes=t.n_classes, **kw)[0]
                        for r, m in region_masks(t.lonlat[te], region_names).items():
                            if m.sum() >= 2:  # "no-antarctica" = "all" where no test point is Antarctic
                                vals[r].append(score(kind, t.y[te][m], pred[m]))
                                n_te[r].append(int(m.sum()))
                    for r in region_names:
                        v = vals[r]
                        if len(v) == 0 or (r != "all" and len(v) < len(ts)):
                            continue  # region absent from (some) test sides: not reported
                        lo, hi = t_interval(v)
                        records.append(Record(enc.spec, name, p, label, ts[0].metric, float(np.mean(v)), float(np.std(v)),
                                              int(round(np.mean([len(reps[name][s][label][0]) for s in range(len(ts))]))),
                                              int(round(np.mean(n_te[r]))), v, region=r, ci_low=lo, ci_high=hi))
                timings[f"probe {p}"] += time.perf_counter() - t0
            say(f"{name:<13} {enc.spec:<24} done ({time.perf_counter() - t_start:.0f} s)")
    timings["embedding"] = cache.seconds - emb0
    timings["total"] = time.perf_counter() - t_start
    timings["total CPU (this process)"] = time.process_time() - cpu_start
    settings = {"n": n, "seeds": seeds, "n_train": n_train_of, "resample": resample, "block_deg": block_deg,
                "folds": folds, "epochs": epochs, "mlp_grid": [dict(g) for g in (mlp_grid or [])],
                "inner_folds": inner_folds, "regions": region_names, "probes": probe_names, "splits": split_names,
                "interval": "95 % Student-t interval of the mean over seeds", "antarctica": f"lat < {ANTARCTICA_LAT:g}°",
                "mlp_tuning": tuned}
    first = {name: ts[0] for name, ts in samples.items()}
    return EvaluationResult(records, timings, first, [e.spec for e in encs], settings, samples)
