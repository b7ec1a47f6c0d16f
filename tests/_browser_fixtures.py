"""Helpers for the browser and load tests: serve the app as ``make serve`` does (a
``panel serve`` child process), drive Chromium, poll liveness.

Imported by tests/test_browser.py and tests/test_load.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
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
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


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
    """The dashboard served by ``panel serve apps/dashboard.py`` in a child process (as ``make serve``)."""

    port: int
    proc: Any
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dashboard"

    def liveness(self, timeout: float = 5.0) -> float:
        """Seconds one GET /liveness took (raises on a non-200 answer)."""
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/liveness", timeout=timeout) as r:
            r.read()
            assert r.status == 200
        return time.perf_counter() - t0

    def live_sessions(self) -> int:
        """Bokeh sessions the server holds now (Panel's /rest/session_info)."""
        import json

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/rest/session_info", timeout=10) as r:
            return int(json.loads(r.read())["session_info"]["live"])

    def rss_mb(self) -> float:
        """Resident memory of the server process, MiB."""
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def descendants(self) -> list[Any]:
        """Live (non-zombie) processes below the server (training runs, the fork server)."""
        import psutil

        out = []
        for p in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.NoSuchProcess:
                pass
        return out

    def training_processes(self) -> list[Any]:
        """Live training runs: the children of the server's multiprocessing fork server."""
        import psutil

        out = []
        for fs in psutil.Process(self.proc.pid).children():
            try:
                if "forkserver" in " ".join(fs.cmdline()):
                    out += [p for p in fs.children() if p.status() != psutil.STATUS_ZOMBIE]
            except psutil.NoSuchProcess:
                pass
        return out

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


@contextlib.contextmanager
def serve_dashboard(session_check_ms: int = 1000, session_lifetime_ms: int = 15000,
                    env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``panel serve apps/dashboard.py`` (the ``make serve`` command plus ``--rest-session-info``
    and session-expiry settings) on a free 127.0.0.1 port; stop it (and its children) at exit."""
    import subprocess

    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"server-{port}.log"
    panel = Path(sys.executable).with_name("panel")
    cmd = [str(panel), "serve", str(ROOT / "apps" / "dashboard.py"), "--address", "127.0.0.1", "--port", str(port),
           f"--allow-websocket-origin=127.0.0.1:{port}", f"--allow-websocket-origin=localhost:{port}",
           "--liveness", "--rest-session-info", "--session-history", "-1", "--check-unused-sessions", str(session_check_ms),
           "--unused-session-lifetime", str(session_lifetime_ms), "--warm"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    served = Served(port=port, proc=proc, log_path=log_path)

    def alive() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard server exited ({proc.returncode}):\n{served.log()}")
        try:
            served.liveness(timeout=1.0)
            return True
        except Exception:
            return False

    try:
        wait_until(alive, timeout=120, what="the dashboard server's /liveness")
        yield served
    finally:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


_POLL_SCRIPT = r"""
import sys, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
while True:
    t0 = time.time(); p0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=5.0) as r:
            r.read()
            ok = r.status == 200
        line = f"{t0:.4f} {time.perf_counter() - p0:.4f}" if ok else f"{t0:.4f} ERR status {r.status}"
    except Exception as exc:
        line = f"{t0:.4f} ERR {exc!r}"
    print(line, flush=True)
    time.sleep(interval)
"""


class LivenessPoller:
    """GETs /liveness every ``interval`` s from a separate process and records the latencies.

    A process of its own, so that what it measures is the server, not this test process
    (Playwright's event loop and the test thread compete for this process's GIL). Set
    :attr:`phase` to label the polls that start from then on; :meth:`halt` collects them.
    """

    def __init__(self, served: Served, interval: float = 0.1) -> None:
        self.served = served
        self.interval = interval
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.by_phase: dict[str, list[float]] = {}
        self._phases: list[tuple[float, str]] = [(0.0, "start")]
        self._proc: Any = None
        self._out: Path = ARTIFACTS / f"liveness-{served.port}.txt"

    @property
    def phase(self) -> str:
        return self._phases[-1][1]

    @phase.setter
    def phase(self, name: str) -> None:
        self._phases.append((time.time(), name))

    def start(self) -> None:
        import subprocess

        ARTIFACTS.mkdir(exist_ok=True)
        self._fh = open(self._out, "w")
        self._proc = subprocess.Popen([sys.executable, "-c", _POLL_SCRIPT,
                                       f"http://127.0.0.1:{self.served.port}/liveness", str(self.interval)],
                                      stdout=self._fh, stderr=subprocess.STDOUT)

    def halt(self) -> None:
        import bisect

        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._fh.close()
        starts = [t for t, _ in self._phases]
        for line in self._out.read_text().splitlines():
            parts = line.split(" ", 2)
            if len(parts) < 2:
                continue
            t0 = float(parts[0])
            phase = self._phases[max(0, bisect.bisect_right(starts, t0) - 1)][1]
            if parts[1] == "ERR":
                self.failures.append(f"{phase}: {parts[2] if len(parts) > 2 else ''}")
                dt = float("inf")
            else:
                dt = float(parts[1])
                self.latencies.append(dt)
            self.by_phase.setdefault(phase, []).append(dt)

    def summary(self) -> str:
        """Per-phase ``n, median, max`` latencies in ms."""
        parts = []
        for ph, v in self.by_phase.items():
            v = sorted(v)
            parts.append(f"{ph}: n={len(v)} median={1e3 * v[len(v) // 2]:.0f} ms max={1e3 * v[-1]:.0f} ms")
        return "; ".join(parts)


def chromium_available() -> str | None:
    """None when Playwright can drive Chromium here, else the reason to skip.

    The browser and load tests run by default (``make test``); ``GEOVIZ_BROWSER_TESTS=0``
    skips them on purpose.
    """
    if os.environ.get("GEOVIZ_BROWSER_TESTS", "") == "0":
        return "browser tests switched off (GEOVIZ_BROWSER_TESTS=0)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not os.path.exists(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


@contextlib.contextmanager
def chromium(nice: int = 0) -> Iterator[Any]:
    """A headless Playwright Chromium browser (Debian's /usr/bin/chromium).

    ``nice > 0`` runs the browser in the background: the load test uses it so that four
    browsers rendering on the server's own two cores stand in for remote clients without
    starving the server they are measuring. Niceness alone is not enough: Chromium sets
    its child processes' niceness itself (to 0, 5 and -8 when it runs as root), so where
    ``chrt`` exists the browser also runs under the ``SCHED_IDLE`` policy, which its
    children inherit and which only gets CPU time that nothing else wants.
    """
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        exe = CHROMIUM
        if nice:
            exe = os.path.join(tmp, "chromium-nice")
            with open(exe, "w") as f:
                idle = "chrt --idle 0 " if shutil.which("chrt") else ""
                f.write(f'#!/bin/sh\nexec {idle}nice -n {int(nice)} "{CHROMIUM}" "$@"\n')
            os.chmod(exe, 0o755)
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
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


def tree_memory_mb(pid: int) -> dict[str, float]:
    """Memory of a process and all its descendants, MiB: ``rss`` (sum of resident sets; pages
    shared by forked children are counted once per process) and ``pss`` (proportional set
    size: each shared page split among its sharers, so the sum is what the tree really holds)."""
    import psutil

    rss = pss = 0.0
    root = psutil.Process(pid)
    for p in [root] + root.children(recursive=True):
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return {"rss": rss / 2**20, "pss": pss / 2**20}


def _page_text(page: Any, pattern: str) -> str | None:
    import re

    loc = page.get_by_text(re.compile(pattern))
    return loc.first.inner_text() if loc.count() else None


def walk_tabs(page: Any, url: str, on_tab: Callable[[str], None] = lambda name: None,
              timeout: float = 300.0) -> dict[str, float]:
    """Visit every dashboard tab as a class would and wait until each shows its content.

    Training: Start, wait until the run finishes; Embeddings: the default model's maps, then
    a click on the globe and the look-alike table; Smoothness: the L = 5 maps; Species
    ranges: the virtual species; Compare encoders: a 500-point comparison. ``on_tab(name)``
    is called after each tab (a benchmark records memory there). Returns seconds per tab.
    """
    seconds: dict[str, float] = {}

    def step(name: str, action: Callable[[], None]) -> None:
        t0 = time.monotonic()
        action()
        seconds[name] = time.monotonic() - t0
        on_tab(name)

    def training() -> None:
        page.goto(url, wait_until="networkidle", timeout=timeout * 1000)
        page.get_by_role("button", name="Start").wait_for(timeout=timeout * 1000)
        page.get_by_role("button", name="Start").click()
        wait_until(lambda: _page_text(page, r"finished \("), timeout=timeout, what="the training run")

    def embeddings() -> None:
        page.locator(".bk-tab", has_text="Embeddings").first.click()
        wait_until(lambda: _page_text(page, r"embeddings on a"), timeout=timeout, what="the embeddings")
        time.sleep(1.0)
        canvases = page.locator(".bk-Canvas")
        boxes = [canvases.nth(i).bounding_box() for i in range(canvases.count())]
        globe = next(b for b in boxes if b and abs(b["width"] - b["height"]) < 40 and b["width"] > 200)
        page.mouse.click(globe["x"] + globe["width"] / 2, globe["y"] + globe["height"] / 2)
        page.locator("table.geoviz-results").first.wait_for(timeout=timeout * 1000)

    def smoothness() -> None:
        page.locator(".bk-tab", has_text="Smoothness").first.click()
        wait_until(lambda: _page_text(page, r"Siren\(SH\), L = 5 \(f_max.*test accuracy \d"), timeout=timeout,
                   what="the smoothness maps")

    def species() -> None:
        page.locator(".bk-tab", has_text="Species ranges").first.click()
        wait_until(lambda: _page_text(page, r"virtual species, [\d,]+ observations"), timeout=timeout,
                   what="the species demo")

    def compare() -> None:
        page.locator(".bk-tab", has_text="Compare encoders").first.click()
        wait_until(lambda: _page_text(page, r"Nothing computed yet|Done in"), timeout=timeout, what="the Compare tab")
        page.locator("select", has=page.locator("option", has_text="2000")).first.select_option("500")
        time.sleep(0.5)
        page.get_by_role("button", name="Compare").first.click()
        wait_until(lambda: _page_text(page, r"Done in [\d.]+ s|[Cc]omparison failed"), timeout=timeout,
                   what="the comparison")

    for name, action in [("training", training), ("embeddings", embeddings), ("smoothness", smoothness),
                         ("species", species), ("compare", compare)]:
        step(name, action)
    return seconds
