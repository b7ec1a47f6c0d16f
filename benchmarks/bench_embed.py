"""Benchmark: embedding global grids with a SatCLIP-shaped model, and similarity queries.

Model: SH L = 40 (satclip convention, 1,600 features) -> Siren 512 hidden x 2 layers ->
256 outputs, random weights (seed 0), built with ``geoviz.build_location_encoder``.

Measures, on the CPU with ``--threads`` torch/numba threads:
- seconds to embed a regular global grid (default 1° = 64,800 cells and 0.25° =
  1,036,800 cells) with ``geoviz.embed.embed_grid(cache=False)`` in float32 and float64
  (min of ``--repeats`` calls for grids under 100k cells, one call above), through the
  separable first layer (the default) and through the dense path (``separable=False``,
  SH features then the network) in the same run, with the ratio dense / separable, the
  dense path's SH-feature part, and the process's peak-RSS growth. Goal (issue 17): the 1°
  grid in float32 in <= 1.0 s on 2 cores;
- query latency of ``geoviz.analysis.SimilarityIndex.query(k=10)`` on a 0.5° grid
  (259,200 × 256) of the model's embeddings: median and p95 over ``--queries`` random
  clicked locations (nearest-cell lookup + cosine top-k), also with
  ``min_distance_km = min_separation_km = 1000`` (far-away look-alikes), with the sklearn
  brute-force cosine ``NearestNeighbors.kneighbors`` time for comparison, and a
  figure-render time.

Usage::

    python benchmarks/bench_embed.py                       # full run (a few minutes)
    python benchmarks/bench_embed.py --grids 2 --dtypes float32 --queries 20   # quick
    python benchmarks/bench_embed.py --json out/bench_embed.json
    python benchmarks/bench_embed.py --grids "" --cache-dir out/embed_cache   # queries only

Prints a Markdown table for docs/benchmarks.md ("Embeddings" section).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import torch


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def satclip_shaped_model(seed: int = 0) -> torch.nn.Module:
    import geoviz

    torch.manual_seed(seed)
    return geoviz.build_location_encoder(
        "sphericalharmonics", "siren", 256, legendre_polys=40, convention="satclip", hidden_dim=512, num_layers=2
    )


def _time_grid(model, spacing: float, dtype: torch.dtype, reps: int, separable: bool
               ) -> tuple[list[float], list[float], object]:
    """Wall and process-CPU seconds of ``reps`` calls (CPU time of all threads: on a shared
    machine, CPU seconds / threads estimates the wall time of an idle one)."""
    from geoviz.embed import embed_grid

    times, cpu, g = [], [], None
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        g = embed_grid(model, spacing, cache=False, dtype=dtype, separable=separable)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return times, cpu, g


def bench_grid(model, spacing: float, dtype: torch.dtype, repeats: int) -> dict:
    from geoviz.data import regular_grid

    grid = regular_grid(spacing)
    n = grid.lonlat.shape[0]
    reps = repeats if n < 100_000 else 1
    rss0 = _peak_rss_mib()
    times, cpu, g = _time_grid(model, spacing, dtype, reps, separable=True)
    rss1 = _peak_rss_mib()
    dense, dcpu, gd = _time_grid(model, spacing, dtype, reps, separable=False)
    rel = float(np.abs(g.embeddings - gd.embeddings).max() / np.abs(gd.embeddings).max())
    # SH features alone, same batching (64k rows), to split the dense path's cost
    m = model.to(dtype)
    pe = m.positional_encoding
    sub = grid.lonlat[: min(n, 65536)]
    t = time.perf_counter()
    pe(torch.from_numpy(sub).to(dtype))
    sh = (time.perf_counter() - t) * n / sub.shape[0]
    model.float()
    return {
        "spacing_deg": spacing,
        "cells": n,
        "dtype": str(dtype).replace("torch.", ""),
        "seconds": min(times),
        "all_seconds": times,
        "cpu_seconds": min(cpu),
        "dense_seconds": min(dense),
        "dense_cpu_seconds": min(dcpu),
        "cpu_speedup_vs_dense": min(dcpu) / min(cpu),
        "dense_all_seconds": dense,
        "speedup_vs_dense": min(dense) / min(times),
        "max_rel_diff_vs_dense": rel,
        "sh_seconds_est": sh,
        "points_per_s": n / min(times),
        "peak_rss_growth_mib": rss1 - rss0,
        "output_mib": g.embeddings.nbytes / 2**20,
    }


def bench_query(model, spacing: float, n_queries: int, seed: int = 0, cache_dir: str | None = None) -> dict:
    from sklearn.neighbors import NearestNeighbors

    from geoviz.analysis import SimilarityIndex
    from geoviz.embed import embed_grid
    from geoviz.figures import similarity_map_png

    t = time.perf_counter()
    g = embed_grid(model, spacing, cache=cache_dir is not None, cache_dir=cache_dir)
    t_embed = time.perf_counter() - t
    t = time.perf_counter()
    index = SimilarityIndex(g)
    t_build = time.perf_counter() - t
    rng = np.random.default_rng(seed)
    clicks = np.stack([rng.uniform(-180, 180, n_queries), rng.uniform(-90, 90, n_queries)], axis=1)
    index.query(clicks[0], k=10)  # warm-up
    lat, cpu = [], []
    for q in clicks:
        t, c = time.perf_counter(), time.process_time()
        index.query(q, k=10)
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    lat_ms = np.array(lat) * 1e3
    # reference: sklearn brute-force cosine on the same matrix, a few queries
    # (11 neighbours: the query's own cell, which SimilarityIndex.query never returns, plus 10)
    nn = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(g.embeddings)
    sk = []
    for q in clicks[: min(5, n_queries)]:
        cell = index.nearest_point(q)
        e = g.embeddings[cell][None]
        t = time.perf_counter()
        _, ind = nn.kneighbors(e)
        sk.append(time.perf_counter() - t)
        expected = [i for i in ind[0] if i != cell][:10]
        assert set(expected) == set(index.query(q, k=10).index), "mismatch with sklearn brute force"
    # far-away look-alikes: hits >= 1,000 km from the query and from each other (the dashboard's default)
    far = []
    for q in clicks:
        t = time.perf_counter()
        index.query(q, k=10, min_distance_km=1000.0, min_separation_km=1000.0)
        far.append(time.perf_counter() - t)
    similarity_map_png(g, clicks[0], index=index)  # warm-up (matplotlib import, fonts)
    t = time.perf_counter()
    similarity_map_png(g, clicks[1], index=index)
    t_fig = time.perf_counter() - t
    return {
        "spacing_deg": spacing,
        "cells": int(g.lonlat.shape[0]),
        "dim": g.embedding_dim,
        "embed_seconds": t_embed,
        "index_build_seconds": t_build,
        "query_ms_median": float(np.median(lat_ms)),
        "query_ms_p95": float(np.percentile(lat_ms, 95)),
        "query_ms_min": float(lat_ms.min()),
        "query_cpu_ms_median": float(np.median(cpu) * 1e3),
        "far_query_ms_median": float(np.median(far) * 1e3),
        "far_query_ms_p95": float(np.percentile(far, 95) * 1e3),
        "embeddings_from_cache": bool(g.from_cache),
        "sklearn_brute_ms_median": float(np.median(sk) * 1e3),
        "similarity_png_seconds": t_fig,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grids", default="1,0.25", help="comma-separated grid spacings in degrees")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--query-spacing", type=float, default=0.5)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument("--cache-dir", default=None, help="cache the query grid's embeddings here (default: no cache)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    try:
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # pragma: no cover
        pass
    model = satclip_shaped_model()
    from geoviz.embed import embed_points

    embed_points(model, np.zeros((16, 2)))  # warm-up (numba kernel load)
    embed_points(model, np.zeros((16, 2)), dtype=torch.float64)
    res: dict = {
        "machine": platform.processor() or platform.machine(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
        "torch": torch.__version__,
        "threads": args.threads,
        "model": "SH L=40 satclip -> Siren 512x2 -> 256, random weights",
        "grids": [],
    }
    for dname in args.dtypes.split(","):
        for s in filter(None, args.grids.split(",")):
            r = bench_grid(model, float(s), getattr(torch, dname.strip()), args.repeats)
            res["grids"].append(r)
            print(
                f"{r['spacing_deg']:>5g}° {r['cells']:>9,d} cells {r['dtype']}: separable {r['seconds']:.2f} s, "
                f"dense {r['dense_seconds']:.2f} s (x{r['speedup_vs_dense']:.2f}; CPU s separable "
                f"{r['cpu_seconds']:.2f}, dense {r['dense_cpu_seconds']:.2f}, x{r['cpu_speedup_vs_dense']:.2f}; max rel. diff "
                f"{r['max_rel_diff_vs_dense']:.1e}; {r['points_per_s']:,.0f} pts/s; dense SH part ≈ "
                f"{r['sh_seconds_est']:.2f} s; peak RSS +{r['peak_rss_growth_mib']:.0f} MiB, "
                f"output {r['output_mib']:.0f} MiB)",
                flush=True,
            )
    if args.queries > 0:
        q = bench_query(model, args.query_spacing, args.queries, cache_dir=args.cache_dir)
        res["query"] = q
        print(
            f"query {q['spacing_deg']:g}° grid ({q['cells']:,} x {q['dim']}): median {q['query_ms_median']:.1f} ms, "
            f"p95 {q['query_ms_p95']:.1f} ms, min {q['query_ms_min']:.1f} ms, CPU time median "
            f"{q['query_cpu_ms_median']:.1f} ms; with min_distance_km = min_separation_km = 1000: median "
            f"{q['far_query_ms_median']:.1f} ms, p95 {q['far_query_ms_p95']:.1f} ms; sklearn brute "
            f"{q['sklearn_brute_ms_median']:.1f} ms; index build {q['index_build_seconds']:.2f} s; "
            f"similarity PNG {q['similarity_png_seconds']:.2f} s",
            flush=True,
        )
    print("\n| grid | cells | dtype | separable s | dense s | dense / separable | CPU s separable / dense (ratio) "
          "| points/s | dense SH part (est.) | peak RSS growth | output |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["grids"]:
        print(
            f"| {r['spacing_deg']:g}° | {r['cells']:,} | {r['dtype']} | {r['seconds']:.2f} | {r['dense_seconds']:.2f} "
            f"| {r['speedup_vs_dense']:.2f}× | {r['cpu_seconds']:.2f} / {r['dense_cpu_seconds']:.2f} "
            f"({r['cpu_speedup_vs_dense']:.2f}×) | {r['points_per_s']:,.0f} "
            f"| {r['sh_seconds_est']:.2f} s | {r['peak_rss_growth_mib']:.0f} MiB | {r['output_mib']:.0f} MiB |"
        )
    if os.path.exists("/proc/loadavg"):
        res["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        print(f"load average (1, 5, 15 min): start {res['loadavg_start']}, end {res['loadavg_end']}")
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
