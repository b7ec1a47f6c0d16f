"""Results page ``docs/results/geolocation.md``: "where on Earth is this?" on patches never trained on.

The protocol (``geoviz results geolocation``; :func:`run`):

* **Patches held out by region.** ``n`` locations are drawn with
  :func:`geoviz.training.pretraining.sample_locations` (``land_fraction`` of them uniformly
  over land, the rest uniformly on the sphere, seed ``seed``) inside the interior of the
  held-out cells of the models' training configuration
  (:meth:`~geoviz.training.pretraining.PretrainConfig.validation_mask`: 10 % of the 15°
  equal-area cells, never reached by a training patch; a 3° patch fits inside). Each gets
  its 3° Blue Marble patch at the model's pixel size. Every model sees the same patches.
* **The model's answer** is the top place of :func:`geoviz.geolocation.geolocate` (the peak
  with the most probability within 125 km, peaks ≥ 250 km apart; coarse-to-fine softmax over
  0.25° cells, at most ``max_refined`` 1° cells refined per query).
* **Scores**: the share of patches whose top place lies within 25 / 200 / 750 / 2,500 km
  (great circle) of the truth, and the median error (km), each with a 95 % percentile
  bootstrap interval over the patches (``bootstrap`` resamples, the same for every model);
  separately for patches centred on land and on the ocean.
* **Chance**: a guess uniform on the sphere lands within r of any point with probability
  ``(1 − cos(r/R)) / 2`` (closed form); a guess uniform over land (Natural Earth 1:110m)
  by Monte Carlo: ``land_mc`` uniform land points, the share within r of each patch's true
  place, averaged over the patches.

``small=True`` trains a tiny model (:func:`geoviz.geolocation.train_small_model`) instead of
reading the shipped ones, so the test suite runs the same code path in seconds.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["DOC", "COMMAND", "FULL", "SMALL", "RADII_KM", "run", "render", "claims"]

DOC = "docs/results/geolocation.md"
COMMAND = "geoviz results geolocation"

RADII_KM: tuple[int, ...] = (25, 200, 750, 2500)
"""The accuracy radii (km): street … continent, as in the image-geolocation literature (IM2GPS)."""

FULL: dict[str, Any] = {"models": ["geoviz-bluemarble-l10", "geoviz-bluemarble-l40"], "n": 1000,
                        "land_fraction": 0.7, "size_deg": 3.0, "seed": 2028, "bootstrap": 1000, "land_mc": 20000,
                        "max_refined": 1024, "threads": 1}
SMALL: dict[str, Any] = {"models": ["small"], "n": 40, "land_fraction": 0.7, "size_deg": 3.0, "seed": 2028,
                         "bootstrap": 200, "land_mc": 2000, "max_refined": 256, "threads": 1}


def _load(name: str, out: Path, progress: Callable[[str], Any]) -> Any:
    from geoviz.geolocation import load_geolocator, train_small_model

    if name == "small":
        path = out / "small-geolocation-model.safetensors"
        if not path.is_file():
            progress("training a small model (tiny L, hidden 32) instead of the shipped ones")
            train_small_model(path, steps=8, batch_size=32)
        return load_geolocator(path)
    try:
        return load_geolocator(name)
    except ValueError as exc:
        raise ValueError(f"`{COMMAND}` needs the shipped Blue Marble models with their image towers: {exc}. "
                         f"Retrain them (`geoviz results pretrained`) and copy them into "
                         f"geoviz/pretrained/weights/, or run `{COMMAND} --small`") from None


def _boot(values: np.ndarray, idx: np.ndarray, stat: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    b = stat(values[idx])
    return float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))


def _scores(err: np.ndarray, rng_seed: int, B: int) -> dict[str, Any]:
    """Accuracy within each radius and the median error, with percentile bootstrap intervals."""
    n = len(err)
    out: dict[str, Any] = {"n": int(n)}
    if n == 0:
        return out
    idx = np.random.default_rng(rng_seed).integers(0, n, size=(B, n))
    for r in RADII_KM:
        hit = (err <= r).astype(np.float64)
        lo, hi = _boot(hit, idx, lambda x: x.mean(axis=1))
        out[f"within_{r}"] = [float(hit.mean()), lo, hi]
    lo, hi = _boot(err, idx, lambda x: np.median(x, axis=1))
    out["median_km"] = [float(np.median(err)), lo, hi]
    return out


def run(out: Path, *, small: bool = False, progress: Callable[[str], None] = print, **overrides: Any) -> dict[str, Any]:
    """Score each model on the same held-out patches; returns the JSON-ready record.

    ``overrides`` replace entries of :data:`FULL` / :data:`SMALL` (e.g. ``models=[a model
    file]``, ``n=200``: for trying other models, never used by the page)."""
    import torch

    from geoviz.data import is_land
    from geoviz.data.imagery import blue_marble_patch
    from geoviz.geolocation import chance_within, great_circle_km
    from geoviz.training.pretraining import sample_locations

    cfg = dict(SMALL if small else FULL)
    unknown = set(overrides) - set(FULL)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(FULL)}")
    cfg.update(overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg["threads"])
    try:
        models = [_load(m, out, progress) for m in cfg["models"]]
        keys = ("holdout_block_deg", "holdout_fraction", "holdout_seed")
        held = [{k: g.holdout.get(k) for k in keys} for g in models]
        if any(h != held[0] for h in held[1:]):
            raise ValueError(f"the models hold out different cells ({held}); compare models trained with the "
                             f"same held-out cells")
        rng = np.random.default_rng(cfg["seed"])
        loc = sample_locations(cfg["n"], rng, cfg["land_fraction"], models[0].heldout_mask())
        land = is_land(loc)
        progress(f"{len(loc)} held-out patches ({int(land.sum())} on land)")
        # chance levels
        land_pts = sample_locations(cfg["land_mc"], np.random.default_rng(cfg["seed"] + 1), 1.0)
        d_land = np.concatenate([great_circle_km(loc[i:i + 100, None, :], land_pts[None, :, :]).astype(np.float32)
                                 for i in range(0, len(loc), 100)])       # (n, M) km, in blocks of 100 rows
        chance = {"sphere": {str(r): float(chance_within(r)) for r in RADII_KM},
                  "land": {str(r): float((d_land <= r).mean()) for r in RADII_KM},
                  "land_median_km": float(np.median(d_land))}
        del d_land
        rows = []
        for g in models:
            t0 = time.perf_counter()
            _ = g.coarse  # the 1° gallery, embedded once per model
            gallery_s = time.perf_counter() - t0
            emb = g.embed_images(blue_marble_patch(loc, cfg["size_deg"], g.pixels))
            best = np.zeros_like(loc)
            mass = np.zeros(len(loc))
            outside = np.zeros(len(loc))
            t1 = time.perf_counter()
            for i in range(len(loc)):
                res = g.locate(emb[i], max_refined=cfg["max_refined"])
                best[i] = (res.best.lon, res.best.lat)
                mass[i] = res.best.probability
                outside[i] = res.mass_outside
                if (i + 1) % max(1, len(loc) // 10) == 0:
                    progress(f"{g.name}: {i + 1}/{len(loc)} patches located")
            query_s = (time.perf_counter() - t1) / len(loc)
            err = great_circle_km(best, loc)
            B = cfg["bootstrap"]
            rows.append({"model": g.name, "logit_scale": g.logit_scale, "pixels": g.pixels,
                         "all": _scores(err, cfg["seed"] + 2, B), "land": _scores(err[land], cfg["seed"] + 3, B),
                         "ocean": _scores(err[~land], cfg["seed"] + 4, B),
                         "top1_mass_median": float(np.median(mass)), "mass_outside_max": float(outside.max()),
                         "mass_outside_median": float(np.median(outside)),
                         "gallery_s": round(gallery_s, 2), "query_s": round(query_s, 3)})
            progress(f"{g.name}: median error {np.median(err):,.0f} km, within 750 km "
                     f"{100 * np.mean(err <= 750):.1f} %, {query_s:.2f} s per query")
    finally:
        torch.set_num_threads(threads)
    return {"meta": {**{k: v for k, v in cfg.items()}, "radii_km": list(RADII_KM), "n_land": int(land.sum()),
                     "n_ocean": int((~land).sum()), "holdout": held[0],
                     "machine": f"{platform.machine()}, torch {torch.__version__}, {cfg['threads']} thread(s)"},
            "chance": chance, "models": rows}


def _pct(v: list[float] | float) -> str:
    """A share with its interval (one decimal), or a chance level (three significant digits)."""
    if isinstance(v, list):
        return f"{100 * v[0]:.1f} % [{100 * v[1]:.1f}, {100 * v[2]:.1f}]"
    return f"{100 * v:.3g} %"


def _km(v: list[float]) -> str:
    return f"{v[0]:,.0f} [{v[1]:,.0f}, {v[2]:,.0f}]"


def render(record: dict[str, Any]) -> str:
    """The generated block: accuracy at four radii and the median error per model with 95 %
    bootstrap intervals, the chance levels, and the land/ocean split."""
    meta, ch = record["meta"], record["chance"]
    head = "| | " + " | ".join(f"≤ {r:,} km" for r in RADII_KM) + " | median error (km) |"
    sep = "|---" * (len(RADII_KM) + 2) + "|"
    lines = [f"Command: `{record.get('command', COMMAND)}` ({record.get('seconds', 0):,.0f} s; record "
             f"`docs/results/geolocation/geolocation.json`). {meta['n']:,} held-out patches "
             f"({meta['n_land']:,} centred on land, {meta['n_ocean']:,} on the ocean), {meta['size_deg']:g}° wide, "
             f"seed {meta['seed']}; 95 % percentile bootstrap intervals over the patches "
             f"({meta['bootstrap']:,} resamples). Machine: {meta['machine']}.", "",
             "**Top-1 place within r of the truth (all patches) [95 % interval]**", "", head, sep]
    for m in record["models"]:
        a = m["all"]
        lines.append(f"| {m['model']} | " + " | ".join(_pct(a[f'within_{r}']) for r in RADII_KM)
                     + f" | {_km(a['median_km'])} |")
    lines.append("| chance: uniform on the sphere | " + " | ".join(_pct(ch["sphere"][str(r)]) for r in RADII_KM)
                 + " | – |")
    lines.append(f"| chance: uniform over land ({meta['land_mc']:,} points) | "
                 + " | ".join(_pct(ch["land"][str(r)]) for r in RADII_KM) + f" | {ch['land_median_km']:,.0f} |")
    lines += ["", "**By where the patch is centred [95 % interval]**", "",
              "| model | patches | n | " + " | ".join(f"≤ {r:,} km" for r in RADII_KM) + " | median error (km) |",
              "|---" * (len(RADII_KM) + 4) + "|"]
    for m in record["models"]:
        for part in ("land", "ocean"):
            s = m[part]
            if not s.get("n"):
                continue
            lines.append(f"| {m['model']} | {part} | {s['n']:,} | "
                         + " | ".join(_pct(s[f'within_{r}']) for r in RADII_KM) + f" | {_km(s['median_km'])} |")
    lines += ["", "**The models and the queries**", "",
              "| model | learned scale s | top place's probability (median) | mass outside refined cells "
              "(median · max) | gallery (s) | per query (s) |", "|---|---|---|---|---|---|"]
    for m in record["models"]:
        lines.append(f"| {m['model']} | {m['logit_scale']:.1f} | {m['top1_mass_median']:.3f} | "
                     f"{m['mass_outside_median']:.1e} · {m['mass_outside_max']:.1e} | {m['gallery_s']:.1f} | "
                     f"{m['query_s']:.2f} |")
    return "\n".join(lines) + "\n"


def claims(record: dict[str, Any]) -> list[str]:
    """Exact phrases the page's prose must contain (computed from the record)."""
    ch = record["chance"]
    out = []
    for m in record["models"]:
        above = [r for r in RADII_KM if m["all"][f"within_{r}"][1] > ch["land"][str(r)]]
        out.append(f"{m['model']} beats a uniform guess over land at {len(above)} of {len(RADII_KM)} radii")
    if len(record["models"]) >= 2:
        a, b = record["models"][:2]
        (_, la, ha), (_, lb, hb) = a["all"]["median_km"], b["all"]["median_km"]
        if ha < lb:
            out.append(f"{a['model']} has the smaller median error (the intervals do not overlap)")
        elif hb < la:
            out.append(f"{b['model']} has the smaller median error (the intervals do not overlap)")
        else:
            out.append("the two models' median errors have overlapping intervals")
    return out
