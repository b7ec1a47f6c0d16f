"""Server-process settings for ``panel serve apps/dashboard.py``.

The dashboard serves several sessions from one Tornado event loop. Panel runs widget
callbacks and page-load work in a thread pool (``nthreads``), so a slow callback in one
session does not stall the others; :func:`configure_server` sets that up once per process.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Callable

__all__ = ["configure_server", "make_busy_counter_thread_safe"]

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


def configure_server(nthreads: int = 2, switch_interval: float = 0.0001) -> None:
    """Settings for the dashboard's server process (call from the served script).

    Args:
        nthreads: Panel thread-pool size for callbacks and page-load work, used unless
            ``--num-threads`` / ``pn.config.nthreads`` already set one.
        switch_interval: the interpreter's thread switch interval in seconds (default 5 ms
            in CPython); shorter gives the event loop the GIL back sooner from busy threads.
    """
    import panel as pn

    if pn.config.nthreads is None:
        pn.config.nthreads = int(nthreads)
    if sys.getswitchinterval() > switch_interval:
        sys.setswitchinterval(switch_interval)
    make_busy_counter_thread_safe()
