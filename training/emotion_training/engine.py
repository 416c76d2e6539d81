"""The loop: ``train_one_epoch`` and ``predict`` (torchvision references style), the loss, the
warm-up + cosine schedule, and clip-level aggregation of window predictions."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .utils import progress, progress_bar

#: Ablations of ``predict``: which modalities the mask lets through.
ABLATIONS = {"fused": (True, True), "face_only": (True, False), "voice_only": (False, True)}


def fusion_loss(out, labels: torch.Tensor, mask: torch.Tensor, aux_weight: float,
                label_smoothing: float) -> torch.Tensor:
    """Cross-entropy of the fused logits, plus per-branch losses on the samples where that
    branch is present, so face-only and voice-only outputs stay meaningful on their own."""
    loss = F.cross_entropy(out.logits.float(), labels, label_smoothing=label_smoothing)
    if aux_weight > 0:
        for logits, present in ((out.face_logits, mask[:, 0]), (out.audio_logits, mask[:, 1])):
            per = F.cross_entropy(logits.float(), labels, reduction="none",
                                  label_smoothing=label_smoothing)
            loss = loss + aux_weight * (per * present).sum() / present.sum().clamp(min=1.0)
    return loss


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                  floor: float = 0.01) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to ``floor`` x the base rate; stepped per iteration."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(warmup_steps, 1)
        progress_ = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress_, 1.0)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast("cuda", dtype=torch.float16) if enabled and device.type == "cuda" \
        else nullcontext()


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, scheduler,
                    device: torch.device, cfg, scaler: Optional[torch.amp.GradScaler] = None,
                    show_progress: bool = True) -> dict[str, float]:
    """One pass over this process's shard; the returned loss/accuracy are of that shard, with
    its throughput (windows per second of wall time, data loading included, and ms per
    optimizer step), which the progress bar shows live."""
    model.train()
    total_loss, correct, seen, steps = 0.0, 0, 0, 0
    bar = progress_bar(loader, total=len(loader), desc="train", enabled=show_progress)
    tic = time.perf_counter()
    for batch in (bar if bar is not None else loader):
        batch = _to(batch, device)
        with _autocast(device, scaler is not None):
            out = model(batch["face"], batch["audio"], batch["mask"])
            loss = fusion_loss(out, batch["label"], batch["mask"], cfg.aux_weight, cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if cfg.clip_grad > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        n = batch["label"].numel()
        total_loss += float(loss.detach()) * n
        correct += int((out.logits.argmax(1) == batch["label"]).sum())
        seen += n
        steps += 1
        if bar is not None:
            elapsed = time.perf_counter() - tic
            bar.set_postfix({"samples/s": f"{seen / elapsed:.1f}", "loss": f"{total_loss / seen:.3f}"})
    elapsed = max(time.perf_counter() - tic, 1e-9)
    if bar is not None:
        bar.close()
    return {"train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
            "samples_per_s": seen / elapsed, "step_ms": 1e3 * elapsed / max(steps, 1),
            "train_samples": seen, "train_seconds": elapsed}


@torch.inference_mode()
def predict(model: nn.Module, loader, device: torch.device, ablation: str = "fused",
            show_progress: bool = True) -> dict[str, np.ndarray]:
    """Window-level outputs under an ablation: the mask (and the blanked input, as the robot
    feeds zeros) removes the modality the ablation leaves out."""
    use_face, use_audio = ABLATIONS[ablation]
    model.eval()
    keep = torch.tensor([float(use_face), float(use_audio)], device=device)
    outs: dict[str, list[np.ndarray]] = {k: [] for k in ("logits", "label", "clip", "mask", "weights")}
    for batch in progress(loader, total=len(loader), desc=f"eval {ablation}", enabled=show_progress):
        batch = _to(batch, device)
        mask = batch["mask"] * keep
        face = batch["face"] * mask[:, 0, None, None, None]
        audio = batch["audio"] * mask[:, 1, None, None, None]
        out = model(face, audio, mask)
        outs["logits"].append(out.logits.float().cpu().numpy())
        outs["weights"].append(out.fusion_weights.float().cpu().numpy())
        outs["label"].append(batch["label"].cpu().numpy())
        outs["clip"].append(batch["clip"].cpu().numpy())
        outs["mask"].append(mask.cpu().numpy())
    return {k: np.concatenate(v) for k, v in outs.items()}


def clip_level(pred: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average the softmax of each clip's windows that had any input; a clip with no usable
    window under the ablation counts as wrong (predicted -1) rather than being dropped, so an
    ablation cannot look better by skipping hard clips. Returns (clip ids, true, predicted)."""
    logits = pred["logits"] - pred["logits"].max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    usable = pred["mask"].sum(axis=1) > 0
    clips = np.unique(pred["clip"])
    y_true, y_pred = [], []
    for c in clips:
        rows = pred["clip"] == c
        y_true.append(int(pred["label"][rows][0]))
        good = rows & usable
        y_pred.append(int(probs[good].mean(axis=0).argmax()) if good.any() else -1)
    return clips, np.asarray(y_true), np.asarray(y_pred)


def window_loss(pred: dict[str, np.ndarray]) -> float:
    """Cross-entropy of the fused window logits that ``predict`` returned."""
    return float(F.cross_entropy(torch.from_numpy(pred["logits"]), torch.from_numpy(pred["label"])))
