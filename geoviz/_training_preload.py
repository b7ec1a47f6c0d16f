"""Imported once by the fork server of :mod:`geoviz.training_process`.

Only imports happen here (no torch or numba parallel region runs), so the fork server has
no threads and the children it forks start with torch, numba, shapely and the task data
already loaded.
"""

import numba  # noqa: F401
import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (imported by the first optimizer step: ~1.7 s)
import torch.optim  # noqa: F401

import geoviz.encoders._sh_kernels  # noqa: F401
import geoviz.training  # noqa: F401
from geoviz.data import get_task

for _name in ("landocean", "checkerboard"):  # tasks are cached per process; forks inherit them
    get_task(_name)
