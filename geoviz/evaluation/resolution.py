"""Effective-resolution diagnostics for a frozen encoder: what scale does it resolve?

(a) **Checkerboard accuracy vs cell size** (:data:`CELLS` = 90°, 45°, 22.5°, 10°, 5°, 2.5°, 1°).
    Label = parity of the global (lon, lat) cell of size ``c``. So that every scale gets the
    same sampling density (≈ ``n / 256`` points per cell), points are drawn uniformly inside a
    box of side ``min(16 c, 360°) × min(16 c, 180°)`` (global for c ≥ 22.5°), at
    ``regions`` random centres (|lat| ≤ 60°), 50/50 train/test; the score is the mean test
    accuracy of the linear probe (ridge classifier, LOO-chosen alpha) on the frozen features.
    **Image-derived models** (:func:`geoviz.pretrained.is_image_derived`: GeoCLIP, SatCLIP, the
    Blue Marble models) are tested **on land only** (points kept where
    :func:`geoviz.data.is_land`; box centres drawn until the box holds land): over the ocean
    their imagery is uniform, so ocean cells would measure the imagery, not the encoder.
    Spherical harmonics and other analytic encodings are tested globally.
    Beside it: a from-scratch Siren(SH) (SH ``L`` → Siren 64×2, Adam, full batch) trained on
    the same points, and the Linear(SH) limit: a checkerboard of cell ``c`` is a product of a
    longitude square wave (order m = 180°/c) and a latitude square wave (≈ 180°/c half-waves),
    so its fundamental needs SH degree ≈ 360°/c, and degrees 0..L-1 cannot represent cells
    smaller than ≈ 360°/L. The Smoothness tab's f_max = 180°/(2L) (9° at L = 10) is drawn too,
    for reference (see below).
(b) **Cosine similarity vs great-circle distance**: for ``anchors`` random points and each
    distance in :data:`DISTANCES_KM`, a partner at that distance in a random direction; the
    median and quartiles of the embeddings' cosine similarity.

**Resolved scale** (one definition, used by the library, ``geoviz evaluate --resolution``, the
Compare tab and notebook 08): the smallest checkerboard cell, going from coarse to fine, down
to which the linear probe's accuracy stays at or above :data:`RESOLVED_ACCURACY` = 75 %
(halfway between chance, 50 %, and perfect), log-interpolated between the bracketing cells;
"none" when even the coarsest board is below 75 %. The threshold is absolute, so a curve that
lies below another at every cell size never gets a finer resolved scale. (An earlier
definition put the threshold halfway between chance and each encoder's own best accuracy,
which let a weaker encoder "resolve" finer cells than a stronger one.)

How it relates to **f_max = 180°/(2L)** (the Smoothness tab): f_max is a property of the SH
basis alone, the finest feature a degree-L expansion can draw in one direction; the resolved
scale is measured, for any encoder, on a two-dimensional checkerboard, whose cell ``c`` needs
SH degree ≈ 360°/c (c/180° longitude order plus as many latitude half-waves). So Linear(SH L)
resolves ≈ 360°/L = 4 × f_max (``sh:10``: ≈ 36° against f_max = 9°): the two numbers measure
different things and neither contradicts the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from geoviz.data.sampling import EARTH_RADIUS_KM

from .encoders import EmbeddingCache, FrozenEncoder, get_encoder
from .probes import linear_probe, score

__all__ = ["CELLS", "DISTANCES_KM", "RESOLVED_ACCURACY", "land_only", "ResolutionResult", "checkerboard_labels", "destination_points",
           "resolution_diagnostics", "resolved_scale", "load_resolution", "plot_resolution", "plot_resolution_comparison"]

CELLS: tuple[float, ...] = (90.0, 45.0, 22.5, 10.0, 5.0, 2.5, 1.0)
DISTANCES_KM: tuple[float, ...] = (10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
RESOLVED_ACCURACY = 0.75
"""Accuracy the linear probe must keep for a checkerboard cell to count as resolved."""


def land_only(encoder: Any) -> bool:
    """Whether the resolution diagnostic of ``encoder`` runs on land only (image-derived models)."""
    from geoviz.pretrained import is_image_derived

    spec = getattr(encoder, "spec", encoder)
    try:
        return bool(is_image_derived(spec))
    except Exception:  # not a registry name (sh:L, raw, a file): analytic or unknown → global
        return False


def checkerboard_labels(lonlat: np.ndarray, cell_deg: float) -> np.ndarray:
    """``(N,)`` int64 parity (0/1) of the global ``cell_deg`` × ``cell_deg`` lon/lat cell of each point."""
    p = np.asarray(lonlat, dtype=np.float64)
    i = np.floor((p[:, 0] + 180.0) / cell_deg).astype(np.int64)
    j = np.floor((p[:, 1] + 90.0) / cell_deg).astype(np.int64)
    return (i + j) % 2


def destination_points(lonlat: np.ndarray, distance_km: float, bearing_deg: np.ndarray) -> np.ndarray:
    """Points at great-circle ``distance_km`` from ``lonlat`` along ``bearing_deg`` (sphere, R = 6371 km)."""
    p = np.radians(np.asarray(lonlat, dtype=np.float64))
    lon1, lat1 = p[:, 0], p[:, 1]
    d = distance_km / EARTH_RADIUS_KM
    b = np.radians(bearing_deg)
    lat2 = np.arcsin(np.clip(np.sin(lat1) * np.cos(d) + np.cos(lat1) * np.sin(d) * np.cos(b), -1, 1))
    lon2 = lon1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(lat1), np.cos(d) - np.sin(lat1) * np.sin(lat2))
    lon2 = (np.degrees(lon2) + 180.0) % 360.0 - 180.0
    return np.stack([lon2, np.degrees(lat2)], axis=1)


def resolved_scale(cells: Sequence[float], accuracy: Sequence[float], threshold: float = RESOLVED_ACCURACY) -> float:
    """Cell size (degrees) where accuracy first falls below ``threshold`` (75 %), going from large to small cells.

    Log-interpolated between the bracketing cells. Returns the smallest cell if accuracy
    never falls below the threshold, and NaN if it starts below it (nothing resolved; a curve
    that only rises above it at finer cells has no single resolved scale either). The
    threshold is absolute, so a curve below another at every cell never resolves finer.
    """
    c = np.asarray(cells, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    order = np.argsort(-c)
    c, a = c[order], a[order]
    thr = float(threshold)
    if not np.isfinite(a[0]) or a[0] < thr:
        return float("nan")  # already below the threshold on the coarsest board: no coarse-to-fine fall
    for i in range(1, len(c)):
        if a[i] < thr:
            f = (a[i - 1] - thr) / max(a[i - 1] - a[i], 1e-12)
            return float(np.exp(np.log(c[i - 1]) + f * (np.log(c[i]) - np.log(c[i - 1]))))
    return float(c[-1])


def _board_points(cell: float, n: int, seed: int, land: bool = False) -> np.ndarray:
    """``n`` points of one board: global for coarse cells, else in a box at a random centre;
    with ``land``, only land points (a box is redrawn until at least 5 % of it is land)."""
    from geoviz.data import is_land, uniform_sphere

    rng = np.random.default_rng(seed)
    w, h = min(16 * cell, 360.0), min(16 * cell, 180.0)

    def draw(m: int, lon_c: float, lat_c: float) -> np.ndarray:
        if w >= 360.0 and h >= 180.0:
            return uniform_sphere(m, seed=int(rng.integers(2**31)))
        lat0, lat1 = max(lat_c - h / 2, -90.0), min(lat_c + h / 2, 90.0)
        s = rng.uniform(np.sin(np.radians(lat0)), np.sin(np.radians(lat1)), m)   # uniform in area
        lat = np.degrees(np.arcsin(s))
        lon = (lon_c + rng.uniform(-w / 2, w / 2, m) + 180.0) % 360.0 - 180.0
        return np.stack([lon, lat], axis=1)

    if not land and w >= 360.0 and h >= 180.0:
        return uniform_sphere(n, seed=10_000 + seed)
    for _ in range(200):
        lat_c, lon_c = rng.uniform(-60.0, 60.0), rng.uniform(-180.0, 180.0)
        if not land:
            return draw(n, lon_c, lat_c)
        probe = draw(400, lon_c, lat_c)
        frac = is_land(probe).mean()
        if frac >= 0.05:
            kept, have = [], 0
            while have < n:
                p = draw(max(int(1.3 * (n - have) / frac), 100), lon_c, lat_c)
                p = p[is_land(p)]
                kept.append(p)
                have += len(p)
            return np.concatenate(kept)[:n]
    raise RuntimeError("no box with land found")


def _siren_sh_accuracy(L: int, x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, epochs: int, seed: int) -> float:
    """Test accuracy of Siren(SH L) 64 × 2 trained from scratch on the board (full-batch Adam,
    ``epochs`` epochs, no early stopping): a :class:`geoviz.GeoClassifier`."""
    from geoviz.estimators import GeoClassifier

    clf = GeoClassifier(f"sh:{int(L)}+siren(64x2)", lr=1e-3, max_epochs=int(epochs), batch_size=len(tr), patience=None,
                        validation_fraction=None, random_state=int(seed), device="cpu", dtype="float32")
    clf.fit(x[tr], y[tr])
    return score("classification", y[te], clf.predict(x[te]))


@dataclass
class ResolutionResult:
    """Diagnostics of one encoder.

    Attributes:
        encoder: spec. legendre_polys: SH ``L`` if known (else ``None``).
        cells: cell sizes (degrees). accuracy / accuracy_std: linear-probe test accuracy per cell
            (mean / std over regions). siren_accuracy: from-scratch Siren(SH ``siren_L``) accuracy.
        distances_km, sim_median, sim_q25, sim_q75: cosine similarity vs distance.
        resolved_scale: degrees (see module docstring).
    """

    encoder: str
    legendre_polys: int | None
    cells: list[float]
    accuracy: list[float]
    accuracy_std: list[float]
    siren_L: int
    siren_accuracy: list[float]
    distances_km: list[float]
    sim_median: list[float]
    sim_q25: list[float]
    sim_q75: list[float]
    resolved_scale: float = float("nan")
    siren_resolved_scale: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


_SIREN_CACHE: dict[tuple, list[float]] = {}


def resolution_diagnostics(
    encoder: str | FrozenEncoder,
    *,
    cells: Sequence[float] = CELLS,
    n: int = 1500,
    regions: int = 3,
    anchors: int = 300,
    distances_km: Sequence[float] = DISTANCES_KM,
    siren_L: int | None = None,
    siren_epochs: int = 300,
    cache: EmbeddingCache | None = None,
    seed: int = 0,
    land: bool | None = None,
) -> ResolutionResult:
    """Checkerboard accuracy vs cell size and similarity vs distance for one encoder.

    Args:
        encoder: spec or :class:`FrozenEncoder`.
        cells: checkerboard cell sizes (degrees). n: points per board and region.
        regions: boxes per fine cell size (global boards use one sample per region seed).
        anchors: anchor points of the similarity curve. distances_km: its distances.
        siren_L: L of the from-scratch Siren(SH) baseline (default: the encoder's L, else 10);
            ``0`` skips it.
        siren_epochs: its full-batch Adam epochs.
        cache: embedding cache. seed: sampling seed.
        land: boards on land only; ``None`` (default): on land for image-derived models
            (:func:`land_only`), globally for everything else.

    Returns:
        :class:`ResolutionResult`.
    """
    enc = get_encoder(encoder) if isinstance(encoder, str) else encoder
    cache = cache if cache is not None else EmbeddingCache()
    L = enc.legendre_polys
    sL = (L or 10) if siren_L is None else int(siren_L)
    on_land = land_only(enc) if land is None else bool(land)
    acc, acc_sd, sir = [], [], []
    for ci, c in enumerate(cells):
        vals, svals = [], []
        for r in range(regions):
            x = _board_points(float(c), n, seed=seed * 1000 + ci * 37 + r, land=on_land)
            y = checkerboard_labels(x, float(c))
            rng = np.random.default_rng(seed + r)
            perm = rng.permutation(len(x))
            tr, te = np.sort(perm[: len(x) // 2]), np.sort(perm[len(x) // 2:])
            X = cache.get(enc, x)
            pred = linear_probe(X, y, "classification", [(tr, te, 0)])[0]
            vals.append(score("classification", y[te], pred))
            if sL > 0:
                key = (sL, float(c), n, r, seed, siren_epochs, on_land)
                if key not in _SIREN_CACHE:
                    _SIREN_CACHE[key] = [_siren_sh_accuracy(sL, x, y, tr, te, siren_epochs, seed + r)]
                svals += _SIREN_CACHE[key]
        acc.append(float(np.mean(vals)))
        acc_sd.append(float(np.std(vals)))
        sir.append(float(np.mean(svals)) if svals else float("nan"))
    # similarity vs distance
    from geoviz.data import uniform_sphere

    a = uniform_sphere(anchors, seed=20_000 + seed)
    a = a[np.abs(a[:, 1]) < 85]
    rng = np.random.default_rng(seed)
    pts = [a] + [destination_points(a, d, rng.uniform(0, 360, len(a))) for d in distances_km]
    E = cache.get(enc, np.concatenate(pts)).astype(np.float64)
    E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    m = len(a)
    E0 = E[:m]
    med, q25, q75 = [], [], []
    for k in range(len(distances_km)):
        s = np.sum(E0 * E[(k + 1) * m:(k + 2) * m], axis=1)
        q = np.quantile(s, [0.25, 0.5, 0.75])
        q25.append(float(q[0]))
        med.append(float(q[1]))
        q75.append(float(q[2]))
    return ResolutionResult(
        enc.spec, L, [float(c) for c in cells], acc, acc_sd, sL, sir, [float(d) for d in distances_km], med, q25, q75,
        resolved_scale(cells, acc), resolved_scale(cells, sir) if sL > 0 else float("nan"),
        extra={"land_only": on_land, "threshold": RESOLVED_ACCURACY})


def plot_resolution(res: ResolutionResult, path: str | Path | None = None) -> Any:
    """One encoder's figure: (a) checkerboard accuracy vs cell size, (b) similarity vs distance.

    Returns the matplotlib ``Figure`` (:func:`geoviz.render.new_figure`; also written to ``path``
    at 110 dpi when given)."""
    from geoviz import render

    fig = render.new_figure((10, 3.8))
    a1, a2 = fig.subplots(1, 2)
    c = np.array(res.cells)
    a1.errorbar(c, 100 * np.array(res.accuracy), yerr=100 * np.array(res.accuracy_std), marker="o",
                label=f"{res.encoder} + linear probe", capsize=2)
    if np.isfinite(res.siren_accuracy).any():
        a1.plot(c, 100 * np.array(res.siren_accuracy), "s--", color="0.4",
                label=f"Siren(SH L={res.siren_L}) from scratch")
        a1.axvline(360.0 / res.siren_L, color="0.5", ls=":", label=f"Linear(SH L={res.siren_L}) checkerboard limit ≈ 360°/L")
        a1.axvline(180.0 / (2 * res.siren_L), color="0.75", ls="-.", lw=1, label="f_max = 180°/(2L) (issue's formula)")
    a1.axhline(50, color="0.8", lw=1)
    if np.isfinite(res.resolved_scale):
        a1.axvline(res.resolved_scale, color="C3", lw=1, label=f"resolved scale (≥ 75 %) ≈ {res.resolved_scale:.1f}°")
    a1.axhline(100 * RESOLVED_ACCURACY, color="C3", lw=0.6, ls=":")
    a1.set_xscale("log")
    a1.set_xticks(c, [f"{v:g}°" for v in c])
    a1.invert_xaxis()
    a1.set_ylim(40, 118)
    a1.set_yticks(range(40, 101, 10))
    a1.set_xlabel("checkerboard cell size (finer →)")
    a1.set_ylabel("test accuracy (%)  (chance 50)")
    a1.set_title("(a) checkerboard, frozen features" + (" (land only)" if res.extra.get("land_only") else ""),
                  fontsize=10)
    a1.legend(fontsize=6.5, loc="upper right", ncol=2)
    d = np.array(res.distances_km)
    a2.fill_between(d, res.sim_q25, res.sim_q75, alpha=0.3, label="quartiles")
    a2.plot(d, res.sim_median, "o-", label="median")
    a2.set_xscale("log")
    a2.set_xlabel("great-circle distance (km)")
    a2.set_ylabel("cosine similarity of embeddings")
    a2.set_ylim(-1.02, 1.02)
    a2.axhline(0, color="0.8", lw=1)
    a2.set_title("(b) similarity vs distance", fontsize=10)
    a2.legend(fontsize=7)
    fig.suptitle(f"Effective resolution of {res.encoder}", fontsize=11)
    if path is not None:
        render.save_figure(fig, path, dpi=110)
    return fig


def _fmt(scale: float) -> str:
    return f"{scale:.1f}°" if np.isfinite(scale) else "n/a"


def load_resolution(path: str | Path) -> list[ResolutionResult]:
    """Read ``resolution.json`` (as written by ``geoviz evaluate --resolution``) back into results."""
    import json

    return [ResolutionResult(**d) for d in json.loads(Path(path).read_text())]


def plot_resolution_comparison(results: Sequence[ResolutionResult], path: str | Path | None = None) -> Any:
    """All encoders in one figure: checkerboard curves (with resolved scales) and similarity medians.

    Returns the matplotlib ``Figure`` (:func:`geoviz.render.new_figure`; also written to ``path``
    at 110 dpi when given)."""
    from geoviz import render

    fig = render.new_figure((11, 4))
    a1, a2 = fig.subplots(1, 2)
    sirens_done = set()
    for i, r in enumerate(results):
        col = f"C{i}"
        where = ", land only" if r.extra.get("land_only") else ""
        scale = f"resolved {_fmt(r.resolved_scale)}" if np.isfinite(r.resolved_scale) else "resolves no board"
        a1.plot(r.cells, 100 * np.array(r.accuracy), "o-", color=col, label=f"{r.encoder} ({scale}{where})")
        if r.siren_L not in sirens_done and np.isfinite(r.siren_accuracy).any():
            sirens_done.add(r.siren_L)
            a1.plot(r.cells, 100 * np.array(r.siren_accuracy), "--", color="0.3", alpha=0.4 + 0.3 * (len(sirens_done) % 2),
                    label=f"Siren(SH L={r.siren_L}) from scratch (resolved {_fmt(r.siren_resolved_scale)})")
        a2.plot(r.distances_km, r.sim_median, "o-", color=col, label=r.encoder)
        a2.fill_between(r.distances_km, r.sim_q25, r.sim_q75, color=col, alpha=0.12)
    a1.axhline(50, color="0.8", lw=1)
    a1.axhline(100 * RESOLVED_ACCURACY, color="0.4", lw=0.8, ls=":", label="75 %: resolved above this")
    a1.set_xscale("log")
    cells = results[0].cells if results else list(CELLS)
    a1.set_xticks(cells, [f"{v:g}°" for v in cells])
    a1.invert_xaxis()
    a1.set_ylim(40, 112)
    a1.set_yticks(range(40, 101, 10))
    a1.set_xlabel("checkerboard cell size (finer →)")
    a1.set_ylabel("linear-probe test accuracy (%)")
    a1.legend(fontsize=7, loc="upper right")
    a1.set_title("(a) checkerboard accuracy vs cell size", fontsize=10)
    a2.set_xscale("log")
    a2.set_ylim(-1.02, 1.02)
    a2.axhline(0, color="0.8", lw=1)
    a2.set_xlabel("great-circle distance (km)")
    a2.set_ylabel("cosine similarity (median, quartiles)")
    a2.legend(fontsize=7)
    a2.set_title("(b) embedding similarity vs distance", fontsize=10)
    if path is not None:
        render.save_figure(fig, path, dpi=110)
    return fig
