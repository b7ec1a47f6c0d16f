"""geoviz's own pretrained location encoder (SH + Siren, pretrained on NASA Blue Marble).

A geoviz model file (:mod:`geoviz.model_file`: safetensors weights + JSON header, so loading
never runs code) of kind ``"location-encoder"``: the tensors are the
:class:`~geoviz.LocationEncoder`'s state dict (``network.layers.0.weight``, ...,
``network.last_layer.bias``), the header holds the encoder spec (``encoder``, every
hyperparameter: ``legendre_polys``, ``convention``, ``hidden_dim``, ``num_layers``, ``w0``,
``w0_initial``, ``dropout``), ``output_dim`` (the embedding width), ``dtype``,
``training_data`` and ``extra`` (the ``meta`` dict: training time, retrieval scores, data
source, seed, config, history).

The shipped weights (``weights/geoviz-bluemarble-l10.safetensors``, ``-l40.safetensors``)
are float32 and produced by ``geoviz pretrain`` (see ``docs/results/pretraining.md``);
they were converted from the former ``torch.save`` files (``.pt``) bit for bit by
``scripts/convert_model_files.py``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..location_encoder import LocationEncoder
from ..model_file import FORMAT_NAME, ModelFileError, build_encoder, encoder_header, read_model_file, save_model_file

__all__ = ["FORMAT", "KIND", "VARIANTS", "save_geoviz_model", "load_geoviz_model", "read_geoviz_model_file",
           "default_weights_path"]

FORMAT = FORMAT_NAME
"""The ``format`` of the file (every geoviz model file's); its ``kind`` is :data:`KIND`."""
KIND = "location-encoder"
VARIANTS: dict[str, str] = {"l10": "geoviz-bluemarble-l10.safetensors", "l40": "geoviz-bluemarble-l40.safetensors"}
"""Shipped variants: name → file in ``geoviz/pretrained/weights/``."""

_REQUIRED_PE = ("legendre_polys", "convention")
_REQUIRED_NN = ("hidden_dim", "num_layers", "w0", "w0_initial")
_WHAT = "readable geoviz model file"


def default_weights_path(variant: str = "l10") -> Path:
    """Path of a shipped variant's file (it may not exist in a source checkout without weights)."""
    key = variant.strip().lower() if isinstance(variant, str) else variant
    if key not in VARIANTS:
        raise ValueError(f"unknown geoviz model variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return Path(str(resources.files("geoviz").joinpath("pretrained", "weights", VARIANTS[key])))


def _check_sh_siren(location_encoder: LocationEncoder) -> None:
    pe, net = location_encoder.positional_encoding, location_encoder.network
    if not hasattr(pe, "legendre_polys") or not hasattr(net, "hparams") or not hasattr(net, "layers"):
        raise TypeError("save_geoviz_model needs a LocationEncoder(SphericalHarmonics, Siren)")


def hyper_parameters_of_header(header: dict[str, Any]) -> dict[str, Any]:
    """The format-1 ``hyper_parameters`` dict (``legendre_polys``, ``sh_convention``,
    ``hidden_dim``, ``num_layers``, ``embed_dim``, ``w0``, ``w0_initial``, ``dropout``, ``pe``,
    ``nn``) read off a header's encoder spec."""
    enc = header.get("encoder") or {}
    pe, nn = dict(enc.get("pe_kwargs") or {}), dict(enc.get("nn_kwargs") or {})
    return {"legendre_polys": pe.get("legendre_polys"), "sh_convention": pe.get("convention"),
            "hidden_dim": nn.get("hidden_dim"), "num_layers": nn.get("num_layers"),
            "embed_dim": header.get("output_dim"), "w0": nn.get("w0"), "w0_initial": nn.get("w0_initial"),
            "dropout": nn.get("dropout", 0.0),
            "pe": enc.get("pe"), "nn": enc.get("nn")}


def save_geoviz_model(path: str | os.PathLike, location_encoder: LocationEncoder, meta: dict[str, Any],
                      hyper_parameters: dict[str, Any] | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write a location encoder as a geoviz model file of kind ``"location-encoder"``.

    Args:
        path: output file, used exactly as given (parent directories are created; written
            atomically).
        location_encoder: a ``LocationEncoder(SphericalHarmonics, Siren)``.
        meta: JSON-serialisable dict (plain str/int/float/bool/None/list/dict only) with
            training time, scores, data source, seed, ... (the header's ``extra``).
        hyper_parameters: the format-1 hyperparameter dict (``legendre_polys``,
            ``sh_convention``, ``hidden_dim``, ``num_layers``, ``embed_dim``, ``w0``,
            ``w0_initial``, ``dropout``); checked against the module, which is what is stored.
        dtype: storage dtype of the weights (float32 default, or float64).

    Returns:
        The path written.

    Raises:
        TypeError: ``meta`` is not a JSON-like dict, or the encoder is not SH + Siren.
        ValueError: ``hyper_parameters`` that disagree with the module.
    """
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        meta = json.loads(json.dumps(meta))  # plain types only: no silent conversion of tensors or arrays
    except (TypeError, ValueError) as exc:
        raise TypeError(f"meta must be JSON-serialisable (plain types only): {exc}") from exc
    _check_sh_siren(location_encoder)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    enc = encoder_header(location_encoder)
    enc["dtype"] = str(dtype).replace("torch.", "")
    if hyper_parameters:
        have = hyper_parameters_of_header(enc)
        wrong = {k: (v, have[k]) for k, v in hyper_parameters.items() if k in have and have[k] != v}
        if wrong:
            raise ValueError(f"hyper_parameters disagree with the module (given, module): {wrong}")
    sd = {k: v.detach().to("cpu", dtype) for k, v in location_encoder.state_dict().items()}
    header = {"kind": KIND, **enc,
              "training_data": {"source": meta.get("data_source"), "steps": meta.get("steps")},
              "extra": meta}
    return save_model_file(path, sd, header)


def read_geoviz_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a geoviz location-encoder file.

    Returns:
        ``{"format", "header", "hyper_parameters", "state_dict", "meta"}``: the header, the
        format-1 hyperparameter dict read off its spec, the network's state dict (keys
        without the ``network.`` prefix, as in format 1) and the ``meta`` (header ``extra``).

    Raises:
        FileNotFoundError: no such file.
        ModelFileError (a ValueError): not a readable geoviz model file (the message says
            why: garbage, an old ``torch.save`` file with the conversion command, damaged,
            edited, another kind, a newer version).
    """
    p = Path(path)
    if not p.is_file() and not p.is_dir():
        raise FileNotFoundError(f"geoviz model file not found: {p}")
    tensors, header = read_model_file(p, kind=KIND, what=_WHAT)
    _check_header(p, header)
    sd = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}
    return {"format": header["format"], "header": header, "hyper_parameters": hyper_parameters_of_header(header),
            "state_dict": sd, "meta": header.get("extra", {}), "tensors": tensors}


def _check_header(p: Path, header: dict[str, Any]) -> None:
    enc = header.get("encoder")
    if not isinstance(enc, dict):
        raise ModelFileError(p, "the header lacks the encoder spec ('encoder')")
    if enc.get("pe") != "sphericalharmonics" or enc.get("nn") != "siren":
        raise ModelFileError(p, f"a geoviz pretrained encoder is SH + Siren, this file holds {enc.get('spec')!r}")
    missing = [k for k in _REQUIRED_PE if k not in (enc.get("pe_kwargs") or {})]
    missing += [k for k in _REQUIRED_NN if k not in (enc.get("nn_kwargs") or {})]
    if missing:
        raise ModelFileError(p, f"the encoder spec lacks hyperparameter(s) {missing}")


def load_geoviz_model(variant: str = "l10", path: str | os.PathLike | None = None,
                      device: str | torch.device | None = None, dtype: torch.dtype | None = None,
                      return_meta: bool = False) -> LocationEncoder | tuple[LocationEncoder, dict[str, Any]]:
    """Load geoviz's pretrained location encoder (eval mode).

    Args:
        variant: ``"l10"`` or ``"l40"`` (SH degrees 0..9 or 0..39); ignored when ``path``
            is given.
        path: a geoviz model file of kind ``"location-encoder"`` instead of a shipped variant.
        device: where to put the module (default CPU).
        dtype: module dtype (default: the stored dtype, float32).
        return_meta: also return the file's ``meta`` dict (training time, scores, ...).

    Returns:
        A :class:`~geoviz.LocationEncoder` in eval mode mapping ``(N, 2)`` (lon, lat)
        degrees (float32 or float64; cast to the module dtype) to ``(N, embed_dim)``
        un-normalised embeddings; with ``return_meta``, ``(encoder, meta)``.

    Raises:
        FileNotFoundError: the file is missing (for a shipped variant, with a hint how to
            regenerate it with ``geoviz pretrain``).
        ValueError: unknown variant; :class:`~geoviz.model_file.ModelFileError` for a file
            that is not a readable geoviz location encoder (garbage, damaged, edited, an old
            ``torch.save`` file: the conversion command is named), missing hyperparameters,
            missing/unknown tensors or weight shapes that do not match the spec (named).
    """
    if path is None:
        p = default_weights_path(variant)
        if not p.is_file():
            L = 10 if variant.strip().lower() == "l10" else 40
            raise FileNotFoundError(
                f"geoviz's default model weights {p} are missing (a source checkout without the shipped "
                f"weights?); regenerate them with `geoviz pretrain --legendre-polys {L} --out {p}` "
                f"(see docs/results/pretraining.md) or pass path=..."
            )
    else:
        p = Path(path)
    obj = read_geoviz_model_file(p)
    enc = build_encoder(p, obj["header"], obj["tensors"], dtype=dtype)
    enc = enc.to(device or "cpu").eval()
    return (enc, obj["meta"]) if return_meta else enc
