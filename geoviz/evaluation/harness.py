"""Run encoders × tasks × probes × splits and report the scores.

    >>> from geoviz.evaluation import evaluate
    >>> res = evaluate(["geoviz-bluemarble-l10", "sh:10"], ["temperature", "countries"])
    >>> print(res.table("linear", "random"))
    >>> res.records()      # [{"encoder", "task", "probe", "split", "metric", "mean", "std", "n_train", "n_test"}, ...]

Splits (:data:`SPLITS`; each expands into repetitions whose scores give mean ± std):

- ``random``: 50/50 random split (the SatCLIP notebook), one per seed.
- ``blocks``: spatial-block K-fold (:func:`geoviz.data.splits.block_kfold`, ``block_deg``
  cells, ``folds`` folds): every fold is one repetition.
- ``continents``: train outside, test inside a continent, separately for Asia and Africa
  (SatCLIP Table 3), reported as the splits ``continent:Asia`` and ``continent:Africa``;
  one repetition per seed (the seed only changes the MLP's initial weights; the linear
  probe is deterministic, so its std is 0). Not defined for the ``continents`` task.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .encoders import EmbeddingCache, get_encoder
from .probes import MLP_EPOCHS, PROBES, Rep, score
from .tasks import DEFAULT_N, EvalTask, get_eval_task, list_eval_tasks

__all__ = ["SPLITS", "HOLDOUT_CONTINENTS", "Record", "EvaluationResult", "evaluate", "make_reps", "parse_list"]

HOLDOUT_CONTINENTS = ("Asia", "Africa")
SPLITS = ("random", "blocks", "continents")


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

    def as_json(self) -> dict[str, Any]:
        """The published record keys (``values`` left out)."""
        d = asdict(self)
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

    def records(self) -> list[dict[str, Any]]:
        """JSON-ready records ``{"encoder", "task", "probe", "split", "metric", "mean", "std", "n_train", "n_test"}``."""
        return [r.as_json() for r in self.records_]

    def splits(self) -> list[str]:
        """Split labels present, in run order."""
        return list(dict.fromkeys(r.split for r in self.records_))

    def probes(self) -> list[str]:
        return list(dict.fromkeys(r.probe for r in self.records_))

    def get(self, encoder: str, task: str, probe: str, split: str) -> Record | None:
        for r in self.records_:
            if (r.encoder, r.task, r.probe, r.split) == (encoder, task, probe, split):
                return r
        return None

    def table(self, probe: str, split: str, fmt: str = "text") -> str:
        """Tasks × encoders table of ``mean ± std`` for one probe and split (best per row marked).

        Args:
            fmt: ``"text"`` (aligned, best marked ``*``) or ``"markdown"`` (best in bold).
        """
        header = ["task (metric)", *self.encoders]
        rows = []
        for t in self.tasks:
            recs = [self.get(e, t, probe, split) for e in self.encoders]
            if all(r is None for r in recs):
                continue
            best = max((r.mean for r in recs if r is not None), default=np.nan)
            cells = []
            for r in recs:
                if r is None:
                    cells.append("n/a")
                    continue
                pct = r.metric == "accuracy"
                s = f"{100 * r.mean:.1f} ± {100 * r.std:.1f}" if pct else f"{r.mean:.3f} ± {r.std:.3f}"
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
            f"{st.get('seeds')}; blocks: {st.get('folds')}-fold, {st.get('block_deg')}° cells; MLP: "
            f"{st.get('epochs')} full-batch Adam epochs (lr 1e-3, 2 × 64 ReLU). Scores: mean ± std over "
            "repetitions; R² for regression, accuracy (%) for classification; best per row in bold.",
            "",
            "Time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items()),
            "",
        ]
        for p in self.probes():
            for s in self.splits():
                tab = self.table(p, s, "markdown")
                if tab.count("\n") >= 2:
                    lines += [f"## {p} probe, split `{s}`", "", tab, ""]
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


def evaluate(
    encoders: Sequence[str],
    tasks: Sequence[str] | str = "all",
    probes: Sequence[str] = ("linear", "mlp"),
    splits: Sequence[str] = SPLITS,
    *,
    n: int = DEFAULT_N,
    seeds: int = 3,
    block_deg: float = 10.0,
    folds: int = 5,
    epochs: int = MLP_EPOCHS,
    cache: EmbeddingCache | None = None,
    task_objects: Sequence[EvalTask] = (),
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Score frozen encoders on downstream tasks with linear and MLP probes.

    Args:
        encoders: encoder specs (:func:`geoviz.evaluation.get_encoder`).
        tasks: task names (:func:`geoviz.evaluation.list_eval_tasks`) or ``"all"``.
        probes: subset of ``("linear", "mlp")``.
        splits: subset of :data:`SPLITS`.
        n: points per task. seeds: repetitions of ``random`` and ``continents`` splits.
        block_deg: block size of the ``blocks`` split (degrees). folds: its K.
        epochs: MLP epochs.
        cache: an :class:`EmbeddingCache` (a fresh in-memory one by default).
        task_objects: extra ready-made :class:`EvalTask` objects (e.g. synthetic ones).
        progress: called with a one-line message after each step.

    Returns:
        :class:`EvaluationResult`.

    Raises:
        ValueError: bad encoder spec, unknown task / probe / split, an empty split.
    """
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    enc_specs = parse_list(encoders, None, "encoder")
    task_names = parse_list(tasks, list_eval_tasks(), "task") if (tasks or not task_objects) else []
    probe_names = parse_list(probes, list(PROBES), "probe")
    split_names = parse_list(splits, list(SPLITS), "split")
    cache = cache if cache is not None else EmbeddingCache()
    say = progress or (lambda msg: None)
    timings = {"load encoders": 0.0, "build tasks": 0.0, "embedding": 0.0, **{f"probe {p}": 0.0 for p in probe_names}}

    t0 = time.perf_counter()
    encs = [get_encoder(s) for s in enc_specs]   # bad specs fail before any work
    timings["load encoders"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    task_list: list[EvalTask] = [get_eval_task(t, n=n) for t in task_names] + list(task_objects)
    timings["build tasks"] = time.perf_counter() - t0
    say(f"tasks built in {timings['build tasks']:.1f} s")
    reps = {t.name: {lab: r for s in split_names for lab, r in make_reps(t, s, seeds=seeds, block_deg=block_deg,
                                                                         folds=folds).items()} for t in task_list}
    records: list[Record] = []
    emb0 = cache.seconds
    for task in task_list:
        for enc in encs:
            X = cache.get(enc, task.lonlat)
            for p in probe_names:
                t0 = time.perf_counter()
                for label, rr in reps[task.name].items():
                    kw = {"epochs": epochs} if p == "mlp" else {}
                    preds = PROBES[p](X, task.y, task.kind, rr, n_classes=task.n_classes, **kw)
                    vals = [score(task.kind, task.y[te], pr) for (tr, te, _), pr in zip(rr, preds)]
                    records.append(Record(enc.spec, task.name, p, label, task.metric, float(np.mean(vals)),
                                          float(np.std(vals)), int(round(np.mean([len(a) for a, _, _ in rr]))),
                                          int(round(np.mean([len(b) for _, b, _ in rr]))), vals))
                timings[f"probe {p}"] += time.perf_counter() - t0
            say(f"{task.name:<13} {enc.spec:<24} done ({time.perf_counter() - t_start:.0f} s)")
    timings["embedding"] = cache.seconds - emb0
    timings["total"] = time.perf_counter() - t_start
    timings["total CPU (this process)"] = time.process_time() - cpu_start
    settings = {"n": n, "seeds": seeds, "block_deg": block_deg, "folds": folds, "epochs": epochs,
                "probes": probe_names, "splits": split_names}
    return EvaluationResult(records, timings, {t.name: t for t in task_list}, [e.spec for e in encs], settings)
