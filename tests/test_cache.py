"""geoviz._cache.decoded_array: large decoded rasters memory-mapped from the cache."""

from __future__ import annotations

import os

import numpy as np

from geoviz._cache import decoded_array


def test_decoded_once_then_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "raster.bin"
    src.write_bytes(b"x")
    calls = []
    ref = np.arange(12, dtype=np.uint8).reshape(3, 4)

    def decode():
        calls.append(1)
        return ref.copy()

    a = decoded_array("r", src, decode)
    b = decoded_array("r", src, decode)
    assert len(calls) == 1 and isinstance(b, np.memmap) and not b.flags.writeable
    np.testing.assert_array_equal(a, ref)
    np.testing.assert_array_equal(b, ref)
    os.utime(src, ns=(1, 1))  # the source changed: decoded again under a new key
    decoded_array("r", src, decode)
    assert len(calls) == 2
    assert len(list((tmp_path / "cache" / "arrays").glob("r-*.npy"))) == 2


def test_truncated_cache_file_is_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "raster.bin"
    src.write_bytes(b"x")
    decoded_array("r", src, lambda: np.ones((4, 4), np.uint8))
    (f,) = (tmp_path / "cache" / "arrays").glob("r-*.npy")
    f.write_bytes(f.read_bytes()[:20])
    np.testing.assert_array_equal(decoded_array("r", src, lambda: np.ones((4, 4), np.uint8)), 1)


def test_unwritable_cache_keeps_the_array_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")  # mkdir fails, even for root
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(blocker))
    src = tmp_path / "raster.bin"
    src.write_bytes(b"x")
    a = decoded_array("r", src, lambda: np.zeros((2, 2), np.uint8))
    assert not isinstance(a, np.memmap) and not a.flags.writeable
