"""Server-process settings for ``panel serve apps/dashboard.py``.

The dashboard serves several sessions from one Tornado event loop. Panel runs widget
callbacks and page-load work in a thread pool (``nthreads``), so a slow callback in one
session does not stall the others; :func:`configure_server` sets that up once per process.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading
import time
import traceback
import weakref
from typing import Any, Callable, TextIO

__all__ = ["configure_server", "make_busy_counter_thread_safe", "release_memory", "release_memory_soon", "schedule",
           "StallWatchdog", "STALL_ENV"]

STALL_ENV = "GEOVIZ_STALL_REPORT_MS"
"""Environment variable: report event-loop stalls longer than this many ms (off when unset)."""

_BUSY_LOCK = threading.RLock()


def make_busy_counter_thread_safe(state: Any = None) -> bool:
    """Make Panel's busy-event bookkeeping safe with a thread pool (idempotent).

    Panel (1.9) records every callback that runs in its thread pool in ``state._busy_counter``,
    a ``param.List`` whose watcher rewrites the same list and toggles the read-only ``busy``
    flag. Two problems follow, both seen in the dashboard's load test:

    - Threads race on the list: stale events stay (``busy`` stays True) and setting ``busy``
      fails with "Read-only parameter 'busy' cannot be modified".
    - The watcher re-assigns the list even when nothing changed. While a ``param.trigger``
      on the state is in progress (Panel triggers ``session_info`` when a page connects),
      param calls watchers whether or not the value changed, so the watcher re-runs itself
      until ``RecursionError``; the exception killed that session's page-load callback.

    Here the three methods that write the list run under one re-entrant lock, and the
    clean-up assigns the list only when it changes (same filtering as Panel's).
    tests/test_server.py reproduces both problems.

    Args:
        state: the Panel state object (default ``panel.state``).

    Returns:
        True if the methods were replaced now, False if they already were.
    """
    import time

    from panel.util import edit_readonly

    if state is None:
        from panel.io.state import state as panel_state

        state = panel_state
    if getattr(state, "_geoviz_busy_lock", None) is _BUSY_LOCK:
        return False

    add, remove = state._add_busy_event, state._remove_busy_event

    def cleanup(event_id: str | None = None, timeout: float = 30.0) -> None:
        with _BUSY_LOCK:
            now = time.monotonic()
            current = list(state._busy_counter)
            kept = [(eid, started) for eid, started in current if now - started <= timeout and eid != event_id]
            if kept != current:
                with edit_readonly(state):
                    state._busy_counter = kept

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _BUSY_LOCK:
                return method(*args, **kwargs)

        return wrapper

    # instance attributes shadow the class methods; Panel's own watcher calls
    # self._cleanup_busy_counter and so gets this version too (the lock is re-entrant)
    object.__setattr__(state, "_cleanup_busy_counter", cleanup)
    object.__setattr__(state, "_add_busy_event", locked(add))
    object.__setattr__(state, "_remove_busy_event", locked(remove))
    object.__setattr__(state, "_geoviz_busy_lock", _BUSY_LOCK)
    return True


class StallWatchdog:
    """Report what the event loop was doing whenever it is blocked for longer than a threshold.

    A diagnostic for the server's responsiveness (``/liveness`` answers only between loop
    callbacks): a loop callback stamps a heartbeat every ``interval`` seconds; a daemon
    thread checks the stamp and, once per stall longer than ``threshold`` seconds, writes the
    loop thread's current Python stack to ``stream``, then the stall's total length when the
    loop is back, with how much of it the loop thread spent on a CPU (little means it waited:
    for the GIL, held by another thread, or for the OS) and how long garbage collection took
    meanwhile (a collection in any thread holds the GIL). The report ends with the innermost
    frames of the other threads at the sample. One sample per stall shows where things were,
    not a full profile.

    Args:
        loop: the asyncio event loop to watch (the one whose thread serves requests).
        threshold: stall length in seconds that triggers a report.
        interval: heartbeat period in seconds (the reported lengths include up to one).
        stream: where reports go (default ``sys.stderr``).

    Attributes:
        stalls: ``(start_time, seconds, stack_text)`` of every reported stall, wall-clock
            ``time.time()`` start.
    """

    def __init__(self, loop: Any, threshold: float = 0.1, interval: float = 0.01,
                 stream: TextIO | None = None) -> None:
        if not threshold > 0 or not interval > 0:
            raise ValueError(f"threshold and interval must be > 0 s, got {threshold!r}, {interval!r}")
        self.loop, self.threshold, self.interval = loop, float(threshold), float(interval)
        self.stream = stream
        self.stalls: list[tuple[float, float, str]] = []
        self._beat = (time.monotonic(), 0.0)  # (when, loop thread's CPU seconds then)
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="geoviz-stall-watchdog", daemon=True)
        self._gc_total = 0.0  # seconds spent in garbage collection (any thread) since start
        self._gc_started: float | None = None

    def start(self) -> "StallWatchdog":
        """Start the heartbeat (thread-safe) and the watching thread; returns self."""
        self.loop.call_soon_threadsafe(self._heartbeat)
        gc.callbacks.append(self._on_gc)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the heartbeat ends at its next tick)."""
        self._stop.set()
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        elif self._gc_started is not None:
            self._gc_total += time.monotonic() - self._gc_started
            self._gc_started = None

    def _heartbeat(self) -> None:
        self._loop_thread = threading.get_ident()
        self._beat = (time.monotonic(), time.thread_time())  # one tuple: read atomically
        if not self._stop.is_set():
            self.loop.call_later(self.interval, self._heartbeat)

    def _snapshot(self) -> str:
        """The loop thread's stack, then the innermost frames of every other thread."""
        frames = sys._current_frames()
        names = {t.ident: t.name for t in threading.enumerate()}
        loop_frame = frames.pop(self._loop_thread, None)  # type: ignore[arg-type]
        text = "".join(traceback.format_stack(loop_frame)) if loop_frame is not None else "(no frame)\n"
        frames.pop(threading.get_ident(), None)
        others = [f"  [{names.get(ident, ident)}] " + " < ".join(
            f"{fs.name} ({fs.filename.rsplit('/', 1)[-1]}:{fs.lineno})" for fs in reversed(traceback.extract_stack(f)[-3:]))
            for ident, f in frames.items()]
        return text + ("other threads (innermost first):\n" + "\n".join(others) + "\n" if others else "")

    def _watch(self) -> None:
        pending: dict[str, Any] | None = None
        while not self._stop.wait(self.interval):
            beat, cpu = self._beat
            late = time.monotonic() - beat - self.interval
            if pending is None and late > self.threshold and self._loop_thread is not None:
                pending = {"beat": beat, "cpu": cpu, "wall": time.time() - (time.monotonic() - beat),
                           "gc": self._gc_total, "stack": self._snapshot()}
            elif pending is not None and beat > pending["beat"]:  # the loop is back
                seconds = beat - pending["beat"] - self.interval
                on_cpu = max(0.0, cpu - pending["cpu"])
                in_gc = self._gc_total - pending["gc"]
                self.stalls.append((pending["wall"], seconds, pending["stack"]))
                out = self.stream or sys.stderr
                out.write(f"[geoviz] event loop blocked {1e3 * seconds:.0f} ms (loop thread on a CPU "
                          f"{1e3 * on_cpu:.0f} ms, garbage collection {1e3 * in_gc:.0f} ms, any thread); "
                          f"loop thread was at:\n{pending['stack']}")
                out.flush()
                pending = None


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``).

    A server calls it when a session ends: a session's Bokeh documents and images are
    freed by Python, but glibc keeps the pages for reuse, so without this the resident
    size only ever grows with the number of visits. No-op where glibc is absent.
    """
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        pass


def schedule(coro_fn: Callable[[], Any]) -> None:
    """Run ``coro_fn()`` on the session's event loop (thread-safe: watchers may run in Panel's
    thread pool); outside a server session run it to completion now. The tabs' one way to
    start background work from a widget callback."""
    import panel as pn

    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        doc.add_next_tick_callback(coro_fn)
    else:
        pn.state.execute(coro_fn)


_RELEASE_PENDING: "weakref.WeakSet[Any]" = weakref.WeakSet()
"""Event loops with a release scheduled (per loop: a stopped loop's timer never fires)."""
RELEASE_DELAY_S = 1.0
"""Sessions that end within this many seconds of each other share one :func:`release_memory`."""


def release_memory_soon() -> None:
    """:func:`release_memory` once, ``RELEASE_DELAY_S`` from now, for every session that ends
    before then; at once when no event loop runs in this thread (scripts, tests).

    A full collection plus ``malloc_trim`` takes tens of milliseconds of the event loop, and
    several sessions often end together (a closed browser window, a load balancer): run one
    after the other in the same loop turn they stalled the server's health check for over
    300 ms. Coalesced, the server pays once.
    """
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        release_memory()
        return
    if loop in _RELEASE_PENDING:
        return
    _RELEASE_PENDING.add(loop)

    def _run() -> None:
        _RELEASE_PENDING.discard(loop)
        release_memory()

    loop.call_later(RELEASE_DELAY_S, _run)


def _start_watchdog_from_env() -> StallWatchdog | None:
    """Start a :class:`StallWatchdog` on the running server's loop when ``GEOVIZ_STALL_REPORT_MS`` is set."""
    raw = os.environ.get(STALL_ENV)
    if not raw:
        return None
    try:
        threshold = float(raw) / 1e3
    except ValueError:
        raise ValueError(f"{STALL_ENV} must be a number of milliseconds, got {raw!r}") from None
    global _WATCHDOG
    if _WATCHDOG is None:
        from tornado.ioloop import IOLoop

        _WATCHDOG = StallWatchdog(IOLoop.current().asyncio_loop, threshold=threshold).start()
    return _WATCHDOG


_WATCHDOG: StallWatchdog | None = None


def configure_server(nthreads: int = 2, switch_interval: float = 0.0001) -> None:
    """Settings for the dashboard's server process (call from the served script).

    Args:
        nthreads: Panel thread-pool size for callbacks and page-load work, used unless
            ``--num-threads`` / ``pn.config.nthreads`` already set one.
        switch_interval: the interpreter's thread switch interval in seconds (default 5 ms
            in CPython); shorter gives the event loop the GIL back sooner from busy threads.

    With ``GEOVIZ_STALL_REPORT_MS=100`` (say) in the environment, every event-loop stall
    over 100 ms is reported on stderr with the loop's stack (:class:`StallWatchdog`).
    """
    import panel as pn

    if pn.config.nthreads is None:
        pn.config.nthreads = int(nthreads)
    if sys.getswitchinterval() > switch_interval:
        sys.setswitchinterval(switch_interval)
    make_busy_counter_thread_safe()
    _start_watchdog_from_env()
