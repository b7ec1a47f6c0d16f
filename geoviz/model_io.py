"""Save and load fitted location encoders with everything needed to use them later.

:func:`save_model` writes one file (``torch.save`` of plain tensors and a JSON string, so
:func:`load_model` reads it with ``torch.load(weights_only=True)``: loading never runs code
from the file)::

    {"format": "geoviz-model/1",
     "metadata": "<JSON>",          # see below
     "state_dict": {"network.layers.0.weight": Tensor, ...}}

The metadata record: ``format``, ``geoviz_version``, ``torch_version``, ``encoding`` /
``encoding_args`` (positional-encoding registry name and constructor arguments),
``network`` / ``network_args``, ``output_dim``, ``dtype``, ``task`` (``kind``, ``name``,
``num_classes``, ``class_names``, ``units``, ``target_names``), ``scaling`` (regression:
per-output ``mean``/``std``; the network predicts standardised values), ``config`` (the
:class:`~geoviz.training.TrainConfig` as a dict) and ``extra`` (any JSON-like dict, e.g.
held-out metrics). A file of a later, incompatible format version is refused with a clear
error.

    >>> from geoviz.model_io import save_model, load_model, predict_with
    >>> save_model(trainer.model, "temp.gvz", task=trainer.task, config=trainer.config,
    ...            scaling=trainer.scaling)                            # doctest: +SKIP
    >>> model, meta = load_model("temp.gvz")                           # doctest: +SKIP
    >>> predict_with(model, meta, lonlat)["prediction"]                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .location_encoder import LocationEncoder, build_location_encoder

__all__ = ["FORMAT", "FORMAT_VERSION", "save_model", "load_model", "read_metadata", "predict_with",
           "ModelFileError"]

FORMAT_NAME = "geoviz-model"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"


class ModelFileError(ValueError):
    """A model file that cannot be read: corrupt, not a geoviz model, or an incompatible version."""


def _json_plain(obj: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(obj, default=_to_plain))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable (plain types): {exc}") from exc


def _to_plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    raise TypeError(f"{type(v).__name__} is not JSON-serialisable")


def _encoding_name(pe: torch.nn.Module) -> tuple[str, dict[str, Any]]:
    from .encoders import POSITIONAL_ENCODINGS, positional_encoding_hyperparameters

    for name, cls in POSITIONAL_ENCODINGS.items():
        if type(pe) is cls:
            args = {}
            for p in positional_encoding_hyperparameters(name):
                v = getattr(pe, p, None)
                if isinstance(v, (bool, int, float, str)):
                    args[p] = v
            return name, args
    raise TypeError(f"cannot save a positional encoding of type {type(pe).__name__}: not in the geoviz registry")


def _network_name(net: torch.nn.Module) -> tuple[str, dict[str, Any]]:
    from .networks import NETWORKS

    for name, cls in NETWORKS.items():
        if type(net) is cls:
            return name, _json_plain(dict(getattr(net, "hparams", {})), "network hyperparameters")
    raise TypeError(f"cannot save a network of type {type(net).__name__}: not in the geoviz registry")


def save_model(model: Any, path: str | os.PathLike, *, task: Any = None, config: Any = None,
               scaling: dict[str, Any] | None = None, class_names: list[str] | None = None,
               units: str | None = None, kind: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a location encoder and its metadata to ``path``.

    Args:
        model: a :class:`~geoviz.LocationEncoder` (registry encoding + network), or a
            :class:`~geoviz.training.Trainer` (its model, task, config and scaling are used).
        path: output file (conventionally ``.gvz`` or ``.pt``); parent folders are created;
            written atomically.
        task: the :class:`~geoviz.data.Task` it was fitted to (kind, name, class names,
            units, target names are stored; not the data).
        config: the :class:`~geoviz.training.TrainConfig` (stored as a dict).
        scaling: regression target scaling ``{"mean": [...], "std": [...]}`` (``Trainer.scaling``).
        class_names, units, kind: override / supply what ``task`` would give.
        extra: any JSON-like dict (held-out metrics, data source, ...).

    Returns:
        The path written.

    Raises:
        TypeError: not a LocationEncoder of registry parts; metadata not JSON-like.
        ValueError: a regression model without ``scaling``.
    """
    from . import __version__

    if hasattr(model, "model") and hasattr(model, "run") and hasattr(model, "task"):  # a Trainer
        trainer = model
        model = trainer.model
        task = trainer.task if task is None else task
        config = trainer.config if config is None else config
        scaling = getattr(trainer, "scaling", None) if scaling is None else scaling
    if not isinstance(model, LocationEncoder):
        raise TypeError(f"model must be a geoviz LocationEncoder (or a Trainer), got {type(model).__name__}")
    enc_name, enc_args = _encoding_name(model.positional_encoding)
    net_name, net_args = _network_name(model.network)
    sd = {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}
    dtype = str(next(iter(sd.values())).dtype).replace("torch.", "") if sd else "float32"
    kind = kind or getattr(task, "kind", None)
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
    meta = {
        "format": FORMAT,
        "geoviz_version": __version__,
        "torch_version": torch.__version__,
        "encoding": enc_name,
        "encoding_args": enc_args,
        "network": net_name,
        "network_args": net_args,
        "output_dim": int(model.network.output_dim) if hasattr(model.network, "output_dim")
        else int(model.network.out_features),
        "dtype": dtype,
        "task": task_info,
        "scaling": None if scaling is None else {"mean": [float(v) for v in scaling["mean"]],
                                                  "std": [float(v) for v in scaling["std"]]},
        "config": None if config is None else _json_plain(config, "config"),
        "extra": _json_plain(extra or {}, "extra"),
    }
    meta = _json_plain(meta, "metadata")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "metadata": json.dumps(meta, ensure_ascii=False), "state_dict": sd}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    from .pretrained.checkpoint_file import NotACheckpointError, UnsafeCheckpointError, load_torch_file

    try:  # one clean line; torch's message (it may advise weights_only=False) is never relayed
        obj = load_torch_file(path, what="not a readable geoviz model file")
    except NotACheckpointError as exc:
        raise ModelFileError(str(exc)) from None
    except UnsafeCheckpointError as exc:
        raise ModelFileError(f"{exc} (not a readable geoviz model file)") from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise ModelFileError(f"{path} is not a geoviz model file (no 'format' entry)")
    fmt = str(obj["format"])
    name, _, ver = fmt.partition("/")
    if name != FORMAT_NAME:
        hint = " (a pretrained encoder: use geoviz.pretrained.load_pretrained / load_geoviz_model)" \
            if name == "geoviz-location-encoder" else ""
        raise ModelFileError(f"{path}: format {fmt!r} is not {FORMAT!r}{hint}")
    try:
        version = int(ver)
    except ValueError:
        raise ModelFileError(f"{path}: unreadable format version in {fmt!r}") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} was written in format {fmt!r} by a newer geoviz; this geoviz reads up to "
                             f"{FORMAT!r}: upgrade geoviz to load it")
    if version < 1:
        raise ModelFileError(f"{path}: unsupported format version {fmt!r}")
    if not isinstance(obj.get("metadata"), str) or not isinstance(obj.get("state_dict"), dict):
        raise ModelFileError(f"{path}: model file lacks 'metadata' (JSON string) or 'state_dict' (dict)")
    try:
        obj["metadata"] = json.loads(obj["metadata"])
    except ValueError as exc:
        raise ModelFileError(f"{path}: metadata is not valid JSON: {exc}") from exc
    return obj


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict of a model file (validated; the weights are read but not built)."""
    return _read(Path(path))["metadata"]


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
        ModelFileError (a ValueError): corrupt file, another format, an incompatible
            (newer) format version, weights that do not fit the stored architecture.
    """
    path = Path(path)
    obj = _read(path)
    meta, sd = obj["metadata"], obj["state_dict"]
    try:
        model = build_location_encoder(meta["encoding"], meta["network"], int(meta["output_dim"]),
                                       **meta.get("encoding_args", {}), **meta.get("network_args", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot rebuild the model from its metadata "
                             f"({meta.get('encoding')!r} + {meta.get('network')!r}): {exc}") from exc
    dtype = getattr(torch, str(meta.get("dtype", "float32")), None)
    if dtype not in (torch.float32, torch.float64):
        raise ModelFileError(f"{path}: unsupported dtype {meta.get('dtype')!r}")
    model = model.to(dtype)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not match the stored architecture: {exc}") from exc
    return model.to(device or "cpu").eval(), meta


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
