"""Presence-only species ranges as a scikit-learn estimator.

:class:`SpeciesRangeEstimator` fits geoviz's multi-species range model
(:class:`~geoviz.species.model.SpeciesModel`, trained by :func:`~geoviz.species.train.fit_species`)
to observations ``X`` = ``(N, 2)`` (lon, lat) degrees with the species seen at each, ``y``
``(N,)`` (names or any sortable labels). There are no absences: the loss contrasts the
observations with background points (``"target"``, ``"land"``, ``"uniform"``, a target-group ``(M, 2)``
array, ...).

It is not a scikit-learn *classifier*: ``predict_proba`` gives each species' probability of
presence at a point, ``(N, S)``, independent per species (rows do not sum to 1), which
classifier tools (log-loss scorers, calibration) would misread. ``predict`` returns the most
probable species at each point (a label of ``classes_``) and ``score`` its top-1 accuracy on
held-out observations, so ``cross_val_score`` / ``GridSearchCV`` rank settings by how well
they tell species apart where they were seen.

    >>> from geoviz.species.estimator import SpeciesRangeEstimator
    >>> est = SpeciesRangeEstimator("sh:10+siren(64x2)", epochs=50, random_state=0)   # doctest: +SKIP
    >>> est.fit(lonlat, species_names).predict_proba([[2.35, 48.86]])                  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from geoviz.estimators._common import (_CPUPickle, _check_device, _check_dtype, _check_lonlat_columns,
                                       _global_rng_preserved, _plain_float, _plain_int, _trainable_spec, _uses_cuda,
                                       _validate_lonlat)

__all__ = ["SpeciesRangeEstimator"]


class SpeciesRangeEstimator(_CPUPickle, BaseEstimator):
    """Ranges of one or more species from presence-only observations (SINR-style).

    Args:
        encoder: the location encoder as a spec string (:class:`geoviz.spec.EncoderSpec`),
            e.g. ``"sh:20+siren(256x2)"`` (the species module's default) or ``"sh:10+siren(64x2)"``.
        loss: ``"an-full"`` (full assume-negative, default) or ``"an"`` (:mod:`geoviz.species.losses`).
        pos_weight: λ, the weight of presences in the loss; ``None`` (default): scaled to the
            number of species S, λ = 12.5·(2S − 1) (:func:`geoviz.species.train.scaled_pos_weight`;
            SINR's 2048 belongs to ~47,000 species).
        background: where "not observed" is sampled: ``"target"`` (default: the locations of
            all the observations in ``X``, a target-group background), ``"land"``, ``"uniform"``,
            ``"bias:FILE"``, ``"bias:flickr"`` or an ``(M, 2)`` lon/lat array (target group).
        bg_ratio: background points per observation in each batch.
        batch_size: observations per step.
        epochs: passes over the observations (a cosine learning-rate decay over all of them;
            no early stopping: presence-only data have no validation loss that ranks ranges);
            ``None`` (default): enough epochs for ``steps`` optimiser steps.
        steps: optimiser steps when ``epochs`` is ``None`` (default 250, the tuned recipe).
        lr, weight_decay: Adam.
        random_state: seeds the initial weights, batch order and background draws (``None``:
            a different fit each time).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...; dtype: ``"float32"`` or ``"float64"``.
        verbose: ``> 0`` prints one line per epoch.

    Attributes:
        classes_: ``(S,)`` the sorted species labels; columns of :meth:`predict_proba`.
        model_: the fitted :class:`~geoviz.species.model.SpeciesModel` (eval mode; names are
            ``str`` of the labels; ``predict_map`` draws one species' range). On the CPU after
            unpickling.
        history_: one dict per epoch: ``epoch``, ``loss``, ``seconds``, ``steps``.
        n_epochs_: epochs run. n_features_in_: 2. feature_names_in_: DataFrame column names.
        class_counts_: ``(S,)`` observations per species.
    """

    def __init__(self, encoder: str = "sh:20+siren(256x2)", *, loss: str = "an-full", pos_weight: float | None = None,
                 background: Any = "uniform", bg_ratio: float = 1.0, batch_size: int = 1024, epochs: int | None = None,
                 steps: int = 250,
                 lr: float = 1e-3, weight_decay: float = 0.0, random_state: int | np.random.RandomState | None = None,
                 device: str = "auto", dtype: str = "float32", verbose: int = 0) -> None:
        self.encoder = encoder
        self.loss = loss
        self.pos_weight = pos_weight
        self.background = background
        self.bg_ratio = bg_ratio
        self.batch_size = batch_size
        self.epochs = epochs
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    def _config(self, seed: int) -> Any:
        from geoviz.species.losses import get_loss
        from geoviz.species.train import SpeciesConfig

        owner = type(self).__name__
        spec = _trainable_spec(self.encoder, owner)
        try:
            get_loss(self.loss)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{owner}: loss={self.loss!r}: {exc}") from None
        if not isinstance(self.verbose, (bool, np.bool_, int, np.integer)) or self.verbose < 0:
            raise ValueError(f"{owner}: verbose must be an int >= 0 or a bool, got {self.verbose!r}")
        if isinstance(self.background, str) or not hasattr(self.background, "__len__"):
            bg = self.background
        else:  # a target-group point set: the same checks as X
            bg = np.asarray(self.background, dtype=np.float64)
            if bg.ndim != 2:
                raise ValueError(f"{owner}: background points must be (M, 2) (lon, lat) degrees, got shape {bg.shape}")
            try:
                _check_lonlat_columns(bg)
            except ValueError as exc:
                raise ValueError(f"{owner}: background: {str(exc).replace('X ', 'the points ', 1)}") from None
        return SpeciesConfig.from_spec(
            spec, loss=self.loss,
            pos_weight=None if self.pos_weight is None else _plain_float(self.pos_weight, "pos_weight", owner,
                                                                         positive=True),
            background=bg, bg_ratio=_plain_float(self.bg_ratio, "bg_ratio", owner, positive=True),
            batch_size=_plain_int(self.batch_size, "batch_size", owner),
            epochs=None if self.epochs is None else _plain_int(self.epochs, "epochs", owner),
            steps=_plain_int(self.steps, "steps", owner),
            lr=_plain_float(self.lr, "lr", owner, positive=True),
            weight_decay=_plain_float(self.weight_decay, "weight_decay", owner, positive=False), seed=seed,
            dtype=_check_dtype(self.dtype, owner), device=str(_check_device(self.device, owner)))

    def fit(self, X: Any, y: Any) -> SpeciesRangeEstimator:
        """Fit to observations ``X`` ``(N, 2)`` (lon, lat) degrees of the species ``y`` ``(N,)``.

        Returns:
            ``self``.

        Raises:
            ValueError: bad coordinates (wrong column count, NaN/inf, out of range: first bad
                row named), missing or unsortable labels, bad hyper-parameters or background.
        """
        from geoviz.species.background import get_background
        from geoviz.species.data import make_observations
        from geoviz.species.train import fit_species

        X, y = validate_data(self, X, y, reset=True, dtype=(np.float64, np.float32), ensure_all_finite=False,
                             accept_sparse=False)
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("SpeciesRangeEstimator: y (species labels) contains NaN or inf")
        if y.dtype.kind == "O" and any(v is None for v in y):
            raise ValueError("SpeciesRangeEstimator: y (species labels) contains None")
        _check_lonlat_columns(X)
        try:
            classes, codes = np.unique(y, return_inverse=True)
        except TypeError:
            raise ValueError(f"SpeciesRangeEstimator: the labels mix types that cannot be sorted "
                             f"({sorted({type(v).__name__ for v in y})}); use one type") from None
        names = [str(c) for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"SpeciesRangeEstimator: distinct labels print alike ({names[:10]}); use unique names")
        rng = check_random_state(self.random_state)
        cfg = self._config(int(rng.randint(np.iinfo(np.int32).max)))
        if not (isinstance(cfg.background, str) and cfg.background.strip().lower() == "target"):
            get_background(cfg.background)  # a bad background spec fails here, named
        obs = make_observations(np.asarray(X, dtype=np.float64), codes.astype(np.int64).reshape(-1), names,
                                min_observations=1)

        def report(row: dict[str, Any]) -> None:
            if self.verbose:
                print(f"[{type(self).__name__}] epoch {row['epoch']:4d}  loss {row['loss']:.5f}  "
                      f"{row['seconds']:.1f} s", flush=True)

        with _global_rng_preserved(_check_device(self.device, type(self).__name__)):
            model, history = fit_species(obs, cfg, callback=report)
        self.classes_ = classes
        self.class_counts_ = obs.counts()
        self.model_ = model
        self.history_ = history
        self.n_epochs_ = len(history)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Presence logits ``(N, S)`` float64 at ``X`` ``(N, 2)`` (lon, lat) degrees (columns: ``classes_``)."""
        from geoviz.estimators._common import _outputs

        check_is_fitted(self)
        X = _validate_lonlat(self, X, reset=False)
        return _outputs(self.model_.encoder, X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """P(species present) ``(N, S)`` float64 at ``X`` ``(N, 2)`` (lon, lat) degrees, one
        independent probability per species (columns: ``classes_``; rows need not sum to 1)."""
        from scipy.special import expit

        return expit(self.decision_function(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable species at each point: ``(N,)`` labels of ``classes_``."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Top-1 accuracy: the share of observations ``(X, y)`` whose species is the most
        probable one at their location."""
        return float(np.mean(self.predict(X) == np.asarray(y).reshape(-1)))

    def _pickled_model(self, model: Any) -> Any:
        if getattr(model, "_map_cache", None):  # cached maps are not pickled
            model = copy.copy(model)
            model._map_cache = {}
        return model

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        tags.non_deterministic = _uses_cuda(self.device)
        return tags

