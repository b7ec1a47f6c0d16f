"""Results page ``docs/results/fields.md``: four regressors at equal n on two global fields.

For each field (``temperature``, ``geoid``) one uniform sample of ``n_max`` training points and
one common test set are drawn (``get_field(name).task(n_train=n_max, n_test, seed=0)``); the
training sets of size n are prefixes of that sample, so at each n every method sees the **same
n labelled points and nothing else** and tunes its hyper-parameters only on them:

* **GP** (kriging): scikit-learn ``GaussianProcessRegressor``, ``C · Matérn(ν = 3/2) + White``
  on 3-D unit vectors (chordal distance: a valid covariance on the sphere),
  ``normalize_y=True``; hyper-parameters by maximum marginal likelihood (L-BFGS-B, no
  restarts) on the first ``min(n, gp_opt_max)`` training points, then (for larger n) one exact
  fit on all n with that kernel. Skipped where the dense kernel matrix and its factor
  (about ``3 × 8 n²`` bytes) exceed ``gp_mem_gb``.
* **SHRidge**: Linear(SH) with the degree penalty ``α (1 + l(l+1))^p``
  (:class:`geoviz.estimators.SHRidge`), ``L = min(40, ⌈√n⌉)``, ``α`` (57 values) and
  ``p ∈ {0, 1, 2, 3}`` in closed form (GCV for n > 2 L², exact leave-one-out otherwise).
* **kNN**: ``KNeighborsRegressor`` with the haversine metric (ball tree); ``k`` in
  {1, 2, 3, 5, 8, 13, 21, 34} and uniform or inverse-distance weights chosen by exact
  leave-one-out error (one neighbour query) on up to 20,000 of the training points.
* **Siren(SH)**: :class:`geoviz.GeoRegressor` (the training engine), two settings
  (``siren_settings``), each trained on 90 % of the n points with early stopping (patience 20)
  on the other 10 % and at most ``siren_passes`` sample presentations (epochs × points); the
  setting with the lower validation loss is kept.

Reported per (field, n, method): held-out R² on the common test set with a 95 % percentile
bootstrap interval over the test points (the same resamples for every method, so differences
are paired), RMSE, the wall-clock time of the whole tuned fit (hyper-parameter search
included), the prediction time for the test set, and the peak resident-memory growth during
the fit (``/proc/self/statm`` sampled every 5 ms by a thread; covers numpy, BLAS and torch).
"""

from __future__ import annotations

import math
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DOC = "docs/results/fields.md"
COMMAND = "geoviz results fields"

FIELDS = ("temperature", "geoid")
METHODS = ("GP", "SHRidge", "kNN", "Siren(SH)")
FULL = dict(sizes=(1000, 3000, 10_000, 30_000, 100_000), n_test=5000, gp_opt_max=2000, gp_mem_gb=6.0,
            siren_passes=1_500_000, siren_max_epochs=300, knn_loo_max=20_000, shridge_lmax=40, bootstrap=1000)
SMALL = dict(sizes=(300, 1000), n_test=1000, gp_opt_max=300, gp_mem_gb=6.0, siren_passes=5000,
             siren_max_epochs=300, knn_loo_max=1000, shridge_lmax=16, bootstrap=200)
SIREN_SETTINGS = ("sh:16+siren(128x2)", "sh:32+siren(128x2)")
KNN_K = (1, 2, 3, 5, 8, 13, 21, 34)
FIELD_WORDS = {"temperature": "temperature field", "geoid": "geoid"}


# --------------------------------------------------------------------------------------------
# measurement


class _PeakRSS:
    """Peak growth of the resident set size over a block (sampled every 5 ms by a thread)."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.peak_mb = 0.0

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def __enter__(self) -> _PeakRSS:
        self._base = self._rss()
        self._peak = self._base
        self._stop = threading.Event()

        def watch() -> None:
            while not self._stop.wait(0.005):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.peak_mb = (self._peak - self._base) / 2**20


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    return float(1.0 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))


def _boot_r2(pred: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """R² on each bootstrap resample ``idx`` (B, n_test) of the test points."""
    yb = y[idx]
    sse = np.sum((pred[idx] - yb) ** 2, axis=1)
    sst = np.sum((yb - yb.mean(axis=1, keepdims=True)) ** 2, axis=1)
    return 1.0 - sse / sst


# --------------------------------------------------------------------------------------------
# the four methods: each returns (fitted predictor, chosen-setting note)


def _fit_gp(X: np.ndarray, y: np.ndarray, cfg: dict, cache: dict) -> tuple[Callable, str]:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    from ..data import lonlat_to_unit

    m = min(len(X), cfg["gp_opt_max"])
    if m not in cache:  # the optimisation on the first m points is shared by the larger n (prefixes)
        t0 = time.perf_counter()
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(0.1, (1e-3, 3.0), nu=1.5) + WhiteKernel(1e-2, (1e-8, 1.0))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=0, random_state=0)
        gp.fit(lonlat_to_unit(X[:m]), y[:m])
        cache[m] = (gp, time.perf_counter() - t0)
    gp, _ = cache[m]
    if len(X) > m:  # one exact fit with that kernel: K, its Cholesky factor in place, one solve
        from scipy.linalg import cho_factor, cho_solve

        U = lonlat_to_unit(X)
        mean, scale = float(y.mean()), float(y.std()) or 1.0
        K = gp.kernel_(U)
        factor = cho_factor(K, lower=True, overwrite_a=True, check_finite=False)
        weights = cho_solve(factor, (y - mean) / scale, check_finite=False)
        del K, factor
        kernel = gp.kernel_
        predict = lambda Z: kernel(lonlat_to_unit(Z), U) @ weights * scale + mean  # noqa: E731
    else:
        predict = lambda Z: gp.predict(lonlat_to_unit(Z))  # noqa: E731
    k = gp.kernel_
    length = float(k.k1.k2.length_scale)
    note = (f"Matérn length {math.degrees(length):.1f}°, noise {float(k.k2.noise_level):.1e}"
            + (f"; kernel from the first {m:,} points" if len(X) > m else ""))
    return predict, note


def _fit_shridge(X: np.ndarray, y: np.ndarray, cfg: dict, cache: dict) -> tuple[Callable, str]:
    from ..estimators import SHRidge

    L = min(cfg["shridge_lmax"], math.ceil(math.sqrt(len(X))))
    m = SHRidge(legendre_polys=L).fit(X, y)
    return m.predict, f"L = {L}, p = {m.power_:g}, α = {m.alpha_:.1e}, dof {m.dof_:.0f}"


def _fit_knn(X: np.ndarray, y: np.ndarray, cfg: dict, cache: dict) -> tuple[Callable, str]:
    from sklearn.neighbors import KNeighborsRegressor

    rad = np.radians(X[:, ::-1])  # haversine wants (lat, lon) radians
    kmax = min(max(KNN_K), len(X) - 1)
    ks = [k for k in KNN_K if k <= kmax]
    probe = KNeighborsRegressor(n_neighbors=kmax + 1, metric="haversine", algorithm="ball_tree").fit(rad, y)
    q = np.random.default_rng(0).permutation(len(X))[: cfg["knn_loo_max"]]
    dist, ind = probe.kneighbors(rad[q], kmax + 1)
    # leave one out: drop each point's own entry (the first neighbour at distance 0)
    self_first = ind[:, 0] == q
    keep = np.where(self_first[:, None], np.arange(1, kmax + 1)[None, :], np.arange(kmax)[None, :])
    dist, ind = np.take_along_axis(dist, keep, 1), np.take_along_axis(ind, keep, 1)
    yn, yq = y[ind], y[q]
    best = (np.inf, 1, "uniform")
    for k in ks:
        for w in ("uniform", "distance"):
            if w == "uniform":
                pred = yn[:, :k].mean(axis=1)
            else:
                with np.errstate(divide="ignore"):
                    wt = 1.0 / dist[:, :k]
                exact = ~np.isfinite(wt).all(axis=1)
                wt[~np.isfinite(wt)] = 0.0
                pred = np.where(exact, yn[:, 0], (wt * yn[:, :k]).sum(axis=1) / np.maximum(wt.sum(axis=1), 1e-300))
            mse = float(np.mean((pred - yq) ** 2))
            if mse < best[0]:
                best = (mse, k, w)
    _, k, w = best
    model = KNeighborsRegressor(n_neighbors=k, weights=w, metric="haversine", algorithm="ball_tree").fit(rad, y)
    return (lambda Z: model.predict(np.radians(Z[:, ::-1]))), f"k = {k}, {w} weights"


def _fit_siren(X: np.ndarray, y: np.ndarray, cfg: dict, cache: dict) -> tuple[Callable, str]:
    from ..estimators import GeoRegressor

    n = len(X)
    batch = int(np.clip(n // 20, 64, 2048))
    epochs = int(np.clip(math.ceil(cfg["siren_passes"] / (0.9 * n)), 5, cfg["siren_max_epochs"]))
    best = None
    for enc in SIREN_SETTINGS:
        m = GeoRegressor(enc, lr=1e-3, max_epochs=epochs, batch_size=batch, patience=20, validation_fraction=0.1,
                         random_state=0, device="cpu", dtype="float32").fit(X, y)
        val = min(h["val_loss"] for h in m.history_)
        if best is None or val < best[0]:
            best = (val, enc, m)
    _, enc, m = best
    return m.predict, f"{enc}, {m.n_epochs_}/{epochs} epochs ({m.stopped_.replace('_', ' ')}), batch {batch}"


FITTERS: dict[str, Callable] = {"GP": _fit_gp, "SHRidge": _fit_shridge, "kNN": _fit_knn, "Siren(SH)": _fit_siren}


# --------------------------------------------------------------------------------------------
# the experiment


def _malloc_returns_large_blocks() -> Callable[[], None]:
    """glibc: serve every block of 1 MiB or more by mmap (returned to the system when freed), so
    that the resident-set growth of each fit is its own; returns ``malloc_trim``."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)   # M_MMAP_THRESHOLD (fixed: no dynamic raising)
        return lambda: libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measurements may under-count reuse
        return lambda: None


def run(out: Path, *, small: bool = False, progress: Callable[[str], None] = print, **overrides: Any) -> dict[str, Any]:
    """Fit the four methods at each n on both fields; returns the JSON-ready record.

    ``overrides`` replace entries of :data:`FULL` / :data:`SMALL` (``fields``, ``sizes``,
    ``n_test``, ``siren_passes``, …; used by ``benchmarks/bench_kriging.py``, never by the page).

    Everything runs on one thread (torch, numba and BLAS): on a shared 2-core machine two
    threads spin-wait for each other and make small fits up to 8× slower.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            return _run(Path(out), small=small, progress=progress, overrides=overrides)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path, *, small: bool, progress: Callable[[str], None], overrides: dict[str, Any]) -> dict[str, Any]:
    import sklearn
    import torch

    from ..data import get_field

    cfg = {"fields": FIELDS, **(SMALL if small else FULL), **overrides}
    unknown = set(overrides) - set(FULL) - {"fields"}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: fields, {', '.join(FULL)}")
    trim = _malloc_returns_large_blocks()
    rows: list[dict[str, Any]] = []
    winners: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    warm = get_field(cfg["fields"][0]).task(n_train=200, n_test=10, n_val=1, seed=1)
    for method in METHODS:  # imports and JIT compilation outside the measured fits
        FITTERS[method](warm.train.lonlat.astype(np.float64), warm.train.y.astype(np.float64),
                        dict(cfg, siren_passes=1000, gp_opt_max=200), {})
    for name in cfg["fields"]:
        field = get_field(name)
        task = field.task(n_train=max(cfg["sizes"]), n_test=cfg["n_test"], n_val=1, seed=0)
        Xall, yall = task.train.lonlat.astype(np.float64), task.train.y.astype(np.float64)
        Xte, yte = task.test.lonlat.astype(np.float64), task.test.y.astype(np.float64)
        boot = np.random.default_rng(0).integers(0, len(yte), size=(cfg["bootstrap"], len(yte)))
        caches: dict[str, dict] = {m: {} for m in METHODS}
        last_gp: tuple[int, float] | None = None
        for n in cfg["sizes"]:
            X, y = Xall[:n], yall[:n]
            boots: dict[str, np.ndarray] = {}
            for method in METHODS:
                row: dict[str, Any] = {"field": name, "n": n, "method": method}
                if method == "GP":
                    need = 3 * 8 * n * n / 1e9
                    if need > cfg["gp_mem_gb"]:
                        row["skipped"] = f"needs ~{need:.0f} GB (kernel matrix and its Cholesky factor) > {cfg['gp_mem_gb']:g} GB"
                        if last_gp:
                            row["skipped"] += f"; ~{last_gp[1] * (n / last_gp[0]) ** 3:,.0f} s by n³ from n = {last_gp[0]:,}"
                        rows.append(row)
                        progress(f"{name:12s} n={n:7,d} {method:10s} skipped: {row['skipped']}")
                        continue
                trim()
                shared = method == "GP" and min(n, cfg["gp_opt_max"]) in caches["GP"]
                t0 = time.perf_counter()
                with _PeakRSS() as mem:
                    predict, note = FITTERS[method](X, y, cfg, caches[method])
                fit_s = time.perf_counter() - t0
                if shared:  # the hyper-parameter search was run (and timed) at a smaller n: count it here too
                    fit_s += caches["GP"][min(n, cfg["gp_opt_max"])][1]
                t0 = time.perf_counter()
                pred = np.asarray(predict(Xte), dtype=np.float64).reshape(-1)
                pred_s = time.perf_counter() - t0
                if method == "GP":
                    last_gp = (n, fit_s)
                b = _boot_r2(pred, yte, boot)
                boots[method] = b
                row.update(r2=round(_r2(pred, yte), 5), r2_lo=round(float(np.percentile(b, 2.5)), 5),
                           r2_hi=round(float(np.percentile(b, 97.5)), 5),
                           rmse=round(float(np.sqrt(np.mean((pred - yte) ** 2))), 4),
                           fit_s=round(fit_s, 2), predict_s=round(pred_s, 3), peak_mb=round(mem.peak_mb, 1), note=note)
                rows.append(row)
                progress(f"{name:12s} n={n:7,d} {method:10s} R²={row['r2']:.4f} [{row['r2_lo']:.4f}, {row['r2_hi']:.4f}] "
                         f"fit {fit_s:6.1f} s  +{mem.peak_mb:7.0f} MB  {note}")
            here = sorted((r for r in rows if r["field"] == name and r["n"] == n and "r2" in r),
                          key=lambda r: -r["r2"])
            best, second = here[0], here[1]
            d = boots[best["method"]] - boots[second["method"]]
            winners.append({"field": name, "n": n, "best": best["method"], "second": second["method"],
                            "diff": round(best["r2"] - second["r2"], 5),
                            "diff_lo": round(float(np.percentile(d, 2.5)), 5),
                            "diff_hi": round(float(np.percentile(d, 97.5)), 5)})
    record = {
        "meta": {
            "fields": list(cfg["fields"]), "units": {f: get_field(f).units for f in cfg["fields"]}, "sizes": list(cfg["sizes"]), "n_test": cfg["n_test"], "small": small,
            "data": f"get_field(name).task(n_train={max(cfg['sizes'])}, n_test={cfg['n_test']}, n_val=1, seed=0); "
                    "training sets are prefixes",
            "gp_opt_max": cfg["gp_opt_max"], "gp_mem_gb": cfg["gp_mem_gb"], "siren_settings": list(SIREN_SETTINGS),
            "siren_passes": cfg["siren_passes"], "knn_k": list(KNN_K), "knn_loo_max": cfg["knn_loo_max"],
            "shridge_lmax": cfg["shridge_lmax"], "siren_max_epochs": cfg["siren_max_epochs"], "threads": 1, "bootstrap": cfg["bootstrap"],
            "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", "torch_threads": torch.get_num_threads(),
            "sklearn": sklearn.__version__, "torch": torch.__version__,
            "loadavg_start": [round(v, 2) for v in load0], "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        },
        "rows": rows,
        "winners": winners,
    }
    _plot(record, out / "fields_equal_n.png")
    return record


# --------------------------------------------------------------------------------------------
# the page


def _row(record: dict, field: str, n: int, method: str) -> dict | None:
    return next((r for r in record["rows"] if r["field"] == field and r["n"] == n and r["method"] == method), None)


def render(record: dict[str, Any]) -> str:
    """The generated block: per field an R² table (bold: the highest), a cost table and the
    hyper-parameters each method chose."""
    meta = record["meta"]
    lines = [f"Command: `{record.get('command', COMMAND)}` ({record.get('seconds', 0):,.0f} s; "
             f"record `docs/results/fields/fields.json`). {meta['n_test']:,} common test points per field; "
             f"R² with a 95 % bootstrap interval over the test points ({meta['bootstrap']:,} resamples, paired "
             f"across methods). Machine: {meta['machine']}, load average {meta['loadavg_start'][0]:.1f} at the start, "
             f"{meta['loadavg_end'][0]:.1f} at the end.", ""]
    for field in meta["fields"]:
        unit = meta.get("units", {}).get(field, "°C" if field == "temperature" else "m")
        lines += [f"**{field}: held-out R² [95 % interval]** (bold: the highest at that n)", "",
                  "| n | " + " | ".join(METHODS) + " | best − second [95 %] |",
                  "|---" * (len(METHODS) + 2) + "|"]
        for n in meta["sizes"]:
            w = next(x for x in record["winners"] if x["field"] == field and x["n"] == n)
            cells = []
            for m in METHODS:
                r = _row(record, field, n, m)
                if r is None or "r2" not in r:
                    cells.append("– (not run)")
                    continue
                txt = f"{r['r2']:.4f} [{r['r2_lo']:.4f}, {r['r2_hi']:.4f}]"
                cells.append(f"**{txt}**" if m == w["best"] else txt)
            lines.append(f"| {n:,} | " + " | ".join(cells)
                         + f" | {w['best']} − {w['second']}: {w['diff']:+.4f} [{w['diff_lo']:+.4f}, {w['diff_hi']:+.4f}] |")
        lines += ["", f"**{field}: RMSE ({unit}) · fit time (s) · peak memory growth (MB)**", "",
                  "| n | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 1) + "|"]
        for n in meta["sizes"]:
            cells = []
            for m in METHODS:
                r = _row(record, field, n, m)
                cells.append("–" if r is None or "r2" not in r
                             else f"{r['rmse']:.3g} · {r['fit_s']:.1f} s · {r['peak_mb']:,.0f} MB")
            lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
        lines += ["", f"**{field}: what each method chose**", "", "| n | " + " | ".join(METHODS) + " |",
                  "|---" * (len(METHODS) + 1) + "|"]
        for n in meta["sizes"]:
            cells = []
            for m in METHODS:
                r = _row(record, field, n, m)
                cells.append("–" if r is None else (f"not run: {r['skipped']}" if "skipped" in r else r["note"]))
            lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("![held-out R² and fit time vs n](fields/fields_equal_n.png)")
    return "\n".join(lines) + "\n"


def claims(record: dict[str, Any]) -> list[str]:
    """Exact phrases the page's prose must contain: the winner at each (field, n) (or a tie, when
    the paired 95 % bootstrap interval of best − second includes 0) and where the exact GP stops."""
    out = [f"at n = {w['n']:,}, {w['best']} has the highest held-out R² on the {FIELD_WORDS.get(w['field'], w['field'])}"
           if w["diff_lo"] > 0 else
           f"at n = {w['n']:,}, {w['best']} and {w['second']} are tied on the {FIELD_WORDS.get(w['field'], w['field'])}"
           for w in record["winners"]]
    gp = [r["n"] for r in record["rows"] if r["method"] == "GP" and "r2" in r]
    skipped = [r["n"] for r in record["rows"] if r["method"] == "GP" and "skipped" in r]
    if gp and skipped:
        out.append(f"the exact GP stops at n = {max(gp):,}")
    return out


def _plot(record: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    meta = record["meta"]
    fig = Figure(figsize=(12, 7.5))
    axes = fig.subplots(2, len(meta["fields"]), squeeze=False)
    colours = {"GP": "tab:blue", "SHRidge": "tab:green", "kNN": "tab:grey", "Siren(SH)": "tab:red"}
    for j, field in enumerate(meta["fields"]):
        for m in METHODS:
            rs = [r for r in record["rows"] if r["field"] == field and r["method"] == m and "r2" in r]
            if not rs:
                continue
            n = np.array([r["n"] for r in rs], dtype=float)
            r2 = np.array([r["r2"] for r in rs])
            err = np.array([[r["r2"] - r["r2_lo"] for r in rs], [r["r2_hi"] - r["r2"] for r in rs]])
            axes[0, j].errorbar(n, 1 - r2, yerr=err[::-1], fmt="o-", color=colours[m], label=m, capsize=3)
            axes[1, j].loglog(n, [r["fit_s"] for r in rs], "o-", color=colours[m], label=m)
        axes[0, j].set(xscale="log", yscale="log", xlabel="training points n", ylabel="1 − held-out R² (95 % interval)",
                       title=f"{field}: error (lower is better)")
        axes[1, j].set(xlabel="training points n", ylabel="fit time incl. tuning (s)", title=f"{field}: fit time")
        for ax in axes[:, j]:
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("GP, SHRidge, kNN and Siren(SH) at equal n (same points, common test set)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
