"""Memory of the dashboard server's whole process tree while a visitor walks every tab.

Starts ``panel serve apps/dashboard.py --warm`` (the ``make serve`` command) on a fresh, empty
``GEOVIZ_CACHE_DIR``, records the tree's memory before any visitor, then walks every tab in
Debian's Chromium the way the browser test does (``tests/_browser_fixtures.walk_tabs``:
train, embeddings + a look-alike query, smoothness, species, a 500-point comparison) and
records the tree after each tab; repeats the walk ``--walks`` times in new sessions (a class
arriving one after another) to show whether memory grows. Goal: ≤ 1.2 GB (1,144 MiB) of PSS
after all tabs and no growth (≤ 5 %) from the first walk to the last.

Two sums are reported: RSS (each process's resident set; pages a forked child shares with
the fork server are counted in both) and PSS (shared pages split among their sharers: what
the tree really holds, and what the goal is judged on).

    .venv/bin/python benchmarks/bench_dashboard_memory.py --walks 4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--walks", type=int, default=4, help="walks through every tab, each in a new session")
    ap.add_argument("--goal-mib", type=float, default=1200 * 1000**2 / 2**20,
                    help="PSS goal of the whole tree after every walk, MiB (default 1.2 GB = 1,144 MiB)")
    ap.add_argument("--settle", type=float, default=20.0,
                    help="seconds to wait after closing a page (sessions expire after 15 s) before the next walk")
    args = ap.parse_args(argv)

    from _browser_fixtures import chromium, serve_dashboard, tree_memory_mb, walk_tabs

    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as cold:
        with serve_dashboard(env={"GEOVIZ_CACHE_DIR": cold}) as served, chromium() as browser:
            def record(walk: str, tab: str) -> None:
                m = tree_memory_mb(served.proc.pid)
                rows.append((walk, tab, m["rss"], m["pss"]))
                print(f"walk {walk:>2} {tab:<22} tree RSS {m['rss']:7.0f} MiB  PSS {m['pss']:7.0f} MiB", flush=True)

            record("-", "before any visitor")
            for w in range(1, args.walks + 1):
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                secs = walk_tabs(page, served.url, on_tab=lambda tab, w=w: record(str(w), tab))
                print("  seconds per tab: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()), flush=True)
                page.close()
                time.sleep(args.settle)
                record(str(w), "after the session closed")
            procs = served.descendants()
            print("\nprocesses at the end:")
            import psutil

            for p in [psutil.Process(served.proc.pid)] + procs:
                try:
                    i = p.memory_full_info()
                    print(f"  {p.pid:>7} {' '.join(p.cmdline())[:70]:<70} RSS {i.rss / 2**20:6.0f}  PSS {i.pss / 2**20:6.0f} MiB")
                except psutil.NoSuchProcess:
                    pass
    print("\n| walk | after | tree RSS (MiB) | tree PSS (MiB) |\n|---|---|---|---|")
    for walk, tab, rss, pss in rows:
        print(f"| {walk} | {tab} | {rss:,.0f} | {pss:,.0f} |")
    ends = [pss for walk, tab, _, pss in rows if tab == "compare"]
    print(f"\nPSS after all tabs, per walk: {', '.join(f'{v:,.0f}' for v in ends)} MiB; goal ≤ {args.goal_mib:,.0f} MiB;"
          f" load average {os.getloadavg()[0]:.2f}")
    ok = all(v <= args.goal_mib for v in ends) and (len(ends) < 2 or ends[-1] <= ends[0] * 1.05)
    print("goal met" if ok else "goal NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
