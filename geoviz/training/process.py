"""Run a :class:`~geoviz.training.Trainer` in a child process and stream its epochs back.

A training loop in a thread of a server (the dashboard) or of a notebook kernel competes
with everything else in that process for the GIL: a Panel server that trains in two
sessions answers ``/liveness`` in hundreds of milliseconds instead of a few. A child
process per run has its own interpreter, so the parent only receives finished records
(an :class:`~geoviz.training.EpochRecord` per epoch, with a map prediction when one is
due) and stays responsive. The child also exits when the parent dies.

    >>> from geoviz.training import TrainConfig
    >>> from geoviz.training.process import TrainingProcess
    >>> with TrainingProcess("landocean", TrainConfig(max_epochs=20, dtype="float32"),
    ...                      grid_resolution=2.0) as proc:          # doctest: +SKIP
    ...     for rec in proc.records():
    ...         print(rec.epoch, rec.val_metrics["accuracy"], rec.prediction is not None)

Processes are started with the ``forkserver`` method (Linux; ``spawn`` elsewhere): the
fork server imports torch and geoviz once, so a run starts in well under a second
instead of re-importing torch each time. Nothing multi-threaded runs in the fork server
(only imports), so forking from it is safe.

Messages from the child are tuples on a :func:`multiprocessing.Pipe`:

* ``("ready", info)`` once the trainer is built: ``info`` has ``device`` (e.g. ``"cpu"``),
  ``device_label`` (``"CPU"``/``"GPU (name)"``), ``grid_shape`` ``(H, W)`` and
  ``feature_dim``;
* ``("record", EpochRecord)`` after every epoch;
* ``("test", metrics)`` just before the last record, when asked for (``evaluate_test``): the
  final weights' loss and metrics on the task's test split;
* ``("error", type_name, message)`` when building or training fails (bad settings, CUDA
  out of memory, ...); the run is over.

The parent sends ``"stop"`` to end the run after the current epoch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process  # registers its exit hook before ours (see terminate_children)
import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator

from .engine import EpochRecord, TrainConfig

__all__ = ["TrainingProcess", "TrainingError", "RunInfo", "ChildPool", "submit_in_child", "train_in_process",
           "terminate_children", "warm_up", "device_label"]

_PRELOAD = ["geoviz.training._preload"]
_CLOSED = object()  # sentinel: the pipe was closed by close() from another thread


class TrainingError(RuntimeError):
    """A run failed in the child process; ``kind`` is the original exception's type name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}" if kind not in ("ValueError", "TypeError", "KeyError") else message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class RunInfo:
    """What the child reports once its trainer is built.

    Attributes:
        device: torch device string the run uses (``"cpu"``, ``"cuda:0"``, ...).
        device_label: human-readable device (``"CPU"`` or ``"GPU (NVIDIA H100 ...)"``).
        grid_shape: ``(H, W)`` of the prediction grid, or None without one.
        feature_dim: positional-encoding width.
    """

    device: str
    device_label: str
    grid_shape: tuple[int, int] | None
    feature_dim: int


def _context() -> Any:
    """The multiprocessing context: forkserver (with torch/geoviz preloaded) where available."""
    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)  # only takes effect before the fork server starts
        return ctx
    return mp.get_context("spawn")


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Hide ``__main__``'s file and spec while a child starts.

    multiprocessing re-imports the parent's main module in every forkserver/spawn child
    (running a script without an ``if __name__ == "__main__"`` guard again, or importing the
    whole ``panel`` CLI); the child here needs nothing from it, its target lives in geoviz.
    """
    main = sys.modules.get("__main__")
    with _MAIN_LOCK:
        saved = {a: main.__dict__[a] for a in ("__file__", "__spec__") if main is not None and a in main.__dict__}
        for a in saved:
            if a == "__spec__":
                main.__dict__[a] = None
            else:
                del main.__dict__[a]
        try:
            yield
        finally:
            main.__dict__.update(saved)


_WARM_LOCK = threading.Lock()
_WARM: threading.Thread | None = None


def warm_up(wait: bool = False, timeout: float | None = 120.0) -> None:
    """Start the fork server (imports torch and geoviz, ~3 s) in a background thread.

    Idempotent; a server calls it at start so that the first training run starts as fast as
    the later ones. Without a fork server (not Linux) it does nothing.

    Args:
        wait: block until the fork server is running with torch and geoviz imported (a
            server warming up before it serves does this, so that the fork server's start
            does not compete for the CPU with the first pages).
        timeout: most seconds to wait (None: no limit); on time-out it returns anyway.
    """
    global _WARM
    with _WARM_LOCK:
        if _WARM is None:
            _WARM = _start_warm_up()
        thread = _WARM
    if wait:
        thread.join(timeout)


def _noop() -> None:
    """Target of the fork server's first child (see :func:`warm_up`)."""


def _start_warm_up() -> threading.Thread:
    ctx = _context()

    def run() -> None:
        if ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            with _main_module_hidden():
                forkserver.ensure_running()
                # the fork server imports its preloads before it forks anything: one no-op
                # child returns once torch and geoviz are loaded there
                child = ctx.Process(target=_noop, name="geoviz-forkserver-ready", daemon=True)
                child.start()
            child.join()

    thread = threading.Thread(target=run, name="geoviz-forkserver-warm-up", daemon=True)
    thread.start()
    return thread


def _exit_with_parent(parent_pid: int) -> None:
    """Start a daemon thread that ends this child when ``parent_pid`` is gone (a parent killed
    with SIGKILL runs no exit hook; its children must not go on burning CPU)."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid and not _alive(parent_pid):
                os._exit(0)

    threading.Thread(target=watch, name="geoviz-watch-parent", daemon=True).start()


def _init_child(nice: int, parent_pid: int) -> None:
    _exit_with_parent(parent_pid)
    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)


_POOLS: "weakref.WeakSet[ChildPool]" = weakref.WeakSet()


class ChildPool(concurrent.futures.ProcessPoolExecutor):
    """A process pool whose workers are children of the training fork server.

    Workers start in well under a second (torch, geoviz and the task data are already
    imported there), without re-running the parent's ``__main__``, with ``nice`` added to
    their niceness; they are terminated when the parent's interpreter exits, so a server
    stopped with SIGTERM while a long job runs exits at once instead of waiting for it
    (see :func:`terminate_children`).

    Args:
        workers: number of worker processes (jobs running at once), a positive int.
        nice: niceness added in each worker, an int in [0, 19] (a server uses 10 so that
            pages win over background jobs).
    """

    def __init__(self, workers: int = 1, nice: int = 0) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
            raise ValueError(f"nice must be an int in [0, 19], got {nice!r}")
        super().__init__(max_workers=workers, mp_context=_context(), initializer=_init_child,
                         initargs=(nice, os.getpid()))
        _POOLS.add(self)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:  # type: ignore[override]
        with _main_module_hidden():  # workers are started on demand, inside submit
            return super().submit(fn, *args, **kwargs)

    def terminate(self) -> None:
        """Cancel pending jobs and terminate the workers now (running jobs fail with
        ``BrokenProcessPool``). Idempotent."""
        procs = list((getattr(self, "_processes", None) or {}).values())
        if not getattr(self, "_pending_work_items", None):  # idle: let workers exit cleanly first
            for p in procs:
                with contextlib.suppress(Exception):
                    p.join(1.0)
        for p in procs:
            with contextlib.suppress(Exception):
                if p.is_alive():
                    p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(2.0)
                if p.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
                    p.kill()
                    p.join(1.0)
        with contextlib.suppress(Exception):
            self.shutdown(wait=False, cancel_futures=True)


def submit_in_child(fn: Any, /, *args: Any, nice: int = 0, **kwargs: Any) -> concurrent.futures.Future:
    """Run one job ``fn(*args, **kwargs)`` in a fresh one-worker :class:`ChildPool`.

    The pool shuts down when the job ends. For background work whose imports or memory
    should stay out of the calling process (a server: scikit-learn, Matplotlib, a model's
    grid forward pass). ``await asyncio.wrap_future(...)`` it on an event loop.

    Args:
        fn: a picklable module-level callable; ``args``/``kwargs`` picklable too.
        nice: niceness added in the child, an int in [0, 19].

    Returns:
        The job's future (its exception re-raised by ``result()``).
    """
    pool = ChildPool(1, nice=nice)
    fut = pool.submit(fn, *args, **kwargs)
    fut.add_done_callback(lambda _: pool.shutdown(wait=False))
    return fut


def terminate_children() -> None:
    """Terminate the workers of every live :class:`ChildPool` of this process.

    Runs at interpreter exit before ``concurrent.futures`` joins its pools (hooks registered
    with ``threading._register_atexit`` run last-registered first, and this module registers
    after ``concurrent.futures.process``): without it a ``panel serve`` stopped by SIGTERM
    freed its port but stayed alive until a running background job finished.
    :class:`TrainingProcess` children are daemonic and are terminated by multiprocessing's
    own exit handler.
    """
    for pool in list(_POOLS):
        pool.terminate()


if hasattr(threading, "_register_atexit"):  # CPython >= 3.9
    threading._register_atexit(terminate_children)
else:  # pragma: no cover
    import atexit

    atexit.register(terminate_children)


def device_label(device: Any = "auto") -> str:
    """Human-readable name of a training device, e.g. ``"CPU"`` or ``"GPU (NVIDIA H100)"``.

    Args:
        device: ``"auto"`` (CUDA when available), a device string or a ``torch.device``.
    """
    import torch

    from .engine import resolve_device

    device = resolve_device(device)
    if device.type == "cuda":
        try:
            return f"GPU ({torch.cuda.get_device_name(device)})"
        except Exception:  # pragma: no cover - driver oddities
            return "GPU"
    return "CPU"


def _child(conn: Any, task_name: str, task_kwargs: dict, config: TrainConfig, grid_resolution: float | None,
           min_frame_interval: float, threads: int, predict_dtype: str | None, parent_pid: int, nice: int,
           evaluate_test: bool = False) -> None:
    """Child process body: build the trainer, run it, send records (see the module docstring)."""
    import torch

    from ..data import get_task, regular_grid
    from .engine import Trainer

    _exit_with_parent(parent_pid)
    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)
    torch.set_num_threads(max(1, int(threads)))
    try:
        task = get_task(task_name, **task_kwargs) if isinstance(task_name, str) else task_name
        grid = None if grid_resolution is None else regular_grid(grid_resolution)
        trainer = Trainer(task, config, predict_lonlat=None if grid is None else grid.lonlat,
                          predict_every=config.max_epochs + 1, predict_dtype=predict_dtype)
        conn.send(("ready", RunInfo(device=str(trainer.device), device_label=device_label(trainer.device),
                                    grid_shape=None if grid is None else tuple(grid.shape),
                                    feature_dim=int(trainer.model.positional_encoding.embedding_dim))))
        last_frame = -float("inf")
        for rec in trainer.run():
            if conn.poll() and conn.recv() == "stop":
                trainer.stop()
            now = time.perf_counter()
            if grid is not None and rec.prediction is None and (
                    rec.stopped or rec.epoch == 1 or now - last_frame >= min_frame_interval):
                rec.prediction = trainer.predict()
            if rec.prediction is not None:
                last_frame = now
            if rec.stopped and evaluate_test:
                conn.send(("test", trainer.evaluate("test")))
            conn.send(("record", rec))
            if rec.stopped:
                break
    except BaseException as exc:  # reported to the parent; the run is over
        try:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            conn.send(("error", type(exc).__name__, str(msg)))
        except (BrokenPipeError, OSError):
            pass
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


class TrainingProcess:
    """One training run in a child process, streaming :class:`EpochRecord` objects.

    Args:
        task: task name for :func:`geoviz.data.get_task` (``"landocean"``, ``"checkerboard"``,
            ``"field:temperature"``, ...), or a picklable :class:`~geoviz.data.Task` (e.g. from
            :func:`geoviz.data.task_from_points`; sent to the child; ``task_kwargs`` unused).
        config: :class:`~geoviz.training.TrainConfig` of the run.
        grid_resolution: spacing in degrees of the :func:`geoviz.data.regular_grid` the model
            predicts on for map frames, or None for no maps.
        min_frame_interval: seconds between two records that carry a prediction (the first
            and the last epoch always carry one). ``0`` predicts every epoch.
        threads: torch intra-op threads in the child (1 lets two runs share 2 cores).
        predict_dtype: dtype of the map predictions (see :class:`~geoviz.training.Trainer`).
        task_kwargs: extra keyword arguments of the task builder.
        nice: scheduling niceness added in the child (POSIX). A server gives its training
            runs a positive value (the dashboard uses 10) so that answering requests always
            wins over training when the cores are busy.
        evaluate_test: evaluate the final weights on the task's test split (e.g. the
            51,156-point grid of ``landocean``) when the run ends; see :attr:`test_metrics`.

    Use as a context manager (or call :meth:`start` and :meth:`close`); iterate with
    :meth:`records` (blocking) or :meth:`arecords` (asyncio, never blocks the event loop).
    :meth:`stop` ends the run after the current epoch; :meth:`close` also terminates a child
    that does not answer. A failed run raises :class:`TrainingError` from the iterators.

    Attributes:
        info: :class:`RunInfo` once the child has built its trainer (else None).
        test_metrics: with ``evaluate_test``, ``{"loss": ..., "accuracy": ...}`` of the final
            weights on the test split, set before the last record is yielded (else None).
    """

    def __init__(self, task: str, config: TrainConfig, *, grid_resolution: float | None = None,
                 min_frame_interval: float = 0.5, threads: int = 1, predict_dtype: str | None = "float32",
                 task_kwargs: dict[str, Any] | None = None, nice: int = 0, evaluate_test: bool = False) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if not isinstance(task, str) and not all(hasattr(task, a) for a in ("kind", "train", "val", "test")):
            raise TypeError(f"task must be a task name (str) or a Task, got {type(task).__name__}")
        if grid_resolution is not None and not (float(grid_resolution) > 0):
            raise ValueError(f"grid_resolution must be > 0 degrees or None, got {grid_resolution!r}")
        if not min_frame_interval >= 0:
            raise ValueError(f"min_frame_interval must be >= 0 seconds, got {min_frame_interval!r}")
        self.task = task
        self.config = config
        self.grid_resolution = None if grid_resolution is None else float(grid_resolution)
        self.min_frame_interval = float(min_frame_interval)
        self.threads = int(threads)
        self.predict_dtype = predict_dtype
        self.task_kwargs = dict(task_kwargs or {})
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
            raise ValueError(f"nice must be an int in [0, 19], got {nice!r}")
        self.nice = nice
        self.info: RunInfo | None = None
        self.evaluate_test = bool(evaluate_test)
        self.test_metrics: dict[str, float] | None = None
        self._proc: Any = None
        self._conn: Any = None
        self._finished = False
        self._lock = threading.Lock()  # stop() and close() may come from different threads

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "TrainingProcess":
        """Start the child process (returns at once; the trainer is built in the child)."""
        if self._proc is not None:
            raise RuntimeError("this TrainingProcess was already started")
        ctx = _context()
        parent, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(
            target=_child, name=f"geoviz-train-{getattr(self.task, 'name', self.task)}", daemon=True,
            args=(child, self.task, self.task_kwargs, self.config, self.grid_resolution,
                  self.min_frame_interval, self.threads, self.predict_dtype, os.getpid(), self.nice,
                  self.evaluate_test))
        with _main_module_hidden():
            self._proc.start()
        child.close()
        self._conn = parent
        return self

    @property
    def pid(self) -> int | None:
        """Process id of the child (None before :meth:`start`)."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.is_alive()

    def stop(self) -> None:
        """Ask the child to stop after the current epoch (it then sends the last record)."""
        with self._lock:
            if self._conn is not None and not self._finished:
                try:
                    self._conn.send("stop")
                except (BrokenPipeError, OSError):
                    pass

    def close(self, timeout: float = 5.0) -> None:
        """Stop the run, wait up to ``timeout`` s for the child, then terminate it.

        Idempotent and safe to call from several threads at once."""
        if self._proc is None:
            return
        self.stop()
        self._proc.join(timeout)
        with self._lock:
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(2.0)
                if self._proc.is_alive():  # pragma: no cover - a child ignoring SIGTERM
                    self._proc.kill()
                    self._proc.join(2.0)
            conn, self._conn = self._conn, None
            self._finished = True
        if conn is not None:
            conn.close()

    def __enter__(self) -> "TrainingProcess":
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten run must not keep training
        try:
            if self._proc is not None and self._proc.is_alive():
                self._proc.terminate()
        except Exception:
            pass

    def has_pending(self) -> bool:
        """True when a message from the child is waiting (the parent is behind the run)."""
        try:
            return self._conn is not None and not self._finished and self._conn.poll()
        except (EOFError, OSError):
            return False

    # ------------------------------------------------------------------ messages

    def _handle(self, msg: Any) -> EpochRecord | None:
        """Process one message; return a record, None for "ready", raise for "error"."""
        kind = msg[0]
        if kind == "ready":
            self.info = msg[1]
            return None
        if kind == "test":
            self.test_metrics = dict(msg[1])
            return None
        if kind == "record":
            rec = msg[1]
            if rec.stopped:
                self._finished = True
            return rec
        if kind == "error":
            self._finished = True
            raise TrainingError(msg[1], msg[2])
        raise RuntimeError(f"unexpected message from the training process: {kind!r}")  # pragma: no cover

    def _receive(self, conn: Any) -> Any:
        """One message from ``conn``; :data:`_CLOSED` when :meth:`close` ran meanwhile; raises
        :class:`TrainingError` when the child died."""
        try:
            return conn.recv()
        except (EOFError, OSError):
            if self._conn is None:
                return _CLOSED
            raise self._lost() from None

    def _lost(self) -> TrainingError:
        self._finished = True
        code = None if self._proc is None else self._proc.exitcode
        return TrainingError("ProcessError", f"the training process ended unexpectedly (exit code {code})")

    def records(self, timeout: float | None = None) -> Iterator[EpochRecord]:
        """Yield records until the run ends (blocking; starts the child if needed).

        Args:
            timeout: seconds to wait for any one message (None: no limit).

        Raises:
            TrainingError: the run failed in the child, or the child died.
            TimeoutError: no message within ``timeout``.
        """
        if self._proc is None:
            self.start()
        while not self._finished:
            conn = self._conn
            if conn is None:  # closed from another thread
                return
            try:
                ready = conn.poll(timeout)
            except (EOFError, OSError):
                ready = True  # let _receive report the closed pipe
            if not ready:
                raise TimeoutError(f"no message from the training process within {timeout} s")
            msg = self._receive(conn)
            if msg is _CLOSED:
                return
            rec = self._handle(msg)
            if rec is not None:
                yield rec

    async def arecords(self) -> AsyncIterator[EpochRecord]:
        """Like :meth:`records`, for asyncio: waits on the pipe with ``loop.add_reader``, so
        the event loop is never blocked and no worker thread is held between epochs."""
        if self._proc is None:
            self.start()
        while not self._finished:
            conn = self._conn
            if conn is None:  # closed from another thread
                return
            try:
                await _wait_readable(conn)
            except (EOFError, OSError):
                pass  # let _receive report the closed pipe
            msg = self._receive(conn)
            if msg is _CLOSED:
                return
            rec = self._handle(msg)
            if rec is not None:
                yield rec


async def _wait_readable(conn: Any) -> None:
    """Wait until ``conn`` has data (or EOF) without blocking the running event loop."""
    if conn.poll():
        return
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fd = conn.fileno()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    try:
        loop.add_reader(fd, ready)
    except (NotImplementedError, RuntimeError):  # loops without add_reader (e.g. Windows proactor)
        await asyncio.to_thread(conn.poll, None)
        return
    try:
        await fut
    finally:
        loop.remove_reader(fd)


def train_in_process(task: str, config: TrainConfig, grid_resolution: float | None = None, **kwargs: Any
                     ) -> tuple[EpochRecord, RunInfo]:
    """Run a whole training in a child process; return its last record (with the final map
    prediction when ``grid_resolution`` is given) and the :class:`RunInfo`.

    Keyword arguments as :class:`TrainingProcess`. Raises :class:`TrainingError` on failure.
    """
    kwargs.setdefault("min_frame_interval", float("inf"))
    last = None
    with TrainingProcess(task, config, grid_resolution=grid_resolution, **kwargs) as proc:
        for last in proc.records():
            pass
        info = proc.info
    if last is None or info is None:  # pragma: no cover - the child always sends at least one record
        raise TrainingError("ProcessError", "the training process sent no record")
    return last, info
