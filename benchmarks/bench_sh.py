"""Spherical-harmonic basis speed: geoviz vs sphericart vs a naive per-(l, m) scipy loop.

Usage::

    python benchmarks/bench_sh.py                 # N=100,000, L in {10,20,40,100}, both dtypes
    python benchmarks/bench_sh.py --n 20000 --L 10 40 --threads 2

All three are measured in the same run on the same points with the same thread count
(torch/numba threads for geoviz, OpenMP threads for sphericart). Times are the minimum
wall time over ``--reps`` calls after one warm-up, each call producing a fresh
``(N, L²)`` output. sphericart takes unit xyz vectors and ``l_max = L-1``; its real basis
and l-major, m = -l..l ordering equal geoviz's "standard" basis, which is checked on the
first 1,000 points (and reported as max abs difference; sphericart itself is inaccurate
above l = 18 in float32 and l = 88 in float64). The naive scipy loop (one
``sph_harm_y`` call per (l, m), the way the reference research code evaluates SH) is
timed on ``--naive-n`` points and scaled linearly to N. Peak memory is the growth of the
process's peak RSS while geoviz computes one output, measured in a fresh subprocess,
and reported relative to the output size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

THREADS_DEFAULT = 2


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def _points(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))]


def _best(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _peak_rss() -> int:
    """Peak resident set of this process in bytes (VmHWM; getrusage's ru_maxrss survives exec
    on Linux and would report the parent's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def _memory_child(n: int, L: int, dtype: str, threads: int) -> None:
    """Run in a subprocess: print peak-RSS growth (bytes) of one geoviz evaluation."""
    import torch

    torch.set_num_threads(threads)
    from geoviz.encoders import spherical_harmonics

    pts = torch.from_numpy(_points(n)).to(getattr(torch, dtype))
    spherical_harmonics(pts[:10], L)  # compile / load the kernel
    before = _peak_rss()
    out = spherical_harmonics(pts, L)
    after = _peak_rss()
    print(json.dumps({"growth": after - before, "out": out.numel() * out.element_size()}))


def _measure_memory(n: int, L: int, dtype: str, threads: int) -> tuple[float, float]:
    cmd = [sys.executable, __file__, "--_memory-child", str(n), str(L), dtype, str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    data = json.loads(res.stdout.strip().splitlines()[-1])
    return data["growth"] / 2**20, data["out"] / 2**20


def _naive_scipy(lonlat, L: int):
    import numpy as np
    from scipy.special import sph_harm_y

    lon = np.deg2rad(lonlat[:, 0])
    colat = np.deg2rad(90.0 - lonlat[:, 1])
    out = np.empty((len(lonlat), L * L))
    for l in range(L):
        for m in range(-l, l + 1):
            y = sph_harm_y(l, abs(m), colat, lon) * (-1.0) ** abs(m)
            out[:, l * l + l + m] = np.sqrt(2) * y.imag if m < 0 else (np.sqrt(2) * y.real if m > 0 else y.real)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="number of points")
    ap.add_argument("--L", type=int, nargs="+", default=[10, 20, 40, 100], help="legendre_polys values")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=THREADS_DEFAULT)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--naive-n", type=int, default=2_000, help="points for the naive scipy loop (scaled to --n)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--_memory-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._memory_child:
        n, L, dtype, threads = args._memory_child
        _set_threads(int(threads))
        _memory_child(int(n), int(L), dtype, int(threads))
        return

    _set_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from geoviz.encoders import spherical_harmonics

    try:
        import sphericart
    except ImportError:  # optional bench dependency
        sphericart = None
        print("sphericart not installed (pip install 'geoviz[bench]'): its column is skipped")

    pts64 = _points(args.n)
    lat, lon = np.deg2rad(pts64[:, 1]), np.deg2rad(pts64[:, 0])
    xyz64 = np.c_[np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    naive_pts = pts64[: args.naive_n]

    print(f"N = {args.n:,} points, {args.threads} threads, torch {torch.__version__}, "
          f"min of {args.reps} after warm-up; times in ms")
    # Warm-up outside the table: the first large allocations and the first parallel
    # regions of a process are slower (thread pools, page-fault paths); without this the
    # first row is penalised by ~2x.
    for dtype in args.dtypes:
        warm = torch.from_numpy(pts64).to(getattr(torch, dtype))
        for _ in range(3):
            spherical_harmonics(warm, max(args.L))
        if sphericart is not None:
            sphericart.SphericalHarmonics(max(args.L) - 1).compute(xyz64.astype(dtype))

    def lonlat_to_xyz(p: np.ndarray) -> np.ndarray:
        la, lo = np.deg2rad(p[:, 1]), np.deg2rad(p[:, 0])
        c = np.cos(la)
        return np.stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)], axis=1)

    header = (f"| dtype | L | geoviz | sphericart (xyz given) | sphericart incl. lon/lat→xyz | naive scipy (scaled) "
              f"| geoviz / sphericart | geoviz / sphericart incl. conversion | geoviz / naive "
              f"| max abs diff vs sphericart | geoviz peak mem / output |")
    print(header)
    print("|" + "---|" * 11)
    naive_cache: dict[int, float] = {}
    for dtype in args.dtypes:
        tdt = getattr(torch, dtype)
        pts = torch.from_numpy(pts64).to(tdt)
        xyz = xyz64.astype(dtype)
        for L in args.L:
            t_geo = _best(lambda: spherical_harmonics(pts, L), args.reps)
            ours = spherical_harmonics(pts[:1000], L).numpy()
            if sphericart is not None:
                sc = sphericart.SphericalHarmonics(L - 1)
                t_sc = _best(lambda: sc.compute(xyz), args.reps)
                pts_np = pts64.astype(dtype)
                t_sc_conv = _best(lambda: sc.compute(lonlat_to_xyz(pts_np)), args.reps)
                diff = float(np.abs(sc.compute(xyz[:1000]).astype(np.float64) - ours).max())
            else:
                t_sc = t_sc_conv = diff = float("nan")
            if L not in naive_cache:
                t0 = time.perf_counter()
                _naive_scipy(naive_pts, L)
                naive_cache[L] = (time.perf_counter() - t0) * args.n / len(naive_pts)
            t_naive = naive_cache[L]
            if args.no_memory:
                mem = "-"
            else:
                growth, out_mb = _measure_memory(args.n, L, dtype, args.threads)
                mem = f"{growth / out_mb:.2f}x ({out_mb:.0f} MiB out)"
            print(f"| {dtype} | {L} | {t_geo * 1e3:.1f} | {t_sc * 1e3:.1f} | {t_sc_conv * 1e3:.1f} | {t_naive * 1e3:.0f} "
                  f"| **{t_geo / t_sc:.2f}** | {t_geo / t_sc_conv:.2f} | {t_geo / t_naive:.4f} | {diff:.1e} | {mem} |",
                  flush=True)


if __name__ == "__main__":
    main()
