"""Downstream evaluation of frozen location encoders (issue 19).

Which encoder for which task, and at what scale does it work?

- :mod:`~geoviz.evaluation.encoders`: encoder specs (``raw``, ``sh:L``, positional-encoding
  names, pretrained names, SatCLIP checkpoint paths) → frozen feature extractors, and a
  cache of their embeddings.
- :mod:`~geoviz.evaluation.tasks`: the offline task suite (``temperature``, ``precipitation``,
  ``elevation``, ``population``, ``countries``, ``koppen``, ``landcover``, ``continents``).
- :mod:`~geoviz.evaluation.probes`: linear (ridge, LOO-chosen alpha) and MLP probes (lr ×
  weight decay chosen by inner CV on the training points).
- :mod:`~geoviz.evaluation.harness`: :func:`evaluate` over encoders × tasks × probes × splits
  (random 50/50, spatial blocks, held-out Asia / Africa as Natural Earth draws them), one task
  sample per seed, equal training sizes, scores with and without Antarctica, 95 % intervals
  over seeds; tables, markdown, figure, JSON.
- :mod:`~geoviz.evaluation.resolution`: effective-resolution diagnostics (checkerboard
  accuracy vs cell size, cosine similarity vs distance, the resolved scale).

Command line: ``geoviz evaluate`` (:mod:`geoviz.commands.evaluate`).
"""

from .encoders import ENCODER_KINDS, EmbeddingCache, FrozenEncoder, get_encoder, list_encoder_specs, resolve_encoder_spec
from .harness import (ANTARCTICA_LAT, CONTINENT_LABELS, HOLDOUT_CONTINENTS, REGIONS, SPLITS, EvaluationResult, Record,
                      evaluate, make_reps, protocol_reps, t_interval)
from .probes import MLP_EPOCHS, MLP_GRID, PROBES, RIDGE_ALPHAS, linear_probe, mlp_probe, score, tune_mlp
from .tasks import DEFAULT_N, EVAL_TASKS, EvalTask, country_of, get_eval_task, list_eval_tasks

__all__ = [
    "ENCODER_KINDS", "EmbeddingCache", "FrozenEncoder", "get_encoder", "list_encoder_specs", "resolve_encoder_spec",
    "ANTARCTICA_LAT", "CONTINENT_LABELS", "HOLDOUT_CONTINENTS", "REGIONS", "SPLITS", "EvaluationResult", "Record",
    "evaluate", "make_reps", "protocol_reps", "t_interval",
    "MLP_EPOCHS", "MLP_GRID", "PROBES", "RIDGE_ALPHAS", "linear_probe", "mlp_probe", "score", "tune_mlp",
    "DEFAULT_N", "EVAL_TASKS", "EvalTask", "country_of", "get_eval_task", "list_eval_tasks",
]
