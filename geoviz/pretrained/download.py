"""Consent-based download and cache of named checkpoints (SatCLIP), and the CLI commands.

Nothing here touches the network unless the caller asks for it (``download=True`` or
``geoviz download NAME``). Downloads are

* **atomic**: bytes stream into a uniquely named ``.<file>.<random>.part`` file in the
  cache directory; only a complete file -- size equal to ``Content-Length``, sha256 equal to
  the registry's value where one is recorded, and passing a load check (it is a SatCLIP
  checkpoint with the expected location-encoder keys) -- is moved into place with
  ``os.replace``. On any failure the temporary file is deleted, so a partial or corrupt
  file never becomes the cached model;
* **serialised** per file by an exclusive ``fcntl.flock`` on ``.<file>.lock`` (removed
  afterwards); a second caller waits, then finds the finished file and downloads nothing;
* **fresh** on retry: an interrupted transfer is restarted from byte 0 (no resume).

Cache directory (first that applies): the ``cache_dir`` argument, ``$GEOVIZ_CACHE_DIR/checkpoints``,
``$XDG_CACHE_HOME/geoviz/checkpoints``, ``~/.cache/geoviz/checkpoints``.
SatCLIP base URL: the ``base_url`` argument, ``$GEOVIZ_SATCLIP_BASE_URL``, or
:data:`DEFAULT_SATCLIP_BASE_URL`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = [
    "DownloadError",
    "TransientDownloadError",
    "DEFAULT_SATCLIP_BASE_URL",
    "default_cache_dir",
    "checkpoint_path",
    "checkpoint_url",
    "is_cached",
    "ensure_checkpoint",
    "download_file",
]

DEFAULT_SATCLIP_BASE_URL = "https://satclip.z13.web.core.windows.net/satclip"
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed (HTTP error, network error, truncated or invalid file).

    The cache is left as it was: no partial file remains.
    """


class TransientDownloadError(DownloadError):
    """A network error, interrupted or incomplete transfer: worth retrying from scratch."""


# ----------------------------------------------------------------------------- locations


def default_cache_dir() -> Path:
    """Directory holding downloaded checkpoints (not created here).

    ``$GEOVIZ_CACHE_DIR/checkpoints`` if ``GEOVIZ_CACHE_DIR`` is set, else
    ``$XDG_CACHE_HOME/geoviz/checkpoints``, else ``~/.cache/geoviz/checkpoints``.
    """
    from .._cache import cache_root

    return cache_root() / "checkpoints"


def _cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _downloadable_info(name: str) -> Any:
    from . import get_model_info

    info = get_model_info(name)
    if not info.downloadable:
        raise ValueError(
            f"pretrained model {info.name!r} is not downloadable: it ships with {info.source} "
            f"(load it with geoviz.pretrained.load_pretrained({info.name!r}))"
        )
    return info


def checkpoint_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the checkpoint of downloadable model ``name`` lives (whether or not it exists)."""
    info = _downloadable_info(name)
    return _cache_dir(cache_dir) / info.filename


def checkpoint_url(name: str, base_url: str | None = None) -> str:
    """Download URL of ``name``: ``base_url`` (or ``$GEOVIZ_SATCLIP_BASE_URL``, or the default) + file name."""
    info = _downloadable_info(name)
    base = base_url or os.environ.get("GEOVIZ_SATCLIP_BASE_URL") or info.base_url
    return f"{base.rstrip('/')}/{info.filename}"


def is_cached(name: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``name``'s checkpoint file is present in the cache (downloadable models only)."""
    return checkpoint_path(name, cache_dir).is_file()


# ----------------------------------------------------------------------------- locking


@contextlib.contextmanager
def _file_lock(lock_path: Path) -> Iterator[bool]:
    """Exclusive inter-process (and inter-thread) lock on ``lock_path``, removed on release.

    Uses ``fcntl.flock`` on a freshly opened descriptor. Because the lock file is unlinked
    on release, a waiter that wakes up holding a lock on an unlinked (stale) inode retries
    with the current file. Without ``fcntl`` (Windows) it degrades to no locking: the unique
    temporary names + ``os.replace`` still keep the cache consistent.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        try:
            st_fd, st_path = os.fstat(fd), os.stat(lock_path)
            same = (st_fd.st_ino, st_fd.st_dev) == (st_path.st_ino, st_path.st_dev)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # we locked a file someone already removed: try again
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)  # closing releases the flock


# ----------------------------------------------------------------------------- transfer


def _progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled, file=sys.stderr)


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    verify: Callable[[Path], None] | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` atomically (no locking; see :func:`ensure_checkpoint`).

    Args:
        url: ``http(s)://`` (or ``file://``) URL.
        dest: final path; its directory must exist. Written only if every check passes.
        sha256: expected hex digest, or ``None`` to skip the checksum.
        verify: called with the complete temporary file; raise to reject it.
        timeout: socket timeout in seconds for connect and each read.
        progress: show a tqdm progress bar on stderr.

    Returns:
        ``Path(dest)``.

    Raises:
        DownloadError: HTTP status error, network error/timeout, body shorter or longer than
            ``Content-Length``, checksum mismatch, or ``verify`` rejected the file. The
            temporary file is removed in every case.
    """
    dest = Path(dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            req = urllib.request.Request(url, headers={"User-Agent": "geoviz", "Accept-Encoding": "identity"})
            try:
                resp_cm = urllib.request.urlopen(req, timeout=timeout)
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                raise TransientDownloadError(f"download of {url} failed: network error: {reason}") from exc
            digest = hashlib.sha256()
            received = 0
            with resp_cm as resp:
                length = resp.headers.get("Content-Length")
                expected = int(length) if length and length.strip().isdigit() else None
                with _progress_bar(expected, dest.name, progress) as bar:
                    try:
                        while True:
                            chunk = resp.read(_CHUNK)
                            if not chunk:
                                break
                            fh.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                    except (OSError, http.client.HTTPException, socket.timeout) as exc:
                        raise TransientDownloadError(
                            f"download of {url} was interrupted after {received} of "
                            f"{expected if expected is not None else '?'} bytes: {type(exc).__name__}: {exc}"
                        ) from exc
            fh.flush()
            os.fsync(fh.fileno())
        if expected is not None and received != expected:
            raise TransientDownloadError(
                f"download of {url} is incomplete: received {received} bytes, Content-Length says {expected}"
            )
        if received == 0:
            raise DownloadError(f"download of {url} returned an empty body")
        if sha256 is not None and digest.hexdigest().lower() != sha256.lower():
            raise DownloadError(
                f"download of {url} failed its checksum: sha256 {digest.hexdigest()}, expected {sha256}"
            )
        if verify is not None:
            try:
                verify(tmp)
            except Exception as exc:  # noqa: BLE001 - any rejection means "do not cache this file"
                raise DownloadError(f"the file downloaded from {url} is not a valid checkpoint: {exc}") from exc
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache file is ordinary data
        os.replace(tmp, dest)
        return dest
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _satclip_verifier(trust_pickle: bool) -> Callable[[Path], None]:
    def verify(path: Path) -> None:
        from .satclip import read_satclip_checkpoint, satclip_state_from_checkpoint

        satclip_state_from_checkpoint(read_satclip_checkpoint(path, trust_pickle=trust_pickle))

    return verify


def _not_cached_message(name: str, path: Path, url: str) -> str:
    return (
        f"pretrained model {name!r} is not in the cache: expected the file {str(path)!r}. "
        f"Nothing is downloaded without your consent. To fetch it, run `geoviz download {name}` "
        f"or call geoviz.pretrained.load_pretrained({name!r}, download=True); or download {url} "
        f"yourself and place it at that path (cache directory: cache_dir= argument or "
        f"$GEOVIZ_CACHE_DIR/checkpoints)."
    )


def ensure_checkpoint(
    name: str,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    retries: int = 1,
    progress: bool = True,
    trust_pickle: bool = False,
) -> Path:
    """Return the cached checkpoint of ``name``, downloading it only if ``download=True``.

    Args:
        name: a downloadable registry name, e.g. ``"satclip-resnet18-l10"``.
        download: consent to fetch the file when it is not cached.
        cache_dir: directory for checkpoints (default :func:`default_cache_dir`).
        base_url: override of the download base URL (else ``$GEOVIZ_SATCLIP_BASE_URL``).
        timeout: socket timeout in seconds.
        retries: extra attempts after an interrupted/incomplete transfer or a network
            error (each a fresh download from byte 0). HTTP errors and invalid files are
            not retried.
        progress: show a tqdm progress bar.
        trust_pickle: let the load check accept checkpoints that need arbitrary unpickling
            (see :func:`geoviz.pretrained.load_satclip`); only for trusted sources.

    Returns:
        Path of the complete, verified checkpoint file in the cache.

    Raises:
        FileNotFoundError: not cached and ``download=False`` (the message names the file,
            where to put it and the command that fetches it).
        DownloadError: the download failed; the cache holds no partial file.
        ValueError: unknown or non-downloadable name.
    """
    info = _downloadable_info(name)
    directory = _cache_dir(cache_dir)
    path = directory / info.filename
    if path.is_file():
        return path
    url = checkpoint_url(info.name, base_url)
    if not download:
        raise FileNotFoundError(_not_cached_message(info.name, path, url))
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative int, got {retries!r}")
    directory.mkdir(parents=True, exist_ok=True)
    with _file_lock(directory / f".{info.filename}.lock") as locked:
        if path.is_file():  # another process finished it while we waited
            return path
        if locked:  # nobody else is downloading this file: any .part is left by a killed process
            for stale in directory.glob(f".{info.filename}.*.part"):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
        for attempt in range(retries + 1):
            try:
                return download_file(url, path, sha256=info.sha256, verify=_satclip_verifier(trust_pickle),
                                     timeout=timeout, progress=progress)
            except TransientDownloadError:
                if attempt == retries:
                    raise
    raise AssertionError("unreachable")  # pragma: no cover
