"""Bodies of ``geoviz species fit SOURCE --save MODEL ...`` and ``geoviz species map MODEL --species NAME -o MAP.png``.

SOURCE is a CSV/TSV/Parquet of observations with a species column (GBIF occurrence columns
recognised), ``virtual:N`` (N virtual species with known ranges; options as
``virtual:N:obs=50000,bias=flickr,seed=1``) or ``elapid:ariolimax`` (the banana slug sample
shipped with elapid; its background points become the default target-group background).
``--species`` is a name or an index (:func:`geoviz.commands.species.species_choice`).

The parsers are in :mod:`geoviz.commands.species` (a light module, so that ``geoviz --help``
does not import this package's torch stack); :func:`register` here adds the same parsers.
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

    from geoviz.commands.species import species_choice

    from .figures import species_figure
    from .model import load_species_model
    from .virtual import make_virtual_species

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
    """Add ``geoviz species fit`` and ``geoviz species map`` (the parsers live in :mod:`geoviz.commands.species`)."""
    from geoviz.commands.species import register as _register

    _register(sub)
