"""Small tasks shared by the tests (imported as a module, like _browser_fixtures)."""

from __future__ import annotations

import numpy as np

from geoviz.data import is_land


def small_task(n: int = 400, seed: int = 0):
    """A tiny land–ocean :class:`geoviz.data.Task`: ``n`` train and 200 val/test uniform points."""
    from geoviz.data import Split, Task, uniform_sphere

    def split(k, s):
        ll = uniform_sphere(k, seed=s)
        return Split(ll, is_land(ll).astype(np.float32))

    return Task(name="tiny-landocean", kind="binary", num_classes=2, output_dim=1, train=split(n, seed),
                val=split(200, seed + 1), test=split(200, seed + 2), label_fn=lambda ll: is_land(ll).astype(np.float32))
