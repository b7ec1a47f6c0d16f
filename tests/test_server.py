"""Server-process settings of the dashboard (geoviz.app.server)."""

from __future__ import annotations

import re
import sys
import threading
import uuid

import pytest

pytest.importorskip("panel")

from geoviz.app.server import configure_server, make_busy_counter_thread_safe  # noqa: E402


def _hammer(state, n_threads: int = 4, n_events: int = 300) -> list[BaseException]:
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(n_events):
            eid = uuid.uuid4().hex
            try:
                state._add_busy_event(eid)
                state._remove_busy_event(eid)
            except Exception as exc:  # RecursionError, TypeError (read-only 'busy')
                errors.append(exc)
                return

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: the race shows within a few hundred events
    try:
        threads = [threading.Thread(target=work) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return errors


def test_busy_counter_is_consistent_across_threads():
    from panel.io.state import _state

    state = _state()  # a private state object: the global one is left alone
    assert make_busy_counter_thread_safe(state) is True
    assert make_busy_counter_thread_safe(state) is False  # idempotent
    errors = _hammer(state)
    assert errors == []
    # every event was added and removed: nothing may be left, and busy must be off
    assert state._busy_counter == []
    assert state.busy is False


def test_busy_events_still_mark_busy():
    from panel.io.state import _state

    state = _state()
    make_busy_counter_thread_safe(state)
    state._add_busy_event("a")
    assert state.busy is True
    state._remove_busy_event("a")
    assert state.busy is False


def test_configure_server_keeps_an_explicit_thread_count(monkeypatch):
    import panel as pn

    monkeypatch.setattr(pn.config, "nthreads", 3)
    old = sys.getswitchinterval()
    try:
        configure_server(nthreads=2, switch_interval=0.001)
        assert pn.config.nthreads == 3
        assert sys.getswitchinterval() <= 0.001
    finally:
        sys.setswitchinterval(old)


def test_busy_cleanup_does_not_recurse_during_a_trigger():
    """A param.trigger on the state calls watchers even for unchanged values; Panel's busy
    watcher then re-assigned the list forever (RecursionError) when an event was pending."""
    from panel.io.state import _state

    state = _state()
    make_busy_counter_thread_safe(state)
    state._add_busy_event("pending")
    # what Panel does when a page connects, with an event of another thread still pending
    state.param.trigger("session_info", "_busy_counter")
    assert state._busy_counter and state._busy_counter[0][0] == "pending"
    assert state.busy is True
    state._remove_busy_event("pending")
    assert state.busy is False


def _run_loop_with(watchdog_kwargs: dict, block_s: float, total_s: float = 0.6, busy: bool = False):
    """Run a fresh asyncio loop for ``total_s`` with a watchdog; one callback blocks ``block_s``
    (sleeping, or computing when ``busy``)."""
    import asyncio
    import io
    import time

    from geoviz.app.server import StallWatchdog

    def block_here() -> None:  # the name the report must show
        if busy:
            t_end = time.thread_time() + block_s
            while time.thread_time() < t_end:
                pass
        else:
            time.sleep(block_s)

    loop = asyncio.new_event_loop()
    out = io.StringIO()
    try:
        dog = StallWatchdog(loop, stream=out, **watchdog_kwargs).start()
        if block_s:
            loop.call_later(0.15, block_here)
        loop.run_until_complete(asyncio.sleep(total_s))
        dog.stop()
    finally:
        loop.close()
    return dog, out.getvalue()


def test_stall_watchdog_reports_the_blocking_callback():
    dog, text = _run_loop_with({"threshold": 0.1, "interval": 0.01}, block_s=0.3)
    assert len(dog.stalls) == 1, text
    start, seconds, stack = dog.stalls[0]
    assert 0.25 <= seconds <= 0.45
    assert "block_here" in stack and "event loop blocked" in text and "block_here" in text
    # it slept: the loop thread was blocked without using a CPU
    assert int(re.search(r"on a CPU (\d+) ms", text).group(1)) < 100, text


def test_stall_watchdog_tells_computing_from_waiting():
    dog, text = _run_loop_with({"threshold": 0.1, "interval": 0.01}, block_s=0.3, busy=True)
    assert len(dog.stalls) == 1, text
    seconds = dog.stalls[0][1]
    on_cpu = int(re.search(r"on a CPU (\d+) ms", text).group(1)) / 1e3
    assert 0.25 <= on_cpu <= seconds + 0.01, text


def test_stall_watchdog_is_quiet_when_the_loop_is_responsive():
    dog, text = _run_loop_with({"threshold": 0.1, "interval": 0.01}, block_s=0.05)
    assert dog.stalls == [] and text == ""


def test_stall_watchdog_rejects_bad_settings(monkeypatch):
    import asyncio

    from geoviz.app import server
    from geoviz.app.server import StallWatchdog

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="threshold"):
            StallWatchdog(loop, threshold=0)
    finally:
        loop.close()
    monkeypatch.setenv(server.STALL_ENV, "fast")
    monkeypatch.setattr(server, "_WATCHDOG", None)
    with pytest.raises(ValueError, match=server.STALL_ENV):
        server._start_watchdog_from_env()
    monkeypatch.delenv(server.STALL_ENV)
    assert server._start_watchdog_from_env() is None


def test_release_memory_soon_coalesces_sessions_that_end_together(monkeypatch):
    """Four sessions ending in one loop turn release memory once, a moment later; without a
    running loop it happens at once."""
    import asyncio

    from geoviz.app import server

    calls = []
    monkeypatch.setattr(server, "release_memory", lambda: calls.append(1))
    monkeypatch.setattr(server, "RELEASE_DELAY_S", 0.05)
    server.release_memory_soon()
    assert calls == [1]

    async def main() -> None:
        for _ in range(4):
            server.release_memory_soon()
        assert calls == [1]
        await asyncio.sleep(0.2)
        assert calls == [1, 1]
        server.release_memory_soon()
        await asyncio.sleep(0.2)
        assert calls == [1, 1, 1]

    asyncio.run(main())


def test_release_memory_soon_is_not_blocked_by_a_stopped_loop(monkeypatch):
    """A release scheduled on a loop that stopped before it fired does not block the next loop's."""
    import asyncio

    from geoviz.app import server

    calls = []
    monkeypatch.setattr(server, "release_memory", lambda: calls.append(1))
    monkeypatch.setattr(server, "RELEASE_DELAY_S", 0.05)

    async def schedule_and_leave() -> None:
        server.release_memory_soon()

    asyncio.run(schedule_and_leave())  # the loop ends before the timer fires
    assert calls == []

    async def main() -> None:
        server.release_memory_soon()
        await asyncio.sleep(0.2)

    asyncio.run(main())
    assert calls == [1]
