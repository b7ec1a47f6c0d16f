"""Load test of the dashboard server: 4 concurrent browser sessions, training in two.

Measures ``/liveness`` latency throughout (polled every 100 ms from a
thread of this process, i.e. it includes any stall of the server's event loop), that all
sessions' apps are released when the pages close, and that the process's resident memory
returns to its warmed-up baseline within ``MEMORY_TOLERANCE_MB`` (100 MiB, about 15 % of the
server process; RSS after identical cycles varies by about that much) within 30 s.

Latency bounds need a machine that is not oversubscribed: the test skips (saying why)
when the 1-minute load average per core exceeds ``GEOVIZ_LOAD_TEST_MAX_LOAD`` (1.5);
set it higher to force a run and read the per-phase latencies it prints.
"""

from __future__ import annotations

import ctypes
import gc
import os
import time

import pytest

from _browser_fixtures import LivenessPoller, chromium, chromium_available, serve_dashboard, wait_until

_reason = chromium_available()
pytestmark = [pytest.mark.skipif(_reason is not None, reason=_reason or ""), pytest.mark.timeout(600),
              pytest.mark.slow]

# The product goal is 250 ms (issue 6); on a 2-core machine the in-process server still
# stalls for up to ~1.5 s while Bokeh re-walks session documents (docs/dashboard.md,
# "Known limits"). The default bound catches a server blocked by training (seconds); set
# GEOVIZ_LIVENESS_LIMIT_S=0.25 to check the goal itself.
LIVENESS_LIMIT_S = float(os.environ.get("GEOVIZ_LIVENESS_LIMIT_S", "3.0"))
MEMORY_TOLERANCE_MB = 100.0
MAX_LOAD_PER_CORE = float(os.environ.get("GEOVIZ_LOAD_TEST_MAX_LOAD", "1.5"))
N_SESSIONS = 4
N_TRAINING = 2


def _rss_mb() -> float:
    """Resident set size of this process after a full collection and malloc_trim, MiB."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _live_apps() -> int:
    from geoviz.app import LIVE_APPS

    gc.collect()
    return len(LIVE_APPS)


def _open(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url, wait_until="networkidle", timeout=180_000)
    page.locator(".bk-Canvas").first.wait_for(timeout=180_000)
    return ctx, page


def _cycle(browser, served, poller: LivenessPoller | None, lifetime_s: float) -> float:
    """Open 4 sessions, train in 2 (>= 5 epochs, still running), close all; return the peak RSS (MiB).

    No garbage collection runs while ``poller`` measures (a full collection of this process
    holds the GIL and would stall the server thread, i.e. the test would measure itself).
    """

    def phase(name: str) -> None:
        if poller is not None:
            poller.phase = name

    phase("open 4 sessions")
    sessions = [_open(browser, served.url) for _ in range(N_SESSIONS)]
    wait_until(lambda: len(served.apps) == N_SESSIONS, timeout=60, what="4 server sessions")
    phase("train in 2")
    for ctx, page in sessions[:N_TRAINING]:
        page.get_by_role("button", name="Start").click()
    trainers = [a.training for a in served.apps[:N_TRAINING]]
    wait_until(lambda: all(len(t.records) >= 5 for t in trainers), timeout=240,
               what="both training sessions to run 5 epochs")
    assert all(t.running for t in trainers), "training ended before the sessions were closed"
    peak = _statm_mb()
    phase("close + session clean-up")
    for ctx, page in sessions:
        ctx.close()
    served.apps.clear()
    del trainers
    time.sleep(lifetime_s + 2.0)  # the server discards the sessions (on its event loop) in this window
    return peak


def _statm_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_four_sessions_two_training_liveness_and_memory(tmp_path, monkeypatch):
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    if load > MAX_LOAD_PER_CORE:
        pytest.skip(f"machine oversubscribed (1-min load {load:.1f} per core > {MAX_LOAD_PER_CORE}): "
                    "a latency bound cannot be judged here")
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path / "cache"))
    lifetime_s = 5.0
    with serve_dashboard(session_check_ms=500, session_lifetime_ms=int(lifetime_s * 1000),
                         min_frame_interval=0.5) as served, chromium() as browser:
        # warm-up: the same workload once, so imports, JIT compilation, caches, thread pools
        # and the allocator's high-water mark are part of the baseline
        _cycle(browser, served, None, lifetime_s)
        wait_until(lambda: _live_apps() == 0, timeout=90, what="the warm-up sessions to be released")
        baseline = _rss_mb()

        poller = LivenessPoller(served, interval=0.1)
        poller.start()
        try:
            peak = _cycle(browser, served, poller, lifetime_s)
        finally:
            poller.halt()
        wait_until(lambda: _live_apps() == 0, timeout=90, what="every closed session's app to be released")
        # the allocator gives memory back lazily: allow it up to 30 s to return to the baseline
        after, deadline = _rss_mb(), time.monotonic() + 30.0
        while after - baseline >= MEMORY_TOLERANCE_MB and time.monotonic() < deadline:
            time.sleep(2.0)
            after = min(after, _rss_mb())

        lat = sorted(poller.latencies)
        print(f"liveness: {len(lat)} polls, median {1e3 * lat[len(lat) // 2]:.1f} ms, "
              f"max {1e3 * lat[-1]:.1f} ms; RSS baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, "
              f"after {after:.0f} MiB")
        print(poller.summary())
        assert not poller.failures, poller.failures[:3]
        assert len(lat) >= 20
        assert lat[-1] < LIVENESS_LIMIT_S, f"/liveness took {1e3 * lat[-1]:.0f} ms; {poller.summary()}"
        assert after - baseline < MEMORY_TOLERANCE_MB, (baseline, peak, after)
