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
are float32, carry the image tower and temperature beside the location encoder, and are
produced by ``geoviz results pretrained`` (held-out-by-region recipe search, a Sobolev
penalty on the SH columns; see ``docs/pretrained.md``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..location_encoder import LocationEncoder
from ..model_file import (FORMAT_NAME, IMAGE_PREFIX, TEMPERATURE_KEY, ModelFileError, build_encoder, encoder_header,
                          read_model_file, save_model_file)

__all__ = ["FORMAT", "KIND", "VARIANTS", "save_geoviz_model", "load_geoviz_model", "read_geoviz_model_file",
           "default_weights_path", "ImageTower", "load_image_tower"]

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
                      hyper_parameters: dict[str, Any] | None = None, dtype: torch.dtype = torch.float32, *,
                      image_encoder: torch.nn.Module | None = None, image_config: dict[str, Any] | None = None,
                      logit_scale: torch.Tensor | float | None = None) -> Path:
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
        image_encoder, image_config, logit_scale: optionally the image tower trained with it
            (its state dict is stored as ``image.*``), the dict that rebuilds it
            (:func:`geoviz.training.pretraining.image_config`; the header's ``image_encoder``)
            and the learned temperature (``log`` of the logit scale); all three or none.
            :func:`load_image_tower` reads them back (``geoviz.geolocate`` needs them).

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
    given = [x is not None for x in (image_encoder, image_config, logit_scale)]
    if any(given) and not all(given):
        raise TypeError("image_encoder, image_config and logit_scale go together: pass all three or none")
    if image_encoder is not None:
        for k, v in image_encoder.state_dict().items():
            sd[IMAGE_PREFIX + k] = v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()
        sd[TEMPERATURE_KEY] = torch.as_tensor(logit_scale, dtype=dtype).detach().cpu().reshape(())
        header["image_encoder"] = json.loads(json.dumps(image_config))
    return save_model_file(path, sd, header)


class ImageTower:
    """The image half of a contrastive model file: encoder, temperature and input description.

    Attributes:
        encoder: ``(N, C, P, P)`` float32 patches → ``(N, D)`` un-normalised embeddings, eval mode.
        logit_scale: the learned ``exp(logit_scale)`` (a float, ≤ 100): softmax temperature
            of image–location cosine similarities.
        config: the header's ``image_encoder`` dict (``backbone``, ``pixels``, ``in_channels``,
            ``input``: how patches are scaled, ``patch_deg``: the patch sizes it saw, ...).
    """

    def __init__(self, encoder: torch.nn.Module, logit_scale: float, config: dict[str, Any]) -> None:
        self.encoder, self.logit_scale, self.config = encoder, float(logit_scale), dict(config)

    def __repr__(self) -> str:
        return (f"ImageTower(backbone={self.config.get('backbone')!r}, pixels={self.config.get('pixels')}, "
                f"logit_scale={self.logit_scale:.1f})")


def load_image_tower(ref: str | os.PathLike = "l10", device: str | torch.device | None = None) -> ImageTower:
    """The image tower stored beside a location encoder (shipped variant or model file).

    Args:
        ref: ``"l10"``/``"l40"`` (or ``"geoviz-bluemarble-l10"``/``-l40``) or the path of a
            model file written by ``geoviz pretrain``.
        device: where to put it (default CPU).

    Returns:
        :class:`ImageTower` (encoder in eval mode, float32).

    Raises:
        FileNotFoundError: no such file. ModelFileError (a ValueError): the file holds no image
            tower (a location encoder saved alone), or its tensors do not match its description.
    """
    import math

    from ..model_file import check_tensors

    key = str(ref).strip().lower()
    key = key[len("geoviz-bluemarble-"):] if key.startswith("geoviz-bluemarble-") else key
    p = default_weights_path(key) if key in VARIANTS else Path(ref)
    if not p.is_file() and not p.is_dir():
        raise FileNotFoundError(f"geoviz model file not found: {p}")
    obj = read_geoviz_model_file(p)
    conf = obj["header"].get("image_encoder")
    if not conf:
        raise ModelFileError(p, "it holds a location encoder only, no image tower (models saved by "
                                "`geoviz pretrain` since issue 28 carry one)")
    from ..training.pretraining import build_image_encoder

    try:
        enc = build_image_encoder(conf)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(p, f"its image_encoder {conf!r} does not build: {exc}") from None
    t = obj["tensors"]
    sd = {k[len(IMAGE_PREFIX):]: v for k, v in t.items() if k.startswith(IMAGE_PREFIX)}
    check_tensors(p, sd, enc.state_dict(), f"the image tower {conf.get('backbone')!r}")
    if TEMPERATURE_KEY not in t:
        raise ModelFileError(p, f"it has an image tower but no {TEMPERATURE_KEY!r}")
    enc.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    scale = min(100.0, math.exp(float(t[TEMPERATURE_KEY])))
    return ImageTower(enc.to(device or "cpu").eval(), scale, conf)


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
    sd = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}  # image.* excluded
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
                f"weights?); regenerate them with `geoviz pretrain --legendre-polys {L} --epochs 8 --steps-per-epoch 500 "
                f"--out {p}` "
                f"(see docs/pretrained.md) or pass path=..."
            )
    else:
        p = Path(path)
    obj = read_geoviz_model_file(p)
    enc = build_encoder(p, obj["header"], obj["tensors"], dtype=dtype)
    enc = enc.to(device or "cpu").eval()
    return (enc, obj["meta"]) if return_meta else enc
