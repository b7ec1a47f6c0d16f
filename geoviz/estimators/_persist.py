"""Estimators in the one model file: :meth:`save` writes a fitted :class:`GeoRegressor` /
:class:`GeoClassifier` as a geoviz model file (the same format ``geoviz fit`` writes and
``geoviz predict`` reads); :func:`load_estimator` reads any regressor or classifier model file
back as a fitted estimator. No pickle is involved, so a file can never run code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["save_estimator", "load_estimator"]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def save_estimator(est: Any, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
    """Write a fitted :class:`GeoRegressor` or :class:`GeoClassifier` to ``path`` (name kept as given).

    Stored besides the weights: the encoder spec, the estimator's parameters, the target
    scaling (regressor), the labels with their type (classifier), ``feature_names_in_`` and
    the epochs run.

    Raises:
        sklearn.exceptions.NotFittedError: ``est`` is not fitted.
        TypeError: labels that JSON cannot hold (only str, int, float and bool labels can be saved).
    """
    from sklearn.utils.validation import check_is_fitted

    from ..model_io import save_model

    check_is_fitted(est)
    info: dict[str, Any] = {"class": type(est).__name__, "params": {k: _plain(v) for k, v in est.get_params().items()
                                                                  if k != "random_state" or v is None or
                                                                  isinstance(v, (int, np.integer))},
                            "n_epochs": int(est.n_epochs_), "n_train": int(est.n_train_), "n_val": int(est.n_val_)}
    if hasattr(est, "feature_names_in_"):
        info["feature_names_in"] = [str(c) for c in est.feature_names_in_]
    if hasattr(est, "classes_"):
        labels = [_plain(c) for c in est.classes_]
        if not all(isinstance(c, (str, int, float, bool)) for c in labels):
            raise TypeError(f"{type(est).__name__}.save: labels of type "
                            f"{sorted({type(c).__name__ for c in labels})} cannot be stored; use str, int, float or bool")
        info["classes"] = labels
        info["classes_dtype"] = str(np.asarray(est.classes_).dtype)
        kind = "binary" if len(labels) == 2 else "multiclass"
        return save_model(est.model_, path, kind=kind, class_names=[str(c) for c in labels],
                          extra={**(extra or {}), "estimator": info})
    info["y_ndim"] = int(est._y_ndim)
    return save_model(est.model_, path, kind="regression",
                      scaling={"mean": est.y_mean_.tolist(), "std": est.y_scale_.tolist()},
                      extra={**(extra or {}), "estimator": info})


def load_estimator(path: str | os.PathLike, *, device: str | None = None) -> Any:
    """A fitted :class:`GeoRegressor` / :class:`GeoClassifier` from a regressor or classifier
    model file: one saved by :meth:`GeoRegressor.save` or written by ``geoviz fit``.

    Args:
        path: the model file.
        device: where to put the weights (default CPU).

    Returns:
        The fitted estimator; ``predict`` gives what the saved one gave. A ``geoviz fit`` file
        has the default hyper-parameters except ``encoder`` (its spec) and its class names
        as labels.

    Raises:
        ValueError (:class:`geoviz.model_file.ModelFileError`): not a regressor or classifier
            model file (a pretrained encoder: use :class:`LocationEmbedder`), damaged or edited.
    """
    from ..model_file import ModelFileError
    from ..model_io import load_model
    from ._supervised import GeoClassifier, GeoRegressor

    model, meta = load_model(path, device=device)
    kind = meta.get("kind")
    if kind not in ("regressor", "classifier"):
        raise ModelFileError(path, f"a {kind} model file, not a fitted regressor or classifier; "
                                   f"load a location encoder with geoviz.LocationEmbedder")
    info = dict((meta.get("extra") or {}).get("estimator") or {})
    cls = GeoRegressor if kind == "regressor" else GeoClassifier
    params = {k: v for k, v in (info.get("params") or {}).items() if k in cls().get_params()}
    params.setdefault("encoder", meta["encoder"]["spec"])  # a `geoviz fit` file: its full spec
    est = cls(**params)
    est.model_ = model.eval()
    est.n_features_in_ = 2
    if "feature_names_in" in info:
        est.feature_names_in_ = np.asarray(info["feature_names_in"], dtype=object)
    from ..spec import EncoderSpec

    est.encoder_ = str(EncoderSpec.parse(params["encoder"]))
    est.device_ = str(next(model.parameters()).device)
    est.history_ = []
    est.n_epochs_ = int(info.get("n_epochs", 0))
    est.n_train_ = int(info.get("n_train", (meta.get("training_data") or {}).get("n_train", 0)))
    est.n_val_ = int(info.get("n_val", (meta.get("training_data") or {}).get("n_val", 0)))
    if kind == "regressor":
        est.y_mean_ = np.asarray(meta["scaling"]["mean"], dtype=np.float64)
        est.y_scale_ = np.asarray(meta["scaling"]["std"], dtype=np.float64)
        est.n_outputs_ = int(len(est.y_mean_))
        est._y_ndim = int(info.get("y_ndim", 1 if est.n_outputs_ == 1 else 2))
    else:
        labels = info.get("classes", (meta.get("task") or {}).get("class_names"))
        est.classes_ = np.asarray(labels, dtype=info.get("classes_dtype")) if labels is not None else None
    return est
