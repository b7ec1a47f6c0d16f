"""Pacing the display of a training run, so that a class can watch the field form.

A small model on the land–ocean task trains at 50–100 epochs per second: drawn as fast as
they arrive, its maps flash past in two seconds (grey, then done). A :class:`FramePacer`
sits between the stream of :class:`geoviz.training.EpochRecord` objects and the view: it
buffers the records and hands them out in *display batches*, each ending with one record
that carries a map, and keeps every displayed map up for at least ``min_interval``
seconds. The run itself is not slowed: records that arrive early wait in the buffer, and
the display catches up after the run has finished.

* ``min_interval > 0`` (*class pace*, :data:`CLASS_PACE` seconds by default): one map per
  batch, at most one batch every ``min_interval`` seconds; a 50-epoch run with a map every
  epoch takes 10 s to watch. When more than ``max_backlog`` maps are waiting (a long, fast
  run), the oldest waiting maps are skipped (their records still come, in the batch of a
  later map), so the display never lags the run by more than ``max_backlog · min_interval``
  seconds.
* ``min_interval == 0`` (*fast*): a batch is everything that has arrived; the view draws only
  its newest map.

:meth:`FramePacer.hurry` (the Stop button) hands out the rest at once;
:meth:`FramePacer.set_interval` changes the speed while a run is shown.

Two drivers share the same state machine: :meth:`FramePacer.apaced` for asyncio (the
dashboard: it reads the source in a task and waits with ``asyncio.wait_for``, so the event
loop never sleeps) and :meth:`FramePacer.paced` for a plain iterator in a worker thread (the
Jupyter :class:`geoviz.widgets.LiveTrainer`: there the source is pulled lazily, so a
:class:`~geoviz.training.Trainer` in the same thread waits while a frame is shown).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from typing import Any, AsyncIterable, AsyncIterator, Callable, Iterable, Iterator

__all__ = ["CLASS_PACE", "SPEEDS", "FramePacer", "has_map"]

CLASS_PACE = 0.2
"""Seconds each map stays up at class pace (a 50-epoch run takes 10 s to watch)."""

SPEEDS: dict[str, float] = {"class pace": CLASS_PACE, "fast": 0.0}
"""The speed settings offered by the views: ``{label: seconds per map frame}``."""


def has_map(record: Any) -> bool:
    """Whether a record carries a map (``record.prediction`` is not None)."""
    return getattr(record, "prediction", None) is not None


class FramePacer:
    """Buffers a run's records and hands them out in display batches (see the module docs).

    Args:
        min_interval: seconds each displayed map stays up (``0``: fast, no pacing).
        max_backlog: maps allowed to wait (≥ 1); older waiting maps beyond it are skipped.
        clock: monotonic time in seconds (tests pass a fake clock).
        is_frame: ``record -> bool``, whether a record carries a map (default :func:`has_map`).

    The state machine (used by the drivers, and directly by tests): :meth:`push` adds an
    arrived record, :meth:`finish` says the source has ended, :meth:`due_in` says when the
    next batch may be shown, :meth:`pop` takes it and :meth:`mark_shown` says it is drawn.

    Attributes:
        shown: number of batches handed out; ``skipped``: maps skipped to bound the backlog.
    """

    def __init__(self, min_interval: float = CLASS_PACE, *, max_backlog: int = 60,
                 clock: Callable[[], float] = time.monotonic,
                 is_frame: Callable[[Any], bool] = has_map) -> None:
        if isinstance(max_backlog, bool) or not isinstance(max_backlog, int) or max_backlog < 1:
            raise ValueError(f"max_backlog must be an int >= 1, got {max_backlog!r}")
        self.max_backlog = max_backlog
        self.clock = clock
        self.is_frame = is_frame
        self._buf: collections.deque[Any] = collections.deque()
        self._maps = 0  # records with a map in the buffer
        self._finished = False
        self._error: BaseException | None = None
        self._last_shown: float | None = None
        self._batch_has_map = False
        self._hurry = False
        self._wake: Callable[[], None] = lambda: None  # set by a driver: wakes a waiting consumer
        self.shown = 0
        self.skipped = 0
        self.min_interval = 0.0
        self.set_interval(min_interval)

    # ------------------------------------------------------------------ state machine

    def set_interval(self, seconds: float) -> None:
        """Change the seconds per map (``0``: fast); takes effect for the next batch."""
        s = float(seconds)
        if not s >= 0 or s == float("inf"):
            raise ValueError(f"min_interval must be a finite number >= 0 seconds, got {seconds!r}")
        self.min_interval = s
        self._wake()

    def push(self, record: Any) -> None:
        """A record has arrived (records must come in epoch order)."""
        self._buf.append(record)
        if self.is_frame(record):
            self._maps += 1
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        """The source has ended (``error``: it failed; raised once the buffer is handed out)."""
        self._finished = True
        self._error = error
        self._wake()

    def hurry(self) -> None:
        """Hand out everything buffered at once from now on (Stop: show the result now)."""
        self._hurry = True
        self._wake()

    @property
    def finished(self) -> bool:
        """Whether the source has ended (records may still be buffered)."""
        return self._finished

    @property
    def pending(self) -> int:
        """Records buffered, not handed out yet."""
        return len(self._buf)

    @property
    def pending_maps(self) -> int:
        """Maps buffered, not shown yet."""
        return self._maps

    @property
    def done(self) -> bool:
        """The source has ended and every record has been handed out."""
        return self._finished and not self._buf

    def _fast(self) -> bool:
        return self._hurry or self.min_interval == 0.0

    def due_in(self) -> float | None:
        """Seconds until the next batch may be shown: ``0`` now, None when no batch is ready
        (nothing buffered, or only records without a map while the source goes on)."""
        if not self._buf or (self._maps == 0 and not self._finished):
            return None
        if self._fast() or self._last_shown is None or self._maps == 0:
            return 0.0
        return max(0.0, self._last_shown + self.min_interval - self.clock())

    def pop(self) -> list[Any]:
        """The next display batch (call when :meth:`due_in` is 0): the records up to and
        including the next map to show (fast: everything buffered). The view draws the map of
        the batch's last record that has one and shows the others' losses and metrics."""
        if self._fast() or self._maps == 0:
            batch = list(self._buf)
            self._buf.clear()
            self._maps = 0
        else:
            skip = max(0, self._maps - 1 - self.max_backlog)  # maps passed over: max_backlog wait after this one
            self.skipped += skip
            batch = []
            while True:
                rec = self._buf.popleft()
                batch.append(rec)
                if self.is_frame(rec):
                    self._maps -= 1
                    if skip == 0:
                        break
                    skip -= 1
        self._batch_has_map = any(self.is_frame(r) for r in batch)
        if self._batch_has_map:
            self._last_shown = self.clock()
        self.shown += 1
        return batch

    def mark_shown(self) -> None:
        """The view has finished drawing the last batch: its map's time starts now (the drivers
        call this when the consumer hands control back, so drawing time does not eat into it)."""
        if self._batch_has_map:
            self._last_shown = self.clock()

    def _raise_if_failed(self) -> None:
        if self.done and self._error is not None:
            err, self._error = self._error, None
            raise err

    # ------------------------------------------------------------------ drivers

    async def apaced(self, source: AsyncIterable[Any]) -> AsyncIterator[list[Any]]:
        """Display batches of an async record stream (asyncio; the event loop never blocks).

        The source is read by a task into the buffer as fast as it comes (a training child
        process may finish long before its display); this generator waits with
        ``asyncio.wait_for`` on a wake-up event. An exception of the source is raised after
        the batches before it. Closing the generator cancels the reader.
        """
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()

        def wake_up() -> None:  # hurry()/set_interval() may come from a callback thread
            if threading.get_ident() == loop_thread:
                wake.set()
            else:
                loop.call_soon_threadsafe(wake.set)

        self._wake = wake_up

        async def read() -> None:
            try:
                async for rec in source:
                    self.push(rec)
                self.finish()
            except asyncio.CancelledError:
                self.finish()
                raise
            except BaseException as exc:  # shown by the consumer after the records before it
                self.finish(exc)

        reader = loop.create_task(read())
        try:
            while True:
                self._raise_if_failed()
                if self.done:
                    break
                wait = self.due_in()
                if wait == 0.0:
                    yield self.pop()
                    self.mark_shown()
                    continue
                wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=wait)
        finally:
            self._wake = lambda: None
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    def paced(self, source: Iterable[Any]) -> Iterator[list[Any]]:
        """Display batches of a plain iterator, pulled lazily in the caller's thread.

        A record is pulled only when the previous batch's time is up, so a
        :class:`~geoviz.training.Trainer` iterated here waits while a map is shown (in a
        worker thread; :meth:`hurry` and :meth:`set_interval` from another thread cut a wait
        short). Fast: one batch per record, as the iterator yields them.
        """
        woken = threading.Event()
        self._wake = woken.set
        try:
            for rec in source:
                self.push(rec)
                while True:
                    woken.clear()  # before the check: a hurry() after it still wakes the wait
                    wait = self.due_in()
                    if wait is None:
                        break
                    if wait > 0:
                        woken.wait(wait)
                        continue
                    yield self.pop()
                    self.mark_shown()
            self.finish()
            while not self.done:
                woken.clear()
                wait = self.due_in()
                if wait:
                    woken.wait(wait)
                    continue
                yield self.pop()
                self.mark_shown()
        finally:
            self._wake = lambda: None
