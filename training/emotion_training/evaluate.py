"""Evaluate a checkpoint (PyTorch) or an exported model (ONNX Runtime, as the robot runs it) on a
split's clips: accuracy, weighted / macro F1, UAR, per-class recall, confusion matrices, and the
per-modality ablation (face only / voice only / fused) through the modality mask.

    python -m emotion_training.evaluate --checkpoint runs/x/best.pt             # test speakers
    python -m emotion_training.evaluate --checkpoint runs/x/best.pt --onnx runs/x/model.onnx

Writes ``report.json`` and ``confusion_<ablation>.png`` into ``--out`` (default
``<run>/eval-<split>`` or ``…-onnx``).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
from torch.utils.data import DataLoader

from .checkpoint import load_checkpoint, model_from_checkpoint
from .config import Config, load_config
from .data import PreparedData, WindowDataset
from .datasets import Split
from .engine import ABLATIONS, clip_level, predict
from .metrics import plot_confusion, score_with_missing
from .prepare import cache_dir
from .utils import cli_entry, progress, resolve_device, setup_logging

log = logging.getLogger("emotion_training.evaluate")


def metric_line(m: dict[str, Any]) -> str:
    """One branch's metrics, each beside its coverage (the share of clips that got an answer):
    a branch that answered few clips cannot pass for a good one."""
    return (f"accuracy {m['accuracy']:.4f} UAR {m['uar']:.4f} macro-F1 {m['macro_f1']:.4f} "
            f"weighted-F1 {m['weighted_f1']:.4f} at coverage {m['coverage']:.3f} "
            f"({m['samples'] - m['without_prediction']} of {m['samples']} clips predicted, "
            f"{m['without_prediction']} in the 'no prediction' column)")


def predict_onnx(model_path: str | Path, loader, ablation: str,
                 show_progress: bool = True) -> dict[str, np.ndarray]:
    """``engine.predict`` through ``emotion_core.backends.load_model``: the contract is checked
    and the inputs are fed by the names it gives, as on the robot."""
    from emotion_core.backends import load_model

    backend, contract = load_model(model_path, backend="onnxruntime")
    use = np.array(ABLATIONS[ablation], np.float32)
    outs: dict[str, list[np.ndarray]] = {k: [] for k in ("logits", "label", "clip", "mask", "weights")}
    for batch in progress(loader, total=len(loader), desc=f"onnx {ablation}", enabled=show_progress):
        mask = batch["mask"].numpy() * use
        feeds = {contract.inputs["face"]: batch["face"].numpy() * mask[:, 0, None, None, None],
                 contract.inputs["audio"]: batch["audio"].numpy() * mask[:, 1, None, None, None],
                 contract.inputs["modality_mask"]: mask}
        out = backend.run(feeds)
        outs["logits"].append(out[contract.outputs["logits"]])
        outs["weights"].append(out[contract.outputs["fusion_weights"]])
        outs["label"].append(batch["label"].numpy())
        outs["clip"].append(batch["clip"].numpy())
        outs["mask"].append(mask)
    return {k: np.concatenate(v) for k, v in outs.items()}


def evaluate(ckpt_path: str | Path, part: str = "test", onnx_path: Optional[str | Path] = None,
             out_dir: Optional[str | Path] = None, overrides: tuple[str, ...] = (),
             data_root: Optional[str] = None, device: str = "auto", batch_size: int = 64,
             show_progress: bool = True) -> dict[str, Any]:
    """Evaluate on the checkpoint's own split (``test``, ``val`` or ``train`` speakers)."""
    ckpt = load_checkpoint(ckpt_path)
    extra = {"data": {"root": data_root}} if data_root else None
    cfg: Config = load_config(None, overrides, extra, base=ckpt["config"])
    labels = tuple(ckpt["labels"])
    split = Split(**{k: tuple(v) for k, v in ckpt["split"].items()})
    speakers = getattr(split, part)
    if not speakers:
        raise ValueError(f"the run's split has no {part} speakers: evaluate another part")
    data = PreparedData(cache_dir(cfg))
    records = data.subset(speakers)
    dataset = WindowDataset(data, records, cfg.face.spec(), cfg.audio.spec(),
                            modalities=cfg.model.modalities)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=cfg.data.num_workers)

    run_dir = Path(ckpt_path).parent
    out = Path(out_dir) if out_dir else run_dir / f"eval-{part}{'-onnx' if onnx_path else ''}"
    out.mkdir(parents=True, exist_ok=True)
    if onnx_path is None:
        model, _, _ = model_from_checkpoint(ckpt)
        dev = resolve_device(device)
        model.to(dev)
    results: dict[str, Any] = {}
    for ablation in ABLATIONS:
        if onnx_path is None:
            pred = predict(model, loader, dev, ablation, show_progress)
        else:
            pred = predict_onnx(onnx_path, loader, ablation, show_progress)
        _, y_true, y_pred = clip_level(pred)
        metrics = score_with_missing(y_true, y_pred, labels)
        usable = pred["mask"].sum(axis=1) > 0
        window_pred = pred["logits"].argmax(axis=1)
        metrics["window_accuracy"] = float(np.mean((window_pred == pred["label"])[usable])) \
            if usable.any() else 0.0
        metrics["mean_fusion_weights"] = {
            "face": float(pred["weights"][usable, 0].mean()) if usable.any() else 0.0,
            "voice": float(pred["weights"][usable, 1].mean()) if usable.any() else 0.0}
        results[ablation] = metrics
        plot_confusion(metrics["confusion_matrix"], labels, out / f"confusion_{ablation}.png",
                       f"{cfg.name} · {part} · {ablation}\nUAR {metrics['uar']:.3f} · "
                       f"coverage {metrics['coverage']:.2f}")
        log.info("%s %s: %s", part, ablation, metric_line(metrics))
    clips = [data.load(r) for r in records]
    faces = float(np.mean([c["face_found"].mean() - c.get("face_fallback", np.zeros(1)).mean()
                           for c in clips]))
    centre = float(np.mean([c.get("face_fallback", np.zeros(1)).mean() for c in clips]))
    report = {
        "model": str(onnx_path or ckpt_path), "runtime": "onnxruntime" if onnx_path else "pytorch",
        "name": cfg.name, "dataset": cfg.data.dataset, "label_set": cfg.data.label_set,
        "labels": list(labels), "part": part, "speakers": list(speakers),
        "protocol": {"split": cfg.data.split.protocol, "folds": cfg.data.split.folds,
                     "fold": cfg.data.split.fold, "level": "clip (mean of window probabilities)"},
        "epoch": ckpt["epoch"], "clips": len(records), "windows": len(dataset),
        "face_detection_rate": faces, "face_centre_crop_rate": centre, "results": results,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    log.info("report: %s", out / "report.json")
    return report


@cli_entry
def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt / last.pt of a run")
    parser.add_argument("--split", default="test", choices=("test", "val", "train"))
    parser.add_argument("--onnx", type=Path, help="evaluate this exported model with ONNX Runtime")
    parser.add_argument("--out", type=Path, help="report folder")
    parser.add_argument("--data-root", help="dataset folder, if it moved since training")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    return evaluate(args.checkpoint, args.split, args.onnx, args.out, tuple(args.overrides),
                    args.data_root, args.device, args.batch_size, not args.no_progress)


if __name__ == "__main__":
    main()
