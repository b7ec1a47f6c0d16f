"""Save and load fitted location encoders with everything needed to use them later.

:func:`save_model` writes one geoviz model file (:mod:`geoviz.model_file`: safetensors
weights + a versioned JSON header, so loading never runs code from the file) of kind
``"regressor"`` or ``"classifier"`` (``"location-encoder"`` for a model saved without a
task). The header holds the encoder spec (``encoder``: :meth:`geoviz.spec.EncoderSpec.to_dict`
with every hyperparameter), ``output_dim``, ``dtype``, ``task`` (``kind``, ``name``,
``num_classes``, ``class_names``, ``units``, ``target_names``), ``scaling`` (regression:
per-output ``mean``/``std``; the network predicts standardised values), ``training_data``
(split sizes, lon/lat ranges), ``config`` (the :class:`~geoviz.training.TrainConfig` as a
dict), ``extra`` (any JSON-like dict, e.g. held-out metrics), ``geoviz_version``,
``created`` and the SHA-256 of the weights.

:func:`load_model` and :func:`read_metadata` return that header with four derived keys
kept from format version 1: ``encoding`` / ``encoding_args`` (positional-encoding registry
name and arguments) and ``network`` / ``network_args``. Files of format version 1
(``torch.save``) are refused with the command that converts them:
``python scripts/convert_model_files.py OLD NEW``.

    >>> from geoviz.model_io import save_model, load_model, predict_with
    >>> save_model(trainer.model, "temp.gvz", task=trainer.task, config=trainer.config,
    ...            scaling=trainer.scaling)                            # doctest: +SKIP
    >>> model, meta = load_model("temp.gvz")                           # doctest: +SKIP
    >>> predict_with(model, meta, lonlat)["prediction"]                # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .location_encoder import LocationEncoder
from .model_file import (ENCODER_KINDS, FORMAT_NAME, FORMAT_VERSION, ModelFileError, json_plain, load_encoder,
                         read_header, save_encoder)

__all__ = ["FORMAT", "FORMAT_NAME", "FORMAT_VERSION", "save_model", "load_model", "read_metadata", "predict_with",
           "ModelFileError"]

FORMAT = FORMAT_NAME
"""The ``format`` entry of every geoviz model file (``"geoviz-model"``); its version is ``format_version``."""

_FILE_KIND = {"regression": "regressor", "binary": "classifier", "multiclass": "classifier", None: "location-encoder"}


def _training_data(task: Any) -> dict[str, Any] | None:
    """Split sizes and the lon/lat range of the training points of a Task (not the data)."""
    if task is None or not hasattr(task, "train"):
        return None
    out: dict[str, Any] = {"task": getattr(task, "name", None)}
    for split in ("train", "val", "test"):
        s = getattr(task, split, None)
        if s is not None and hasattr(s, "lonlat"):
            out[f"n_{split}"] = int(len(s.lonlat))
    tr = getattr(task, "train", None)
    if tr is not None and hasattr(tr, "lonlat") and len(tr.lonlat):
        ll = np.asarray(tr.lonlat, dtype=np.float64)
        out["lon_range"] = [float(ll[:, 0].min()), float(ll[:, 0].max())]
        out["lat_range"] = [float(ll[:, 1].min()), float(ll[:, 1].max())]
    meta = dict(getattr(task, "meta", {}) or {})
    for k in ("source", "class_counts"):
        if k in meta:
            try:
                out[k] = json_plain(meta[k], k)
            except TypeError:  # a summary never stops a save
                out[k] = str(meta[k])
    return out


def _with_legacy_keys(header: dict[str, Any]) -> dict[str, Any]:
    """The header plus the version-1 keys ``encoding``, ``encoding_args``, ``network``, ``network_args``."""
    meta = dict(header)
    enc = header.get("encoder") or {}
    meta.setdefault("encoding", enc.get("pe"))
    meta.setdefault("encoding_args", dict(enc.get("pe_kwargs") or {}))
    meta.setdefault("network", enc.get("nn"))
    meta.setdefault("network_args", dict(enc.get("nn_kwargs") or {}))
    meta.setdefault("extra", {})
    return meta


def save_model(model: Any, path: str | os.PathLike, *, task: Any = None, config: Any = None,
               scaling: dict[str, Any] | None = None, class_names: list[str] | None = None,
               units: str | None = None, kind: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a location encoder and its metadata to ``path`` (a geoviz model file).

    Args:
        model: a :class:`~geoviz.LocationEncoder` (registry encoding + network), or a
            :class:`~geoviz.training.Trainer` (its model, task, config and scaling are used).
        path: output file, used exactly as given (conventionally ``.gvz`` or
            ``.safetensors``); parent folders are created; written atomically.
        task: the :class:`~geoviz.data.Task` it was fitted to (kind, name, class names,
            units, target names and a summary of the training data are stored; not the data).
        config: the :class:`~geoviz.training.TrainConfig` (stored as a dict).
        scaling: regression target scaling ``{"mean": [...], "std": [...]}`` (``Trainer.scaling``).
        class_names, units, kind: override / supply what ``task`` would give (``kind``: the
            task kind, ``"regression"``, ``"binary"`` or ``"multiclass"``).
        extra: any JSON-like dict (held-out metrics, data source, ...).

    Returns:
        The path written.

    Raises:
        TypeError: not a LocationEncoder of registry parts; metadata not JSON-like.
        ValueError: a regression model without ``scaling``; an unknown ``kind``.
    """
    if hasattr(model, "model") and hasattr(model, "run") and hasattr(model, "task"):  # a Trainer
        trainer = model
        model = trainer.model
        task = trainer.task if task is None else task
        config = trainer.config if config is None else config
        scaling = getattr(trainer, "scaling", None) if scaling is None else scaling
    if not isinstance(model, LocationEncoder):
        raise TypeError(f"model must be a geoviz LocationEncoder (or a Trainer), got {type(model).__name__}")
    kind = kind or getattr(task, "kind", None)
    if kind not in _FILE_KIND:
        raise ValueError(f"unknown task kind {kind!r}; use 'regression', 'binary' or 'multiclass'")
    tmeta = dict(getattr(task, "meta", {}) or {})
    task_info = {
        "kind": kind,
        "name": getattr(task, "name", None),
        "num_classes": getattr(task, "num_classes", None),
        "class_names": list(class_names) if class_names is not None else (
            list(task.class_names) if getattr(task, "class_names", None) is not None else None),
        "units": units if units is not None else tmeta.get("units"),
        "target_names": tmeta.get("target_names"),
    }
    if kind == "regression" and scaling is None:
        raise ValueError("a regression model needs its target scaling (Trainer.scaling) to be saved with it")
    header = {
        "kind": _FILE_KIND[kind],
        "task": task_info,
        "scaling": None if scaling is None else {"mean": [float(v) for v in scaling["mean"]],
                                                  "std": [float(v) for v in scaling["std"]]},
        "training_data": _training_data(task),
        "config": None if config is None else json_plain(config, "config"),
        "extra": json_plain(extra or {}, "extra"),
    }
    return save_encoder(path, model, json_plain(header, "metadata"))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict of a model file (header validated and its checksum verified; the
    weights are not read)."""
    return _with_legacy_keys(read_header(path, kind=ENCODER_KINDS))


def load_model(path: str | os.PathLike, *, device: str | torch.device | None = None
               ) -> tuple[LocationEncoder, dict[str, Any]]:
    """Load a model written by :func:`save_model` (no code from the file is executed).

    Args:
        path: the model file.
        device: where to put the module (default CPU).

    Returns:
        ``(model, metadata)``: an eval-mode :class:`~geoviz.LocationEncoder` in the stored
        dtype mapping ``(N, 2)`` (lon, lat) degrees to ``(N, output_dim)`` raw outputs
        (logits, or standardised values for regression: see :func:`predict_with`), and the
        metadata dict (module docstring).

    Raises:
        FileNotFoundError: no such file.
        ModelFileError (a ValueError): not a geoviz model file, damaged or edited, another
            kind (a species model, ...), a newer format version (upgrade geoviz), an old
            ``torch.save`` file (the conversion command is named), weights that do not
            match the stored architecture.
    """
    model, header = load_encoder(path, kind=ENCODER_KINDS, device=device)
    if header.get("kind") == "regressor":
        sc = header.get("scaling")
        if not isinstance(sc, dict) or "mean" not in sc or "std" not in sc:
            raise ModelFileError(path, "a regressor without its target scaling (header 'scaling')")
    return model, _with_legacy_keys(header)


def predict_with(model: torch.nn.Module, meta: dict[str, Any], lonlat: Any, *, batch_size: int = 65536
                 ) -> dict[str, np.ndarray]:
    """Predictions of a loaded model in the task's terms.

    Args:
        model, meta: from :func:`load_model`.
        lonlat: ``(N, 2)`` (lon, lat) degrees (numpy or torch).
        batch_size: rows per forward pass.

    Returns:
        ``{"prediction": ...}``: regression ``(N,)`` (or ``(N, K)``) float64 values in the
        target's units; binary: the predicted class name per point (object array) plus
        ``"probabilities"`` ``(N, 2)`` (negative, positive); multiclass: class names plus
        ``"probabilities"`` ``(N, C)`` (softmax). Without a known task kind, the raw outputs.
    """
    from .embed import embed_points

    out = np.asarray(embed_points(model, lonlat, batch_size=batch_size), dtype=np.float64)
    task = meta.get("task") or {}
    kind = task.get("kind")
    if kind == "regression":
        sc = meta["scaling"]
        v = out * np.asarray(sc["std"]) + np.asarray(sc["mean"])
        return {"prediction": v[:, 0] if v.shape[1] == 1 else v}
    names = task.get("class_names")
    if kind == "binary":
        p1 = 1.0 / (1.0 + np.exp(-out[:, 0]))
        probs = np.column_stack([1.0 - p1, p1])
    elif kind == "multiclass":
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        probs = e / e.sum(axis=1, keepdims=True)
    else:
        return {"prediction": out[:, 0] if out.shape[1] == 1 else out}
    idx = probs.argmax(axis=1)
    labels = np.asarray(names if names else [str(i) for i in range(probs.shape[1])], dtype=object)[idx]
    return {"prediction": labels, "probabilities": probs}
