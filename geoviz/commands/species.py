"""``geoviz species fit SOURCE --save MODEL ...`` and ``geoviz species map MODEL --species NAME -o MAP.png``.

SOURCE is a CSV/TSV/Parquet of observations with a species column (GBIF occurrence columns
recognised), ``virtual:N`` (N virtual species with known ranges; options as
``virtual:N:obs=50000,bias=flickr,seed=1``) or ``elapid:ariolimax`` (the banana slug sample
shipped with elapid; its background points become the default target-group background).
``--species`` of ``geoviz species map`` is a species name (exact, else case-insensitive) or
its index ``0..S-1`` in the model.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Sequence

from geoviz._names import NETWORKS, PE_ALIASES, POSITIONAL_ENCODINGS, SPECIES_BACKGROUNDS, SPECIES_LOSSES, pe_choices

from . import LazyCommand, name_choice

__all__ = ["register", "run_map", "species_choice"]

_INDEX = re.compile(r"[+-]?\d+")
_MAP = LazyCommand("geoviz.species.cli:_map")


def _shown(names: Sequence[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def species_choice(names: Sequence[str], species: str | int) -> int:
    """Index of a species given on the command line by name or by index.

    A name wins over an index (a species literally named ``"3"`` is that species); names
    match exactly, then case-insensitively; a whole number is an index ``0..S-1``.

    Args:
        names: the model's species names, in model order.
        species: a name, an index or the text of an index (``"0"``).

    Returns:
        The index into ``names``.

    Raises:
        ValueError: an index out of range (the message gives the count and the valid range)
            or an unknown name (the message lists the names).
    """
    names = [str(n) for n in names]
    count = f"the model has {len(names)} species" + (f" (indices 0..{len(names) - 1})" if names else "")
    if isinstance(species, str):
        text = species.strip()
        if text in names:
            return names.index(text)
        low = [n.lower() for n in names]
        if text.lower() in low:
            return low.index(text.lower())
        if not _INDEX.fullmatch(text):
            raise ValueError(f"unknown species {species!r}; {count}; give a name or an index. "
                             f"Names: {_shown(names)}")
        species = int(text)
    if isinstance(species, bool) or not isinstance(species, int):
        raise TypeError(f"species must be a name or an int index, got {type(species).__name__}")
    if not 0 <= species < len(names):
        raise ValueError(f"species index {species} out of range: {count}")
    return species


def run_map(args: argparse.Namespace) -> int:
    """Body of ``geoviz species map``: a missing model file is reported before torch is imported."""
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"species model not found: {args.model}")
    return _MAP(args)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz species fit`` and ``geoviz species map``."""
    sp = sub.add_parser("species", help="species range models from presence-only observations (SINR-style)")
    ss = sp.add_subparsers(dest="species_command", required=True)
    f = ss.add_parser("fit", help="train a multi-species range model and save it",
                      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("source", help="CSV/TSV/Parquet with lon/lat and species columns, virtual:N, or elapid:ariolimax")
    f.add_argument("--save", required=True, metavar="MODEL", help="path of the model file to write (.pt)")
    f.add_argument("--species-column", default=None, metavar="COL",
                   help="species column (default: species/scientificName/... recognised)")
    f.add_argument("--lon-column", default=None, help="longitude column (default: decimalLongitude/lon/... recognised)")
    f.add_argument("--lat-column", default=None, help="latitude column (default: decimalLatitude/lat/... recognised)")
    f.add_argument("--dropna", action="store_true", help="drop rows with missing coordinates instead of failing")
    f.add_argument("--drop-rare", action="store_true", help="drop species with fewer than 2 observations instead of failing")
    f.add_argument("--loss", default="an-full", choices=list(SPECIES_LOSSES),
                   help="assume-negative loss: 'an' (background absences) or 'an-full' (also other species "
                        "at observed places; SINR's best) (default an-full)")
    f.add_argument("--pos-weight", type=float, default=2048.0, help="weight λ of each presence (default 2048 as SINR)")
    f.add_argument("--background", default=None,
                   help="pseudo-absence sampling: " + ", ".join(SPECIES_BACKGROUNDS) + " (bias:FILE: target group "
                        "from a point file; default land; the dataset's own background for elapid:ariolimax)")
    f.add_argument("--pe", default="sphericalharmonics", type=name_choice(POSITIONAL_ENCODINGS, PE_ALIASES),
                   choices=pe_choices(), metavar="PE",
                   help="positional encoding: " + ", ".join(pe_choices()) + " (default sphericalharmonics)")
    f.add_argument("--nn", default="siren", choices=list(NETWORKS), help="network (default siren)")
    f.add_argument("--legendre-polys", type=int, default=20, help="SH degrees L (L² features; default 20)")
    f.add_argument("--min-radius", type=float, default=10.0, help="smallest scale (degrees) of sinusoidal encodings")
    f.add_argument("--frequency-num", type=int, default=16, help="number of scales of sinusoidal encodings")
    f.add_argument("--hidden-dim", type=int, default=256, help="network width (default 256)")
    f.add_argument("--num-layers", type=int, default=2, help="hidden layers of siren/fcnet (default 2)")
    f.add_argument("--epochs", type=int, default=20, help="passes over the observations (default 20)")
    f.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds of training")
    f.add_argument("--batch-size", type=int, default=2048, help="observations per step (default 2048)")
    f.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, cosine-decayed (default 1e-3)")
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    f.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    f.add_argument("--threads", type=int, default=None, help="torch CPU threads during training (default: torch's)")
    f.add_argument("--evaluate", action="store_true",
                   help="for virtual:N, print mAP and AUC against the true ranges and the KDE baseline")
    f.set_defaults(func=LazyCommand("geoviz.species.cli:_fit"))
    m = ss.add_parser("map", help="draw one species' predicted probability and range to a PNG")
    m.add_argument("model", help="model file written by `geoviz species fit`")
    m.add_argument("--species", required=True, metavar="NAME|INDEX",
                   help="species name (or index 0..S-1 in the model)")
    m.add_argument("-o", "--output", required=True, metavar="MAP.png", help="PNG file to write")
    m.add_argument("--threshold", type=float, default=0.5, help="probability threshold of the range panel (default 0.5)")
    m.add_argument("--extent", default="auto",
                   help="auto (around the observations), global, or lon0,lat0,lon1,lat1 (default auto)")
    m.add_argument("--resolution", type=float, default=None, help="map cell size in degrees (default: by extent)")
    m.add_argument("--panels", default=None,
                   help="comma-separated panels from truth,observations,probability,range (default: all available)")
    m.add_argument("--no-truth", action="store_true", help="do not regenerate and draw the true range of virtual species")
    m.set_defaults(func=run_map)
