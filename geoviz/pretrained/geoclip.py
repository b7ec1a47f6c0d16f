"""GeoCLIP's pretrained location encoder, rebuilt as a geoviz ``LocationEncoder``.

GeoCLIP (Vivanco Cepeda et al., NeurIPS 2023; ``pip install --no-deps geoclip``) ships its
location-encoder weights inside the wheel (``geoclip/model/weights/location_encoder_weights.pth``,
MIT). Its architecture, rebuilt here in our own modules:

1. **Equal Earth projection** of (lat, lon) in degrees (Šavrič et al. 2018 polynomial,
   coefficients ``A1..A4``), scaled by ``SF / 180`` with ``SF = 66.50336``, giving ``(N, 2)``
   values of order 1 (x in ≈[-0.99, 0.99], y in ≈[-0.48, 0.48]).
2. Three **capsules**, one per random-Fourier-feature scale σ ∈ {2^0, 2^4, 2^8}. Each maps
   the projected point ``v`` to ``[cos(2π v Bᵀ), sin(2π v Bᵀ)]`` (``B``: ``(256, 2)``, drawn
   once from N(0, σ²) by GeoCLIP and stored in the weights file), then
   ``Linear(512, 1024) → ReLU → Linear(1024, 1024) → ReLU → Linear(1024, 1024) → ReLU →
   Linear(1024, 512)``.
3. The three capsule outputs are **summed** into a 512-d embedding (un-normalised).

GeoCLIP's own code takes **(lat, lon)**; geoviz's adapter takes ``(lon, lat)`` like the rest
of geoviz, and swaps the columns at this boundary only. The GeoCLIP package is never
imported (its ``__init__`` needs ``transformers``): the weights file is located with
``importlib.util.find_spec`` and read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .._validation import as_lonlat_tensor, check_lonlat

if TYPE_CHECKING:
    from ..location_encoder import LocationEncoder

__all__ = [
    "EqualEarthProjection",
    "RandomFourierFeatures",
    "GeoCLIPCapsule",
    "GeoCLIPNetwork",
    "equal_earth",
    "geoclip_weights_path",
    "convert_geoclip_state_dict",
    "load_geoclip",
    "GEOCLIP_SIGMAS",
]

# Equal Earth polynomial coefficients and GeoCLIP's scale factor (from the geoclip package).
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_SF = 66.50336

GEOCLIP_SIGMAS: tuple[float, ...] = (2.0**0, 2.0**4, 2.0**8)
"""Random-Fourier-feature scales of GeoCLIP's three capsules (informational: the matrices ``B``
come from the weights file)."""

_RFF_FREQUENCIES = 256
_HIDDEN = 1024
_OUT = 512


def equal_earth(lonlat: Tensor) -> Tensor:
    """GeoCLIP's scaled Equal Earth projection.

    Args:
        lonlat: ``(N, 2)`` float tensor of (lon, lat) in degrees (validated by the caller).

    Returns:
        ``(N, 2)`` tensor ``(x, y) · SF / 180`` in the input's dtype and device, computed in
        the same operation order as GeoCLIP (so float32 results match it to rounding).
    """
    lat = torch.deg2rad(lonlat[:, 1])
    lon = torch.deg2rad(lonlat[:, 0])
    sqrt3 = math.sqrt(3.0)
    theta = torch.asin((sqrt3 / 2) * torch.sin(lat))
    denominator = 3 * (9 * _A4 * theta**8 + 7 * _A3 * theta**6 + 3 * _A2 * theta**2 + _A1)
    x = (2 * sqrt3 * lon * torch.cos(theta)) / denominator
    y = _A4 * theta**9 + _A3 * theta**7 + _A2 * theta**3 + _A1 * theta
    return (torch.stack((x, y), dim=1) * _SF) / 180


class EqualEarthProjection(nn.Module):
    """Positional-encoding stage of GeoCLIP: ``(N, 2)`` (lon, lat) degrees → ``(N, 2)`` projected.

    No parameters. ``embedding_dim = 2``. Input float32/float64, any device; output same
    dtype/device. Inputs are validated (range, NaN, shape) like every geoviz encoding.
    """

    embedding_dim = 2

    def forward(self, lonlat: Any) -> Tensor:
        if not isinstance(lonlat, torch.Tensor):
            lonlat, _ = as_lonlat_tensor(lonlat)
        check_lonlat(lonlat)
        return equal_earth(lonlat)


class RandomFourierFeatures(nn.Module):
    """Gaussian random Fourier features ``[cos(2π v Bᵀ), sin(2π v Bᵀ)]``.

    Args:
        b: ``(F, D)`` frequency matrix (GeoCLIP: ``(256, 2)``); stored as a persistent
            buffer ``b`` so it is saved with, and loaded from, the state dict.

    Shape:
        input ``(N, D)``; output ``(N, 2F)`` (cosines first, then sines), dtype of ``b``.
    """

    def __init__(self, b: Tensor) -> None:
        super().__init__()
        if not isinstance(b, Tensor) or b.ndim != 2:
            raise ValueError(f"b must be a 2-D tensor (frequencies, input_dim), got {getattr(b, 'shape', b)!r}")
        self.register_buffer("b", b.clone())

    def forward(self, v: Tensor) -> Tensor:
        vp = (2 * math.pi * v) @ self.b.T
        return torch.cat((torch.cos(vp), torch.sin(vp)), dim=-1)


class GeoCLIPCapsule(nn.Module):
    """One GeoCLIP capsule: RFF(256 frequencies) → 3 × (Linear, ReLU) → Linear(1024, 512).

    Args:
        sigma: scale used to draw the initial ``B ~ N(0, σ²)`` (replaced by loaded weights).
        frequencies, hidden, out: layer sizes (GeoCLIP: 256, 1024, 512).
    """

    def __init__(self, sigma: float = 1.0, frequencies: int = _RFF_FREQUENCIES, hidden: int = _HIDDEN, out: int = _OUT) -> None:
        super().__init__()
        self.sigma = float(sigma)
        self.rff = RandomFourierFeatures(torch.randn(frequencies, 2) * self.sigma)
        self.mlp = nn.Sequential(
            nn.Linear(2 * frequencies, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden, out)

    def forward(self, v: Tensor) -> Tensor:
        return self.head(self.mlp(self.rff(v)))


class GeoCLIPNetwork(nn.Module):
    """The three GeoCLIP capsules, summed: ``(N, 2)`` projected points → ``(N, 512)``.

    State-dict keys: ``capsules.{i}.rff.b``, ``capsules.{i}.mlp.{0,2,4}.{weight,bias}``,
    ``capsules.{i}.head.{weight,bias}`` (see :func:`convert_geoclip_state_dict`).
    """

    def __init__(self, sigmas: tuple[float, ...] = GEOCLIP_SIGMAS) -> None:
        super().__init__()
        self.capsules = nn.ModuleList(GeoCLIPCapsule(s) for s in sigmas)
        self.input_dim = 2
        self.output_dim = _OUT

    def forward(self, v: Tensor) -> Tensor:
        out = self.capsules[0](v)
        for cap in self.capsules[1:]:
            out = out + cap(v)
        return out


def geoclip_weights_path() -> Path:
    """Path of ``location_encoder_weights.pth`` inside the installed ``geoclip`` package.

    Found with ``importlib.util.find_spec`` -- the package is not imported.

    Raises:
        FileNotFoundError: geoclip is not installed or the file is missing (with the
            install command).
    """
    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "GeoCLIP weights need the optional 'geoclip' package: pip install --no-deps geoclip==1.3.0 "
            "(or pass path= to a location_encoder_weights.pth file)"
        )
    p = Path(list(spec.submodule_search_locations)[0]) / "model" / "weights" / "location_encoder_weights.pth"
    if not p.is_file():
        raise FileNotFoundError(f"the installed geoclip package has no location-encoder weights at {str(p)!r}")
    return p


def convert_geoclip_state_dict(sd: dict[str, Tensor], n_capsules: int = len(GEOCLIP_SIGMAS)) -> dict[str, Tensor]:
    """Map GeoCLIP ``LocationEncoder`` keys to :class:`GeoCLIPNetwork` keys, checking shapes.

    ``LocEnc{i}.capsule.0.b`` → ``capsules.{i}.rff.b``; ``LocEnc{i}.capsule.{1,3,5}.*`` →
    ``capsules.{i}.mlp.{0,2,4}.*``; ``LocEnc{i}.head.0.*`` → ``capsules.{i}.head.*``.

    Raises:
        ValueError: a key is missing or unexpected, or a tensor has the wrong shape (named).
    """
    F, H, O = _RFF_FREQUENCIES, _HIDDEN, _OUT
    plan: dict[str, tuple[str, tuple[int, ...]]] = {}
    for i in range(n_capsules):
        src, dst = f"LocEnc{i}.", f"capsules.{i}."
        plan[src + "capsule.0.b"] = (dst + "rff.b", (F, 2))
        for j, (a, b) in zip((1, 3, 5), ((2 * F, H), (H, H), (H, H))):
            k = (j - 1)
            plan[f"{src}capsule.{j}.weight"] = (f"{dst}mlp.{k}.weight", (b, a))
            plan[f"{src}capsule.{j}.bias"] = (f"{dst}mlp.{k}.bias", (b,))
        plan[src + "head.0.weight"] = (dst + "head.weight", (O, H))
        plan[src + "head.0.bias"] = (dst + "head.bias", (O,))
    missing = [k for k in plan if k not in sd]
    if missing:
        raise ValueError(f"GeoCLIP weights are missing key(s) {missing}")
    unexpected = sorted(k for k in sd if k not in plan)
    if unexpected:
        raise ValueError(f"GeoCLIP weights have unexpected key(s) {unexpected}")
    out: dict[str, Tensor] = {}
    for k, (dst, shape) in plan.items():
        t = sd[k]
        if not isinstance(t, Tensor) or tuple(t.shape) != shape:
            raise ValueError(f"GeoCLIP weight {k!r} has shape {tuple(getattr(t, 'shape', ()))}, expected {shape}")
        out[dst] = t
    return out


def load_geoclip(
    path: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> LocationEncoder:
    """Load GeoCLIP's pretrained location encoder as a geoviz ``LocationEncoder``.

    Args:
        path: a ``location_encoder_weights.pth``; default: the file shipped in the installed
            ``geoclip`` package (see :func:`geoclip_weights_path`).
        device: ``None``/``"cpu"``, ``"cuda"``, ``"auto"`` or a ``torch.device``.
        dtype: ``torch.float32`` (default; the stored weights are float32 and GeoCLIP runs
            in float32) or ``torch.float64``.

    Returns:
        An eval-mode :class:`~geoviz.location_encoder.LocationEncoder` mapping ``(N, 2)``
        **(lon, lat)** degrees to ``(N, 512)`` un-normalised embeddings in ``dtype``; equal to
        GeoCLIP's ``LocationEncoder()((lat, lon))`` up to float rounding.

    Raises:
        FileNotFoundError: geoclip not installed / file missing.
        ValueError: the file is not a GeoCLIP location-encoder state dict (named keys/shapes),
            or ``dtype`` is not float32/float64.
    """
    from ..location_encoder import LocationEncoder
    from .satclip import _resolve_device

    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    dev = _resolve_device(device)
    p = geoclip_weights_path() if path is None else Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"GeoCLIP weights file not found: {str(p)!r}")
    from .checkpoint_file import load_torch_file

    sd = load_torch_file(p, what="not a readable GeoCLIP weights file")  # one clean line on garbage
    if not isinstance(sd, dict):
        raise ValueError(f"{str(p)!r} holds a {type(sd).__name__}, expected a state dict")
    with torch.random.fork_rng(devices=[]):  # building draws random init; keep the caller's RNG untouched
        net = GeoCLIPNetwork()
    net.load_state_dict(convert_geoclip_state_dict(sd), strict=True)
    enc = LocationEncoder(EqualEarthProjection(), net).to(device=dev, dtype=dtype).eval()
    enc.pretrained_config = {"source": str(p), "sigmas": GEOCLIP_SIGMAS, "embed_dim": _OUT}
    return enc
