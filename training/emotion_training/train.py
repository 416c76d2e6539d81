"""Train the fusion model: one script for one CPU, one GPU, or many GPUs under ``torchrun``.

    python -m emotion_training.train --config training/configs/ravdess_face_expression_net.yaml \
        --data-root /data/RAVDESS --output runs/ravdess-fen-fold0
    torchrun --nproc_per_node 4 -m emotion_training.train --config … --output …   # DDP
    python -m emotion_training.train --resume runs/ravdess-fen-fold0/last.pt       # go on

The run folder receives the resolved ``config.yaml``, ``split.json`` (speakers of each part),
``last.pt`` / ``best.pt`` (model, optimizer, scheduler, epoch, config: everything to resume
or export), ``history.json``, ``curves.png`` and TensorBoard logs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch.utils.data import DataLoader, DistributedSampler

from .checkpoint import build_contract, load_checkpoint, save_checkpoint
from .config import Config, add_config_args, config_from_args
from .data import PreparedData, WindowDataset, compute_norm_stats
from .datasets import label_names, make_split
from .engine import clip_level, predict, train_one_epoch, warmup_cosine, window_loss
from .metrics import plot_curves, score_with_missing
from .models import create_model
from .prepare import cache_dir, prepare
from .preflight import check_run
from .utils import Distributed, cli_entry, seed_everything, setup_logging

log = logging.getLogger("emotion_training.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--resume", type=Path, help="checkpoint to continue from (its config is used)")
    parser.add_argument("--epochs", type=int, help="train.epochs")
    parser.add_argument("--batch-size", type=int, help="train.batch_size (per process)")
    parser.add_argument("--lr", type=float, help="train.lr")
    parser.add_argument("--device", help="train.device: auto, cpu, cuda, cuda:1")
    parser.add_argument("--seed", type=int, help="train.seed")
    parser.add_argument("--deterministic", action="store_true", help="deterministic kernels")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[Config, Optional[dict[str, Any]]]:
    """Config from file and flags, or from the checkpoint being resumed (flags still apply)."""
    named = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "device": args.device, "seed": args.seed}
    train_flags: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
    if args.deterministic:
        train_flags["deterministic"] = True
    ckpt = load_checkpoint(args.resume) if args.resume else None
    cfg = config_from_args(args, base=ckpt["config"] if ckpt else None, extra={"train": train_flags})
    return cfg, ckpt


def make_loader(dataset, cfg: Config, shuffle: bool, dist: Distributed, seed: int) -> DataLoader:
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed) if dist.enabled and shuffle else None
    generator = torch.Generator().manual_seed(seed)
    workers = cfg.data.num_workers
    return DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, num_workers=workers, persistent_workers=workers > 0,
                      pin_memory=torch.cuda.is_available(), drop_last=False, generator=generator)


def train(cfg: Config, ckpt: Optional[dict[str, Any]] = None, show_progress: bool = True,
          on_epoch: Optional[Callable[[int, dict[str, float]], bool]] = None) -> Path:
    """Train (or resume) a run; return the run folder.

    ``on_epoch(epoch, stats)`` is called after each epoch's checkpoint is saved (stats include
    ``val_uar``); returning True stops the run there, as early stopping does. Hyper-parameter
    search prunes hopeless trials through it (``emotion_training.tune``)."""
    root = cache_dir(cfg)
    # Before any work: the data (unless prepared already) and the pretrained weights (unless
    # resuming: the checkpoint holds every weight).
    check_run(cfg, data=not (root / "index.json").is_file(), weights=ckpt is None)
    dist = Distributed()
    device = dist.setup(cfg.train.device)
    seed_everything(cfg.train.seed + dist.rank, cfg.train.deterministic)
    run_dir = Path(cfg.train.output)
    labels = label_names(cfg.data.label_set)

    if not (root / "index.json").is_file():
        if dist.is_main:
            prepare(cfg)
        dist.barrier()
    data = PreparedData(root)
    split = make_split(data.records, cfg.data.split)
    train_records, val_records = data.subset(split.train), data.subset(split.val)
    if cfg.audio.norm_mean is None or cfg.audio.norm_std is None:
        cfg.audio.norm_mean, cfg.audio.norm_std = compute_norm_stats(
            data, train_records, cfg.audio.spec(normalised=False), show_progress and dist.is_main)
        log.info("log-mel normalisation from %d training clips: mean %.3f std %.3f",
                 len(train_records), cfg.audio.norm_mean, cfg.audio.norm_std)
    face_spec, audio_spec = cfg.face.spec(), cfg.audio.spec()
    common = dict(face=face_spec, audio=audio_spec, modalities=cfg.model.modalities)
    train_set = WindowDataset(data, train_records, augment=cfg.augment, seed=cfg.train.seed, **common)
    val_set = WindowDataset(data, val_records, **common) if val_records else None
    train_loader = make_loader(train_set, cfg, True, dist, cfg.train.seed)
    val_loader = make_loader(val_set, cfg, False, dist, cfg.train.seed) if val_set else None
    if val_set is None:
        log.warning("no validation speakers: the last epoch is kept and early stopping is off")

    model_cfg = cfg.model
    if ckpt is not None:  # the checkpoint holds the weights: read nothing else, fetch nothing
        model_cfg = dataclasses.replace(cfg.model, weights=None, backbone_checkpoint=None)
    model = create_model(model_cfg, audio_spec.n_mels, len(labels)).to(device)
    core = model
    if dist.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    t = cfg.train
    optimizer = torch.optim.AdamW(core.parameter_groups(t.lr, t.backbone_lr_scale, t.weight_decay), lr=t.lr)
    steps = len(train_loader)
    scheduler = warmup_cosine(optimizer, int(t.warmup_epochs * steps), t.epochs * steps)
    scaler = torch.amp.GradScaler("cuda") if t.amp and device.type == "cuda" else None

    start_epoch, best_uar, bad_epochs, history = 0, -1.0, 0, []
    if ckpt is not None:
        core.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch = ckpt["epoch"] + 1
        best_uar, bad_epochs, history = ckpt["best_uar"], ckpt["bad_epochs"], list(ckpt["history"])
        log.info("resumed at epoch %d (best val UAR %.4f)", start_epoch, best_uar)

    writer = None
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.yaml")
        (run_dir / "split.json").write_text(json.dumps(split.to_dict(), indent=1))
        writer = _tensorboard(run_dir / "tb")
        log.info("train %d windows / %d clips (%d speakers), val %d clips (%d speakers), "
                 "%s on %s%s", len(train_set), len(train_records), len(split.train),
                 len(val_records), len(split.val), cfg.model.backbone, device,
                 f" x{dist.world_size}" if dist.enabled else "")

    for epoch in range(start_epoch, t.epochs):
        if bad_epochs >= t.patience and val_set is not None:
            log.info("early stop: val UAR has not improved for %d epochs", bad_epochs)
            break
        tic = time.perf_counter()
        train_set.set_epoch(epoch)
        if isinstance(train_loader.sampler, DistributedSampler):
            train_loader.sampler.set_epoch(epoch)
        stats: dict[str, float] = {"epoch": epoch, **train_one_epoch(
            model, train_loader, optimizer, scheduler, device, t, scaler,
            show_progress and dist.is_main)}
        if val_loader is not None:
            pred = predict(core, val_loader, device, show_progress=show_progress and dist.is_main)
            _, y_true, y_pred = clip_level(pred)
            metrics = score_with_missing(y_true, y_pred, labels)
            stats.update(val_loss=window_loss(pred), val_acc=metrics["accuracy"], val_uar=metrics["uar"])
        stats["lr"] = optimizer.param_groups[0]["lr"]
        stats["seconds"] = time.perf_counter() - tic
        history.append(stats)
        current = stats.get("val_uar", stats["train_acc"])
        improved = current > best_uar or val_set is None
        if improved:
            best_uar, bad_epochs = current, 0
        else:
            bad_epochs += 1
        if dist.is_main:
            log.info("epoch %d: %s", epoch, " ".join(
                f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}" for k, v in stats.items()
                if k != "epoch"))
            if writer is not None:
                for key, value in stats.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch)
            state = {"model": core.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict() if scaler is not None else None,
                     "epoch": epoch, "best_uar": best_uar, "bad_epochs": bad_epochs,
                     "history": history, "config": cfg.to_dict(), "labels": list(labels),
                     "split": split.to_dict(),
                     "contract": build_contract(cfg, labels).to_dict()}
            save_checkpoint(run_dir / "last.pt", state)
            if improved:
                save_checkpoint(run_dir / "best.pt", state)
        if on_epoch is not None and on_epoch(epoch, stats):
            log.info("stopped after epoch %d by the caller", epoch)
            break
    if dist.is_main:
        (run_dir / "history.json").write_text(json.dumps(history, indent=1))
        throughput = run_throughput(history, dist.world_size)
        if throughput:
            log.info("train summary: %d epochs, %d samples in %.1f s of training steps: "
                     "%.1f samples/s (%s), %.1f ms per step of %d", len(history),
                     throughput["samples"], throughput["seconds"], throughput["samples_per_s"],
                     f"{dist.world_size} processes" if dist.enabled else str(device),
                     throughput["step_ms"], t.batch_size)
        if history:
            plot_curves(history, run_dir / "curves.png")
        if writer is not None:
            writer.close()
    dist.cleanup()
    return run_dir


def run_throughput(history: list[dict[str, float]], world_size: int = 1) -> dict[str, float]:
    """Training throughput over a run's epochs (windows per second of training-loop wall time,
    data loading included; all processes together under DDP)."""
    timed = [h for h in history if h.get("train_seconds")]
    if not timed:
        return {}
    samples = sum(h["train_samples"] for h in timed) * world_size
    seconds = sum(h["train_seconds"] for h in timed)
    return {"samples": int(samples), "seconds": seconds, "samples_per_s": samples / seconds,
            "step_ms": float(sum(h["step_ms"] for h in timed) / len(timed))}


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(path))


@cli_entry
def main(argv: Optional[list[str]] = None) -> Path:
    args = build_parser().parse_args(argv)
    setup_logging()
    cfg, ckpt = resolve_config(args)
    return train(cfg, ckpt, show_progress=not args.no_progress)


if __name__ == "__main__":
    main()
