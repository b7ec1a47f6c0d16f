"""``GeoRegressor`` and ``GeoClassifier``: a location encoder trained by geoviz's engine."""

from __future__ import annotations

import os
from pathlib import Path

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._common import (_FLOAT_DTYPES, _CPUPickle, _check_device, _check_dtype, _check_lonlat_columns,
                      _global_rng_preserved, _outputs, _plain_float, _plain_int, _trainable_spec, _uses_cuda, _validate_lonlat)

__all__ = ["GeoRegressor", "GeoClassifier"]


def _holdout(n: int, fraction: float, codes: np.ndarray | None, rng: np.random.RandomState
             ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train, val)`` indices: ``round(fraction * n)`` points held out for validation.

    Classification (``codes`` given) is stratified: each class gives ``round(fraction * n_c)``
    points, but never its last one, so that every class stays in training. Returns an empty
    ``val`` when nothing can be held out (too few points).
    """
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    if codes is None:
        k = min(int(round(fraction * n)), n - 2)
        if k < 1:
            return np.arange(n), np.arange(0)
        perm = rng.permutation(n)
        return np.sort(perm[k:]), np.sort(perm[:k])
    val = []
    for c in np.unique(codes):
        idx = rng.permutation(np.flatnonzero(codes == c))
        val.append(idx[: min(int(round(fraction * len(idx))), len(idx) - 1)])
    v = np.sort(np.concatenate(val)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[v] = False
    return np.flatnonzero(mask), v


def _no_truth(lonlat: Any) -> np.ndarray:
    raise NotImplementedError("a task built by a geoviz estimator has no ground-truth function")


class _GeoNetwork(_CPUPickle, BaseEstimator):
    """Shared hyper-parameters, ``fit`` and pickling of :class:`GeoRegressor` / :class:`GeoClassifier`."""

    def __init__(self, encoder: str = "sh:10+siren(64x2)", *, lr: float = 1e-3, weight_decay: float = 0.0,
                 max_epochs: int = 200, batch_size: int = 256, patience: int | None = 20,
                 validation_fraction: float | None = 0.1, random_state: int | np.random.RandomState | None = None,
                 device: str = "auto", dtype: str = "float32", verbose: int = 0) -> None:
        self.encoder = encoder
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    # -- validation of the hyper-parameters ---------------------------------------------------
    def _config(self, seed: int) -> tuple[Any, Any, torch.device, float]:
        """``(EncoderSpec, TrainConfig, device, validation fraction)`` from the hyper-parameters.

        Raises:
            ValueError / TypeError: a bad hyper-parameter (named, with the value given).
        """
        from ..training import TrainConfig

        owner = type(self).__name__
        spec = _trainable_spec(self.encoder, owner)
        lr = _plain_float(self.lr, "lr", owner, positive=True)
        wd = _plain_float(self.weight_decay, "weight_decay", owner, positive=False)
        max_epochs = _plain_int(self.max_epochs, "max_epochs", owner)
        batch_size = _plain_int(self.batch_size, "batch_size", owner)
        patience = None if self.patience is None else _plain_int(self.patience, "patience", owner)
        vf = self.validation_fraction
        if vf is None:
            vf = 0.0
        if isinstance(vf, (bool, np.bool_)) or not isinstance(vf, Real) or not 0 <= vf < 1:
            raise ValueError(f"{owner}: validation_fraction must be None or a number in [0, 1), got {vf!r}")
        dtype = _check_dtype(self.dtype, owner)
        device = _check_device(self.device, owner)
        if not isinstance(self.verbose, (bool, np.bool_, Integral)) or self.verbose < 0:
            raise ValueError(f"{owner}: verbose must be an int >= 0 or a bool, got {self.verbose!r}")
        cfg = TrainConfig.from_spec(spec, lr=lr, weight_decay=wd, batch_size=batch_size, max_epochs=max_epochs,
                                    patience=patience, seed=seed, dtype=dtype, device=str(device),
                                    restore_best=patience is not None)
        return spec, cfg, device, float(vf)

    # -- training -------------------------------------------------------------------------------
    def _fit_task(self, X: np.ndarray, y: np.ndarray, kind: str, num_classes: int, output_dim: int,
                  codes: np.ndarray | None, class_names: list[str] | None) -> Any:
        """Split off validation points, train with :class:`geoviz.training.Trainer`, set the
        fitted attributes shared by both estimators and return the trainer.

        Args:
            X: ``(N, 2)`` validated lon/lat degrees. y: training targets in the engine's
                convention (float32 0/1 for binary, int64 codes for multiclass, float
                ``(N, K)`` for regression). codes: class codes for a stratified hold-out.
        """
        from ..data.task import Split, Task
        from ..training import Trainer

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        spec, cfg, device, vf = self._config(seed)
        tr, va = _holdout(X.shape[0], vf, codes, rng)
        X64 = np.asarray(X, dtype=np.float64)
        train = Split(X64[tr], y[tr])
        # no hold-out possible or wanted: early stopping watches the training loss
        val = Split(X64[va], y[va]) if len(va) else train
        if kind == "regression":
            const = np.flatnonzero(np.ptp(train.y.reshape(len(train.y), -1), axis=0) == 0)
            if len(const):
                raise ValueError(f"{type(self).__name__}: the target is constant on the training points "
                                 f"(column(s) {const.tolist()} of y); there is nothing to fit")
        # the engine needs a test split; the validation split stands in (it is never scored)
        task = Task(name="estimator", kind=kind, num_classes=num_classes, output_dim=output_dim, train=train,
                    val=val, test=val, label_fn=_no_truth, class_names=class_names)
        history: list[dict[str, Any]] = []
        with _global_rng_preserved(device):
            trainer = Trainer(task, cfg)
            for rec in trainer.run():
                row = {"epoch": rec.epoch, "train_loss": rec.train_loss, "val_loss": rec.val_loss, **rec.val_metrics}
                history.append(row)
                if self.verbose:
                    metrics = "  ".join(f"{k} {v:.4f}" for k, v in rec.val_metrics.items())
                    print(f"[{type(self).__name__}] epoch {rec.epoch:4d}  train_loss {rec.train_loss:.5f}  "
                          f"val_loss {rec.val_loss:.5f}  {metrics}", flush=True)
                if rec.stopped:
                    self.stopped_ = rec.stopped
                    self.best_epoch_ = rec.restored_epoch if rec.restored_epoch is not None else rec.epoch
        self.model_ = trainer.model.eval()
        self.history_ = history
        self.n_epochs_ = len(history)
        self.encoder_ = str(spec)
        self.device_ = str(device)
        self.n_train_, self.n_val_ = int(len(tr)), int(len(va))
        return trainer

    # -- the one model file ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
        """Write the fitted estimator as a geoviz model file (safetensors + JSON header; no
        pickle), the format ``geoviz fit`` writes and ``geoviz predict`` reads; load it with
        :func:`geoviz.estimators.load_estimator`. The name is kept as given.

        Raises:
            sklearn.exceptions.NotFittedError: not fitted yet.
        """
        from ._persist import save_estimator

        return save_estimator(self, path, extra=extra)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        # CUDA kernels (atomics in backward passes) do not repeat bit for bit
        tags.non_deterministic = _uses_cuda(self.device)
        return tags


_PARAMS_DOC = """
    Args:
        encoder: the location encoder as a spec string (:class:`geoviz.spec.EncoderSpec`):
            positional encoding + network, e.g. ``"sh:10+siren(64x2)"`` (spherical harmonics
            of degrees 0..9, a Siren 64 wide with 2 hidden layers), ``"sh:20+linear"``,
            ``"spherec+:32+fcnet(128x3)"``. A network is required.
        lr: Adam learning rate (> 0).
        weight_decay: Adam's (coupled) L2 penalty (>= 0).
        max_epochs: most passes over the training points.
        batch_size: points per optimisation step.
        patience: stop after this many epochs without a lower validation loss and keep the
            best epoch's weights; ``None``: train ``max_epochs`` and keep the last weights.
        validation_fraction: share of the training points held out for early stopping
            (stratified by class for the classifier). ``0``/``None``, or too few points to
            hold any out: early stopping watches the training loss.
        random_state: seeds the hold-out split, the initial weights and the batch order
            (``None``: a different fit each time; an int: the same fit each time on CPU).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        dtype: ``"float32"`` (default, fast) or ``"float64"``: the network's precision.
        verbose: ``> 0`` prints one line per epoch.
"""


class GeoRegressor(RegressorMixin, _GeoNetwork):
    __doc__ = """Regression on the sphere: ``(N, 2)`` (lon, lat) degrees → ``(N,)`` or ``(N, K)`` values.

    A location encoder fitted by geoviz's training engine (:class:`geoviz.training.Trainer`)
    to standardised targets (MSE; mean and standard deviation of the training points per
    output, stored in ``y_mean_`` / ``y_scale_``); predictions are in the target's units.
    """ + _PARAMS_DOC + """
    Attributes:
        model_: the fitted :class:`~geoviz.location_encoder.LocationEncoder` (eval mode;
            raw outputs are standardised values). On the training device; on the CPU after
            unpickling.
        history_: one dict per epoch: ``epoch``, ``train_loss``, ``val_loss`` (standardised
            MSE), ``r2``, ``rmse``, ``mae`` on the validation points (target units).
        n_epochs_: epochs run. best_epoch_: the epoch whose weights were kept.
        stopped_: ``"early_stopping"`` or ``"max_epochs"``.
        y_mean_, y_scale_: ``(K,)`` float64 target scaling of the training points.
        n_outputs_: ``K``. n_features_in_: 2. feature_names_in_: column names of a DataFrame ``X``.
        encoder_: the canonical spec string. device_: where it was trained.
        n_train_, n_val_: points trained on and held out.

    Example:
        >>> import numpy as np
        >>> from geoviz.data import uniform_sphere
        >>> X = uniform_sphere(500, seed=0)
        >>> y = np.sin(np.radians(X[:, 1])) * np.cos(np.radians(X[:, 0]))
        >>> GeoRegressor(random_state=0).fit(X, y).predict(X[:3]).shape   # doctest: +SKIP
        (3,)
    """

    def fit(self, X: Any, y: Any) -> GeoRegressor:
        """Fit to ``X`` ``(N, 2)`` (lon, lat) degrees and ``y`` ``(N,)`` or ``(N, K)`` numbers.

        Returns:
            ``self``.

        Raises:
            ValueError: bad coordinates (wrong column count, NaN/inf, out of range: first bad
                row named), NaN/inf or non-numeric ``y``, a constant target, bad hyper-parameters.
        """
        # one point cannot be fitted (its target is constant): ensure_min_samples=2
        X, y = _validate_lonlat(self, X, y, reset=True, multi_output=True, y_numeric=True, ensure_min_samples=2)
        if hasattr(y, "toarray"):
            raise TypeError("GeoRegressor: y must be dense, got a sparse matrix")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2):
            raise ValueError(f"GeoRegressor: y must be (N,) or (N, K), got shape {y.shape}")
        self._y_ndim = y.ndim
        Y = y.reshape(len(y), -1)
        trainer = self._fit_task(X, Y, "regression", 0, Y.shape[1], None, None)
        self.y_mean_ = np.asarray(trainer.scaling["mean"], dtype=np.float64)
        self.y_scale_ = np.asarray(trainer.scaling["std"], dtype=np.float64)
        self.n_outputs_ = int(Y.shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Values at ``X`` ``(N, 2)`` (lon, lat) degrees: float64 ``(N,)`` for a 1-D target,
        ``(N, K)`` for a 2-D one, in the target's units."""
        check_is_fitted(self)
        X = _validate_lonlat(self, X, reset=False)
        v = _outputs(self.model_, X) * self.y_scale_ + self.y_mean_
        return v[:, 0] if self._y_ndim == 1 else v

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class GeoClassifier(ClassifierMixin, _GeoNetwork):
    __doc__ = """Classification on the sphere: ``(N, 2)`` (lon, lat) degrees → class labels.

    Two classes are fitted with one logit (binary cross-entropy), more with one logit per
    class (cross-entropy), by geoviz's training engine (:class:`geoviz.training.Trainer`).
    Labels may be of any sortable type (ints, strings, bools); ``predict`` returns them.
    """ + _PARAMS_DOC + """
    Attributes:
        classes_: the sorted labels ``(n_classes,)``.
        model_: the fitted :class:`~geoviz.location_encoder.LocationEncoder` (eval mode;
            raw outputs are logits: 1 for two classes, ``n_classes`` otherwise). On the
            training device; on the CPU after unpickling.
        history_: one dict per epoch: ``epoch``, ``train_loss``, ``val_loss``
            (cross-entropy), ``accuracy`` (and ``iou`` of ``classes_[1]`` for two classes)
            on the validation points.
        n_epochs_, best_epoch_, stopped_, n_features_in_, feature_names_in_, encoder_,
        device_, n_train_, n_val_: as for :class:`GeoRegressor`.

    Example:
        >>> from geoviz.data import is_land, uniform_sphere
        >>> X = uniform_sphere(2000, seed=0)
        >>> clf = GeoClassifier(random_state=0).fit(X, is_land(X))         # doctest: +SKIP
        >>> clf.predict([[2.35, 48.86], [-30.0, 0.0]])                       # doctest: +SKIP
        array([ True, False])
    """

    def fit(self, X: Any, y: Any) -> GeoClassifier:
        """Fit to ``X`` ``(N, 2)`` (lon, lat) degrees and labels ``y`` ``(N,)``.

        Returns:
            ``self``.

        Raises:
            ValueError: bad coordinates (wrong column count, NaN/inf, out of range: first bad
                row named), continuous or missing labels, fewer than two classes, bad
                hyper-parameters.
        """
        X, y = validate_data(self, X, y, reset=True, dtype=_FLOAT_DTYPES, ensure_all_finite=False,
                             accept_sparse=False)
        # the labels first (as scikit-learn words their errors), then the coordinates
        check_classification_targets(y)
        try:
            classes, codes = np.unique(y, return_inverse=True)
        except TypeError:
            raise ValueError(f"GeoClassifier: the labels mix types that cannot be sorted "
                             f"({sorted({type(v).__name__ for v in y})}); use one type") from None
        if len(classes) < 2:
            raise ValueError(f"GeoClassifier needs samples of at least 2 classes in y; got 1 class: {classes.tolist()}")
        _check_lonlat_columns(X)
        self.classes_ = classes
        codes = codes.astype(np.int64).reshape(-1)
        names = [str(c) for c in classes]
        if len(classes) == 2:
            self._fit_task(X, codes.astype(np.float32), "binary", 2, 1, codes, names)
        else:
            self._fit_task(X, codes, "multiclass", len(classes), len(classes), codes, names)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` float64 at ``X`` ``(N, 2)`` (lon, lat) degrees,
        columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = _validate_lonlat(self, X, reset=False)
        z = _outputs(self.model_, X)
        if len(self.classes_) == 2:
            p1 = expit(z[:, 0])
            return np.column_stack([1.0 - p1, p1])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label per point: ``(N,)`` with the dtype of ``classes_``."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
