"""Consent-based SatCLIP downloads against a real HTTP server on 127.0.0.1.

The server (http.server in a thread) serves a small checkpoint in SatCLIP's real layout
and can answer 404, send a truncated body under a larger Content-Length, send a
non-checkpoint body, reset the connection once mid-transfer, stall, or trickle slowly.
After every scenario the cache directory must hold exactly the expected files: the
finished checkpoint or nothing -- never a partial, temporary or lock file.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import re
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import torch

import geoviz.pretrained as gp
from geoviz.cli import main as cli_main
from geoviz.pretrained import DownloadError, load_pretrained
from geoviz.pretrained.download import ensure_checkpoint

if str(Path(__file__).resolve().parent) not in sys.path:  # shared helpers live next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pretrained_helpers import make_satclip_checkpoint

NAME = "satclip-resnet18-l10"
FILE = f"{NAME}.ckpt"


class _Server:
    """A tiny configurable file server; ``mode[path]`` selects the behaviour per file."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.mode: dict[str, str] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.range_headers: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path
                with server.lock:
                    server.hits[path] += 1
                    hit = server.hits[path]
                    if self.headers.get("Range"):
                        server.range_headers.append(self.headers["Range"])
                mode = server.mode.get(path, "ok")
                body = server.files.get(path)
                if body is None or mode == "404":
                    self.send_error(404, "Not Found")
                    return
                if mode == "garbage":
                    body = b"<html><body>maintenance page, not a checkpoint</body></html>\n" * 50
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    return  # HTTP/1.0: the connection closes, short of Content-Length
                if mode == "interrupt_once" and hit == 1:
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    # abortive close: the client sees a connection reset mid-body
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                if mode == "stall":
                    self.wfile.write(body[:100])
                    self.wfile.flush()
                    time.sleep(1.5)
                    return
                if mode == "slow":
                    step = max(1, len(body) // 10)
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        self.wfile.flush()
                        time.sleep(0.03)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/satclip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ckpt_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    p = tmp_path_factory.mktemp("src") / FILE
    make_satclip_checkpoint(p, L=10, capacity=16, layers=2, embed_dim=8)
    return p.read_bytes()


@pytest.fixture()
def server(ckpt_bytes: bytes) -> Iterator[_Server]:
    srv = _Server({f"/satclip/{FILE}": ckpt_bytes, "/satclip/satclip-vit16-l40.ckpt": ckpt_bytes})
    yield srv
    srv.close()


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _files(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()} if d.exists() else set()


def _get(server: _Server, cache: Path, **kw: object) -> object:
    return load_pretrained(NAME, download=True, cache_dir=cache, base_url=server.url, progress=False, **kw)


# ----------------------------------------------------------------------------- scenarios


def test_success_then_cache_hit(server: _Server, cache: Path, ckpt_bytes: bytes) -> None:
    enc = _get(server, cache)
    assert enc(torch.zeros(2, 2, dtype=torch.float64)).shape == (2, 8)
    assert _files(cache) == {FILE}
    assert (cache / FILE).read_bytes() == ckpt_bytes
    assert (cache / FILE).stat().st_mode & 0o777 == 0o644
    assert server.hits[f"/satclip/{FILE}"] == 1
    load_pretrained(NAME, cache_dir=cache)  # no consent needed now: it is cached
    _get(server, cache)
    assert server.hits[f"/satclip/{FILE}"] == 1  # served from the cache, no second request


def test_env_vars_select_server_and_cache(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOVIZ_SATCLIP_BASE_URL", server.url)
    monkeypatch.setenv("GEOVIZ_CACHE_DIR", str(tmp_path / "root"))
    load_pretrained("satclip-vit16-l40", download=True, progress=False)
    assert _files(tmp_path / "root" / "checkpoints") == {"satclip-vit16-l40.ckpt"}
    assert gp.is_available("satclip-vit16-l40")


def test_no_consent_no_request(server: _Server, cache: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"geoviz download {NAME}"):
        load_pretrained(NAME, cache_dir=cache, base_url=server.url)
    assert sum(server.hits.values()) == 0
    assert _files(cache) == set()


def test_interrupted_transfer_is_retried_from_scratch(server: _Server, cache: Path, ckpt_bytes: bytes) -> None:
    server.mode[f"/satclip/{FILE}"] = "interrupt_once"
    _get(server, cache, retries=1)
    assert server.hits[f"/satclip/{FILE}"] == 2
    assert server.range_headers == []  # a fresh full download, no resume
    assert _files(cache) == {FILE}
    assert (cache / FILE).read_bytes() == ckpt_bytes


def test_interrupted_transfer_without_retry_leaves_cache_clean(server: _Server, cache: Path) -> None:
    server.mode[f"/satclip/{FILE}"] = "interrupt_once"
    with pytest.raises(DownloadError, match="interrupted|incomplete"):
        _get(server, cache, retries=0)
    assert _files(cache) == set()
    _get(server, cache, retries=0)  # the user simply tries again
    assert _files(cache) == {FILE}
    assert server.range_headers == []


def test_404(server: _Server, cache: Path) -> None:
    server.mode[f"/satclip/{FILE}"] = "404"
    with pytest.raises(DownloadError, match=rf"HTTP 404.*{FILE}|{FILE}.*HTTP 404"):
        _get(server, cache)
    assert server.hits[f"/satclip/{FILE}"] == 1  # HTTP errors are not retried
    assert _files(cache) == set()


def test_truncated_body(server: _Server, cache: Path, ckpt_bytes: bytes) -> None:
    server.mode[f"/satclip/{FILE}"] = "truncate"
    n = len(ckpt_bytes)
    with pytest.raises(DownloadError, match=rf"incomplete: received {n // 2} bytes, Content-Length says {n}"):
        _get(server, cache, retries=1)
    assert server.hits[f"/satclip/{FILE}"] == 2
    assert _files(cache) == set()


def test_body_that_is_not_a_checkpoint(server: _Server, cache: Path) -> None:
    server.mode[f"/satclip/{FILE}"] = "garbage"
    with pytest.raises(DownloadError, match="not a valid checkpoint.*not a PyTorch checkpoint, or corrupted"):
        _get(server, cache)
    assert _files(cache) == set()


def test_checkpoint_without_location_encoder_is_rejected(server: _Server, cache: Path, tmp_path: Path) -> None:
    p = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"model.visual.w": torch.zeros(3)}, "hyper_parameters": {}}, p)
    server.files[f"/satclip/{FILE}"] = p.read_bytes()
    with pytest.raises(DownloadError, match="no SatCLIP location-encoder weights"):
        _get(server, cache)
    assert _files(cache) == set()


def test_untrusted_pickle_needs_opt_in(server: _Server, cache: Path, tmp_path: Path) -> None:
    p = tmp_path / "pickled.ckpt"
    make_satclip_checkpoint(p, L=4, capacity=8, embed_dim=4, hparams={"args": argparse.Namespace(lr=1e-4)})
    server.files[f"/satclip/{FILE}"] = p.read_bytes()
    with pytest.raises(DownloadError, match="trust_pickle=True"):
        _get(server, cache)
    assert _files(cache) == set()
    enc = _get(server, cache, trust_pickle=True)
    assert enc.positional_encoding.legendre_polys == 4
    assert _files(cache) == {FILE}


def test_checksum_verified_when_recorded(server: _Server, cache: Path, ckpt_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    info = gp.MODELS[NAME]
    monkeypatch.setitem(gp.MODELS, NAME, dataclasses.replace(info, sha256="0" * 64))
    with pytest.raises(DownloadError, match="checksum"):
        _get(server, cache)
    assert _files(cache) == set()
    monkeypatch.setitem(gp.MODELS, NAME, dataclasses.replace(info, sha256=hashlib.sha256(ckpt_bytes).hexdigest()))
    _get(server, cache)
    assert _files(cache) == {FILE}


def test_network_error(cache: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(DownloadError, match="network error"):
        load_pretrained(NAME, download=True, cache_dir=cache, base_url=f"http://127.0.0.1:{port}", progress=False, retries=0)
    assert _files(cache) == set()


def test_stalled_transfer_times_out(server: _Server, cache: Path) -> None:
    server.mode[f"/satclip/{FILE}"] = "stall"
    with pytest.raises(DownloadError, match="interrupted"):
        _get(server, cache, timeout=0.3, retries=0)
    assert _files(cache) == set()


def test_stale_partial_file_is_cleaned(server: _Server, cache: Path) -> None:
    cache.mkdir()
    (cache / f".{FILE}.abc123.part").write_bytes(b"left by a killed process")
    _get(server, cache)
    assert _files(cache) == {FILE}


def test_concurrent_loaders(server: _Server, cache: Path, ckpt_bytes: bytes) -> None:
    server.mode[f"/satclip/{FILE}"] = "slow"
    results: list[object] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(_get(server, cache))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 2
    assert server.hits[f"/satclip/{FILE}"] == 1  # the second caller found the finished file
    assert _files(cache) == {FILE}
    assert (cache / FILE).read_bytes() == ckpt_bytes
    x = torch.zeros(1, 2, dtype=torch.float64)
    assert torch.equal(results[0](x), results[1](x))


def test_ensure_checkpoint_rejects_shipped_models(cache: Path) -> None:
    with pytest.raises(ValueError, match="not downloadable"):
        ensure_checkpoint("geoclip", download=True, cache_dir=cache)


# ----------------------------------------------------------------------------- CLI


def test_cli_download_and_models(server: _Server, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["models", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{NAME}\s+downloadable\s+10\s+256\s+float64\s+MIT$", out, re.M) and str(cache) in out
    assert cli_main(["download", NAME, "--cache-dir", str(cache), "--base-url", server.url, "--quiet"]) == 0
    assert str(cache / FILE) in capsys.readouterr().out
    assert _files(cache) == {FILE}
    assert cli_main(["models", "--cache-dir", str(cache)]) == 0
    assert re.search(rf"^{NAME}\s+cached\s", capsys.readouterr().out, re.M)
    assert cli_main(["download", "geoclip", "--cache-dir", str(cache)]) == 0
    assert "nothing to download" in capsys.readouterr().out


def test_cli_download_failure(server: _Server, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server.mode["/satclip/satclip-vit16-l40.ckpt"] = "404"
    rc = cli_main(["download", "satclip-vit16-l40", "--cache-dir", str(cache), "--base-url", server.url, "--quiet"])
    assert rc == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert _files(cache) == set()
    assert cli_main(["download", "satclip-nope"]) == 2  # unknown name: a clear ValueError → exit 2
