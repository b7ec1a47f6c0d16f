"""Benchmark: start-up time of the ``geoviz`` command line (help and argument errors).

In one run, beside ``python -c pass`` (the interpreter's own start), the wall time of

* ``geoviz --help`` and ``geoviz CMD --help`` for every command of :data:`geoviz.cli.COMMANDS`
  (and ``geoviz species fit/map --help``);
* argument errors argparse answers (unknown command or option, bad choice, missing argument);
* errors the commands answer before importing the heavy stack (unknown pretrained model,
  field, encoder spec or evaluation task; a missing model file).

Each case runs once as a warm-up, then ``--repeats`` times (default 5), the cases taking
turns so that load from other processes spreads over all of them; the table gives the
minimum (and median) wall time, the minimum CPU time of the child process (user + sys; on a
shared machine the better guide to a quiet machine's wall time), the ratio to
``python -c pass`` and whether the 0.3 s goal is met. The exit status of every run is checked
(0 for help, 2 for errors). The load average (``os.getloadavg()``) is printed before and after.

Usage::

    python benchmarks/bench_cli_start.py                   # the venv's python and its `geoviz` script
    python benchmarks/bench_cli_start.py --repeats 10 --json out/bench_cli_start.json
    python benchmarks/bench_cli_start.py --module          # `python -m geoviz` instead of the script

Prints a Markdown table for docs/benchmarks.md. Goal: every case <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.3

ARG_ERRORS: list[list[str]] = [
    ["nosuch"],
    ["train", "--nn", "nosuch"],
    ["train", "landocean", "--pe", "nosuch"],
    ["train", "landocean", "--bogus"],
    ["fit", "points.csv"],
    ["reproduce", "landocean", "--variant", "nosuch"],
    ["embed", "geoclip"],
    ["species", "map", "model.pt"],
    ["evaluate", "--seeds", "many"],
]
"""Errors argparse answers (exit 2)."""

COMMAND_ERRORS: list[list[str]] = [
    ["download", "satclip-nosuch"],
    ["fit", "field:nosuch", "--save", "m.gvz"],
    ["embed", "nosuch-model", "points.csv", "-o", "out.parquet"],
    ["predict", "missing.gvz", "points.csv", "-o", "out.csv"],
    ["species", "map", "missing.pt", "--species", "0", "-o", "map.png"],
    ["evaluate", "--encoders", "raw", "--tasks", "nosuch"],
]
"""Errors the commands answer before importing torch (exit 2)."""


def _cases(geoviz: list[str], python: str) -> list[tuple[str, list[str], int]]:
    """``(label, argv, expected exit status)`` of every case, ``python -c pass`` first."""
    from geoviz.cli import COMMANDS

    cases: list[tuple[str, list[str], int]] = [("python -c pass", [python, "-c", "pass"], 0)]
    helps = [["--help"], *[[c, "--help"] for c in COMMANDS], ["species", "fit", "--help"], ["species", "map", "--help"]]
    for args in helps:
        cases.append(("geoviz " + " ".join(args), geoviz + args, 0))
    for args in ARG_ERRORS + COMMAND_ERRORS:
        cases.append(("geoviz " + " ".join(args), geoviz + args, 2))
    return cases


def _run_once(argv: list[str], cwd: str) -> tuple[float, float, int]:
    """``(wall seconds, child CPU seconds, exit status)`` of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def bench(geoviz: list[str], python: str, repeats: int) -> list[dict]:
    """Time every case; returns one record per case (walls, CPUs, exit statuses)."""
    cases = _cases(geoviz, python)
    recs = [{"case": label, "argv": argv, "expected": rc, "wall": [], "cpu": [], "status": []}
            for label, argv, rc in cases]
    with tempfile.TemporaryDirectory(prefix="geoviz-cli-start-") as cwd:  # relative file names do not exist
        for rec in recs:  # warm-up (file cache, .pyc)
            _run_once(rec["argv"], cwd)
        for _ in range(repeats):
            for rec in recs:
                wall, cpu, status = _run_once(rec["argv"], cwd)
                rec["wall"].append(wall)
                rec["cpu"].append(cpu)
                rec["status"].append(status)
    return recs


def table(recs: list[dict]) -> str:
    """The Markdown table of :func:`bench`'s records."""
    base = min(recs[0]["wall"])
    base_cpu = min(recs[0]["cpu"])
    lines = ["| command | exit | min wall [s] | median wall [s] | min CPU [s] | × `python -c pass` (wall) | "
             f"≤ {GOAL_S} s |",
             "|---|---|---|---|---|---|---|"]
    for r in recs:
        wall = min(r["wall"])
        ok_status = all(s == r["expected"] for s in r["status"])
        status = str(r["status"][0]) if ok_status else f"**{sorted(set(r['status']))} ≠ {r['expected']}**"
        goal = "yes" if wall <= GOAL_S else "**no**"
        lines.append(f"| `{r['case']}` | {status} | {wall:.3f} | {statistics.median(r['wall']):.3f} | "
                     f"{min(r['cpu']):.3f} | {wall / base:.1f} | {goal} |")
    geo = [r for r in recs[1:]]
    worst = max(geo, key=lambda r: min(r["wall"]))
    worst_cpu = max(geo, key=lambda r: min(r["cpu"]))
    lines.append("")
    lines.append(f"`python -c pass`: {base:.3f} s wall, {base_cpu:.3f} s CPU. Slowest geoviz case: "
                 f"`{worst['case']}` {min(worst['wall']):.3f} s wall; most CPU: `{worst_cpu['case']}` "
                 f"{min(worst_cpu['cpu']):.3f} s. Goal ≤ {GOAL_S} s: "
                 + ("met by every case." if all(min(r["wall"]) <= GOAL_S for r in geo)
                    else f"missed by {sum(min(r['wall']) > GOAL_S for r in geo)} of {len(geo)} cases."))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each case after one warm-up (default 5)")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the venv (default: this one)")
    ap.add_argument("--module", action="store_true", help="run `PYTHON -m geoviz` instead of the `geoviz` script")
    ap.add_argument("--json", default=None, help="also write the raw timings here")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    script = Path(args.python).with_name("geoviz")
    if args.module or not script.is_file():
        geoviz = [args.python, "-m", "geoviz"]
    else:
        geoviz = [str(script)]
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    recs = bench(geoviz, args.python, args.repeats)
    load1 = os.getloadavg()
    print(f"# geoviz CLI start-up ({' '.join(geoviz)}; {args.repeats} repeats after a warm-up; "
          f"{time.perf_counter() - t0:.0f} s in all)\n")
    print(f"Python {platform.python_version()} on {platform.machine()} {platform.system()}, "
          f"{os.cpu_count()} CPU(s); load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}\n")
    print(table(recs))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"entry": geoviz, "repeats": args.repeats, "loadavg_before": load0,
                                               "loadavg_after": load1, "goal_s": GOAL_S, "cases": recs}, indent=1))
    bad = [r["case"] for r in recs if any(s != r["expected"] for s in r["status"])]
    if bad:
        print(f"\nunexpected exit status: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
