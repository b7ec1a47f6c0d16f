"""Convert a geoviz file of a former ``torch.save`` format to the one geoviz model file (safetensors).

    python scripts/convert_model_files.py OLD NEW [--force]

Before model file format 2 geoviz wrote five formats; each is converted to a
:mod:`geoviz.model_file` file of the matching kind:

=====================================  ===========================  ============================
old file                               written by                   new kind
=====================================  ===========================  ============================
``{"format": "geoviz-model/1", ...}``  ``geoviz.model_io.save_model`` ``regressor`` / ``classifier``
                                                                    / ``location-encoder``
``{"format": "geoviz-species", ...}``  ``SpeciesModel.save``        ``species``
``{"format":                           ``save_geoviz_model`` (the   ``location-encoder``
"geoviz-location-encoder/1", ...}``    shipped Blue Marble models)
``{"config": ..., "state_dict": ...}`` ``geoviz pretrain             ``pretraining-checkpoint``
                                       --save-full``
``.npz`` (``names``, ``lonlat``, ...)  ``SpeciesDemo.save``         ``species-demo``
=====================================  ===========================  ============================

OLD is read only with ``torch.load(weights_only=True)`` (tensors and plain containers; a
pickle that references any other Python object is refused, never executed) or, for the
demo's ``.npz``, with ``np.load(allow_pickle=False)``. The model is rebuilt from OLD's
metadata, written to NEW (the name is kept exactly as given) with ``converted_from`` in its
header, read back, and every tensor compared bit for bit with OLD's; NEW is removed if any
differs. Exit status 0 on success, 2 on an error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


class ConversionError(ValueError):
    """OLD cannot be converted (named)."""


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    fa, fb = a.detach().cpu().contiguous().reshape(-1), b.detach().cpu().contiguous().reshape(-1)
    return bool(torch.equal(fa.view(torch.uint8), fb.view(torch.uint8))) if fa.numel() else True


def _is_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def _is_new(path: Path) -> bool:
    from geoviz.model_file import ModelFileError, read_header

    try:
        read_header(path)
    except (ModelFileError, OSError):
        return False
    return True


def _read_old(path: Path) -> Any:
    from geoviz.pretrained.checkpoint_file import NotACheckpointError, UnsafeCheckpointError, load_torch_file

    try:
        return load_torch_file(path, what="not an old geoviz model file")  # weights_only=True
    except (NotACheckpointError, UnsafeCheckpointError) as exc:
        raise ConversionError(str(exc)) from None


def _convert_model_io(obj: dict[str, Any], old: Path, new: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from geoviz.location_encoder import build_location_encoder
    from geoviz.model_file import save_encoder

    try:
        meta = json.loads(obj["metadata"])
        model = build_location_encoder(meta["encoding"], meta["network"], int(meta["output_dim"]),
                                       **meta.get("encoding_args", {}), **meta.get("network_args", {}))
        model = model.to(getattr(torch, str(meta.get("dtype", "float32"))))
        model.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ConversionError(f"{old}: a geoviz-model/1 file that does not rebuild: {exc}") from None
    task = meta.get("task") or {}
    kind = {"regression": "regressor", "binary": "classifier", "multiclass": "classifier"}.get(task.get("kind"),
                                                                                             "location-encoder")
    header = {"kind": kind, "task": task, "scaling": meta.get("scaling"), "training_data": None,
              "config": meta.get("config"), "extra": meta.get("extra") or {}}
    return save_encoder(new, model, header), dict(obj["state_dict"])


def _convert_species(obj: dict[str, Any], old: Path, new: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from geoviz.species.model import SpeciesModel

    try:
        m = SpeciesModel(obj["names"], obj["pe"], obj["nn"], obj["pe_kwargs"], obj["nn_kwargs"], obj.get("meta"))
        m.to(dtype=getattr(torch, obj.get("dtype", "float32")))
        m.encoder.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ConversionError(f"{old}: a geoviz-species file that does not rebuild: {exc}") from None
    from geoviz.model_file import pack_tensors

    _, meta_tensors = pack_tensors(obj.get("meta") or {}, "extra")
    return m.save(new), {**dict(obj["state_dict"]), **meta_tensors}


def _convert_location_encoder(obj: dict[str, Any], old: Path, new: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from geoviz.location_encoder import build_location_encoder
    from geoviz.pretrained.geoviz_model import save_geoviz_model

    try:
        hp, sd = obj["hyper_parameters"], obj["state_dict"]
        enc = build_location_encoder(
            "sphericalharmonics", "siren", int(hp["embed_dim"]), legendre_polys=int(hp["legendre_polys"]),
            convention=str(hp["sh_convention"]), hidden_dim=int(hp["hidden_dim"]), num_layers=int(hp["num_layers"]),
            w0=float(hp["w0"]), w0_initial=float(hp["w0_initial"]), dropout=float(hp.get("dropout", 0.0)))
        dtype = next(iter(sd.values())).dtype if sd else torch.float32
        enc = enc.to(dtype)
        enc.network.load_state_dict(sd, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, StopIteration) as exc:
        raise ConversionError(f"{old}: a geoviz-location-encoder/1 file that does not rebuild: {exc}") from None
    path = save_geoviz_model(new, enc, obj.get("meta") or {}, dtype=dtype)
    return path, {f"network.{k}": v for k, v in sd.items()}


def _convert_pretraining(obj: dict[str, Any], old: Path, new: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from geoviz.training.pretraining import PretrainConfig, build_model, save_full_checkpoint

    try:
        cfg = PretrainConfig(**obj["config"])
        model = build_model(cfg)
        model.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ConversionError(f"{old}: a `geoviz pretrain --save-full` checkpoint that does not rebuild: "
                              f"{exc}") from None
    return save_full_checkpoint(new, model, cfg), dict(obj["state_dict"])


def _convert_demo(old: Path, new: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from geoviz.species.demo import SpeciesDemo

    try:
        with np.load(old, allow_pickle=False) as z:
            metrics: dict[str, dict[str, np.ndarray]] = {}
            for key in z.files:
                if key.startswith("m_"):
                    _, who, m = key.split("_", 2)
                    metrics.setdefault(who, {})[m] = z[key]
            demo = SpeciesDemo([str(n) for n in z["names"]], z["lonlat"], z["species"], z["truth"], z["probability"],
                               z["land"], float(z["resolution"]), metrics, json.loads(str(z["settings"])),
                               float(z["train_seconds"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ConversionError(f"{old}: not a species demo .npz: {exc}") from None
    ref = {"lonlat": demo.lonlat, "species": demo.species, "truth": demo.truth, "probability": demo.probability,
           "land": demo.land, **{f"metrics.{k}.{m}": v for k, d in metrics.items() for m, v in d.items()}}
    return demo.save(new), {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ref.items()}


def convert(old: str | Path, new: str | Path, *, force: bool = False) -> dict[str, Any]:
    """Convert OLD to NEW; returns ``{"old", "new", "kind", "tensors"}``.

    Raises:
        FileNotFoundError: OLD missing. FileExistsError: NEW exists and not ``force``.
        ConversionError (a ValueError): OLD is not an old geoviz file, or does not rebuild,
            or NEW does not read back bit-identical.
    """
    from geoviz.model_file import read_model_file, save_model_file

    old, new = Path(old), Path(new)
    if not old.is_file():
        raise FileNotFoundError(f"{old}: no such file")
    if new.exists() and not force:
        raise FileExistsError(f"{new} exists; pass --force to overwrite it")
    if _is_new(old):
        raise ConversionError(f"{old} is already a geoviz model file of the current format; nothing to convert")
    if _is_npz(old):
        source = "species demo .npz"
        path, ref = _convert_demo(old, new)
    else:
        obj = _read_old(old)
        if not isinstance(obj, dict):
            raise ConversionError(f"{old}: holds a {type(obj).__name__}, not an old geoviz model file")
        fmt = obj.get("format")
        if fmt == "geoviz-model/1":
            source, conv = fmt, _convert_model_io
        elif fmt == "geoviz-species":
            source, conv = f"{fmt}/{obj.get('version', 1)}", _convert_species
        elif fmt == "geoviz-location-encoder/1":
            source, conv = fmt, _convert_location_encoder
        elif fmt is None and "config" in obj and "state_dict" in obj:
            source, conv = "geoviz pretrain --save-full (torch.save)", _convert_pretraining
        else:
            raise ConversionError(f"{old}: not an old geoviz model file (format {fmt!r}); a SatCLIP checkpoint "
                                  "needs no conversion: geoviz.pretrained.load_satclip reads it")
        path, ref = conv(obj, old, new)
    # record the provenance, then verify the file against OLD's tensors bit for bit
    tensors, header = read_model_file(path)
    header["converted_from"] = {"format": source, "file": old.name}
    save_model_file(path, tensors, header)
    back, header = read_model_file(path)
    bad = [k for k, v in ref.items() if k not in back or not _bits_equal(back[k], v)]
    if bad:
        path.unlink(missing_ok=True)
        raise ConversionError(f"{old}: converted tensors differ from the original ({bad[:5]}); nothing written")
    return {"old": str(old), "new": str(path), "kind": header["kind"], "tensors": len(back), "from": source}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="a geoviz file of a former torch.save format (or the species demo's .npz)")
    ap.add_argument("new", help="the geoviz model file to write (name kept exactly as given, e.g. model.safetensors)")
    ap.add_argument("--force", action="store_true", help="overwrite NEW if it exists")
    args = ap.parse_args(argv)
    try:
        res = convert(args.old, args.new, force=args.force)
    except (OSError, ValueError) as exc:
        print(f"convert_model_files: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {res['new']} ({res['kind']}, {res['tensors']} tensors, bit-identical to {res['old']}, "
          f"was {res['from']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
