"""Parser of ``geoviz pretrain`` (the body is :func:`geoviz.pretraining._cli`).

The only parser of this command, kept in a light module so that the CLI builds without
importing torch (``tests/test_cli.py`` checks that building every parser imports nothing heavy).
"""

from __future__ import annotations

from typing import Any

from . import LazyCommand

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``geoviz pretrain`` (SatCLIP-style pretraining on the Blue Marble mosaic)."""
    p = sub.add_parser("pretrain", help="pretrain geoviz's SH+Siren location encoder on NASA Blue Marble patches")
    p.add_argument("--legendre-polys", type=int, default=10)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pixels", type=int, default=24)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--land-fraction", type=float, default=0.7)
    p.add_argument("--jitter-deg", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    p.add_argument("--eval-n", type=int, default=1000, help="held-out retrieval set size after each epoch (0: off)")
    p.add_argument("--final-eval-n", type=int, default=0, help="re-evaluate at the end with this n (0: reuse last)")
    p.add_argument("--time-budget-min", type=float, default=None,
                   help="stop after this many minutes (LR schedule follows the time fraction)")
    p.add_argument("--out", default="out/geoviz-bluemarble.pt", help="where to write the location-encoder file")
    p.add_argument("--save-full", default=None, help="optionally also save the full model (incl. image encoder)")
    p.set_defaults(func=LazyCommand("geoviz.pretraining:_cli"))
