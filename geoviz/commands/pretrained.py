"""``geoviz download NAME ...`` and ``geoviz models``: named pretrained checkpoints
(:mod:`geoviz.pretrained.download` fetches, verifies and caches them).

Unknown model names are refused before anything heavy is imported.
"""
# A light module: the bodies import torch when they run (tests/test_cli.py checks).

from __future__ import annotations

import argparse
from typing import Any

from geoviz._names import PRETRAINED

__all__ = ["register_download", "register_models", "run_download", "run_models"]


def run_download(args: argparse.Namespace) -> int:
    """Body of ``geoviz download``: check the names, then fetch (see :mod:`geoviz.pretrained.download`).

    Raises:
        ValueError: an unknown model name (the message lists the valid names).
    """
    bad = [n for n in args.names if n.strip().lower() not in PRETRAINED]
    if bad:
        raise ValueError(f"unknown pretrained model {bad[0]!r}; valid names are {list(PRETRAINED)}")
    return _download(args)


def _download(args: argparse.Namespace) -> int:
    import sys

    from geoviz.pretrained import get_model_info
    from geoviz.pretrained.download import DownloadError, ensure_checkpoint

    status = 0
    for name in args.names:
        info = get_model_info(name)
        if not info.filename:
            print(f"{info.name}: nothing to download, it ships with {info.source}")
            continue
        try:
            path = ensure_checkpoint(info.name, download=True, cache_dir=args.cache_dir, base_url=args.base_url,
                                     timeout=args.timeout, progress=not args.quiet)
        except DownloadError as exc:
            print(f"geoviz: error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{info.name}: {path}")
    return status


def run_models(args: argparse.Namespace) -> int:
    """Body of ``geoviz models``: a table of the pretrained models and where each is."""
    from geoviz.pretrained import MODELS, is_available
    from geoviz.pretrained.download import _cache_dir

    rows = []
    for name, info in sorted(MODELS.items()):
        where = "cached" if is_available(name, cache_dir=args.cache_dir) else (
            "downloadable" if info.filename else "missing")
        if not info.filename:
            where = "shipped" if is_available(name) else "missing"
        L = "-" if info.legendre_polys is None else str(info.legendre_polys)
        rows.append((name, where, L, str(info.embedding_dim), info.dtype, info.licence.split(" (")[0]))
    header = ("name", "status", "L", "dim", "dtype", "licence")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\ncache directory: {_cache_dir(args.cache_dir)}")
    return 0


def register_download(sub: Any) -> None:
    """Add ``geoviz download NAME [NAME ...]`` (fetch checkpoints into the cache, with consent)."""
    p = sub.add_parser("download", help="download named pretrained checkpoints (SatCLIP) into the cache")
    p.add_argument("names", nargs="+", metavar="NAME",
                   help="model name(s), see `geoviz models`: " + ", ".join(PRETRAINED))
    p.add_argument("--cache-dir", default=None, help="checkpoint directory (default: $GEOVIZ_CACHE_DIR/checkpoints "
                                                     "or ~/.cache/geoviz/checkpoints)")
    p.add_argument("--base-url", default=None, help="download base URL (default: $GEOVIZ_SATCLIP_BASE_URL or the "
                                                    "official SatCLIP host)")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_download)


def register_models(sub: Any) -> None:
    """Add ``geoviz models`` (list pretrained model names and whether each is available)."""
    p = sub.add_parser("models", help="list pretrained models and which are cached")
    p.add_argument("--cache-dir", default=None, help="checkpoint directory to inspect")
    p.set_defaults(func=run_models)
