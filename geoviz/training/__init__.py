"""Training: one engine and what runs it.

* :mod:`~geoviz.training.engine` — :class:`TrainConfig`, :class:`Trainer` (``run()`` yields one
  :class:`EpochRecord` per epoch; early stopping, seeds, float32/64, CUDA when present),
  the metrics. Every fit in geoviz goes through it: the estimators
  (:mod:`geoviz.estimators`), ``geoviz train``/``fit``, the dashboard, the widgets, the L
  sweep and the paper reproduction.
* :mod:`~geoviz.training.process` — a :class:`Trainer` in a fork-server child process
  (:class:`TrainingProcess`), :class:`ChildPool` / :func:`submit_in_child` for background
  jobs; :mod:`~geoviz.training._preload` is what the fork server imports.
* :mod:`~geoviz.training.grid_predict` — a model's prediction on a regular lon/lat grid
  through the separable SH first layer (maps during training, embedding grids).
* :mod:`~geoviz.training.lsweep` — SH(L) + Linear vs SH(L) + Siren per L (the smoothness lesson).
* :mod:`~geoviz.training.reproduce` — the paper's land–ocean table and checkerboard analysis.
* :mod:`~geoviz.training.pretraining` — SatCLIP-style contrastive pretraining on Blue Marble
  patches.
"""

from .engine import (
    EpochRecord,
    TrainConfig,
    Trainer,
    classification_metrics,
    regression_metrics,
    resolve_device,
)

__all__ = ["EpochRecord", "TrainConfig", "Trainer", "classification_metrics", "regression_metrics", "resolve_device"]
