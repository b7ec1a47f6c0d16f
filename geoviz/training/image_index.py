"""A user's own imagery for contrastive pretraining: an index CSV of (image file, lon, lat).

The index
---------
A CSV with (at least) the columns ``fn``, ``lon``, ``lat``; other columns are ignored.
``fn`` is an image file, absolute or relative to the CSV's folder; when that file does not
exist but ``images/fn`` next to the CSV does, that one is used (the layout of SatCLIP's
S2-100K: ``index.csv`` beside ``images/patch_0.tif``). ``lon``/``lat`` are WGS84 degrees of
the patch centre (``lon`` in [-180, 180], ``lat`` in [-90, 90]).

Files: GeoTIFF/TIFF (read with ``tifffile``; any band count, band-interleaved ``(C, H, W)``
or pixel-interleaved ``(H, W, C)``, any dtype; georeferencing tags are not used) or any
image Pillow reads (PNG, JPEG, ...: grey = 1 band, RGB = 3, RGBA = 4). Every file must have
the same band count and dtype; sizes may differ (each patch is cropped and resized).

:func:`read_index` checks every row before training starts — a missing file, a lon/lat that
is not a number or out of range, a file whose band count or dtype differs from the first
row's — and raises a ``ValueError`` naming the CSV, the row (1-based data row and its line
in the file) and the column. Nothing is silently dropped. Only file headers are read (a
TIFF's tag table, a PNG's header), so checking 100,000 S2-100K rows takes seconds.

Normalisation (stored in the model file, :func:`normalization_config`)
----------------------------------------------------------------------
``x = clip(raw[bands] / scale, 0, 1)`` as float32, band by band, with ``scale`` by the
files' dtype unless given: **10,000 for integer types other than uint8** (Sentinel-2 L2A/L1C
digital numbers are reflectance × 10,000: SatCLIP divides S2-100K by 10,000 too; it does not
clip), **255 for uint8** (PNG/JPEG), **1 for floats** (taken as reflectance already). No
per-band mean/std: the first layer of either backbone is a convolution followed by a
normalisation layer, which absorbs per-band offsets and scales, and a fixed rule needs no
statistics pass and is reproduced exactly at inference (:func:`patches_for_tower`).
``bands`` are 1-based, like GDAL (``--bands 4,3,2`` = Sentinel-2 B4, B3, B2 of a 12/13-band
file = red, green, blue); ``None`` keeps every band in file order.

Crops (training augmentation and inference)
-------------------------------------------
Training: a random square crop whose side is ``U(crop_min, 1)`` × the patch's shorter side
(default ``crop_min`` 0.75; SatCLIP feeds whole 256-px S2-100K patches), at a uniformly
random position, resized to ``pixels × pixels`` (bilinear, antialiased). No flips or
rotations: they would change the geography (which way a coastline or a slope faces), as
for the Blue Marble patches. Validation and inference: the centred square of the shorter
side (the whole patch when it is square), resized the same way. The location fed to the
location encoder is the CSV's lon/lat (plus the optional ``jitter_deg``); a crop's centre
lies at most ``(1 - crop_min)/2`` of the patch side away from it (320 m on S2-100K).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "ImageIndex",
    "IndexSplit",
    "read_index",
    "parse_bands",
    "read_image",
    "probe_image",
    "default_scale",
    "normalize",
    "crop_resize",
    "split_index",
    "ImageBatchPlan",
    "plan_image_batch",
    "render_image_batch",
    "load_patches",
    "normalization_config",
    "patches_for_tower",
    "patches_for_tower_from_files",
]

TIFF_SUFFIXES = (".tif", ".tiff")
REQUIRED_COLUMNS = ("fn", "lon", "lat")
IMAGE_INPUT_FORMAT = "bands (1-based) of the file -> float32 clip(raw / scale, 0, 1), shape (N, C, P, P)"


# ----------------------------------------------------------------------------- files


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - tifffile is part of the embed extra
        raise ImportError("reading GeoTIFF patches needs tifffile: pip install tifffile "
                          "(or geoviz[embed])") from exc
    return tifffile


def _tiff_layout(shape: tuple[int, ...], axes: str, path: Any) -> tuple[int, int, int, str]:
    """``(bands, height, width, order)`` of a TIFF series; ``order`` is ``"chw"``, ``"hwc"`` or ``"hw"``."""
    if len(shape) == 2:
        return 1, int(shape[0]), int(shape[1]), "hw"
    if len(shape) == 3:
        if axes.endswith("YX"):
            return int(shape[0]), int(shape[1]), int(shape[2]), "chw"
        if axes.startswith("YX"):
            return int(shape[2]), int(shape[0]), int(shape[1]), "hwc"
    raise ValueError(f"{path}: a TIFF of shape {tuple(shape)} (axes {axes!r}) is not one multi-band image "
                     "(expected (bands, height, width) or (height, width, bands))")


def probe_image(path: str | os.PathLike) -> tuple[int, int, int, str]:
    """``(bands, height, width, dtype name)`` of an image file, from its header only.

    Raises:
        FileNotFoundError: no such file. ValueError: not a readable single image.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if p.suffix.lower() in TIFF_SUFFIXES:
        tf = _tifffile()
        try:
            with tf.TiffFile(p) as t:
                s = t.series[0]
                shape, axes, dtype = tuple(s.shape), str(s.axes), np.dtype(s.dtype).name
        except Exception as exc:  # tifffile's own errors (TiffFileError, struct.error, IndexError, ...)
            raise ValueError(f"{p}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
        b, h, w, _ = _tiff_layout(shape, axes, p)
        return b, h, w, dtype
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            mode, (w, h) = im.mode, im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{p}: not a readable image ({exc})") from None
    bands, dtype = _PIL_MODES.get(mode, (None, None))
    if bands is None:
        raise ValueError(f"{p}: unsupported image mode {mode!r} (use L, LA, RGB, RGBA, I;16, I or F)")
    return bands, h, w, dtype


_PIL_MODES: dict[str, tuple[int, str]] = {
    "1": (1, "uint8"), "L": (1, "uint8"), "P": (3, "uint8"), "LA": (2, "uint8"), "RGB": (3, "uint8"),
    "RGBA": (4, "uint8"), "CMYK": (4, "uint8"), "I;16": (1, "uint16"), "I;16B": (1, "uint16"),
    "I": (1, "int32"), "F": (1, "float32"),
}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as a ``(bands, height, width)`` array of its stored dtype (no scaling).

    GeoTIFF/TIFF through ``tifffile`` (band- or pixel-interleaved); anything else through
    Pillow (palette images become RGB, 1-bit images uint8 0/255).
    """
    p = Path(path)
    if p.suffix.lower() in TIFF_SUFFIXES:
        tf = _tifffile()
        with tf.TiffFile(p) as t:
            s = t.series[0]
            arr = s.asarray()
            _, _, _, order = _tiff_layout(tuple(arr.shape), str(s.axes), p)
        if order == "hw":
            return arr[None]
        return np.moveaxis(arr, -1, 0) if order == "hwc" else arr
    from PIL import Image

    with Image.open(p) as im:
        if im.mode == "P":
            im = im.convert("RGB")
        elif im.mode == "1":
            im = im.convert("L")
        arr = np.asarray(im)
    if arr.dtype == np.dtype(">u2"):
        arr = arr.astype(np.uint16)
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


# ----------------------------------------------------------------------------- normalisation


def default_scale(dtype: str | np.dtype) -> float:
    """The divisor of :func:`normalize` for files of ``dtype``: 255 for uint8, 1 for floats,
    10,000 for other integers (Sentinel-2 digital numbers = reflectance × 10,000)."""
    d = np.dtype(dtype)
    if d == np.uint8:
        return 255.0
    if d.kind == "f":
        return 1.0
    if d.kind in "iub":
        return 10_000.0
    raise ValueError(f"unsupported image dtype {d}")


def normalize(raw: np.ndarray, bands: Sequence[int] | None, scale: float) -> torch.Tensor:
    """``(C, H, W)`` raw array → float32 tensor ``clip(raw[bands - 1] / scale, 0, 1)``."""
    x = raw if bands is None else raw[[int(b) - 1 for b in bands]]
    t = torch.from_numpy(np.ascontiguousarray(x).astype(np.float32, copy=False))
    return t.div_(float(scale)).clamp_(0.0, 1.0)


def crop_resize(x: torch.Tensor, pixels: int, side_frac: float = 1.0, fy: float = 0.5, fx: float = 0.5) -> torch.Tensor:
    """A square crop of ``(C, H, W)`` → ``(C, pixels, pixels)`` (bilinear, antialiased).

    Args:
        x: the normalised patch.
        pixels: output side.
        side_frac: crop side as a fraction of ``min(H, W)`` (rounded, at least 1 pixel).
        fy, fx: position of the crop in [0, 1] (0: top/left edge, 0.5: centred, 1: bottom/right).
    """
    _, h, w = x.shape
    side = max(1, min(min(h, w), int(round(side_frac * min(h, w)))))
    top = int(math.floor(fy * (h - side) + 0.5))
    left = int(math.floor(fx * (w - side) + 0.5))
    crop = x[:, top:top + side, left:left + side]
    if side == pixels:
        return crop.contiguous()
    return F.interpolate(crop[None], size=(pixels, pixels), mode="bilinear", align_corners=False,
                         antialias=side > pixels)[0]


def parse_bands(text: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"4,3,2"`` (or a sequence) → ``(4, 3, 2)``; None/empty → None (all bands).

    Raises:
        ValueError: not positive integers (1-based, like GDAL), or a band named twice.
    """
    if text is None:
        return None
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    if isinstance(text, str) and not text.strip():
        return None
    try:
        out = tuple(int(b) for b in items)
    except (TypeError, ValueError):
        raise ValueError(f"bands must be 1-based band numbers like 4,3,2; got {text!r}") from None
    if not out or min(out) < 1 or any(isinstance(b, bool) for b in items):
        raise ValueError(f"bands are 1-based (like GDAL): positive integers such as 4,3,2; got {text!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"bands name a band twice: {text!r}")
    return out


# ----------------------------------------------------------------------------- the index


@dataclass
class ImageIndex:
    """The checked rows of an index CSV.

    Attributes:
        csv: the CSV file. paths: one resolved file per row. lonlat: ``(N, 2)`` float64 degrees.
        sizes: ``(N, 2)`` int ``(height, width)`` of each file.
        bands_in_file: band count of every file. dtype: their dtype (name).
        bands: the 1-based selection (None: all). scale: the divisor of :func:`normalize`.
        sha256: digest of the CSV's bytes (a resumed run refuses a changed index).
    """

    csv: Path
    paths: list[Path]
    lonlat: np.ndarray
    sizes: np.ndarray
    bands_in_file: int
    dtype: str
    bands: tuple[int, ...] | None
    scale: float
    sha256: str

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def channels(self) -> int:
        """Input channels of the image tower (selected bands)."""
        return len(self.bands) if self.bands is not None else self.bands_in_file

    def load(self, row: int) -> torch.Tensor:
        """Row ``row``'s normalised ``(C, H, W)`` float32 patch (full size)."""
        raw = read_image(self.paths[row])
        if raw.shape[0] != self.bands_in_file:  # the file changed since the index was read
            raise ValueError(f"{self.csv}: row {row + 1}, column 'fn': {self.paths[row]} now has {raw.shape[0]} "
                             f"bands, {self.bands_in_file} when the index was read")
        return normalize(raw, self.bands, self.scale)


def read_index(csv_path: str | os.PathLike, bands: str | Sequence[int] | None = None, scale: float | None = None,
               ) -> ImageIndex:
    """Read and check an index CSV (``fn, lon, lat``); see the module docstring.

    Args:
        csv_path: the CSV.
        bands: 1-based band selection (``"4,3,2"`` or ``(4, 3, 2)``); None keeps all bands.
        scale: divisor of the raw values (None: :func:`default_scale` of the files' dtype).

    Returns:
        :class:`ImageIndex`.

    Raises:
        FileNotFoundError: no such CSV.
        ValueError: a missing column, an empty index, or a bad row — message
            ``"INDEX.csv: row 7 (line 8), column 'lon': ..."``; a band selection beyond the
            files' band count; a scale that is not positive.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise FileNotFoundError(f"image index not found: {path}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sel = parse_bands(bands)
    if scale is not None and not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"image scale must be a positive number, got {scale!r}")
    text = data.decode("utf-8-sig")
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError(f"{path}: the index is empty (expected a header line fn,lon,lat)") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the index needs the columns fn, lon, lat "
                         f"(found {header})")
    col = {c: header.index(c) for c in REQUIRED_COLUMNS}
    root = path.parent
    paths: list[Path] = []
    lonlat: list[tuple[float, float]] = []
    sizes: list[tuple[int, int]] = []
    first: tuple[int, str, int] | None = None  # bands, dtype, row
    row = 0
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue
        row += 1
        where = f"{path}: row {row} (line {reader.line_num})"
        if len(fields) < len(header):
            raise ValueError(f"{where}: {len(fields)} field(s), the header has {len(header)}")
        vals = []
        for c, lo, hi in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
            s = fields[col[c]].strip()
            try:
                v = float(s)
            except ValueError:
                raise ValueError(f"{where}, column {c!r}: {s!r} is not a number") from None
            if not (lo <= v <= hi):  # also refuses nan
                raise ValueError(f"{where}, column {c!r}: {s} is outside [{lo:g}, {hi:g}] degrees")
            vals.append(v)
        fn = fields[col["fn"]].strip()
        if not fn:
            raise ValueError(f"{where}, column 'fn': empty file name")
        f = Path(fn)
        if not f.is_absolute():
            f = root / fn
            if not f.is_file() and (root / "images" / fn).is_file():
                f = root / "images" / fn  # S2-100K: index.csv beside images/
        if not f.is_file():
            raise ValueError(f"{where}, column 'fn': file not found: {f}")
        try:
            b, h, w, dt = probe_image(f)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{where}, column 'fn': {exc}") from None
        if first is None:
            first = (b, dt, row)
        elif b != first[0]:
            raise ValueError(f"{where}, column 'fn': {f.name} has {b} band(s), but the file of row {first[2]} has "
                             f"{first[0]}; every file of an index must have the same band count")
        elif dt != first[1]:
            raise ValueError(f"{where}, column 'fn': {f.name} is {dt}, but the file of row {first[2]} is "
                             f"{first[1]}; every file of an index must have the same dtype")
        paths.append(f)
        lonlat.append((vals[0], vals[1]))
        sizes.append((h, w))
    if first is None:
        raise ValueError(f"{path}: the index has no rows")
    n_bands, dtype = first[0], first[1]
    if sel is not None and max(sel) > n_bands:
        raise ValueError(f"bands {','.join(map(str, sel))}: the files of {path} have {n_bands} band(s) "
                         f"(bands are 1-based, 1..{n_bands})")
    return ImageIndex(csv=path, paths=paths, lonlat=np.asarray(lonlat, dtype=np.float64).reshape(-1, 2),
                      sizes=np.asarray(sizes, dtype=np.int64).reshape(-1, 2), bands_in_file=n_bands, dtype=dtype,
                      bands=sel, scale=float(scale) if scale is not None else default_scale(dtype), sha256=digest)


# ----------------------------------------------------------------------------- held-out split


@dataclass
class IndexSplit:
    """Row numbers (0-based, sorted) of an index by their role.

    Attributes:
        train: rows trained on (outside every held-out cell by ``buffer_deg``, inside the region).
        validation: rows whose location lies in a held-out cell (inside the region): never trained on.
        buffer: rows outside the held-out cells but within ``buffer_deg`` of one: used for nothing.
        outside: rows outside the region: used for nothing.
        buffer_deg: the buffer used.
    """

    train: np.ndarray
    validation: np.ndarray
    buffer: np.ndarray
    outside: np.ndarray
    buffer_deg: float

    def summary(self) -> dict[str, Any]:
        return {"train": int(len(self.train)), "validation": int(len(self.validation)),
                "dropped_in_buffer": int(len(self.buffer)), "outside_region": int(len(self.outside)),
                "buffer_deg": self.buffer_deg}


def split_index(lonlat: np.ndarray, held: Any, region: Any = None, buffer_deg: float = 0.0) -> IndexSplit:
    """Split rows by :class:`~geoviz.training.regions.HeldOutCells` (and a region).

    A row is *validation* when its location lies in a held-out cell, *train* when nothing
    within ``buffer_deg`` of it does (the patch footprint's half-diagonal plus any coordinate
    jitter: then no pixel trained on lies in a held-out cell), *buffer* otherwise.
    """
    x = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    inside = region.contains(x) if region is not None else np.ones(len(x), dtype=bool)
    if held.active:
        val = held.contains(x, 0.0)
        near = held.contains(x, buffer_deg)
    else:
        val = near = np.zeros(len(x), dtype=bool)
    train = inside & ~near
    buf = inside & near & ~val
    return IndexSplit(np.flatnonzero(train), np.flatnonzero(inside & val), np.flatnonzero(buf),
                      np.flatnonzero(~inside), float(buffer_deg))


# ----------------------------------------------------------------------------- batches


@dataclass
class ImageBatchPlan:
    """Everything random about one global batch of index rows, drawn before any file is read.

    Attributes:
        rows: ``(B,)`` index rows. crop: ``(B, 3)`` ``(side_frac, fy, fx)`` of :func:`crop_resize`.
        lonlat: ``(B, 2)`` locations fed to the location encoder (jittered when configured).
    """

    rows: np.ndarray
    crop: np.ndarray
    lonlat: np.ndarray


def plan_image_batch(index: ImageIndex, rows: np.ndarray, rng: np.random.Generator, crop_min: float,
                     jitter_deg: float = 0.0) -> ImageBatchPlan:
    """Draw crops (and jitter) for the global batch ``rows``; the same on every rank given the
    same ``rng`` state, like ``DistributedSampler``'s shared permutation."""
    n = len(rows)
    crop = np.stack([rng.uniform(crop_min, 1.0, n), rng.random(n), rng.random(n)], axis=1)
    loc = index.lonlat[rows]
    if jitter_deg > 0:
        loc = loc + rng.uniform(-jitter_deg, jitter_deg, loc.shape)
        loc[:, 0] = (loc[:, 0] + 180.0) % 360.0 - 180.0
        loc[:, 1] = np.clip(loc[:, 1], -90.0, 90.0)
    return ImageBatchPlan(np.asarray(rows, dtype=np.int64), crop, loc)


def load_patches(index: ImageIndex, rows: Sequence[int], pixels: int, crops: np.ndarray | None = None,
                 threads: int = 0) -> torch.Tensor:
    """``(len(rows), C, pixels, pixels)`` float32 patches of ``rows``: random crops given as
    ``crops`` (``(n, 3)``), else the centred square of the shorter side; ``threads > 1`` reads
    files in a thread pool (tifffile and Pillow release the GIL while reading and decoding)."""
    rows = [int(r) for r in rows]

    def one(i: int) -> torch.Tensor:
        x = index.load(rows[i])
        if crops is None:
            return crop_resize(x, pixels)
        s, fy, fx = (float(v) for v in crops[i])
        return crop_resize(x, pixels, s, fy, fx)

    if not rows:
        return torch.empty(0, index.channels, pixels, pixels)
    if threads and threads > 1 and len(rows) > 1:
        with ThreadPoolExecutor(min(threads, len(rows))) as ex:
            out = list(ex.map(one, range(len(rows))))
    else:
        out = [one(i) for i in range(len(rows))]
    return torch.stack(out)


def render_image_batch(index: ImageIndex, plan: ImageBatchPlan, pixels: int, rows: slice = slice(None),
                       threads: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``rows`` of a planned batch (this rank's share): ``(b, 2)`` float32 lon/lat and
    ``(b, C, pixels, pixels)`` float32 patches."""
    img = load_patches(index, plan.rows[rows], pixels, plan.crop[rows], threads)
    return torch.from_numpy(plan.lonlat[rows].astype(np.float32)), img


# ----------------------------------------------------------------------------- inference


def normalization_config(bands: Sequence[int] | None, scale: float, crop_min: float,
                         bands_in_file: int | None = None, file_dtype: str | None = None) -> dict[str, Any]:
    """What the model file's ``image_encoder`` dict records about the input (see the module docstring)."""
    return {"input": IMAGE_INPUT_FORMAT, "bands": [int(b) for b in bands] if bands is not None else None,
            "bands_in_file": bands_in_file, "file_dtype": file_dtype,
            "normalization": {"method": "scale_clip", "scale": float(scale), "clip": [0.0, 1.0],
                              "formula": f"clip(raw / {float(scale):g}, 0, 1)"},
            "crop": {"train": f"random square crop, side U({crop_min:g}, 1) x the shorter side, random position, "
                              "no flips", "inference": "centred square of the shorter side",
                     "resize": "bilinear, antialiased, to pixels x pixels"}}


def patches_for_tower(arrays: Sequence[np.ndarray], config: dict[str, Any]) -> torch.Tensor:
    """Raw patches → the image tower's input, as in training's validation (for inference).

    Args:
        arrays: ``(C, H, W)`` raw arrays as :func:`read_image` returns them (all bands of the
            file). For a Blue Marble tower (a config without ``normalization``): RGB uint8,
            ``(3, H, W)``, scaled ``x / 127.5 - 1``.
        config: the model file's ``image_encoder`` dict
            (``load_image_tower(...).config``).

    Returns:
        ``(N, C, pixels, pixels)`` float32.
    """
    pixels = int(config["pixels"])
    norm = config.get("normalization")
    out = []
    for a in arrays:
        a = np.asarray(a)
        if a.ndim == 2:
            a = a[None]
        if norm is None:  # Blue Marble: RGB uint8 → [-1, 1]
            x = torch.from_numpy(np.ascontiguousarray(a[:3]).astype(np.float32)).div_(127.5).sub_(1.0)
        else:
            n_file = config.get("bands_in_file")
            if n_file is not None and a.shape[0] != int(n_file):
                raise ValueError(f"the tower was trained on {n_file}-band files, got a patch with {a.shape[0]} band(s)")
            x = normalize(a, config.get("bands"), float(norm["scale"]))
        out.append(crop_resize(x, pixels))
    return torch.stack(out) if out else torch.empty(0, int(config.get("in_channels", 3)), pixels, pixels)


def patches_for_tower_from_files(paths: Sequence[str | os.PathLike], config: dict[str, Any]) -> torch.Tensor:
    """:func:`patches_for_tower` of image files (GeoTIFF, PNG, JPEG, ...)."""
    return patches_for_tower([read_image(p) for p in paths], config)
