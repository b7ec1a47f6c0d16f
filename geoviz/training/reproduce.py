"""Reproduce the paper's land–ocean table and the checkerboard latitude analysis.

The land–ocean protocol (Rußwurm et al., ICLR'24, ``locationencoder`` reference code):
5k uniform train / 5k val points, the 51,156-point equal-area test grid, Adam with coupled
L2, batch 2000, at most 500 epochs, early stopping on the validation loss with patience 30,
float64, and the test accuracy of the **final** weights; 5 seeds (0–4) that change only the
initialisation and the shuffling. Each (positional encoding, network) cell uses the tuned
hyperparameters of the reference's ``hparams.yaml`` (:data:`LANDOCEAN_HPARAMS`) and the
baselines run with ``reference_compat=True`` (degree values fed to sin/cos, duplicated
features, ...; see :mod:`geoviz.encoders.baselines`).

Runs are independent, so :func:`run_landocean` / :func:`run_checkerboard` fan them out over
processes (``workers``), append every finished run as one JSON line to a results file and
skip runs already in it, so an interrupted reproduction resumes where it stopped.
:func:`format_table` turns the records into the markdown comparison with
:data:`PAPER_LANDOCEAN`.

CLI::

    geoviz reproduce landocean --workers 2 --out out/reproduce          # 10 x 3 x 5 runs
    geoviz reproduce landocean --subset sphericalharmonics:siren --seeds 0 1 --max-epochs 50
    geoviz reproduce checkerboard --workers 2 --out out/reproduce
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "PES",
    "NETS",
    "LANDOCEAN_HPARAMS",
    "CHECKERBOARD_HPARAMS",
    "PAPER_LANDOCEAN",
    "VARIANTS",
    "PE_LABELS",
    "make_config",
    "parse_subset",
    "run_key",
    "load_records",
    "run_experiments",
    "run_landocean",
    "run_checkerboard",
    "summarize",
    "format_table",
    "latitude_band_accuracy",
    "format_checkerboard_table",
    "plot_latitude_accuracy",
    "render_landocean_report",
    "render_checkerboard_report",
    "update_doc",
    "replace_block",
]

PES: tuple[str, ...] = (
    "direct", "cartesian3d", "wrap", "grid", "theory",
    "spherec", "spherec+", "spherem", "spherem+", "sphericalharmonics",
)
"""The ten positional encodings of the paper, in the paper's row order."""

NETS: tuple[str, ...] = ("linear", "fcnet", "siren")
"""The three networks of the paper, in the paper's column order."""

PE_LABELS: dict[str, str] = {
    "direct": "direct", "cartesian3d": "cartesian3d", "wrap": "wrap", "grid": "grid",
    "theory": "theory", "spherec": "sphereC", "spherec+": "sphereC+", "spherem": "sphereM",
    "spherem+": "sphereM+", "sphericalharmonics": "SH",
}


def _hp(lr: float, wd: float, pe: dict | None = None, nn: dict | None = None) -> dict[str, Any]:
    return {"lr": lr, "weight_decay": wd, "pe_kwargs": dict(pe or {}), "nn_kwargs": dict(nn or {})}


def _ms(s: int, r: float) -> dict[str, Any]:
    return {"frequency_num": s, "min_radius": r, "max_radius": 360.0}


def _siren(h: int, nl: int) -> dict[str, int]:
    return {"hidden_dim": h, "num_layers": nl}


def _fcnet(h: int) -> dict[str, Any]:
    # the reference ignores num_layers and always builds 4 residual blocks with dropout 0.5
    return {"hidden_dim": h, "num_layers": 4, "dropout": 0.5}


LANDOCEAN_HPARAMS: dict[tuple[str, str], dict[str, Any]] = {
    # SH (exact values of hparams.yaml for siren and linear, reference-implementations.md §8)
    ("sphericalharmonics", "siren"): _hp(1.42e-4, 3.67e-3, {"legendre_polys": 10}, _siren(64, 2)),
    ("sphericalharmonics", "fcnet"): _hp(3.1e-4, 1.5e-2, {"legendre_polys": 15}, _fcnet(64)),
    ("sphericalharmonics", "linear"): _hp(1.03e-3, 4.08e-4, {"legendre_polys": 20}),
    ("theory", "siren"): _hp(1.0e-4, 2.2e-3, _ms(48, 10), _siren(96, 2)),
    ("theory", "fcnet"): _hp(4.0e-4, 2.0e-3, _ms(48, 10), _fcnet(96)),
    ("theory", "linear"): _hp(1.4e-2, 4.1e-5, _ms(32, 1)),
    ("grid", "siren"): _hp(1.2e-4, 2.7e-4, _ms(16, 10), _siren(96, 2)),
    ("grid", "fcnet"): _hp(1.6e-4, 3.2e-3, _ms(64, 10), _fcnet(96)),
    ("grid", "linear"): _hp(2.1e-3, 1e-8, _ms(64, 1)),
    ("spherec", "siren"): _hp(1.3e-4, 1.1e-8, _ms(64, 10), _siren(128, 3)),
    ("spherec", "fcnet"): _hp(2.9e-4, 3.5e-4, _ms(48, 10), _fcnet(128)),
    ("spherec", "linear"): _hp(8.7e-3, 5e-8, _ms(64, 1)),
    ("spherec+", "siren"): _hp(1.6e-4, 9.3e-4, _ms(16, 10), _siren(96, 3)),
    ("spherec+", "fcnet"): _hp(3.0e-4, 3e-8, _ms(16, 10), _fcnet(128)),
    ("spherec+", "linear"): _hp(5.0e-3, 5e-3, _ms(64, 1)),
    ("spherem", "siren"): _hp(1.2e-4, 1.9e-5, _ms(16, 10), _siren(64, 3)),
    ("spherem", "fcnet"): _hp(3.0e-4, 3e-7, _ms(48, 10), _fcnet(128)),
    ("spherem", "linear"): _hp(9.0e-3, 1.1e-4, _ms(48, 10)),
    ("spherem+", "siren"): _hp(1.3e-4, 6.1e-2, _ms(32, 1), _siren(128, 1)),
    ("spherem+", "fcnet"): _hp(1.3e-2, 1.8e-3, _ms(16, 19), _fcnet(32)),
    ("spherem+", "linear"): _hp(1.0e-2, 3e-5, _ms(32, 10)),
    ("direct", "siren"): _hp(1.7e-4, 1.1e-4, None, _siren(128, 2)),
    ("direct", "fcnet"): _hp(4.3e-4, 1e-6, None, _fcnet(96)),
    ("direct", "linear"): _hp(2.7e-2, 0.19),
    ("cartesian3d", "siren"): _hp(1.3e-3, 2.9e-2, None, _siren(32, 2)),
    ("cartesian3d", "fcnet"): _hp(7.9e-4, 1e-8, None, _fcnet(32)),
    ("cartesian3d", "linear"): _hp(3e-4, 4e-5),
    ("wrap", "siren"): _hp(5.9e-4, 3.9e-4, None, _siren(64, 3)),
    ("wrap", "fcnet"): _hp(2.2e-3, 1.9e-5, None, _fcnet(96)),
    ("wrap", "linear"): _hp(5.7e-2, 5.2e-5),
}
"""Tuned land–ocean hyperparameters per ``(pe, nn)`` (reference ``hparams.yaml``; values
rounded to two significant digits except SH+Siren / SH+Linear, which are exact)."""

CHECKERBOARD_HPARAMS: dict[tuple[str, str], dict[str, Any]] = {
    # SH: the reference's tuned checkerboard values (Siren, Linear L=25, FCNet L=15 h32);
    # learning rates the brief does not give are taken from the land-ocean SH cells.
    ("sphericalharmonics", "siren"): _hp(2.9e-4, 4.6e-3, {"legendre_polys": 15}, _siren(128, 1)),
    ("sphericalharmonics", "linear"): _hp(1.03e-3, 4.08e-4, {"legendre_polys": 25}),
    ("sphericalharmonics", "fcnet"): _hp(3.1e-4, 1.5e-2, {"legendre_polys": 15}, _fcnet(32)),
    # baselines (Fig. 4b): same networks as SH; S=32 scales from r=1 (reference units:
    # shortest wavelength 2π·1° ≈ 6.3°, fine enough for the 13.8° support spacing)
    ("grid", "siren"): _hp(2.9e-4, 4.6e-3, _ms(32, 1), _siren(128, 1)),
    ("grid", "fcnet"): _hp(3.1e-4, 1.5e-2, _ms(32, 1), _fcnet(32)),
    ("spherec+", "siren"): _hp(2.9e-4, 4.6e-3, _ms(32, 1), _siren(128, 1)),
    ("spherec+", "fcnet"): _hp(3.1e-4, 1.5e-2, _ms(32, 1), _fcnet(32)),
}
"""Checkerboard configurations: SH × {linear, fcnet, siren} and grid / sphereC+ × {fcnet, siren}."""

PAPER_LANDOCEAN: dict[tuple[str, str], tuple[float, float]] = {
    (pe, nn): (mean, std)
    for pe, row in {
        "direct": ((71.4, 0.0), (90.3, 0.7), (95.1, 0.3)),
        "cartesian3d": ((70.5, 3.5), (92.7, 0.3), (92.8, 0.3)),
        "wrap": ((74.4, 0.3), (93.2, 0.3), (95.2, 0.2)),
        "grid": ((81.7, 0.1), (95.1, 0.1), (95.5, 0.2)),
        "theory": ((86.9, 0.1), (94.9, 0.2), (95.5, 0.1)),
        "spherec": ((79.6, 0.2), (95.0, 0.3), (95.2, 0.1)),
        "spherec+": ((84.6, 0.2), (95.3, 0.1), (95.5, 0.1)),
        "spherem": ((74.0, 0.0), (89.1, 0.1), (88.3, 0.4)),
        "spherem+": ((81.9, 0.2), (92.1, 0.3), (93.7, 0.1)),
        "sphericalharmonics": ((94.4, 0.1), (95.9, 0.1), (95.8, 0.1)),
    }.items()
    for nn, (mean, std) in zip(NETS, row)
}
"""The paper's land–ocean test accuracy in %, ``(mean, std)`` over 5 seeds, per ``(pe, nn)``."""


def _v_reference(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg["pe"] != "sphericalharmonics":
        cfg["pe_kwargs"]["reference_compat"] = True
    return cfg


def _v_restore_best(cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = _v_reference(cfg)
    cfg["restore_best"] = True
    return cfg


def _v_float32(cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = _v_reference(cfg)
    cfg["dtype"] = "float32"
    return cfg


def _v_correct_units(cfg: dict[str, Any]) -> dict[str, Any]:
    cfg["pe_kwargs"].pop("reference_compat", None)
    return cfg


def _v_long(cfg: dict[str, Any]) -> dict[str, Any]:
    # no early stopping and the best-validation weights: removes the "final weights after
    # 30 epochs of patience" and "500-epoch budget" limits of the protocol
    cfg = _v_reference(cfg)
    cfg["patience"] = None
    cfg["restore_best"] = True
    return cfg


def _v_more_l(l: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(cfg: dict[str, Any]) -> dict[str, Any]:
        cfg = _v_reference(cfg)
        if cfg["pe"] == "sphericalharmonics":
            cfg["pe_kwargs"]["legendre_polys"] = l
        return cfg

    return edit


VARIANTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "reference": _v_reference,
    "restore_best": _v_restore_best,
    "float32": _v_float32,
    "correct_units": _v_correct_units,
    "no_early_stop": _v_long,
    "sh_l20": _v_more_l(20),
    "sh_l30": _v_more_l(30),
}
"""Protocol variants: a function editing a config dict. ``reference`` is the paper's
protocol (baselines with ``reference_compat=True``, float64, final weights); ``sh_l20`` /
``sh_l30`` are the reference protocol with more SH degrees (L = 20 / 30) for the SH cells."""


def _hparams_for(task: str) -> dict[tuple[str, str], dict[str, Any]]:
    if task == "landocean":
        return LANDOCEAN_HPARAMS
    if task == "checkerboard":
        return CHECKERBOARD_HPARAMS
    raise ValueError(f"unknown reproduction task {task!r}; choose 'landocean' or 'checkerboard'")


def make_config(task: str, pe: str, nn: str, seed: int, variant: str = "reference",
                max_epochs: int = 500) -> dict[str, Any]:
    """The :class:`~geoviz.training.TrainConfig` keyword dict of one reproduction run.

    Args:
        task: ``"landocean"`` or ``"checkerboard"``.
        pe, nn: a cell of the task's hyperparameter table.
        seed: int ≥ 0 (torch/numpy/random seed; the data do not change).
        variant: a key of :data:`VARIANTS`.
        max_epochs: positive int (500 in the paper).

    Raises:
        ValueError: unknown task, cell or variant, or a bad seed / epoch count.
    """
    table = _hparams_for(task)
    if (pe, nn) not in table:
        raise ValueError(f"no {task} hyperparameters for ({pe!r}, {nn!r}); cells: {sorted(table)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, (int, np.integer)) or max_epochs < 1:
        raise ValueError(f"max_epochs must be a positive int, got {max_epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    hp = table[(pe, nn)]
    cfg = {
        "pe": pe, "nn": nn,
        "pe_kwargs": dict(hp["pe_kwargs"]), "nn_kwargs": dict(hp["nn_kwargs"]),
        "lr": hp["lr"], "weight_decay": hp["weight_decay"],
        "batch_size": 2000, "max_epochs": int(max_epochs), "patience": 30,
        "seed": int(seed), "dtype": "float64", "device": "cpu", "restore_best": False,
    }
    return VARIANTS[variant](cfg)


def parse_subset(subset: Iterable[str] | None, task: str = "landocean") -> list[tuple[str, str]]:
    """Cells selected by ``--subset`` items.

    Each item is ``PE`` (all networks), ``:NN`` / ``*:NN`` (all encodings) or ``PE:NN``;
    ``sh`` is accepted for ``sphericalharmonics``. ``None`` or empty selects every cell of the
    task's table, in paper order.

    Raises:
        ValueError: an unknown encoding or network name (the message lists valid names).
    """
    table = _hparams_for(task)
    cells = [(pe, nn) for pe in PES for nn in NETS if (pe, nn) in table]
    if not subset:
        return cells
    pes = sorted({pe for pe, _ in cells})
    nets = sorted({nn for _, nn in cells})
    chosen: list[tuple[str, str]] = []
    for item in subset:
        pe, _, nn = str(item).strip().lower().partition(":")
        pe = {"sh": "sphericalharmonics", "*": "", "all": ""}.get(pe, pe)
        nn = {"*": "", "all": ""}.get(nn, nn)
        if pe and pe not in pes:
            raise ValueError(f"unknown positional encoding {pe!r} in --subset {item!r}; choose from {pes}")
        if nn and nn not in nets:
            raise ValueError(f"unknown network {nn!r} in --subset {item!r}; choose from {nets}")
        for cell in cells:
            if (not pe or cell[0] == pe) and (not nn or cell[1] == nn) and cell not in chosen:
                chosen.append(cell)
    if not chosen:
        raise ValueError(f"--subset {list(subset)} selects no {task} cell; cells: {cells}")
    return chosen


def run_key(record: dict[str, Any]) -> tuple:
    """Identity of a run in a results file: (task, variant, pe, nn, seed, max_epochs)."""
    return (record["task"], record["variant"], record["pe"], record["nn"], int(record["seed"]),
            int(record["max_epochs"]))


def load_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSONL results file (missing file → ``[]``; a torn last line is ignored)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a run killed mid-write; it will be redone
    return out


def latitude_band_accuracy(lonlat: Any, y_true: Any, y_pred: Any, band_deg: float = 10.0
                           ) -> dict[str, list[float]]:
    """Accuracy per latitude band.

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees.
        y_true, y_pred: ``(N,)`` labels (any dtype; compared with ``==``).
        band_deg: band width in degrees; bands ``[-90, -90 + w), ..., [90 - w, 90]`` (the
            last band is closed); 180 must be a multiple of ``band_deg``.

    Returns:
        ``{"lat_lo": [...], "lat_hi": [...], "accuracy": [...], "count": [...]}``, one entry per
        band, south to north; accuracy is ``nan`` for an empty band.

    Raises:
        ValueError: empty point set, mismatched lengths or a bad band width.
    """
    from .._validation import check_lonlat
    import torch

    ll = np.asarray(lonlat, dtype=np.float64)
    check_lonlat(torch.from_numpy(ll))
    yt, yp = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if ll.shape[0] == 0:
        raise ValueError("latitude_band_accuracy needs at least one point, got an empty point set")
    if not (yt.shape[0] == yp.shape[0] == ll.shape[0]):
        raise ValueError(f"lonlat, y_true and y_pred must have the same length, got "
                         f"{ll.shape[0]}, {yt.shape[0]}, {yp.shape[0]}")
    nb = 180.0 / float(band_deg) if band_deg and band_deg > 0 else float("nan")
    if not (nb >= 1 and abs(nb - round(nb)) < 1e-9):
        raise ValueError(f"band_deg must divide 180 (e.g. 5, 10, 15, 30), got {band_deg!r}")
    nb = int(round(nb))
    idx = np.clip(np.floor((ll[:, 1] + 90.0) / band_deg).astype(int), 0, nb - 1)
    correct = (yt == yp).astype(np.float64)
    count = np.bincount(idx, minlength=nb)
    hits = np.bincount(idx, weights=correct, minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(count > 0, hits / np.maximum(count, 1), np.nan)
    lo = -90.0 + band_deg * np.arange(nb)
    return {"lat_lo": lo.tolist(), "lat_hi": (lo + band_deg).tolist(), "accuracy": acc.tolist(),
            "count": count.astype(int).tolist()}


# ------------------------------------------------------------------------------ running


def _one_run(task_name: str, variant: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration and return its JSON-able record (runs in a worker process)."""
    import torch

    from ..data import get_task
    from .engine import Trainer, TrainConfig

    task = get_task(task_name)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = Trainer(task, TrainConfig(**cfg))
    best_val, best_epoch, rec = float("inf"), 0, None
    for rec in trainer.run():
        if rec.val_loss < best_val:
            best_val, best_epoch = rec.val_loss, rec.epoch
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    test = trainer.evaluate("test")
    out: dict[str, Any] = {
        "task": task_name, "variant": variant, "pe": cfg["pe"], "nn": cfg["nn"], "seed": cfg["seed"],
        "max_epochs": cfg["max_epochs"], "config": cfg,
        "test_accuracy": 100.0 * test["accuracy"], "test_loss": test["loss"],
        "epochs": rec.epoch, "best_epoch": best_epoch, "stopped": rec.stopped,
        "final_val_loss": rec.val_loss, "best_val_loss": best_val,
        "fit_seconds": fit_s, "fit_cpu_seconds": fit_cpu, "train_seconds": rec.elapsed,
        "torch_threads": torch.get_num_threads(), "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "iou" in test:
        out["test_iou"] = 100.0 * test["iou"]
    if task_name == "checkerboard":
        logits = trainer._forward_all(trainer._features["test"])
        pred = logits.argmax(dim=1).cpu().numpy()
        out["lat_bands"] = latitude_band_accuracy(task.test.lonlat, task.test.y, pred, 10.0)
    return out


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    try:  # Linux: a worker exits when the parent dies (e.g. a killed reproduction)
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_experiments(jobs: Sequence[tuple[str, str, dict[str, Any]]], results: str | os.PathLike,
                    workers: int = 1, progress: Callable[[dict[str, Any], int, int], None] | None = None
                    ) -> list[dict[str, Any]]:
    """Run ``(task, variant, config)`` jobs, appending each record to the JSONL ``results``.

    Jobs whose :func:`run_key` already appears in ``results`` are skipped (resume). With
    ``workers > 1`` the runs go to a pool of spawned processes, each single-threaded
    (``torch.set_num_threads(1)``, ``NUMBA_NUM_THREADS=1``); the parent alone writes the file,
    one line per finished run, flushed immediately.

    Returns:
        Every record in ``results`` whose key is among ``jobs`` (old and new), job order.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)

    def key_of(job: tuple[str, str, dict[str, Any]]) -> tuple:
        t, v, c = job
        return (t, v, c["pe"], c["nn"], int(c["seed"]), int(c["max_epochs"]))

    done = {run_key(r): r for r in load_records(path)}
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as fh:  # terminate a torn last line so new records start clean
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    todo = [j for j in jobs if key_of(j) not in done]
    total, finished = len(todo), 0

    def save(rec: dict[str, Any]) -> None:
        nonlocal finished
        with path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        done[run_key(rec)] = rec
        finished += 1
        if progress is not None:
            progress(rec, finished, total)

    if workers == 1 or len(todo) <= 1:
        for job in todo:
            save(_one_run(*job))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        env_keep = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        for k in env_keep:
            os.environ[k] = "1"  # inherited by the spawned workers before they import numba/torch
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker) as pool:
                futures = [pool.submit(_one_run, *job) for job in todo]
                for fut in as_completed(futures):
                    save(fut.result())
        finally:
            for k, v in env_keep.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return [done[key_of(j)] for j in jobs if key_of(j) in done]


def _jobs(task: str, cells: Sequence[tuple[str, str]], seeds: Sequence[int], variant: str,
          max_epochs: int) -> list[tuple[str, str, dict[str, Any]]]:
    if not len(seeds):
        raise ValueError("seeds must name at least one seed")
    # seed-major, cheap networks first: an interrupted run still leaves a complete one-seed
    # table, refined seed by seed
    order = {"linear": 0, "siren": 1, "fcnet": 2}
    cells = sorted(cells, key=lambda c: order.get(c[1], 3))
    return [(task, variant, make_config(task, pe, nn, s, variant, max_epochs)) for s in seeds for pe, nn in cells]


def run_landocean(results: str | os.PathLike, cells: Sequence[tuple[str, str]] | None = None,
                  seeds: Sequence[int] = (0, 1, 2, 3, 4), variant: str = "reference", max_epochs: int = 500,
                  workers: int = 1, progress: Callable | None = None) -> list[dict[str, Any]]:
    """Run the land–ocean reproduction (default: all 30 cells × seeds 0–4).

    Args:
        results: JSONL file to append to and resume from.
        cells: ``(pe, nn)`` pairs (default: :func:`parse_subset` ``(None)``).
        seeds: non-negative ints.
        variant: a key of :data:`VARIANTS`.
        max_epochs: per-run epoch budget (500 in the paper).
        workers: number of processes.
        progress: optional ``callback(record, n_done, n_todo)``.

    Returns:
        One record per run (dicts with ``pe, nn, seed, test_accuracy`` (%), ``test_iou`` (%),
        ``epochs``, ``best_epoch``, ``stopped``, ``fit_seconds``, ``config``, ...).
    """
    cells = parse_subset(None, "landocean") if cells is None else list(cells)
    return run_experiments(_jobs("landocean", cells, seeds, variant, max_epochs), results, workers, progress)


def run_checkerboard(results: str | os.PathLike, cells: Sequence[tuple[str, str]] | None = None,
                     seeds: Sequence[int] = (0, 1, 2), variant: str = "reference", max_epochs: int = 500,
                     workers: int = 1, progress: Callable | None = None) -> list[dict[str, Any]]:
    """Run the checkerboard configurations (:data:`CHECKERBOARD_HPARAMS`); records add
    ``lat_bands`` (:func:`latitude_band_accuracy` of the test set, 10° bands)."""
    cells = parse_subset(None, "checkerboard") if cells is None else list(cells)
    return run_experiments(_jobs("checkerboard", cells, seeds, variant, max_epochs), results, workers, progress)


# ------------------------------------------------------------------------------ tables


def summarize(records: Iterable[dict[str, Any]], metric: str = "test_accuracy"
              ) -> dict[tuple[str, str, str], dict[str, float]]:
    """Aggregate runs per ``(variant, pe, nn)``: ``{"mean", "std", "n", "epochs", "fit_seconds"}``.

    ``std`` is the sample standard deviation (``ddof=1``; 0.0 for a single run).
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r.get("variant", "reference"), r["pe"], r["nn"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        v = np.array([r[metric] for r in rs], dtype=np.float64)
        out[k] = {
            "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v),
            "epochs": float(np.mean([r["epochs"] for r in rs])),
            "fit_seconds": float(np.mean([r["fit_seconds"] for r in rs])),
        }
    return out


def format_table(records: Iterable[dict[str, Any]], variant: str = "reference",
                 paper: dict[tuple[str, str], tuple[float, float]] | None = None,
                 tolerance: float = 1.0) -> str:
    """Markdown table of test accuracy (%) per encoding × network next to the paper.

    Each network gets three columns: ``ours`` (mean ± sample std over seeds, one decimal;
    ``n=k`` is appended when fewer than 5 seeds), ``paper`` (mean ± std) and ``Δ`` (ours − paper
    mean, percentage points, two decimals, signed; **bold** when ``|Δ| > tolerance``). Cells
    without runs show ``–``; a single run shows no std.
    """
    paper = PAPER_LANDOCEAN if paper is None else paper
    summ = summarize(r for r in records if r.get("variant", "reference") == variant)
    head = "| PE ↓ NN → | " + " | ".join(f"{nn} ours | {nn} paper | Δ" for nn in NETS) + " |"
    sep = "|---|" + "---:|---:|---:|" * len(NETS)
    lines = [head, sep]
    for pe in PES:
        cells = []
        for nn in NETS:
            s = summ.get((variant, pe, nn))
            p = paper.get((pe, nn))
            if s is None:
                ours = "–"
            elif s["n"] == 1:
                ours = f"{s['mean']:.1f} (n=1)"
            else:
                ours = f"{s['mean']:.1f} ± {s['std']:.1f}" + ("" if s["n"] >= 5 else f" (n={s['n']})")
            pp = "–" if p is None else f"{p[0]:.1f} ± {p[1]:.1f}"
            if s is None or p is None:
                d = "–"
            else:
                diff = s["mean"] - p[0]
                d = f"{diff:+.2f}"
                if abs(diff) > tolerance:
                    d = f"**{d}**"
            cells += [ours, pp, d]
        lines.append(f"| {PE_LABELS.get(pe, pe)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_checkerboard_table(records: Iterable[dict[str, Any]], variant: str = "reference") -> str:
    """Markdown table: overall test accuracy (mean ± std) and the point-weighted accuracy of
    the polar (|lat| ≥ 60°) and the other 10° bands, per checkerboard configuration."""
    recs = [r for r in records if r.get("variant", "reference") == variant and "lat_bands" in r]
    summ = summarize(recs)
    lines = ["| PE | NN | test acc % | bands within 60° of the equator % | polar bands (≥ 60°) % | worst band % | seeds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for (v, pe, nn), s in summ.items():
        rs = [r for r in recs if r["pe"] == pe and r["nn"] == nn]
        lo = np.array(rs[0]["lat_bands"]["lat_lo"])
        acc = np.array([r["lat_bands"]["accuracy"] for r in rs], dtype=np.float64).mean(axis=0)
        cnt = np.array(rs[0]["lat_bands"]["count"], dtype=np.float64)
        mid = (lo + 5 > -60) & (lo + 5 < 60)
        polar = ~mid
        w_mid = float(np.nansum(acc[mid] * cnt[mid]) / cnt[mid].sum())
        w_pol = float(np.nansum(acc[polar] * cnt[polar]) / cnt[polar].sum())
        acc_txt = f"{s['mean']:.1f}" if s["n"] == 1 else f"{s['mean']:.1f} ± {s['std']:.1f}"
        lines.append(f"| {PE_LABELS.get(pe, pe)} | {nn} | {acc_txt} | "
                     f"{100 * w_mid:.1f} | {100 * w_pol:.1f} | {100 * np.nanmin(acc):.1f} | {s['n']} |")
    return "\n".join(lines) + "\n"


def plot_latitude_accuracy(records: Iterable[dict[str, Any]], path: str | os.PathLike,
                           variant: str = "reference", title: str | None = None) -> Path:
    """Write the paper's Fig. 4b-style PNG: test accuracy (%) per 10° latitude band, one line
    per (encoding, network), mean over seeds (shaded: min–max); drawn with :mod:`geoviz.render`."""
    from geoviz import render

    recs = [r for r in records if r.get("variant", "reference") == variant and "lat_bands" in r]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault((r["pe"], r["nn"]), []).append(r)
    fig = render.new_figure((7.5, 4.2), dpi=120, layout="tight")
    ax = fig.subplots()
    colors = {"sphericalharmonics": "tab:red", "grid": "tab:blue", "spherec+": "tab:green"}
    styles = {"siren": "-", "fcnet": "--", "linear": ":"}
    for (pe, nn), rs in sorted(groups.items()):
        b = rs[0]["lat_bands"]
        mids = (np.array(b["lat_lo"]) + np.array(b["lat_hi"])) / 2
        acc = 100 * np.array([r["lat_bands"]["accuracy"] for r in rs], dtype=np.float64)
        ax.plot(mids, acc.mean(0), styles.get(nn, "-"), marker="o", ms=3, color=colors.get(pe),
                label=f"{PE_LABELS.get(pe, pe)} + {nn}")
        if len(rs) > 1:
            ax.fill_between(mids, acc.min(0), acc.max(0), color=colors.get(pe), alpha=0.12, lw=0)
    ax.set_xlabel("latitude band centre (°)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlim(-90, 90)
    ax.set_xticks(range(-90, 91, 30))
    ax.grid(alpha=0.3)
    ax.set_title(title or "Checkerboard: accuracy per 10° latitude band")
    ax.legend(fontsize=8, ncol=2, loc="lower center")
    return render.save_figure(fig, path)


# ------------------------------------------------------------------------------ docs

BEGIN_MARK = "<!-- BEGIN GENERATED: geoviz reproduce {task} -->"
END_MARK = "<!-- END GENERATED: geoviz reproduce {task} -->"


def render_landocean_report(records: Sequence[dict[str, Any]], variant: str = "reference",
                            tolerance: float = 1.0) -> str:
    """Markdown body generated from land–ocean records: the comparison table, coverage,
    per-cell epochs / early stopping / fit time, the cells that miss the paper by more than
    ``tolerance`` points, and one compact table per other variant present."""
    recs = [r for r in records if r.get("task", "landocean") == "landocean"]
    ref = [r for r in recs if r.get("variant", "reference") == variant]
    summ = summarize(ref)
    seeds = sorted({int(r["seed"]) for r in ref})
    out = [f"Runs: **{len(ref)}** of {len(PES) * len(NETS) * 5} (variant `{variant}`, seeds {seeds}); "
           f"accuracy in %, mean ± sample std over seeds, Δ = ours − paper (bold: |Δ| > {tolerance:g}).", "",
           format_table(ref, variant, tolerance=tolerance)]
    misses = []
    for (v, pe, nn), s in summ.items():
        d = s["mean"] - PAPER_LANDOCEAN[(pe, nn)][0]
        if abs(d) > tolerance:
            misses.append(f"{PE_LABELS[pe]} + {nn} ({d:+.2f})")
    out.append(f"Cells off by more than {tolerance:g} point: " + (", ".join(misses) if misses else "none") + ".\n")
    sh = summ.get((variant, "sphericalharmonics", "siren"))
    if sh:
        out.append(f"SH + Siren: {sh['mean']:.2f} ± {sh['std']:.2f} % over {sh['n']} seed(s) "
                   f"(paper 95.8 ± 0.1; goal ≥ 95.8).\n")
    out += ["Per cell: mean epochs run, runs stopped early, mean wall seconds per run (shared, loaded "
            "2-core machine, one thread per run).", "",
            "| PE | NN | runs | epochs | early-stopped | best-val epoch | fit s |", "|---|---|---:|---:|---:|---:|---:|"]
    for pe in PES:
        for nn in NETS:
            rs = [r for r in ref if r["pe"] == pe and r["nn"] == nn]
            if not rs:
                continue
            es = sum(r["stopped"] == "early_stopping" for r in rs)
            out.append(f"| {PE_LABELS[pe]} | {nn} | {len(rs)} | {np.mean([r['epochs'] for r in rs]):.0f} | {es} | "
                       f"{np.mean([r['best_epoch'] for r in rs]):.0f} | {np.mean([r['fit_seconds'] for r in rs]):.0f} |")
    out.append("")
    others = sorted({r.get("variant", "reference") for r in recs} - {variant})
    for v in others:
        vs = summarize(r for r in recs if r.get("variant") == v)
        out += [f"Variant `{v}`:", "", "| PE | NN | runs | ours | paper | Δ | Δ vs `{0}` |".format(variant),
                "|---|---|---:|---:|---:|---:|---:|"]
        for (vv, pe, nn), st in sorted(vs.items(), key=lambda kv: (PES.index(kv[0][1]), NETS.index(kv[0][2]))):
            pm = PAPER_LANDOCEAN[(pe, nn)][0]
            base = summ.get((variant, pe, nn))
            dv = "–" if base is None else f"{st['mean'] - base['mean']:+.2f}"
            out.append(f"| {PE_LABELS[pe]} | {nn} | {st['n']} | {st['mean']:.2f} ± {st['std']:.2f} | {pm:.1f} | "
                       f"{st['mean'] - pm:+.2f} | {dv} |")
        out.append("")
    return "\n".join(out)


def update_doc(path: str | os.PathLike, generated: str, task: str) -> Path:
    """Replace the generated block of ``path`` (between :data:`BEGIN_MARK` / :data:`END_MARK`
    for ``task``) with ``generated`` (:func:`replace_block`)."""
    return replace_block(path, BEGIN_MARK.format(task=task), END_MARK.format(task=task), generated)


def replace_block(path: str | os.PathLike, begin: str, end: str, generated: str) -> Path:
    """Replace the text between the marker lines ``begin`` and ``end`` of the markdown file
    ``path`` with ``generated``, keeping the hand-written text around it; a missing file or
    block is created/appended. Used by ``geoviz reproduce --doc`` and :mod:`geoviz.results`."""
    p = Path(path)
    block = f"{begin}\n{generated.rstrip()}\n{end}\n"
    text = p.read_text() if p.exists() else ""
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        tail = tail.lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def render_checkerboard_report(records: Sequence[dict[str, Any]], variant: str = "reference") -> str:
    """Markdown body for checkerboard records: summary table and the per-band accuracies."""
    recs = [r for r in records if r.get("task") == "checkerboard" and r.get("variant", "reference") == variant]
    out = [format_checkerboard_table(recs), "", "Accuracy (%) per 10° latitude band (mean over seeds), south to north:", ""]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault((r["pe"], r["nn"]), []).append(r)
    if groups:
        lo = next(iter(groups.values()))[0]["lat_bands"]["lat_lo"]
        out.append("| PE + NN | " + " | ".join(f"{int(v)}" for v in lo) + " |")
        out.append("|---|" + "---:|" * len(lo))
        for (pe, nn), rs in groups.items():
            acc = 100 * np.array([r["lat_bands"]["accuracy"] for r in rs], dtype=np.float64).mean(0)
            out.append(f"| {PE_LABELS.get(pe, pe)} + {nn} | " + " | ".join(f"{a:.0f}" for a in acc) + " |")
        cnt = next(iter(groups.values()))[0]["lat_bands"]["count"]
        out.append("| test points | " + " | ".join(str(c) for c in cnt) + " |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ CLI
