"""Load test of the dashboard server: 4 concurrent browser sessions, training in two.

The server is ``panel serve apps/dashboard.py`` in a child process (as ``make serve``).
Measures ``/liveness`` latency throughout (polled every 100 ms by a separate process, so
it shows any stall of the server's event loop and nothing of this test process), that the
server discards every closed session and their training processes exit, and that the
server's resident memory returns to its warmed-up baseline within ``MEMORY_TOLERANCE_MB``
(100 MiB) within 30 s.

Latency bounds need a machine that is not oversubscribed: the test skips (saying why)
when the 1-minute load average per core exceeds ``GEOVIZ_LOAD_TEST_MAX_LOAD`` (1.5);
set it higher to force a run and read the per-phase latencies it prints.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from _browser_fixtures import LivenessPoller, chromium, chromium_available, serve_dashboard, wait_until

_reason = chromium_available()
pytestmark = [pytest.mark.skipif(_reason is not None, reason=_reason or ""), pytest.mark.timeout(600),
              pytest.mark.slow]

# The product goal is 250 ms (issue 6), in every phase: while the pages open (each page is
# built in small event-loop steps, geoviz.app.dashboard.DashboardApp.show_deferred), while
# two sessions train (niced child processes, in-place Bokeh updates) and while the closed
# sessions are cleaned up. Measured maxima are ~100-150 ms on an idle 2-core machine
# (docs/dashboard.md). GEOVIZ_LIVENESS_LIMIT_S overrides the bound.
LIVENESS_LIMIT_S = float(os.environ.get("GEOVIZ_LIVENESS_LIMIT_S", "0.25"))
MEMORY_TOLERANCE_MB = 100.0
MAX_LOAD_PER_CORE = float(os.environ.get("GEOVIZ_LOAD_TEST_MAX_LOAD", "1.5"))
N_SESSIONS = 4
N_TRAINING = 2


def _open(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url, wait_until="networkidle", timeout=180_000)
    page.locator(".bk-Canvas").first.wait_for(timeout=180_000)
    return ctx, page


def _epoch(page) -> int:
    loc = page.get_by_text(re.compile(r"epoch \d+/\d+"))
    try:
        txt = loc.first.inner_text(timeout=500) if loc.count() else ""
    except Exception:
        txt = ""
    m = re.search(r"epoch (\d+)/\d+", txt)
    return int(m.group(1)) if m else 0


def _cycle(browser, served, poller: LivenessPoller, label: str) -> float:
    """Open 4 sessions, train in 2 (>= 5 epochs, still running), close all; return the peak RSS (MiB)."""

    def phase(name: str) -> None:
        poller.phase = f"{label}: {name}"

    phase("open 4 sessions")
    sessions = [_open(browser, served.url) for _ in range(N_SESSIONS)]
    wait_until(lambda: served.live_sessions() == N_SESSIONS, timeout=60, what="4 server sessions")
    phase("train in 2")
    others = {p.pid for p in served.training_processes()}  # e.g. the smoothness sweep started by --warm
    for ctx, page in sessions[:N_TRAINING]:
        epochs = page.locator(".bk-input-group", has_text="Epochs").locator("input").first
        epochs.fill("5000")  # long runs: still training when the pages close
        epochs.press("Enter")
        page.get_by_role("button", name="Start").click()
    wait_until(lambda: all(_epoch(page) >= 5 for _, page in sessions[:N_TRAINING]), timeout=240,
               what="both training sessions to run 5 epochs")
    trainers = [p for p in served.training_processes() if p.pid not in others]
    assert len(trainers) == N_TRAINING, [_cmdline(p) for p in served.descendants()]
    peak = served.rss_mb()
    phase("close + session clean-up")
    for ctx, page in sessions:
        ctx.close()
    wait_until(lambda: served.live_sessions() == 0, timeout=90, what="the server to discard the closed sessions")
    wait_until(lambda: not any(p.is_running() and p.status() != "zombie" for p in trainers), timeout=60,
               what="the closed sessions' training processes to exit")
    return peak


def _cmdline(p) -> list[str]:
    try:
        return p.cmdline()
    except Exception:
        return []


def test_four_sessions_two_training_liveness_and_memory():
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    if load > MAX_LOAD_PER_CORE:
        pytest.skip(f"machine oversubscribed (1-min load {load:.1f} per core > {MAX_LOAD_PER_CORE}): "
                    "a latency bound cannot be judged here")
    lifetime_s = 3.0
    # the browsers run niced: they stand in for clients on other machines (see chromium())
    with serve_dashboard(session_check_ms=500, session_lifetime_ms=int(lifetime_s * 1000)) as served, \
            chromium(nice=19) as browser:
        poller = LivenessPoller(served, interval=0.1)
        poller.start()
        try:
            # the first cycle on a freshly started server (``--warm`` built a page before it
            # served) also sets the memory baseline: the allocator's high-water mark, caches,
            # thread pools and the training fork server are part of it
            _cycle(browser, served, poller, "1st")
            poller.phase = "between cycles"
            time.sleep(2.0)
            baseline = served.rss_mb()
            n_children = len(served.descendants())
            peak = _cycle(browser, served, poller, "2nd")
        finally:
            poller.halt()
        # the allocator gives memory back lazily: allow it up to 30 s to return to the baseline
        after, deadline = served.rss_mb(), time.monotonic() + 30.0
        while after - baseline >= MEMORY_TOLERANCE_MB and time.monotonic() < deadline:
            time.sleep(2.0)
            after = min(after, served.rss_mb())

        lat = sorted(poller.latencies)
        print(f"liveness: {len(lat)} polls, median {1e3 * lat[len(lat) // 2]:.1f} ms, "
              f"max {1e3 * lat[-1]:.1f} ms; server RSS baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, "
              f"after {after:.0f} MiB")
        print(poller.summary())
        assert not poller.failures, poller.failures[:3]
        assert len(lat) >= 20
        for phase, v in poller.by_phase.items():
            assert max(v) < LIVENESS_LIMIT_S, f"/liveness took {1e3 * max(v):.0f} ms in '{phase}'; {poller.summary()}"
        assert after - baseline < MEMORY_TOLERANCE_MB, (baseline, peak, after)
        assert len(served.descendants()) <= n_children  # only the fork server stays
