""""Where on Earth is this?": geolocate an image with a contrastive (SatCLIP-style) model.

A model written by ``geoviz pretrain`` holds a location encoder (``(N, 2)`` lon/lat degrees →
``(N, D)``), an image tower (``(N, 3, P, P)`` patches → ``(N, D)``) and the temperature it
learned (``exp(logit_scale)``). Pretraining asked: *which of these places does this patch
come from?* — a GeoGuessr game over each batch. Asked of every place on Earth, the same
question gives a probability map:

    p(cell) = area(cell) · exp(s · cos(image, location(cell))) / Σ_cells (same),

a softmax over a gallery of 0.25° cells (1440 × 720) at the model's learned scale ``s``, the
cells weighted by their area (∝ cos lat: the sphere, not the map, is uniform a priori).
:func:`geolocate` computes it coarse-to-fine (a full 0.25° gallery is a million location
embeddings, seconds to tens of seconds per query on a CPU):

1. the 1° gallery (64,800 cell centres) is embedded once per model and kept in memory
   (:class:`Geolocator`);
2. its logits are computed for the query; every 1° cell whose logit is within ``delta``
   (default 12, a factor e¹² ≈ 160,000 in density) of the largest is *refined*: its 4 × 4
   0.25° sub-cells are embedded on demand and get their own logits (at most
   ``max_refined`` cells, the best first; the logit gap actually covered is recorded);
3. the sub-cells of the other 1° cells get their cell's coarse logit. The probability these
   cells carry in the result, :attr:`GeolocationResult.mass_outside`, bounds how much of the
   map rests on the coarse approximation (with the default ``delta`` it is typically far
   below 10⁻³); ``delta=inf`` refines everything and equals the brute-force 0.25° softmax.

The places (:attr:`GeolocationResult.top`) are peaks of the probability *density* (the
logit) at least ``min_distance_km`` apart (greedy non-maximum suppression), each with its
**probability = the mass within ``radius_km`` of the peak** (default half the separation,
so the discs do not overlap and the k probabilities sum to at most 1); the k with the most
mass are returned, best first.

:class:`GeoGame` is the game for people: it draws Blue Marble patches from the model's
held-out cells (regions pretraining never saw), scores a guess and the model's top place
against the truth in great-circle km, and keeps the running score.

What a 4 km RGB model can know: the colour and texture of land cover at the 2–4° scale of
its patches (desert, forest, ice, ocean, cloud-free Blue Marble composite) — no objects, no
text, no roads. Deserts or boreal forests of two continents look alike to it, and its map
says so with several peaks.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["geolocate", "Geolocator", "GeolocationResult", "Place", "GeoGame", "GameRound", "RoundResult",
           "prepare_image", "load_geolocator", "great_circle_km", "chance_within", "EARTH_RADIUS_KM",
           "COARSE_DEG", "FINE_DEG", "DEFAULT_MODEL", "WHAT_IT_CAN_KNOW", "geolocation_map",
           "train_small_model", "blue_marble_background", "probability_rgba"]

from .data.sampling import EARTH_RADIUS_KM, great_circle_km  # noqa: E402,F401  (re-exported)
COARSE_DEG = 1.0
"""Cell size of the gallery embedded once per model (degrees)."""
FINE_DEG = 0.25
"""Cell size of the probability map (degrees); each coarse cell holds 4 × 4 of them."""
_SUB = int(round(COARSE_DEG / FINE_DEG))
DEFAULT_MODEL = "geoviz-bluemarble-l10"
TIFF_SUFFIXES = (".tif", ".tiff")

WHAT_IT_CAN_KNOW = (
    "The model saw NASA Blue Marble at about 4 km per pixel, as 24 × 24-pixel RGB patches 2–4° "
    "wide: it knows the colour and texture of land cover at that scale (desert, forest, ice, "
    "ocean), nothing smaller — no buildings, roads, text or objects. A photo taken on the ground "
    "or a close-up satellite image is far outside what it was trained on, and its map is then a "
    "guess about colours only.")
"""A plain warning for uploaded images (CLI, dashboard, notebook)."""


def chance_within(radius_km: Any) -> np.ndarray:
    """Probability that a guess uniform on the sphere lands within ``radius_km`` of a fixed
    point: the spherical cap's share of the sphere, ``(1 − cos(r/R)) / 2``."""
    r = np.asarray(radius_km, dtype=np.float64)
    return (1.0 - np.cos(np.clip(r / EARTH_RADIUS_KM, 0.0, math.pi))) / 2.0


def _check_lonlat(lon: Any, lat: Any, what: str = "point") -> tuple[float, float]:
    try:
        lo, la = float(lon), float(lat)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: lon and lat must be numbers, got {lon!r}, {lat!r}") from None
    if not (np.isfinite(lo) and np.isfinite(la)) or not -180.0 <= lo <= 180.0 or not -90.0 <= la <= 90.0:
        raise ValueError(f"{what}: need lon in [-180, 180] and lat in [-90, 90] degrees, got ({lo}, {la})")
    return lo, la


# ----------------------------------------------------------------------------- images


def prepare_image(image: Any, pixels: int = 24) -> np.ndarray:
    """An image as the tower's input patch: ``(pixels, pixels, 3)`` uint8 RGB.

    Args:
        image: one of

            * a path (``str``/``PathLike``): PNG, JPEG, ... read with Pillow (converted to RGB:
              grey is replicated, alpha dropped); ``.tif``/``.tiff`` read with tifffile
              (rasterio as a fallback): the **first three bands** are R, G, B (band-last or
              band-first layouts both accepted), and non-uint8 data are scaled per band
              linearly from its 2nd to its 98th percentile (over finite values) to 0…255,
              clipped (a common display stretch; uint8 data are kept as they are);
            * an ``(H, W, 3)`` uint8 numpy array (RGB, row 0 at the top);
            * a ``PIL.Image.Image`` (converted to RGB).
        pixels: side of the output patch (the tower's ``pixels``, 24 for the shipped models).

    The image is centre-cropped to a square (patches are square: width ``size/cos(lat)`` of
    longitude by ``size`` of latitude) and resized with Pillow's ``BOX`` filter (area
    average; an image smaller than the patch is enlarged by the same filter).

    Raises:
        FileNotFoundError: no such file. ValueError: an unreadable file, a wrong shape or
        dtype (named), an empty image, a GeoTIFF with fewer than 3 bands. TypeError: another
        type of object.
    """
    from PIL import Image

    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 1:
        raise ValueError(f"pixels must be a positive int, got {pixels!r}")
    if isinstance(image, (str, os.PathLike)):
        arr = _read_image_file(Path(image).expanduser())
    elif isinstance(image, Image.Image):
        arr = np.asarray(image.convert("RGB"))
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"an image array must have shape (H, W, 3) (RGB, row 0 at the top), got {arr.shape}")
        if arr.dtype != np.uint8:
            raise ValueError(f"an image array must be uint8 (0..255), got dtype {arr.dtype}; scale it first, "
                             f"e.g. (x * 255).round().astype(np.uint8) for floats in [0, 1]")
    else:
        raise TypeError(f"image must be a file path, an (H, W, 3) uint8 array or a PIL image, "
                        f"got {type(image).__name__}")
    H, W = arr.shape[:2]
    if H < 1 or W < 1:
        raise ValueError(f"the image is empty ({H} × {W} pixels)")
    s = min(H, W)
    top, left = (H - s) // 2, (W - s) // 2
    sq = np.ascontiguousarray(arr[top:top + s, left:left + s])
    out = Image.fromarray(sq, "RGB").resize((int(pixels), int(pixels)), Image.Resampling.BOX)
    return np.asarray(out, dtype=np.uint8).copy()


def _stretch(band: np.ndarray) -> np.ndarray:
    """One band → uint8 by its 2nd–98th percentile (finite values), clipped; NaN → 0."""
    b = band.astype(np.float64)
    ok = np.isfinite(b)
    if not ok.any():
        return np.zeros(b.shape, np.uint8)
    lo, hi = np.percentile(b[ok], [2.0, 98.0])
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.clip((np.where(ok, b, lo) - lo) * scale, 0, 255)
    return np.round(out).astype(np.uint8)


def _read_image_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    if path.suffix.lower() in TIFF_SUFFIXES:
        data = _read_tiff(path)
        if data.ndim == 2:
            raise ValueError(f"{path}: a GeoTIFF with one band; geolocation needs 3 bands (R, G, B)")
        if data.ndim != 3:
            raise ValueError(f"{path}: expected a (bands, rows, cols) or (rows, cols, bands) raster, got {data.shape}")
        if data.shape[0] < data.shape[2] and data.shape[0] <= 16:
            data = np.moveaxis(data, 0, -1)  # (bands, rows, cols) → (rows, cols, bands)
        if data.shape[2] < 3:
            raise ValueError(f"{path}: {data.shape[2]} band(s); geolocation needs 3 (R, G, B: the first three)")
        rgb = data[..., :3]
        if rgb.dtype == np.uint8:
            return np.ascontiguousarray(rgb)
        return np.stack([_stretch(rgb[..., i]) for i in range(3)], axis=-1)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path} is not a readable image (PNG, JPEG, GeoTIFF, ...): {exc}") from None


def _read_tiff(path: Path) -> np.ndarray:
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is not None:
        try:
            return np.asarray(tifffile.imread(path))
        except Exception as exc:  # noqa: BLE001 - try rasterio before giving up
            first = exc
    else:
        first = None
    try:
        import rasterio
    except ImportError:
        raise ValueError(f"{path}: cannot read a TIFF ({first or 'tifffile and rasterio are not installed'})") from None
    try:
        with rasterio.open(path) as src:
            return src.read()  # (bands, rows, cols)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path} is not a readable GeoTIFF: {exc}") from None


# ----------------------------------------------------------------------------- the model


def _cell_centres(deg: float) -> tuple[np.ndarray, np.ndarray]:
    """``(lons (W,), lats (H,))`` of the global grid of ``deg`` cells, lats north → south."""
    H, W = int(round(180 / deg)), int(round(360 / deg))
    return -180.0 + (np.arange(W) + 0.5) * deg, 90.0 - (np.arange(H) + 0.5) * deg


class Geolocator:
    """A location encoder and its image tower, with the 1° gallery embedded once.

    Args:
        location_encoder: ``(N, 2)`` lon/lat degrees → ``(N, D)`` (any ``nn.Module``).
        image_encoder: ``(N, 3, P, P)`` float32 in [-1, 1] → ``(N, D)``.
        logit_scale: the softmax scale ``s`` (the model's ``exp(logit_scale)``, ≤ 100).
        pixels: the patch side ``P``.
        name: how the model is called in messages and results.
        holdout: the model's training configuration keys that define its held-out cells
            (``holdout_block_deg``, ``holdout_fraction``, ``holdout_seed``; default the
            :class:`~geoviz.training.pretraining.PretrainConfig` defaults).
        batch_size: points per forward pass of the location encoder.
        image_config: the model file's ``image_encoder`` dict; a tower trained on your own
            imagery (``geoviz pretrain --images``) has a ``normalization`` there, and its
            images are prepared by :func:`geoviz.training.image_index.patches_for_tower`.

    Attributes:
        coarse: ``(64800, D)`` float32 unit-norm embeddings of the 1° cell centres (rows north
            → south, columns west → east), computed on first use.
    """

    def __init__(self, location_encoder: Any, image_encoder: Any, logit_scale: float, pixels: int = 24, *,
                 name: str = "model", holdout: dict[str, Any] | None = None, batch_size: int = 16384,
                 image_config: dict[str, Any] | None = None) -> None:
        self.image_config = dict(image_config or {})
        self.location_encoder = location_encoder.eval()
        self.image_encoder = image_encoder.eval()
        self.logit_scale = float(logit_scale)
        if not (np.isfinite(self.logit_scale) and self.logit_scale > 0):
            raise ValueError(f"logit_scale must be a positive number, got {logit_scale!r}")
        self.pixels = int(pixels)
        self.name = str(name)
        self.holdout = dict(holdout or {})
        self.batch_size = int(batch_size)
        self._coarse: np.ndarray | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Geolocator({self.name!r}, pixels={self.pixels}, scale={self.logit_scale:.1f})"

    # ------------------------------------------------------------------ embeddings

    def embed_locations(self, lonlat: np.ndarray) -> np.ndarray:
        """``(N, 2)`` lon/lat degrees → ``(N, D)`` float32 unit-norm location embeddings."""
        import torch

        x = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        p = next(self.location_encoder.parameters())
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.batch_size):
                e = self.location_encoder(torch.from_numpy(x[i:i + self.batch_size]).to(p.device, p.dtype))
                out.append(torch.nn.functional.normalize(e.float(), dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def embed_images(self, patches: np.ndarray) -> np.ndarray:
        """``(N, P, P, 3)`` uint8 patches (or one ``(P, P, 3)``) → ``(N, D)`` float32 unit-norm embeddings."""
        import torch

        from .training.pretraining import patches_to_tensor

        a = np.asarray(patches)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[1:] != (self.pixels, self.pixels, 3) or a.dtype != np.uint8:
            raise ValueError(f"patches must be (N, {self.pixels}, {self.pixels}, 3) uint8 (see prepare_image), "
                             f"got {a.shape} {a.dtype}")
        p = next(self.image_encoder.parameters())
        with torch.no_grad():
            out = [torch.nn.functional.normalize(
                self.image_encoder(patches_to_tensor(a[i:i + 512]).to(p.device, p.dtype)).float(), dim=1).cpu().numpy()
                for i in range(0, len(a), 512)]
        return np.concatenate(out)

    def embed_tensor(self, x: Any) -> np.ndarray:
        """``(N, C, P, P)`` float32 tower input (already prepared) → ``(N, D)`` float32 unit-norm embeddings."""
        import torch

        p = next(self.image_encoder.parameters())
        with torch.no_grad():
            return torch.nn.functional.normalize(self.image_encoder(x.to(p.device, p.dtype)).float(), dim=1).cpu().numpy()

    @property
    def own_imagery(self) -> bool:
        """Whether the tower was trained on your own imagery (``--images``), not Blue Marble RGB."""
        return bool(self.image_config.get("normalization"))

    @property
    def coarse(self) -> np.ndarray:
        with self._lock:
            if self._coarse is None:
                lons, lats = _cell_centres(COARSE_DEG)
                ll = np.stack(np.meshgrid(lons, lats), -1).reshape(-1, 2)
                self._coarse = self.embed_locations(ll)
            return self._coarse

    def fine_embeddings(self, cells: np.ndarray) -> np.ndarray:
        """Embeddings of the 4 × 4 0.25° sub-cells of 1° cells ``cells`` (flat indices into
        the 180 × 360 grid): ``(len(cells), 16, D)`` float32, sub-cells row-major (north
        first, then west first)."""
        ll = _subcell_centres(np.asarray(cells, dtype=np.int64))
        return self.embed_locations(ll.reshape(-1, 2)).reshape(len(cells), _SUB * _SUB, -1)

    # ------------------------------------------------------------------ holdout

    def heldout_mask(self) -> Callable[[np.ndarray], np.ndarray]:
        """The validation mask of the model's training configuration: points whose 3° patch
        lies inside the held-out cells (:meth:`PretrainConfig.validation_mask`)."""
        from .training.pretraining import PretrainConfig

        keys = ("holdout_block_deg", "holdout_fraction", "holdout_seed")
        cfg = PretrainConfig(**{k: self.holdout[k] for k in keys if self.holdout.get(k) is not None})
        mask = cfg.validation_mask()
        if mask is None:
            raise ValueError(f"{self.name} was trained with no held-out cells (holdout_fraction = 0): "
                             "every place was seen in training, so there is no unseen patch to play with")
        return mask

    # ------------------------------------------------------------------ queries

    def locate(self, embedding: np.ndarray, *, top_k: int = 5, delta: float = 12.0, max_refined: int = 4096,
               min_distance_km: float = 250.0, radius_km: float | None = None) -> "GeolocationResult":
        """The probability map and top places for one image embedding ``(D,)`` (normalised
        here; all zeros gives the area prior) — see :func:`geolocate` for the arguments."""
        import time

        t0 = time.perf_counter()
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(e))
        if not np.isfinite(norm):
            raise ValueError("the image embedding has non-finite values")
        if norm > 0:
            e = e / norm
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        if not (delta > 0):
            raise ValueError(f"delta must be a positive number of logits (or inf), got {delta!r}")
        if isinstance(max_refined, bool) or not isinstance(max_refined, (int, np.integer)) or max_refined < 1:
            raise ValueError(f"max_refined must be a positive int, got {max_refined!r}")
        if not (min_distance_km > 0):
            raise ValueError(f"min_distance_km must be > 0, got {min_distance_km!r}")
        radius = min_distance_km / 2.0 if radius_km is None else float(radius_km)
        if not radius > 0:
            raise ValueError(f"radius_km must be > 0, got {radius_km!r}")
        s = self.logit_scale
        coarse = self.coarse
        if e.shape != (coarse.shape[1],):
            raise ValueError(f"the embedding must have {coarse.shape[1]} values, got {e.shape}")
        zc = s * (coarse @ e).astype(np.float64)                      # (64800,) coarse logits
        order = np.argsort(-zc, kind="stable")
        within = int(np.searchsorted(-zc[order], -(zc[order[0]] - delta), side="right"))
        n_ref = min(within, int(max_refined), len(zc))
        refined = order[:n_ref]
        covered = float(zc[order[0]] - zc[order[n_ref]]) if n_ref < len(zc) else math.inf
        Hc, Wc = int(round(180 / COARSE_DEG)), int(round(360 / COARSE_DEG))
        zf = np.repeat(np.repeat(zc.reshape(Hc, Wc), _SUB, axis=0), _SUB, axis=1)   # (720, 1440)
        fine = self.fine_embeddings(refined)                          # (n_ref, 16, D)
        zsub = s * (fine @ e).astype(np.float64)                      # (n_ref, 16)
        ri, ci = np.divmod(refined, Wc)
        zf4 = zf.reshape(Hc, _SUB, Wc, _SUB)
        zf4[ri, :, ci, :] = zsub.reshape(-1, _SUB, _SUB)
        _, flats = _cell_centres(FINE_DEG)
        logw = np.log(np.cos(np.radians(flats)))[:, None]             # cell area ∝ cos(lat centre), exactly
        a = zf + logw
        a -= a.max()
        p = np.exp(a)
        p /= p.sum()
        ref_mask = np.zeros(Hc * Wc, bool)
        ref_mask[refined] = True
        outside = float(p.reshape(Hc, _SUB, Wc, _SUB).sum(axis=(1, 3)).reshape(-1)[~ref_mask].sum())
        top = _top_places(p, zf, top_k, float(min_distance_km), radius)
        return GeolocationResult(p, top, ref_mask.reshape(Hc, Wc), outside, float(delta), covered, s, self.name,
                                 float(min_distance_km), radius, time.perf_counter() - t0)


def _subcell_centres(cells: np.ndarray) -> np.ndarray:
    """``(K, 16, 2)`` lon/lat of the 0.25° sub-cell centres of 1° cells (flat indices)."""
    Wc = int(round(360 / COARSE_DEG))
    r, c = np.divmod(cells, Wc)
    off = (np.arange(_SUB) + 0.5) * FINE_DEG
    lat = (90.0 - r * COARSE_DEG)[:, None] - off[None, :]            # (K, 4) north first
    lon = (-180.0 + c * COARSE_DEG)[:, None] + off[None, :]          # (K, 4) west first
    LA = np.repeat(lat[:, :, None], _SUB, axis=2)
    LO = np.repeat(lon[:, None, :], _SUB, axis=1)
    return np.stack([LO, LA], -1).reshape(len(cells), _SUB * _SUB, 2)


def _band_distances(lon: float, lat: float, radius_km: float) -> tuple[slice, np.ndarray]:
    """Rows of the fine grid that can lie within ``radius_km`` of (lon, lat), and the
    ``(rows, 1440)`` distances (km) of their cell centres."""
    lons, lats = _cell_centres(FINE_DEG)
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM) + FINE_DEG
    r0 = max(0, int(math.floor((90.0 - (lat + dlat)) / FINE_DEG)))
    r1 = min(len(lats), int(math.ceil((90.0 - (lat - dlat)) / FINE_DEG)) + 1)
    LO, LA = np.meshgrid(lons, lats[r0:r1])
    d = great_circle_km(np.array([lon, lat]), np.stack([LO, LA], -1))
    return slice(r0, r1), d


def _top_places(p: np.ndarray, z: np.ndarray, k: int, min_km: float, radius_km: float) -> list["Place"]:
    """Greedy NMS on the density (``z``, the logit) for ``3k + 5`` peaks ≥ ``min_km`` apart,
    each scored by the mass of ``p`` within ``radius_km``; the k heaviest, best first."""
    lons, lats = _cell_centres(FINE_DEG)
    zz = z.copy()
    peaks = []
    for _ in range(3 * k + 5):
        idx = int(np.argmax(zz))
        if not np.isfinite(zz.flat[idx]):
            break
        r, c = divmod(idx, zz.shape[1])
        lon, lat = float(lons[c]), float(lats[r])
        rows, d = _band_distances(lon, lat, min_km)
        zz[rows][d < min_km] = -np.inf
        rows, d = _band_distances(lon, lat, radius_km)
        mass = float(p[rows][d <= radius_km].sum())
        peaks.append(Place(lon, lat, mass))
    peaks.sort(key=lambda q: -q.probability)
    return peaks[:k]


class Place(NamedTuple):
    """One of the top places: ``lon``, ``lat`` (degrees, a 0.25° cell centre) and
    ``probability`` (the map's mass within ``radius_km`` of it)."""

    lon: float
    lat: float
    probability: float


@dataclass
class GeolocationResult:
    """Where an image probably comes from.

    Attributes:
        probability: ``(720, 1440)`` float64 numpy array, the probability of each 0.25° cell
            (rows north → south, columns west → east; sums to 1 over the globe); as an
            ``xarray.DataArray`` (dims ``lat``, ``lon``, CF coordinates, EPSG:4326): :attr:`dataarray`.
        top: the :class:`Place` s, best first (greatest mass within ``radius_km``).
        refined: ``(180, 360)`` bool, the 1° cells whose 0.25° sub-cells have their own logits.
        mass_outside: probability in the other cells (their sub-cells share the coarse logit).
        delta: the refinement threshold asked for (logits below the coarse maximum).
        delta_covered: the logit gap actually refined (``< delta`` when ``max_refined`` cut
            it short; ``inf`` when every cell was refined).
        logit_scale: the softmax scale ``s`` used.
        model: the model's name.
        min_distance_km, radius_km: the separation of the places and the radius of their mass.
        seconds: wall time of the query (the image embedding and the gallery excluded).
    """

    probability: np.ndarray
    top: list[Place]
    refined: np.ndarray
    mass_outside: float
    delta: float
    delta_covered: float
    logit_scale: float
    model: str
    min_distance_km: float
    radius_km: float
    seconds: float = 0.0
    truth: tuple[float, float] | None = field(default=None)

    @property
    def best(self) -> Place:
        """The top place."""
        return self.top[0]

    def to_dataarray(self) -> "xr.DataArray":
        """The probability as an ``xarray.DataArray`` (dims ``lat``, ``lon``; CF coordinates,
        EPSG:4326; :func:`geoviz.grids.grid_dataarray`)."""
        from .grids import grid_dataarray

        return grid_dataarray(self.probability, FINE_DEG, name="probability", units="1",
                              long_name="probability of the 0.25 degree cell",
                              attrs={"model": self.model, "logit_scale": self.logit_scale,
                                     "mass_outside_refined": self.mass_outside})

    @functools.cached_property
    def dataarray(self) -> "xr.DataArray":
        """The probability as an ``xarray.DataArray`` (:meth:`to_dataarray`, built once on first use)."""
        return self.to_dataarray()

    def distance_km(self, lon: float, lat: float) -> np.ndarray:
        """``(k,)`` great-circle distances (km) from each top place to ``(lon, lat)``."""
        lo, la = _check_lonlat(lon, lat)
        return great_circle_km(np.array([[q.lon, q.lat] for q in self.top]), np.array([lo, la]))

    def error_km(self, lon: float, lat: float) -> float:
        """Distance (km) from the top place to the true ``(lon, lat)``."""
        return float(self.distance_km(lon, lat)[0])

    def mass_within(self, lon: float, lat: float, radius_km: float) -> float:
        """Probability that the image comes from within ``radius_km`` of ``(lon, lat)``
        (cells counted by their centre)."""
        lo, la = _check_lonlat(lon, lat)
        if not radius_km > 0:
            raise ValueError(f"radius_km must be > 0, got {radius_km!r}")
        rows, d = _band_distances(lo, la, float(radius_km))
        return float(self.probability[rows][d <= radius_km].sum())

    def coarse(self, factor: int = 4) -> np.ndarray:
        """The probability summed over ``factor × factor`` blocks (e.g. ``4``: a 1° map, ``(180, 360)``)."""
        H, W = self.probability.shape
        if H % factor or W % factor:
            raise ValueError(f"factor {factor} does not divide the {H} × {W} grid")
        return self.probability.reshape(H // factor, factor, W // factor, factor).sum(axis=(1, 3))

    def lines(self) -> list[str]:
        """One ``lon lat probability`` line per top place, best first (the CLI's output)."""
        return [f"{q.lon:.3f} {q.lat:.3f} {q.probability:.4f}" for q in self.top]


# ----------------------------------------------------------------------------- loading

_CACHE: dict[tuple[str, float, int], Geolocator] = {}
_CACHE_LOCK = threading.Lock()


def _resolve_path(ref: str | os.PathLike) -> tuple[Path, str]:
    from .pretrained.geoviz_model import VARIANTS, default_weights_path

    text = os.fspath(ref).strip()
    key = text.lower()
    short = key[len("geoviz-bluemarble-"):] if key.startswith("geoviz-bluemarble-") else key
    if short in VARIANTS and not Path(text).expanduser().is_file():
        return default_weights_path(short), f"geoviz-bluemarble-{short}"
    p = Path(text).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"model {text!r} is neither a shipped Blue Marble model "
                                f"({', '.join('geoviz-bluemarble-' + v for v in VARIANTS)}) nor an existing file")
    return p, p.name


def load_geolocator(model: str | os.PathLike | Geolocator = DEFAULT_MODEL) -> Geolocator:
    """The :class:`Geolocator` of a shipped model name (``geoviz-bluemarble-l10``/``-l40``,
    or ``l10``/``l40``) or a model file written by ``geoviz pretrain``; kept in memory per
    file (and its modification time), so the 1° gallery is embedded once per process.

    Raises:
        FileNotFoundError: no such model. ValueError: the file holds no image tower (the
        message says how to get one), or is not a geoviz model file.
    """
    if isinstance(model, Geolocator):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a name, a path or a Geolocator, got {type(model).__name__}")
    path, name = _resolve_path(model)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    from .pretrained import load_encoder
    from .pretrained.geoviz_model import load_image_tower, read_geoviz_model_file

    try:
        tower = load_image_tower(path)
    except ValueError as exc:
        raise ValueError(f"{name} cannot geolocate images: {exc}. Models written by `geoviz pretrain --save FILE` "
                         f"carry an image tower; pass such a file as the model") from None
    from .training.pretraining import IMAGE_INPUT

    conf = tower.config
    if not conf.get("normalization") and (int(conf.get("in_channels", 3)) != 3 or conf.get("input", IMAGE_INPUT)
                                          != IMAGE_INPUT):
        raise ValueError(f"{name}: its image tower takes {conf.get('in_channels')} band(s) prepared as "
                         f"{conf.get('input')!r}, which geolocation does not know how to prepare")
    enc, _ = load_encoder(str(path))
    meta = read_geoviz_model_file(path)["meta"]
    cfg = meta.get("config") if isinstance(meta, dict) else None
    g = Geolocator(enc, tower.encoder, tower.logit_scale, int(tower.config.get("pixels", 24)), name=name,
                   holdout=cfg if isinstance(cfg, dict) else None, image_config=conf)
    with _CACHE_LOCK:
        for k in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[k]  # an older version of the same file
        _CACHE[key] = g
    return g


def geolocate(image: Any, model: str | os.PathLike | Geolocator = DEFAULT_MODEL, *, top_k: int = 5,
              delta: float = 12.0, max_refined: int = 4096, min_distance_km: float = 250.0,
              radius_km: float | None = None) -> GeolocationResult:
    """Where on Earth is this image? A probability map over 0.25° cells and the top places.

    Args:
        image: a file path (PNG/JPEG/..., or a GeoTIFF: first three bands), an ``(H, W, 3)``
            uint8 RGB array or a PIL image; centre-cropped to a square and resized to the
            model's patch size with Pillow's BOX filter (:func:`prepare_image`). For a model
            trained on your own imagery (``geoviz pretrain --images``): a file or a raw
            ``(bands, H, W)`` array, prepared exactly as its validation patches were
            (:func:`geoviz.training.image_index.patches_for_tower`: its bands, its scaling,
            the centred square).
        model: ``"geoviz-bluemarble-l10"`` (default), ``"geoviz-bluemarble-l40"``, a model
            file from ``geoviz pretrain`` (it must carry an image tower), or a
            :class:`Geolocator`.
        top_k: how many places to return.
        delta: refine every 1° cell whose logit is within ``delta`` of the largest (``inf``:
            all of them; the result then equals the brute-force 0.25° softmax).
        max_refined: refine at most this many 1° cells (the highest logits first); 4096 cells
            are 65,536 location embeddings per query.
        min_distance_km: the places are peaks of the density at least this far apart.
        radius_km: a place's probability is the mass within this radius of it (default
            ``min_distance_km / 2``, so the places' discs do not overlap).

    Returns:
        :class:`GeolocationResult` (``probability`` per 0.25° cell summing to 1, ``top``,
        ``mass_outside``, :meth:`~GeolocationResult.to_dataarray`, ``distance_km``, ...).

    The coarse-to-fine computation and what the probability means are described in the
    module docstring (:mod:`geoviz.geolocation`).
    """
    g = load_geolocator(model)
    if g.own_imagery:  # a tower from `geoviz pretrain --images`: its own bands and normalisation
        from .training.image_index import patches_for_tower, read_image

        if isinstance(image, (str, os.PathLike)):
            raw = read_image(image)
        elif isinstance(image, np.ndarray) and image.ndim in (2, 3):
            raw = image
        else:
            raise TypeError(f"{g.name} was trained on your own imagery: pass a file path or a (bands, H, W) array, "
                            f"got {type(image).__name__}")
        emb = g.embed_tensor(patches_for_tower([raw], g.image_config))[0]
    else:
        emb = g.embed_images(prepare_image(image, g.pixels))[0]
    return g.locate(emb, top_k=top_k, delta=delta, max_refined=max_refined,
                    min_distance_km=min_distance_km, radius_km=radius_km)


# ----------------------------------------------------------------------------- map figure


def geolocation_map(result: GeolocationResult, *, truth: Sequence[float] | None = None,
                    guess: Sequence[float] | None = None, title: str | None = None, panel_width: float = 9.0,
                    dpi: float = 100) -> Any:
    """A 2:1 map figure (matplotlib, :mod:`geoviz.render`) of the probability per 1° cell
    (log colour scale over the top 6 decades), the top places numbered (``+``; their
    probabilities listed in the lower right corner), and
    optionally the true place (green star) and a guess (magenta ``x``). Returns the figure
    (``render.figure_png(fig)`` for PNG bytes)."""
    from . import render

    p = result.coarse(_SUB)
    logp = np.log10(np.maximum(p, 1e-300))
    hi = float(logp.max())
    lo = hi - 6.0
    fig, axes = render.map_figure(panel_width=panel_width, dpi=dpi, extra_height=0.9)
    ax = axes[0, 0]
    im = render.show_raster(ax, np.where(logp >= lo, logp, np.nan), cmap=render.PROBABILITY_CMAP, clim=(lo, hi))
    render.style_map_axes(ax, title or f"{result.model}: where on Earth? (probability per 1° cell)",
                          facecolor="#dddddd")
    render.add_colorbar(fig, im, ax, "log10 probability per 1° cell")
    ax.text(0.99, 0.02, "places (probability within {:.0f} km): ".format(result.radius_km)
            + ", ".join(f"{i + 1}: {100 * q.probability:.1f} %" for i, q in enumerate(result.top)),
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7, zorder=9,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8, "lw": 0})
    for i, q in enumerate(result.top):
        ax.plot(q.lon, q.lat, marker="+", color="white", markersize=12, mew=2.5, zorder=5)
        ax.plot(q.lon, q.lat, marker="+", color="black", markersize=10, mew=1.0, zorder=6)
        ax.annotate(f"{i + 1}", (q.lon, q.lat), xytext=(5, 5),
                    textcoords="offset points", fontsize=8, color="black", zorder=7,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
    if truth is not None:
        ax.plot(truth[0], truth[1], marker="*", color="#1b7837", markersize=16, mec="white", mew=1.2, zorder=8,
                label="true place")
    if guess is not None:
        ax.plot(guess[0], guess[1], marker="X", color="#d01c8b", markersize=11, mec="white", mew=1.0, zorder=8,
                label="your guess")
    if truth is not None or guess is not None:
        ax.legend(loc="lower left", fontsize=8)
    return fig


def blue_marble_background(height: int = 180) -> np.ndarray:
    """The Blue Marble mosaic averaged to ``(height, 2·height, 3)`` uint8 RGB (row 0 north;
    ``height`` must divide 2700): the map a player guesses on."""
    from .data.imagery import blue_marble

    bm = blue_marble()
    H = int(height)
    if H < 1 or bm.shape[0] % H:
        raise ValueError(f"height must divide {bm.shape[0]}, got {height!r}")
    f = bm.shape[0] // H
    return bm.reshape(H, f, 2 * H, f, 3).mean(axis=(1, 3)).round().astype(np.uint8)


def probability_rgba(result: GeolocationResult, *, decades: float = 6.0, background: np.ndarray | None = None,
                     opacity: float = 0.8) -> np.ndarray:
    """The probability per 1° cell as an ``(180, 360, 4)`` uint8 RGBA image (row 0 north):
    log10 probability over the top ``decades`` on :data:`geoviz.render.PROBABILITY_CMAP`
    (:func:`geoviz.render.colorize`), cells below that transparent, or — with a ``(180, 360, 3)``
    uint8 ``background`` — blended over it with ``opacity`` (the background shows elsewhere)."""
    from . import render

    logp = np.log10(np.maximum(result.coarse(_SUB), 1e-300))
    hi = float(logp.max())
    rgba = render.colorize(np.where(logp >= hi - decades, logp, np.nan), cmap=render.PROBABILITY_CMAP,
                           clim=(hi - decades, hi))
    if background is None:
        return rgba
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != rgba.shape[:2] + (3,):
        raise ValueError(f"background must be {rgba.shape[:2] + (3,)} uint8 RGB, got {bg.shape}")
    a = (rgba[..., 3:4] / 255.0) * float(opacity)
    out = np.empty_like(rgba)
    out[..., :3] = np.round(a * rgba[..., :3] + (1 - a) * bg).astype(np.uint8)
    out[..., 3] = 255
    return out


# ----------------------------------------------------------------------------- the game


@dataclass
class GameRound:
    """One patch to place: ``index`` (0, 1, ...), ``patch`` ``(P, P, 3)`` uint8, the true
    ``lon``/``lat`` (degrees; held out) and ``land`` (the centre is on land)."""

    index: int
    patch: np.ndarray
    lon: float
    lat: float
    size_deg: float
    land: bool


@dataclass
class RoundResult:
    """A scored round: the round, the ``guess`` (lon, lat), the model's result, and the
    great-circle errors (km) of the guess and of the model's top place."""

    round: GameRound
    guess: tuple[float, float]
    result: GeolocationResult
    user_km: float
    model_km: float

    @property
    def winner(self) -> str:
        """``"you"``, ``"model"`` or ``"tie"`` (the smaller error wins)."""
        return "you" if self.user_km < self.model_km else "model" if self.model_km < self.user_km else "tie"


class GeoGame:
    """"Where on Earth is this?" against the model, on patches it has never seen.

    Each round draws one location from the model's held-out cells (the interior of the 15°
    equal-area cells training never touched, :meth:`PretrainConfig.validation_mask`; on land
    unless ``land_fraction < 1``) from a seeded stream, and cuts its Blue Marble patch
    (``size_deg`` of latitude, the model's pixel size). :meth:`guess` scores a guess and the
    model's top place (:func:`geolocate`) against the truth in great-circle km.

    Args:
        model: a name, a model file or a :class:`Geolocator`.
        seed: the round stream (the same seed gives the same patches in the same order).
        size_deg: patch height in degrees of latitude (3°: the validation's size).
        land_fraction: probability that a round is drawn over land (1: always).
        locate_kwargs: passed to :meth:`Geolocator.locate` (``top_k``, ``delta``, ...).

    Attributes:
        rounds: the scored :class:`RoundResult` s, oldest first. current: the round waiting
        for a guess (None before :meth:`new_round` and after :meth:`guess`).
    """

    def __init__(self, model: str | os.PathLike | Geolocator = DEFAULT_MODEL, *, seed: int = 0,
                 size_deg: float = 3.0, land_fraction: float = 1.0, **locate_kwargs: Any) -> None:
        if not 0.0 <= float(land_fraction) <= 1.0:
            raise ValueError(f"land_fraction must be in [0, 1], got {land_fraction!r}")
        if not 0 < float(size_deg) <= 3.0:
            raise ValueError(f"size_deg must be in (0, 3] (a 3° patch fits inside the held-out cells), got {size_deg!r}")
        self.geolocator = load_geolocator(model)
        self.seed = int(seed)
        self.size_deg = float(size_deg)
        self.land_fraction = float(land_fraction)
        self.locate_kwargs = dict(locate_kwargs)
        self._rng = np.random.default_rng(self.seed)
        self._mask = self.geolocator.heldout_mask()
        self.rounds: list[RoundResult] = []
        self.current: GameRound | None = None
        self._n = 0

    def new_round(self) -> GameRound:
        """Draw the next held-out patch (replaces an unanswered one)."""
        from .data import is_land
        from .data.imagery import blue_marble_patch
        from .training.pretraining import sample_locations

        land = self._rng.random() < self.land_fraction
        loc = sample_locations(1, self._rng, 1.0 if land else 0.0, self._mask)
        patch = blue_marble_patch(loc, self.size_deg, self.geolocator.pixels)[0]
        self.current = GameRound(self._n, patch, float(loc[0, 0]), float(loc[0, 1]), self.size_deg,
                                 bool(is_land(loc)[0]))
        self._n += 1
        return self.current

    def locate(self, rnd: GameRound | None = None) -> GeolocationResult:
        """The model's answer for a round (default the current one)."""
        rnd = rnd or self.current
        if rnd is None:
            raise ValueError("no round in play: call new_round() first")
        g = self.geolocator
        return g.locate(g.embed_images(rnd.patch)[0], **self.locate_kwargs)

    def guess(self, lon: float, lat: float) -> RoundResult:
        """Score the guess ``(lon, lat)`` (degrees) and the model's top place for the current
        round; the round is then over (its truth revealed in the result)."""
        lo, la = _check_lonlat(lon, lat, "guess")
        rnd = self.current
        if rnd is None:
            raise ValueError("no round in play: call new_round() first")
        res = self.locate(rnd)
        res.truth = (rnd.lon, rnd.lat)
        truth = np.array([rnd.lon, rnd.lat])
        user = float(great_circle_km(np.array([lo, la]), truth))
        model = res.error_km(rnd.lon, rnd.lat)
        out = RoundResult(rnd, (lo, la), res, user, model)
        self.rounds.append(out)
        self.current = None
        return out

    def score(self) -> dict[str, Any]:
        """``{"rounds", "median_user_km", "median_model_km", "user_wins", "model_wins", "ties"}``
        over the scored rounds (medians NaN before the first)."""
        u = np.array([r.user_km for r in self.rounds])
        m = np.array([r.model_km for r in self.rounds])
        return {"rounds": len(self.rounds),
                "median_user_km": float(np.median(u)) if len(u) else float("nan"),
                "median_model_km": float(np.median(m)) if len(m) else float("nan"),
                "user_wins": int((u < m).sum()), "model_wins": int((m < u).sum()), "ties": int((u == m).sum())}

    def score_text(self) -> str:
        """The running score in one line of Markdown."""
        s = self.score()
        if not s["rounds"]:
            return "No rounds played yet."
        return (f"After **{s['rounds']}** round(s): median error **you {s['median_user_km']:,.0f} km**, "
                f"**model {s['median_model_km']:,.0f} km** (rounds won: you {s['user_wins']}, "
                f"model {s['model_wins']}).")


# ----------------------------------------------------------------------------- a small model


def train_small_model(path: str | os.PathLike, *, legendre_polys: int = 6, hidden_dim: int = 32, embed_dim: int = 64,
                      steps: int = 30, batch_size: int = 64, seed: int = 0, threads: int | None = 1) -> Path:
    """Train a small contrastive model on Blue Marble patches and write it (with its image
    tower) to ``path``: for tests, the small results run and notebooks without the shipped
    tower. Same code path as ``geoviz pretrain`` (:class:`~geoviz.training.pretraining.Pretrainer`,
    the default held-out cells); a few seconds on a CPU at the defaults. Returns the path."""
    import copy
    from dataclasses import asdict

    from .pretrained.geoviz_model import save_geoviz_model
    from .training.pretraining import PretrainConfig, Pretrainer, hyper_parameters, image_config

    epochs = 2 if steps >= 2 else 1
    cfg = PretrainConfig(legendre_polys=legendre_polys, hidden_dim=hidden_dim, embed_dim=embed_dim,
                         cnn_channels=(8, 16, 32, 32), batch_size=batch_size, epochs=epochs,
                         steps_per_epoch=max(1, steps // epochs), eval_n=0, seed=seed, threads=threads, lr=3e-3)
    tr = Pretrainer(cfg, device="cpu")
    rec = None
    for rec in tr.run():
        pass
    cfg_d = asdict(cfg)
    cfg_d["cnn_channels"] = list(cfg.cnn_channels)
    meta = {"name": Path(path).stem, "data_source": "NASA Blue Marble Next Generation",
            "objective": "symmetric InfoNCE, learnable temperature", "steps": tr.step,
            "final_loss": None if rec is None else rec.loss, "config": cfg_d, "seed": seed,
            "made_by": "geoviz.geolocation.train_small_model"}
    m = copy.deepcopy(tr.model).cpu()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_geoviz_model(out, m.location, meta, hyper_parameters=hyper_parameters(cfg), image_encoder=m.image,
                      image_config=image_config(cfg), logit_scale=m.logit_scale.detach())
    return out
