"""Parsers of ``geoviz download NAME ...`` and ``geoviz models`` (bodies in :mod:`geoviz.pretrained.download`).

The only parser of this command, kept in a light module so that the CLI builds without
importing torch (``tests/test_cli.py`` checks that building every parser imports nothing heavy).
Unknown model names are refused before anything heavy is imported.
"""

from __future__ import annotations

import argparse
from typing import Any

from geoviz._names import PRETRAINED

from . import LazyCommand

__all__ = ["register_download", "register_models", "run_download"]

_CMD_DOWNLOAD = LazyCommand("geoviz.pretrained.download:_cmd_download")


def run_download(args: argparse.Namespace) -> int:
    """Body of ``geoviz download``: check the names, then fetch (see :mod:`geoviz.pretrained.download`).

    Raises:
        ValueError: an unknown model name (the message lists the valid names).
    """
    bad = [n for n in args.names if n.strip().lower() not in PRETRAINED]
    if bad:
        raise ValueError(f"unknown pretrained model {bad[0]!r}; valid names are {list(PRETRAINED)}")
    return _CMD_DOWNLOAD(args)


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
    p.set_defaults(func=LazyCommand("geoviz.pretrained.download:_cmd_models"))
