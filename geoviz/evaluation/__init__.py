"""Downstream evaluation of frozen location encoders (issue 19).

Which encoder for which task, and at what scale does it work?

- :mod:`~geoviz.evaluation.encoders`: encoder specs (``raw``, ``sh:L``, positional-encoding
  names, pretrained names, SatCLIP checkpoint paths) → frozen feature extractors, and a
  cache of their embeddings.
- :mod:`~geoviz.evaluation.tasks`: the offline task suite (``temperature``, ``precipitation``,
  ``elevation``, ``population``, ``countries``, ``koppen``, ``landcover``, ``continents``).
- :mod:`~geoviz.evaluation.probes`: linear (ridge, CV'd alpha) and SatCLIP-recipe MLP probes.
- :mod:`~geoviz.evaluation.harness`: :func:`evaluate` over encoders × tasks × probes × splits
  (random 50/50, spatial-block K-fold, held-out Asia / Africa), tables, markdown, figure, JSON.
- :mod:`~geoviz.evaluation.resolution`: effective-resolution diagnostics (checkerboard
  accuracy vs cell size, cosine similarity vs distance, the resolved scale).

Command line: ``geoviz evaluate`` (:mod:`geoviz.commands.evaluate`).
"""

from .encoders import ENCODER_KINDS, EmbeddingCache, FrozenEncoder, get_encoder, list_encoder_specs, resolve_encoder_spec
from .harness import HOLDOUT_CONTINENTS, SPLITS, EvaluationResult, Record, evaluate, make_reps
from .probes import MLP_EPOCHS, PROBES, RIDGE_ALPHAS, linear_probe, mlp_probe, score
from .tasks import DEFAULT_N, EVAL_TASKS, EvalTask, country_of, get_eval_task, list_eval_tasks

__all__ = [
    "ENCODER_KINDS", "EmbeddingCache", "FrozenEncoder", "get_encoder", "list_encoder_specs", "resolve_encoder_spec",
    "HOLDOUT_CONTINENTS", "SPLITS", "EvaluationResult", "Record", "evaluate", "make_reps",
    "MLP_EPOCHS", "PROBES", "RIDGE_ALPHAS", "linear_probe", "mlp_probe", "score",
    "DEFAULT_N", "EVAL_TASKS", "EvalTask", "country_of", "get_eval_task", "list_eval_tasks",
]
