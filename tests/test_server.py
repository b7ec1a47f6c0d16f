"""Server-process settings of the dashboard (geoviz.app.server)."""

from __future__ import annotations

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
