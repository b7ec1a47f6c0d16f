"""Imported once by the fork server of :mod:`geoviz.training.process`.

Every child of the fork server is a ``fork()`` of this process, so this process must never
start an OpenMP (or other) thread pool: GNU OpenMP keeps its pool's state across ``fork()``
but not its threads, and the first parallel region in a child then waits for ever in
``gomp_team_barrier_wait_end`` (the cold-cache Species tab hung exactly so, under
``torch.isfinite``). Imports alone start no OpenMP threads; the task data built here runs
with torch limited to one thread, which keeps ATen from ever opening a parallel region, and
torch's setting is restored afterwards so that children choose their own thread count.
(OpenBLAS's pthread server, started by ``import numpy``, is fork-safe: it registers
``pthread_atfork`` handlers.) ``tests/test_training_process.py`` forks a child that runs a
two-thread torch reduction and checks that it finishes.
"""

import numba  # noqa: F401
import torch
import torch._dynamo  # noqa: F401  (imported by the first optimizer step: ~1.7 s)
import torch.optim  # noqa: F401

import geoviz.encoders._sh_kernels  # noqa: F401
import geoviz.training  # noqa: F401
from geoviz.data import get_task

_threads = torch.get_num_threads()
torch.set_num_threads(1)  # no OpenMP pool in the fork server (see the docstring)
try:
    for _name in ("landocean", "checkerboard"):  # tasks are cached per process; forks inherit them
        get_task(_name)
finally:
    torch.set_num_threads(_threads)
