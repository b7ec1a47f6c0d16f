"""geoviz's own pretrained location encoder (SH + Siren, pretrained on NASA Blue Marble).

File format ``geoviz-location-encoder/1`` (a ``torch.save`` of plain types only, so it
loads with ``torch.load(..., weights_only=True)``)::

    {
      "format": "geoviz-location-encoder/1",
      "hyper_parameters": {"legendre_polys": int, "sh_convention": str, "hidden_dim": int,
                           "num_layers": int, "embed_dim": int, "w0": float,
                           "w0_initial": float, "dropout": float, "pe": "sphericalharmonics",
                           "nn": "siren"},
      "state_dict": {"layers.0.weight": Tensor, ..., "last_layer.bias": Tensor},  # Siren
      "meta": {...}   # JSON-like: training time, retrieval scores, data source, seed, config
    }

The shipped weights (``weights/geoviz-bluemarble-l10.pt``, ``-l40.pt``) are float32 and
produced by ``geoviz pretrain`` (see ``docs/results/pretraining.md``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..location_encoder import LocationEncoder, build_location_encoder

__all__ = ["FORMAT", "VARIANTS", "save_geoviz_model", "load_geoviz_model", "read_geoviz_model_file",
           "default_weights_path"]

FORMAT = "geoviz-location-encoder/1"
VARIANTS: dict[str, str] = {"l10": "geoviz-bluemarble-l10.pt", "l40": "geoviz-bluemarble-l40.pt"}
"""Shipped variants: name → file in ``geoviz/pretrained/weights/``."""

_REQUIRED_HP = ("legendre_polys", "sh_convention", "hidden_dim", "num_layers", "embed_dim", "w0", "w0_initial")


def default_weights_path(variant: str = "l10") -> Path:
    """Path of a shipped variant's file (it may not exist in a source checkout without weights)."""
    key = variant.strip().lower() if isinstance(variant, str) else variant
    if key not in VARIANTS:
        raise ValueError(f"unknown geoviz model variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return Path(str(resources.files("geoviz").joinpath("pretrained", "weights", VARIANTS[key])))


def _hyper_parameters_of(location_encoder: LocationEncoder) -> dict[str, Any]:
    pe, net = location_encoder.positional_encoding, location_encoder.network
    if not hasattr(pe, "legendre_polys") or not hasattr(net, "hparams") or not hasattr(net, "layers"):
        raise TypeError("save_geoviz_model needs a LocationEncoder(SphericalHarmonics, Siren)")
    hp = net.hparams
    return {"legendre_polys": int(pe.legendre_polys), "sh_convention": str(pe.convention),
            "hidden_dim": int(hp["hidden_dim"]), "num_layers": int(hp["num_layers"]),
            "embed_dim": int(net.output_dim), "w0": float(hp["w0"]), "w0_initial": float(hp["w0_initial"]),
            "dropout": float(hp["dropout"]), "pe": "sphericalharmonics", "nn": "siren"}


def save_geoviz_model(path: str | os.PathLike, location_encoder: LocationEncoder, meta: dict[str, Any],
                      hyper_parameters: dict[str, Any] | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write a location encoder in the ``geoviz-location-encoder/1`` format.

    Args:
        path: output file (parent directories are created).
        location_encoder: a ``LocationEncoder(SphericalHarmonics, Siren)``.
        meta: JSON-serialisable dict (plain str/int/float/bool/None/list/dict only) with
            training time, scores, data source, seed, ...
        hyper_parameters: override of the hyperparameters read from the module.
        dtype: storage dtype of the weights (float32 default, or float64).

    Returns:
        The path written.

    Raises:
        TypeError: ``meta`` is not a JSON-like dict, or the encoder is not SH + Siren.
    """
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        meta = json.loads(json.dumps(meta))  # plain types only, so weights_only loading works
    except (TypeError, ValueError) as exc:
        raise TypeError(f"meta must be JSON-serialisable (plain types only): {exc}") from exc
    hp = dict(_hyper_parameters_of(location_encoder))
    if hyper_parameters:
        hp.update(hyper_parameters)
    sd = {k: v.detach().to("cpu", dtype).clone().contiguous() for k, v in location_encoder.network.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "hyper_parameters": hp, "state_dict": sd, "meta": meta}, path)
    return path


def read_geoviz_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate the raw dict of a geoviz model file (``weights_only=True``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable torch file, wrong format tag, missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"geoviz model file not found: {path}")
    from .checkpoint_file import load_torch_file

    # one clean line for garbage (torch's message, which may advise weights_only=False, is dropped)
    obj = load_torch_file(path, what="not a readable geoviz model file")
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not a geoviz model file: expected a dict, got {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported format {obj.get('format')!r}, expected {FORMAT!r}")
    missing = [k for k in ("hyper_parameters", "state_dict", "meta") if k not in obj]
    if missing:
        raise ValueError(f"{path}: geoviz model file lacks key(s) {missing}")
    hp = obj["hyper_parameters"]
    missing = [k for k in _REQUIRED_HP if not isinstance(hp, dict) or k not in hp]
    if missing:
        raise ValueError(f"{path}: hyper_parameters lack key(s) {missing}")
    if not isinstance(obj["state_dict"], dict):
        raise ValueError(f"{path}: state_dict must be a dict of tensors")
    return obj


def load_geoviz_model(variant: str = "l10", path: str | os.PathLike | None = None,
                      device: str | torch.device | None = None, dtype: torch.dtype | None = None,
                      return_meta: bool = False) -> LocationEncoder | tuple[LocationEncoder, dict[str, Any]]:
    """Load geoviz's pretrained location encoder (eval mode).

    Args:
        variant: ``"l10"`` or ``"l40"`` (SH degrees 0..9 or 0..39); ignored when ``path``
            is given.
        path: a ``geoviz-location-encoder/1`` file instead of a shipped variant.
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
        ValueError: unknown variant, corrupt file, missing keys or weight shapes that do
            not match the stored hyperparameters (named).
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
    hp = obj["hyper_parameters"]
    sd = obj["state_dict"]
    try:
        enc = build_location_encoder(
            "sphericalharmonics", "siren", int(hp["embed_dim"]), legendre_polys=int(hp["legendre_polys"]),
            convention=str(hp["sh_convention"]), hidden_dim=int(hp["hidden_dim"]), num_layers=int(hp["num_layers"]),
            w0=float(hp["w0"]), w0_initial=float(hp["w0_initial"]), dropout=float(hp.get("dropout", 0.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{p}: invalid hyper_parameters {hp}: {exc}") from exc
    expected = enc.network.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{p}: state_dict keys do not match a Siren with {hp}: missing {missing}, unexpected {unexpected}")
    for k, v in expected.items():
        if not isinstance(sd[k], torch.Tensor) or tuple(sd[k].shape) != tuple(v.shape):
            got = tuple(sd[k].shape) if isinstance(sd[k], torch.Tensor) else type(sd[k]).__name__
            raise ValueError(f"{p}: weight {k!r} has shape {got}, expected {tuple(v.shape)} for {hp}")
    store_dtype = next(iter(sd.values())).dtype if sd else torch.float32
    enc = enc.to(dtype or store_dtype)
    enc.network.load_state_dict(sd)
    enc = enc.to(device or "cpu").eval()
    return (enc, obj["meta"]) if return_meta else enc
