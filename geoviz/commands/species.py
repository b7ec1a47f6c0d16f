"""``geoviz species fit SOURCE --save MODEL ...`` and ``geoviz species map MODEL --species NAME -o MAP.png``.

SOURCE is a CSV/TSV/Parquet of observations with a species column (GBIF occurrence columns
recognised), ``virtual:N`` (N virtual species with known ranges; options as
``virtual:N:obs=50000,bias=flickr,seed=1``) or ``elapid:ariolimax`` (the banana slug sample
shipped with elapid; its background points become the default target-group background).
``--species`` of ``geoviz species map`` is a species name (exact, else case-insensitive) or
its index ``0..S-1`` in the model."""
# A light module: the command bodies import torch and geoviz.species when they run.

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from geoviz._names import SPECIES_BACKGROUNDS, SPECIES_LOSSES

# The tuned recipe (docs/results/species.md); the same numbers as geoviz.species.train's
# DEFAULT_* (tests/test_species.py checks), repeated here so that --help does not import torch.
DEFAULT_POS_WEIGHT_SCALE = 12.5
DEFAULT_STEPS = 250
DEFAULT_BACKGROUND = "uniform"
DEFAULT_BATCH_SIZE = 1024
DEFAULT_ENCODER = "sh:20+siren(256x2)"

from ._options import add_compute_options, add_encoder_options, add_lonlat_options, encoder_spec

__all__ = ["register", "run_fit", "run_map", "load_source", "species_choice"]

_INDEX = re.compile(r"[+-]?\d+")


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
    return _draw_map(args)


def load_source(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(observations, world or None, default background, meta)."""
    from geoviz.species.data import load_ariolimax, make_observations, read_observations
    from geoviz.species.virtual import make_virtual_species, parse_virtual

    src = args.source
    vkw = parse_virtual(src)
    if vkw is not None:
        world = make_virtual_species(**vkw)
        return world.observations, world, DEFAULT_BACKGROUND, {"source": src, "virtual": world.params}
    if src.lower() in ("elapid:ariolimax", "ariolimax"):
        pres, bg = load_ariolimax()
        obs = make_observations(pres, ["Ariolimax buttoni"] * len(pres), meta={"source": "elapid:ariolimax"})
        return obs, None, bg, {"source": "elapid:ariolimax"}
    obs = read_observations(src, args.species_column, lon_column=args.lon, lat_column=args.lat,
                            dropna=args.dropna, drop_rare=args.drop_rare)
    return obs, None, DEFAULT_BACKGROUND, {"source": src, **{k: v for k, v in obs.meta.items() if k != "source"}}


def run_fit(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from geoviz.species.train import SpeciesConfig, fit_species

    obs, world, default_bg, meta = load_source(args)
    counts = obs.counts()
    print(f"{len(obs)} observations of {obs.num_species} species (per species: min {counts.min()}, "
          f"median {int(np.median(counts))}, max {counts.max()})", file=sys.stderr)
    extra = {} if args.pos_weight_scale is None else {"pos_weight_scale": args.pos_weight_scale}
    cfg = SpeciesConfig.from_spec(encoder_spec(args), loss=args.loss, pos_weight=args.pos_weight,
                                  background=args.background or default_bg, batch_size=args.batch_size,
                                  epochs=args.epochs, steps=args.steps, max_seconds=args.max_seconds, lr=args.lr,
                                  seed=args.seed, device=args.device, threads=args.threads, **extra)
    print(f"λ = {cfg.lam(obs.num_species):g}, {cfg.num_epochs(len(obs))} epochs of "
          f"{-(-len(obs) // min(cfg.batch_size, len(obs)))} steps", file=sys.stderr)

    def show(row: dict[str, Any]) -> None:
        print(f"epoch {row['epoch']:3d}  loss {row['loss']:.4f}  {row['seconds']:.1f} s", file=sys.stderr)

    model, hist = fit_species(obs, cfg, callback=show)
    model.meta.update(meta)
    model.meta["background"] = args.background or ("dataset background points" if meta["source"] == "elapid:ariolimax" else default_bg)
    model.meta["observations"] = {"lonlat": torch.from_numpy(obs.lonlat.astype(np.float32)),
                                  "species": torch.from_numpy(obs.species.astype(np.int32))}
    path = model.save(args.save)
    print(f"wrote {path} ({obs.num_species} species, {len(hist)} epochs, {hist[-1]['seconds']:.1f} s)")
    if args.evaluate and world is not None:
        from geoviz.species.evaluate import KDEBaseline, evaluate_virtual, evaluation_points

        pts = evaluation_points()
        m = evaluate_virtual(world, model.logits, points=pts)
        k = evaluate_virtual(world, KDEBaseline(obs).score, points=pts)
        print(f"mAP {m['map']:.3f} (KDE baseline {k['map']:.3f}); mean AUC {m['mean_auc']:.3f} "
              f"(KDE {k['mean_auc']:.3f}) on {m['points']} equal-area land points")
    elif args.evaluate:
        print("--evaluate scores against true ranges and needs a virtual:N source", file=sys.stderr)
    return 0


def _draw_map(args: argparse.Namespace) -> int:
    import numpy as np

    from geoviz.species.figures import species_figure
    from geoviz.species.model import load_species_model
    from geoviz.species.virtual import make_virtual_species

    model = load_species_model(args.model)
    s = species_choice(model.names, args.species)
    obs = None
    o = model.meta.get("observations")
    if isinstance(o, dict) and "lonlat" in o:
        ll, sp = np.asarray(o["lonlat"], dtype=np.float64), np.asarray(o["species"])
        obs = ll[sp == s]
    world = None
    if isinstance(model.meta.get("virtual"), dict) and not args.no_truth:
        v = dict(model.meta["virtual"])
        v["radius_km"] = tuple(v.get("radius_km", (700.0, 3500.0)))
        world = make_virtual_species(**v)
    panels = args.panels.split(",") if args.panels else None
    species_figure(model, s, observations=obs, truth=world, panels=panels, threshold=args.threshold,
                   extent=args.extent, resolution=args.resolution, path=args.output)
    print(f"wrote {args.output}")
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``geoviz species fit`` and ``geoviz species map``."""
    sp = sub.add_parser("species", help="species range models from presence-only observations (SINR-style)")
    ss = sp.add_subparsers(dest="species_command", required=True)
    f = ss.add_parser("fit", help="train a multi-species range model and save it",
                      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("source", help="CSV/TSV/Parquet with lon/lat and species columns, virtual:N, or elapid:ariolimax")
    f.add_argument("--save", required=True, metavar="MODEL", help="path of the model file to write (kept as given)")
    f.add_argument("--species-column", default=None, metavar="COL",
                   help="species column (default: species/scientificName/... recognised)")
    add_lonlat_options(f)
    f.add_argument("--dropna", action="store_true", help="drop rows with missing coordinates instead of failing")
    f.add_argument("--drop-rare", action="store_true", help="drop species with fewer than 2 observations instead of failing")
    f.add_argument("--loss", default="an-full", choices=list(SPECIES_LOSSES),
                   help="assume-negative loss: 'an' (background absences) or 'an-full' (also other species "
                        "at observed places; SINR's best) (default an-full)")
    f.add_argument("--pos-weight", type=float, default=None,
                   help="weight λ of each presence (default: scaled to the species count S, "
                        f"λ = {DEFAULT_POS_WEIGHT_SCALE:g}·(2S − 1); SINR's 2048 belongs to ~47,000 species)")
    f.add_argument("--pos-weight-scale", type=float, default=None, metavar="C",
                   help=f"c of the scaled λ = c·(2S − 1) (default {DEFAULT_POS_WEIGHT_SCALE:g})")
    f.add_argument("--background", default=None,
                   help="pseudo-absence sampling: " + ", ".join((*SPECIES_BACKGROUNDS, "target")) + " (bias:FILE: "
                        "target group from a point file; target: the observations' own locations; default "
                        f"{DEFAULT_BACKGROUND}; the dataset's own background for elapid:ariolimax)")
    add_encoder_options(f, DEFAULT_ENCODER)
    f.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"optimiser steps (rounded up to whole epochs; default {DEFAULT_STEPS})")
    f.add_argument("--epochs", type=int, default=None, help="passes over the observations (overrides --steps)")
    f.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds of training")
    f.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"observations per step (default {DEFAULT_BATCH_SIZE})")
    f.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, cosine-decayed (default 1e-3)")
    add_compute_options(f)
    f.add_argument("--evaluate", action="store_true",
                   help="for virtual:N, print mAP and AUC against the true ranges and the KDE baseline")
    f.set_defaults(func=run_fit)
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
