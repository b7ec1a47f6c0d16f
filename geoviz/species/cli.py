"""``geoviz species fit SOURCE --save MODEL ...`` and ``geoviz species map MODEL --species NAME -o MAP.png``.

SOURCE is a CSV/TSV/Parquet of observations with a species column (GBIF occurrence columns
recognised), ``virtual:N`` (N virtual species with known ranges; options as
``virtual:N:obs=50000,bias=flickr,seed=1``) or ``elapid:ariolimax`` (the banana slug sample
shipped with elapid; its background points become the default target-group background).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def _load_source(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(observations, world or None, default background, meta)."""
    from .data import load_ariolimax, make_observations, read_observations
    from .virtual import make_virtual_species, parse_virtual

    src = args.source
    vkw = parse_virtual(src)
    if vkw is not None:
        world = make_virtual_species(**vkw)
        return world.observations, world, "land", {"source": src, "virtual": world.params}
    if src.lower() in ("elapid:ariolimax", "ariolimax"):
        pres, bg = load_ariolimax()
        obs = make_observations(pres, ["Ariolimax buttoni"] * len(pres), meta={"source": "elapid:ariolimax"})
        return obs, None, bg, {"source": "elapid:ariolimax"}
    obs = read_observations(src, args.species_column, lon_column=args.lon_column, lat_column=args.lat_column,
                            dropna=args.dropna, drop_rare=args.drop_rare)
    return obs, None, "land", {"source": src, **{k: v for k, v in obs.meta.items() if k != "source"}}


def _fit(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .train import SpeciesConfig, fit_species

    obs, world, default_bg, meta = _load_source(args)
    counts = obs.counts()
    print(f"{len(obs)} observations of {obs.num_species} species (per species: min {counts.min()}, "
          f"median {int(np.median(counts))}, max {counts.max()})", file=sys.stderr)
    pe_kwargs = {"legendre_polys": args.legendre_polys} if args.pe in ("sphericalharmonics", "sh") else {}
    if args.pe not in ("sphericalharmonics", "sh", "direct", "cartesian3d", "wrap"):
        pe_kwargs.update(min_radius=args.min_radius, frequency_num=args.frequency_num)
    nn_kwargs: dict[str, Any] = {"hidden_dim": args.hidden_dim}
    if args.nn in ("siren", "fcnet"):
        nn_kwargs["num_layers"] = args.num_layers
    cfg = SpeciesConfig(pe=args.pe, nn=args.nn, pe_kwargs=pe_kwargs, nn_kwargs=nn_kwargs, loss=args.loss,
                        pos_weight=args.pos_weight, background=args.background or default_bg,
                        batch_size=args.batch_size, epochs=args.epochs, max_seconds=args.max_seconds, lr=args.lr,
                        seed=args.seed, device=args.device, threads=args.threads)

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
        from .evaluate import KDEBaseline, evaluate_virtual, evaluation_points

        pts = evaluation_points()
        m = evaluate_virtual(world, model.logits, points=pts)
        k = evaluate_virtual(world, KDEBaseline(obs).score, points=pts)
        print(f"mAP {m['map']:.3f} (KDE baseline {k['map']:.3f}); mean AUC {m['mean_auc']:.3f} "
              f"(KDE {k['mean_auc']:.3f}) on {m['points']} equal-area land points")
    elif args.evaluate:
        print("--evaluate scores against true ranges and needs a virtual:N source", file=sys.stderr)
    return 0


def _map(args: argparse.Namespace) -> int:
    import numpy as np

    from .figures import species_figure
    from .model import load_species_model
    from .virtual import make_virtual_species

    model = load_species_model(args.model)
    s = model.index(args.species)
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
    f.add_argument("--save", required=True, metavar="MODEL", help="path of the model file to write (.pt)")
    f.add_argument("--species-column", default=None, metavar="COL",
                   help="species column (default: species/scientificName/... recognised)")
    f.add_argument("--lon-column", default=None, help="longitude column (default: decimalLongitude/lon/... recognised)")
    f.add_argument("--lat-column", default=None, help="latitude column (default: decimalLatitude/lat/... recognised)")
    f.add_argument("--dropna", action="store_true", help="drop rows with missing coordinates instead of failing")
    f.add_argument("--drop-rare", action="store_true", help="drop species with fewer than 2 observations instead of failing")
    f.add_argument("--loss", default="an-full", choices=["an", "an-full"],
                   help="assume-negative loss: 'an' (background absences) or 'an-full' (also other species "
                        "at observed places; SINR's best) (default an-full)")
    f.add_argument("--pos-weight", type=float, default=2048.0, help="weight λ of each presence (default 2048 as SINR)")
    f.add_argument("--background", default=None,
                   help="pseudo-absence sampling: uniform, land, bias:FILE (target group from a point file) or "
                        "bias:flickr (default land; the dataset's own background for elapid:ariolimax)")
    f.add_argument("--pe", default="sphericalharmonics", help="positional encoding (default sphericalharmonics)")
    f.add_argument("--nn", default="siren", choices=["linear", "fcnet", "siren"], help="network (default siren)")
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
    f.set_defaults(func=_fit)
    m = ss.add_parser("map", help="draw one species' predicted probability and range to a PNG")
    m.add_argument("model", help="model file written by `geoviz species fit`")
    m.add_argument("--species", required=True, help="species name (or index)")
    m.add_argument("-o", "--output", required=True, metavar="MAP.png", help="PNG file to write")
    m.add_argument("--threshold", type=float, default=0.5, help="probability threshold of the range panel (default 0.5)")
    m.add_argument("--extent", default="auto",
                   help="auto (around the observations), global, or lon0,lat0,lon1,lat1 (default auto)")
    m.add_argument("--resolution", type=float, default=None, help="map cell size in degrees (default: by extent)")
    m.add_argument("--panels", default=None,
                   help="comma-separated panels from truth,observations,probability,range (default: all available)")
    m.add_argument("--no-truth", action="store_true", help="do not regenerate and draw the true range of virtual species")
    m.set_defaults(func=_map)
