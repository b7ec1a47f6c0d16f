"""Helpers for the dashboard tests: serve the app in-process, drive Chromium, poll liveness.

Imported by tests/test_dashboard.py, tests/test_browser.py and tests/test_load.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

CHROMIUM = os.environ.get("GEOVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions",
]
SWITCH_INTERVAL_S = 0.001
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``pred`` until truthy; return its value or fail the test after ``timeout`` s."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or pred}")
        time.sleep(interval)


@dataclass
class Served:
    """A dashboard served in this process (``apps`` holds every session's DashboardApp)."""

    port: int
    thread: Any
    apps: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def liveness(self, timeout: float = 5.0) -> float:
        """Seconds one GET /liveness took (raises on a non-200 answer)."""
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/liveness", timeout=timeout) as r:
            r.read()
            assert r.status == 200
        return time.perf_counter() - t0


@contextlib.contextmanager
def serve_dashboard(session_check_ms: int = 1000, session_lifetime_ms: int = 15000, nthreads: int | None = 2,
                    **app_kwargs: Any) -> Iterator[Served]:
    """Serve ``create_app(**app_kwargs)`` on 127.0.0.1 in a thread, as ``panel serve`` would."""
    import panel as pn

    from geoviz.app import create_app

    port = free_port()
    served = Served(port=port, thread=None)
    app_kwargs.setdefault("defer", True)  # as apps/dashboard.py
    old_nthreads = pn.config.nthreads
    pn.config.nthreads = nthreads  # as apps/dashboard.py
    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as apps/dashboard.py

    def make() -> Any:
        app = create_app(**app_kwargs)
        served.apps.append(app)
        app.register_cleanup()
        return app.layout

    thread = pn.serve(make, port=port, address="127.0.0.1", threaded=True, show=False, liveness=True,
                      websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"], title="geoviz",
                      check_unused_sessions_milliseconds=session_check_ms,
                      unused_session_lifetime_milliseconds=session_lifetime_ms)
    served.thread = thread

    def alive() -> bool:
        try:
            served.liveness(timeout=1.0)
            return True
        except Exception:
            return False

    try:
        wait_until(alive, timeout=60, what="the dashboard server's /liveness")
        yield served
    finally:
        thread.stop()
        served.apps.clear()
        pn.config.nthreads = old_nthreads
        sys.setswitchinterval(old_switch)


class LivenessPoller(threading.Thread):
    """Background thread that GETs /liveness every ``interval`` s and records the latencies."""

    def __init__(self, served: Served, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.served = served
        self.interval = interval
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.phase = "start"
        self.by_phase: dict[str, list[float]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            phase = self.phase
            try:
                dt = self.served.liveness(timeout=5.0)
            except Exception as exc:  # recorded, asserted by the test
                self.failures.append(f"{phase}: {exc!r}")
                dt = float("inf")
            else:
                self.latencies.append(dt)
            self.by_phase.setdefault(phase, []).append(dt)
            self._halt.wait(self.interval)

    def summary(self) -> str:
        """Per-phase ``n, median, max`` latencies in ms."""
        parts = []
        for ph, v in self.by_phase.items():
            v = sorted(v)
            parts.append(f"{ph}: n={len(v)} median={1e3 * v[len(v) // 2]:.0f} ms max={1e3 * v[-1]:.0f} ms")
        return "; ".join(parts)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def chromium_available() -> str | None:
    """None when Playwright can drive Chromium here and browser tests are enabled, else the reason.

    The browser and load tests are opt-in (``GEOVIZ_BROWSER_TESTS=1``) until they pass
    reliably after the in-process dashboard tests in one pytest run (open in issue 6:
    they pass alone, but time out waiting for the embeddings after test_dashboard.py).
    """
    if os.environ.get("GEOVIZ_BROWSER_TESTS", "") != "1":
        return "browser tests are opt-in: set GEOVIZ_BROWSER_TESTS=1 (make test-browser)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not os.path.exists(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Playwright Chromium browser (Debian's /usr/bin/chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class RequestLog:
    """Records every URL a page requests; ``external`` lists those not served by 127.0.0.1/localhost."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda req: self.urls.append(req.url))

    @property
    def external(self) -> list[str]:
        from urllib.parse import urlparse

        out = []
        for u in self.urls:
            pr = urlparse(u)
            if pr.scheme in ("data", "blob", "about"):
                continue
            if pr.hostname not in ("127.0.0.1", "localhost"):
                out.append(u)
        return out
