"""Load the location encoder of a SatCLIP Lightning checkpoint into a geoviz model.

SatCLIP (Klemmer et al., 2023; github.com/microsoft/satclip) releases PyTorch Lightning
checkpoints (``*.ckpt``). Their location encoder is spherical harmonics with SatCLIP's
feature convention (``(-1)^l`` sign, ``m = 0`` columns × π) followed by a Siren
(``w0_initial = 30`` on the first layer, ``w0 = 1`` after it, linear last layer), all in
float64. This module rebuilds exactly that as a geoviz
:class:`~geoviz.location_encoder.LocationEncoder`: ``SphericalHarmonics(L,
convention="satclip")`` + :class:`~geoviz.networks.Siren`, and nothing else -- the image
backbone (``model.visual.*``) is ignored and never built or downloaded.

Checkpoint layout read here (``C`` = ``capacity``, ``L`` = ``legendre_polys``)::

    {"state_dict": {
        "model.location.nnet.layers.0.weight": (C, L²), "...layers.0.bias": (C,),
        "model.location.nnet.layers.{i}.weight": (C, C), ...   i < num_hidden_layers
        "model.location.nnet.last_layer.weight": (embed_dim, C), "...last_layer.bias": (embed_dim,),
        "model.nnet.*": the same tensors again (the module is registered twice),
        "model.visual.*", "model.logit_scale": ignored},
     "hyper_parameters": {"le_type": "sphericalharmonics", "pe_type": "siren",
        "legendre_polys": L, "capacity": C, "num_hidden_layers": n, "embed_dim": 256,
        "harmonics_calculation": "analytic", ...},
     "epoch": ..., "global_step": ..., ...}

Files are read with ``torch.load(..., weights_only=True)``: only tensors and plain Python
containers are unpickled. A checkpoint that needs arbitrary pickled objects is refused
unless the caller passes ``trust_pickle=True`` (only for files from a source you trust:
unpickling can run code).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch

from .checkpoint_file import NotACheckpointError, UnsafeCheckpointError, load_torch_file

if TYPE_CHECKING:
    from ..location_encoder import LocationEncoder

__all__ = [
    "load_satclip",
    "read_satclip_checkpoint",
    "satclip_state_from_checkpoint",
    "UntrustedCheckpointError",
    "NotACheckpointError",
    "SATCLIP_PREFIXES",
]

#: State-dict prefixes under which a checkpoint may hold the location Siren, tried in
#: order: SatCLIP Lightning (``model.location.nnet.``; the duplicate ``model.nnet.``), the
#: bare SatCLIP ``LocationEncoder`` (``nnet.``) and a bare Siren state dict (no prefix).
SATCLIP_PREFIXES: tuple[str, ...] = ("model.location.nnet.", "model.nnet.", "location.nnet.", "nnet.")

_SUPPORTED_HARMONICS = ("analytic",)
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(weight|bias)$")


class UntrustedCheckpointError(ValueError):
    """A checkpoint needs arbitrary (possibly code-running) unpickling to load.

    Raised by :func:`load_satclip` when ``torch.load(..., weights_only=True)`` refuses the
    file; the message names the opt-in argument ``trust_pickle=True``.
    """


def _safe_numpy_globals() -> list[Any]:
    """Numpy scalar/dtype reconstructors that Lightning callbacks sometimes pickle.

    They only rebuild numbers and dtypes (no code execution), so allowing them under
    ``weights_only=True`` is safe; torch's documentation suggests the same allowlist.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a hard dependency of geoviz
        return []
    out: list[Any] = [np.dtype]
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    scalar = getattr(getattr(core, "multiarray", None), "scalar", None)
    if scalar is not None:
        out.append(scalar)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out.extend(getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType"))
    return out


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike pointing to a SatCLIP .ckpt file, got {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"SatCLIP checkpoint not found: {str(p)!r}")
    if p.is_dir():
        raise ValueError(f"SatCLIP checkpoint path {str(p)!r} is a directory, expected a .ckpt file")
    return p


def read_satclip_checkpoint(path: str | os.PathLike, *, trust_pickle: bool = False) -> dict:
    """Read a checkpoint file into a dict, safely by default.

    Args:
        path: path to a ``.ckpt``/``.pt`` file written by ``torch.save``.
        trust_pickle: if ``False`` (default) load with ``weights_only=True`` (tensors and
            plain containers only); if ``True`` allow arbitrary unpickling -- only for files
            from a trusted source.

    Returns:
        The unpickled top-level ``dict`` (tensors on the CPU).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UntrustedCheckpointError: ``weights_only`` refused the file (names the globals found
            and the ``trust_pickle=True`` opt-in).
        NotACheckpointError (a ``ValueError``): not a torch checkpoint, truncated or corrupt:
            the one line ``"<path>: not a PyTorch checkpoint, or corrupted"`` (torch's own
            message, which may advise ``weights_only=False``, is never shown).
        ValueError: the file holds something other than a dict.
    """
    p = _check_path(path)
    try:
        obj = load_torch_file(p, safe_globals=_safe_numpy_globals(), trust_pickle=trust_pickle)
    except UnsafeCheckpointError as exc:
        names = ", ".join(exc.globals) if exc.globals else "objects of unknown type"
        raise UntrustedCheckpointError(
            f"{str(p)!r} was refused by torch.load(weights_only=True): it contains pickled "
            f"Python objects ({names}), and unpickling them can execute code. If you trust the "
            f"file's source, load it with trust_pickle=True, e.g. load_satclip(path, trust_pickle=True)."
        ) from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{str(p)!r} holds a {type(obj).__name__}, expected a checkpoint dict with a 'state_dict'")
    return dict(obj)


def _find_prefix(state: Mapping[str, Any]) -> str:
    for prefix in SATCLIP_PREFIXES:
        if f"{prefix}last_layer.weight" in state or f"{prefix}layers.0.weight" in state:
            return prefix
    if "last_layer.weight" in state or "layers.0.weight" in state:
        return ""
    some = sorted(state)[:5]
    raise ValueError(
        "checkpoint has no SatCLIP location-encoder weights: expected keys "
        "'model.location.nnet.layers.0.weight', 'model.location.nnet.last_layer.weight', ... "
        f"(or under 'model.nnet.'); its state_dict has {len(state)} keys, e.g. {some}"
    )


def _int_hparam(hp: Mapping[str, Any], name: str) -> int | None:
    if name not in hp or hp[name] is None:
        return None
    v = hp[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or int(v) < 1:
        raise ValueError(f"checkpoint hyper_parameters[{name!r}] must be a positive int, got {v!r}")
    return int(v)


def satclip_state_from_checkpoint(ckpt: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Validate a SatCLIP checkpoint dict and extract the location Siren's weights.

    Args:
        ckpt: the dict returned by :func:`read_satclip_checkpoint` (Lightning layout).

    Returns:
        ``(config, state)``: ``config`` holds ``legendre_polys``, ``capacity``,
        ``num_hidden_layers``, ``embed_dim`` (ints, from ``hyper_parameters`` and checked
        against the tensor shapes) and ``hyper_parameters`` (the raw dict); ``state`` maps
        :class:`~geoviz.networks.Siren` keys (``layers.{i}.weight``, ``last_layer.bias``, ...)
        to float64 CPU tensors.

    Raises:
        ValueError: no ``state_dict``, no location-encoder keys, missing/unexpected keys,
            wrong shapes, non-floating tensors, or hyper-parameters that contradict the
            shapes or name an unsupported encoder; every message names the offending item.
    """
    if "state_dict" not in ckpt:
        keys = sorted(str(k) for k in ckpt)[:10]
        raise ValueError(f"not a Lightning checkpoint: missing key 'state_dict' (top-level keys: {keys})")
    state = ckpt["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint 'state_dict' must be a dict of tensors, got {type(state).__name__}")
    hp = ckpt.get("hyper_parameters") or {}
    if not isinstance(hp, Mapping):
        raise ValueError(f"checkpoint 'hyper_parameters' must be a dict, got {type(hp).__name__}")

    le_type = hp.get("le_type", "sphericalharmonics")
    if str(le_type).lower() not in ("sphericalharmonics", "sh"):
        raise ValueError(
            f"unsupported SatCLIP positional encoding hyper_parameters['le_type']={le_type!r}; "
            "only 'sphericalharmonics' checkpoints (all released SatCLIP models) can be loaded"
        )
    pe_type = hp.get("pe_type", "siren")
    if str(pe_type).lower() != "siren":
        raise ValueError(
            f"unsupported SatCLIP network hyper_parameters['pe_type']={pe_type!r}; only 'siren' can be loaded"
        )
    harm = hp.get("harmonics_calculation", "analytic")
    if harm not in _SUPPORTED_HARMONICS:
        raise ValueError(
            f"unsupported hyper_parameters['harmonics_calculation']={harm!r}; supported: {_SUPPORTED_HARMONICS} "
            "(the 'closed-form' variant uses a different sign convention)"
        )

    prefix = _find_prefix(state)
    sub = {k[len(prefix):]: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}
    if prefix == "":  # bare Siren dict: keep only Siren-looking keys
        sub = {k: v for k, v in sub.items() if _LAYER_KEY.match(k) or k.startswith("last_layer.")}
    layer_ids = sorted({int(m.group(1)) for k in sub if (m := _LAYER_KEY.match(k))})

    L = _int_hparam(hp, "legendre_polys")
    C = _int_hparam(hp, "capacity")
    n = _int_hparam(hp, "num_hidden_layers")
    E = _int_hparam(hp, "embed_dim")
    w0 = sub.get("layers.0.weight")
    last = sub.get("last_layer.weight")
    if n is None:
        n = (max(layer_ids) + 1) if layer_ids else 0
        if n < 1:
            raise ValueError(f"checkpoint has no '{prefix}layers.0.weight' and no hyper_parameters['num_hidden_layers']")
    if isinstance(w0, torch.Tensor) and w0.ndim == 2:
        C = C if C is not None else int(w0.shape[0])
        if L is None:
            r = int(round(w0.shape[1] ** 0.5))
            if r * r != w0.shape[1]:
                raise ValueError(
                    f"'{prefix}layers.0.weight' has {w0.shape[1]} input columns, not a square L² "
                    "(SH features), and hyper_parameters['legendre_polys'] is missing"
                )
            L = r
    if isinstance(last, torch.Tensor) and last.ndim == 2 and E is None:
        E = int(last.shape[0])
    missing_hp = [name for name, v in (("legendre_polys", L), ("capacity", C), ("embed_dim", E)) if v is None]
    if missing_hp:
        raise ValueError(f"cannot determine {missing_hp}: neither hyper_parameters nor the tensor shapes give them")
    assert L is not None and C is not None and E is not None

    expected: dict[str, tuple[int, ...]] = {}
    for i in range(n):
        expected[f"layers.{i}.weight"] = (C, L * L if i == 0 else C)
        expected[f"layers.{i}.bias"] = (C,)
    expected["last_layer.weight"] = (E, C)
    expected["last_layer.bias"] = (E,)

    missing = [prefix + k for k in expected if k not in sub]
    if missing:
        raise ValueError(
            f"checkpoint is missing location-encoder key(s) {missing} "
            f"(expected for legendre_polys={L}, capacity={C}, num_hidden_layers={n}, embed_dim={E})"
        )
    unexpected = sorted(prefix + k for k in sub if k not in expected)
    if unexpected:
        raise ValueError(
            f"checkpoint has unexpected location-encoder key(s) {unexpected} for num_hidden_layers={n}; "
            "is hyper_parameters['num_hidden_layers'] right?"
        )
    out: dict[str, torch.Tensor] = {}
    for k, shape in expected.items():
        t = sub[k]
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"checkpoint entry {prefix + k!r} is a {type(t).__name__}, expected a tensor")
        if not t.is_floating_point():
            raise ValueError(f"checkpoint entry {prefix + k!r} has dtype {t.dtype}, expected a floating dtype")
        if tuple(t.shape) != shape:
            hint = ""
            if k == "layers.0.weight" and t.ndim == 2:
                hint = f" (legendre_polys={L} gives L²={L * L} input features)"
            raise ValueError(f"checkpoint entry {prefix + k!r} has shape {tuple(t.shape)}, expected {shape}{hint}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"checkpoint entry {prefix + k!r} contains NaN or inf")
        out[k] = t.detach().to(device="cpu", dtype=torch.float64)
    config = {"legendre_polys": L, "capacity": C, "num_hidden_layers": n, "embed_dim": E, "hyper_parameters": dict(hp)}
    return config, out


def _resolve_device(device: Any) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: use e.g. 'cpu', 'cuda', 'cuda:0' or 'auto'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use 'cpu' or 'auto'")
    return dev


def load_satclip(
    path: str | os.PathLike, *, trust_pickle: bool = False, device: str | torch.device | None = None
) -> LocationEncoder:
    """Load a SatCLIP checkpoint's location encoder as a geoviz ``LocationEncoder``.

    Args:
        path: a SatCLIP Lightning checkpoint (``satclip-*.ckpt``, downloaded by you or by
            :func:`geoviz.pretrained.load_pretrained` with ``download=True``).
        trust_pickle: allow arbitrary unpickling if ``weights_only=True`` refuses the file.
            Only for files from a trusted source (unpickling can execute code).
        device: where to put the model (``None``/``"cpu"``, ``"cuda"``, ``"auto"``, a
            ``torch.device``).

    Returns:
        A float64 :class:`~geoviz.location_encoder.LocationEncoder` in eval mode:
        ``SphericalHarmonics(L, convention="satclip")`` + ``Siren(L², embed_dim,
        hidden_dim=capacity, num_layers=num_hidden_layers, w0=1, w0_initial=30)``. It maps
        ``(N, 2)`` (lon, lat) degrees to ``(N, embed_dim)`` (256 for released models)
        un-normalised float64 embeddings. Dropout is not built (SatCLIP pretrained with
        p = 0.5, which is off at inference anyway). ``model.pretrained_config`` holds the
        checkpoint's ``hyper_parameters`` and the inferred sizes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UntrustedCheckpointError (a ``ValueError``): the file needs ``trust_pickle=True``.
        ValueError: not a checkpoint, corrupt, missing keys, wrong shapes or unsupported
            hyper-parameters (each named); an invalid ``device``.

    Example:
        >>> enc = load_satclip("satclip-resnet18-l10.ckpt")
        >>> emb = enc(torch.tensor([[2.35, 48.86]], dtype=torch.float64))   # (1, 256)
    """
    from ..encoders import SphericalHarmonics
    from ..location_encoder import LocationEncoder
    from ..networks import Siren

    dev = _resolve_device(device)
    ckpt = read_satclip_checkpoint(path, trust_pickle=trust_pickle)
    cfg, state = satclip_state_from_checkpoint(ckpt)
    pe = SphericalHarmonics(cfg["legendre_polys"], convention="satclip")
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten; leave the caller's RNG alone
        net = Siren(
            cfg["legendre_polys"] ** 2,
            cfg["embed_dim"],
            hidden_dim=cfg["capacity"],
            num_layers=cfg["num_hidden_layers"],
            w0=1.0,
            w0_initial=30.0,
            dropout=0.0,
        ).double()
    net.load_state_dict(state, strict=True)
    enc = LocationEncoder(pe, net).to(dev).eval()
    enc.pretrained_config = {k: v for k, v in cfg.items()}
    enc.pretrained_config["source"] = str(Path(path))
    enc._geoviz_pretrained = "satclip"  # image-derived (geoviz.pretrained.is_image_derived)
    return enc
