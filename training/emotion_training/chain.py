"""The whole chain on a dataset folder: prepare -> train -> evaluate -> export -> evaluate the
exported model with ONNX Runtime (the robot's backend), for one fold or every fold.

    python -m emotion_training.chain --config training/configs/ravdess_face_expression_net.yaml \
        --data-root /data/RAVDESS --output runs/ravdess-fen [--all-folds]

Before any work it checks the config against this machine (data folder, pretrained weights:
nothing is downloaded); before training it prints the takes found, used and skipped per
reason and the split by speaker. Writes ``summary.json`` in the output folder: test metrics
per fold (PyTorch and ONNX Runtime, which must agree) for the fused model and each branch
alone with its coverage, training throughput, their mean and standard deviation over folds,
and the wall time.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .config import Config, add_config_args, config_from_args, load_config
from .data import PreparedData
from .datasets import make_split
from .evaluate import evaluate
from .export import export_checkpoint
from .preflight import check_run
from .prepare import prepare
from .train import run_throughput, train
from .utils import cli_entry, setup_logging

log = logging.getLogger("emotion_training.chain")
KEYS = ("accuracy", "uar", "macro_f1", "weighted_f1")


def run_fold(cfg: Config, show_progress: bool = True, onnx_eval: bool = True) -> dict[str, Any]:
    run_dir = train(cfg, show_progress=show_progress)
    best = run_dir / "best.pt"
    part = "test" if cfg.data.split.protocol == "kfold" or cfg.data.split.test_speakers else "val"
    torch_report = evaluate(best, part, show_progress=show_progress)
    exported = export_checkpoint(best)
    results = torch_report["results"]
    history = json.loads((run_dir / "history.json").read_text())
    result = {"run": str(run_dir), "onnx": exported["onnx"], "part": part,
              "pytorch": {k: results["fused"][k] for k in KEYS + ("coverage",)},
              "ablation": {a: results[a]["uar"] for a in results},
              "branches": {a: {k: results[a][k] for k in KEYS + ("coverage", "without_prediction")}
                           for a in results},
              "train_throughput": run_throughput(history),
              "onnx_max_abs_diff": max(exported["max_abs_diff"].values())}
    if onnx_eval:
        onnx_report = evaluate(best, part, onnx_path=exported["onnx"], show_progress=show_progress)
        result["onnxruntime"] = {k: onnx_report["results"]["fused"][k] for k in KEYS}
    return result


def log_split(cfg: Config, data: PreparedData, folds: list[int]) -> None:
    """The speakers (and clips) of each part, per fold, before any training."""
    for fold in folds:
        split_cfg = load_config(base=cfg.to_dict(), extra={"data": {"split": {"fold": fold}}}).data.split
        split = make_split(data.records, split_cfg)
        parts = []
        for name in ("train", "val", "test"):
            speakers = getattr(split, name)
            parts.append(f"{name} {len(data.subset(speakers))} clips from {len(speakers)} speakers "
                         f"[{', '.join(speakers)}]")
        label = f"fold {fold}" if cfg.data.split.protocol == "kfold" else "fixed split"
        log.info("split by speaker, %s: %s", label, "; ".join(parts))


def chain(cfg: Config, all_folds: bool = False, show_progress: bool = True,
          onnx_eval: bool = True) -> dict[str, Any]:
    tic = time.perf_counter()
    check_run(cfg)  # data folder and pretrained weights, before any work
    data = PreparedData(prepare(cfg))
    out = Path(cfg.train.output)
    folds = list(range(cfg.data.split.folds)) if all_folds and cfg.data.split.protocol == "kfold" \
        else [cfg.data.split.fold]
    log_split(cfg, data, folds)
    results = []
    for fold in folds:
        fold_cfg = load_config(base=cfg.to_dict(), extra={
            "data": {"split": {"fold": fold}},
            "train": {"output": str(out / f"fold{fold}") if all_folds else str(out)}})
        log.info("fold %d -> %s", fold, fold_cfg.train.output)
        results.append({"fold": fold, **run_fold(fold_cfg, show_progress, onnx_eval)})
    summary = {"name": cfg.name, "dataset": cfg.data.dataset, "label_set": cfg.data.label_set,
               "protocol": f"{cfg.data.split.protocol}"
                           + (f", {cfg.data.split.folds} folds by speaker" if cfg.data.split.protocol == "kfold" else ""),
               "backbone": cfg.model.backbone, "weights": cfg.model.weights,
               "folds": results,
               "mean": {k: float(np.mean([r["pytorch"][k] for r in results])) for k in KEYS},
               "std": {k: float(np.std([r["pytorch"][k] for r in results])) for k in KEYS},
               "branches_mean": {a: {k: float(np.mean([r["branches"][a][k] for r in results]))
                                     for k in KEYS + ("coverage",)}
                                 for a in results[0]["branches"]},
               "train_samples_per_s": float(np.mean([r["train_throughput"].get("samples_per_s", 0.0)
                                                     for r in results])),
               "wall_s": time.perf_counter() - tic}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for branch, m in summary["branches_mean"].items():
        log.info("chain %s: accuracy %.4f UAR %.4f macro-F1 %.4f at coverage %.3f", branch,
                 m["accuracy"], m["uar"], m["macro_f1"], m["coverage"])
    log.info("chain done in %.0f s: test accuracy %.4f ± %.4f, UAR %.4f ± %.4f over %d fold(s), "
             "training %.1f samples/s -> %s", summary["wall_s"], summary["mean"]["accuracy"],
             summary["std"]["accuracy"], summary["mean"]["uar"], summary["std"]["uar"], len(results),
             summary["train_samples_per_s"], out / "summary.json")
    return summary


@cli_entry
def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--all-folds", action="store_true", help="every fold of a kfold protocol")
    parser.add_argument("--epochs", type=int, help="train.epochs")
    parser.add_argument("--no-onnx-eval", action="store_true", help="skip the ONNX Runtime evaluation")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args, extra={"train": {"epochs": args.epochs}} if args.epochs else None)
    return chain(cfg, args.all_folds, not args.no_progress, not args.no_onnx_eval)


if __name__ == "__main__":
    main()
