"""``geoviz geolocate IMAGE [-o map.png] [--model NAME_OR_FILE] [--top 5]``: where on Earth is this?

Prints the model's top places, one ``lon lat probability`` line each (degrees, degrees, the
probability mass within ``--radius-km`` of the place), best first. IMAGE is a PNG/JPEG (or
any image Pillow reads) or a GeoTIFF (its first three bands as R, G, B; non-uint8 bands
stretched from their 2nd to 98th percentile); it is centre-cropped to a square and resized to
the model's patch (24 px for the Blue Marble models). ``-o`` writes a map of the probability
with the top places marked. The model must carry an image tower (files written by
``geoviz pretrain --save``; the shipped ``geoviz-bluemarble-l10``/``-l40`` since issue 28).
See :mod:`geoviz.geolocation` for the coarse-to-fine probability map.

Example::

    geoviz geolocate photo.png --top 3 -o where.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run_geolocate"]


def run_geolocate(args: argparse.Namespace) -> int:
    """Body of ``geoviz geolocate`` (a missing IMAGE is refused before torch is imported)."""
    if not Path(args.image).expanduser().is_file():
        raise FileNotFoundError(f"no such image file: {args.image}")
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from geoviz.geolocation import geolocate, geolocation_map

    res = geolocate(args.image, args.model, top_k=args.top, min_distance_km=args.min_distance_km,
                    radius_km=args.radius_km)
    for line in res.lines():
        print(line)
    if args.output:
        from geoviz import render

        fig = geolocation_map(res, title=f"{Path(args.image).name}: where on Earth? ({res.model})")
        render.save_figure(fig, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``geoviz geolocate`` to the sub-parsers."""
    p = sub.add_parser("geolocate", help="where on Earth is this image? (top places and a probability map)",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("image", help="PNG/JPEG/GeoTIFF image")
    p.add_argument("-o", "--output", metavar="MAP.png", default=None, help="write a map of the probability here")
    p.add_argument("--model", default="geoviz-bluemarble-l10",
                   help="geoviz-bluemarble-l10, geoviz-bluemarble-l40 or a model file with an image tower")
    p.add_argument("--top", type=int, default=5, help="how many places to print")
    p.add_argument("--min-distance-km", type=float, default=250.0, help="the places are at least this far apart")
    p.add_argument("--radius-km", type=float, default=None,
                   help="a place's probability is the mass within this radius (default: half --min-distance-km)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.set_defaults(func=run_geolocate)
