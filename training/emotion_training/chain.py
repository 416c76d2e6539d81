"""The whole chain on a dataset folder: prepare -> train -> evaluate -> export -> evaluate the
exported model with ONNX Runtime (the robot's backend), for one fold or every fold.

    python -m emotion_training.chain --config training/configs/ravdess_mobilenetv3.yaml \
        --data-root /data/RAVDESS --output runs/ravdess-mnv3 [--all-folds]

Writes ``summary.json`` in the output folder: test metrics per fold (PyTorch and ONNX Runtime,
which must agree), and their mean and standard deviation over folds.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .config import Config, add_config_args, config_from_args, load_config
from .evaluate import evaluate
from .export import export_checkpoint
from .prepare import prepare
from .train import train
from .utils import setup_logging

log = logging.getLogger("emotion_training.chain")
KEYS = ("accuracy", "uar", "macro_f1", "weighted_f1")


def run_fold(cfg: Config, show_progress: bool = True, onnx_eval: bool = True) -> dict[str, Any]:
    run_dir = train(cfg, show_progress=show_progress)
    best = run_dir / "best.pt"
    part = "test" if cfg.data.split.protocol == "kfold" or cfg.data.split.test_speakers else "val"
    torch_report = evaluate(best, part, show_progress=show_progress)
    exported = export_checkpoint(best)
    result = {"run": str(run_dir), "onnx": exported["onnx"], "part": part,
              "pytorch": {k: torch_report["results"]["fused"][k] for k in KEYS},
              "ablation": {a: torch_report["results"][a]["uar"] for a in torch_report["results"]},
              "onnx_max_abs_diff": max(exported["max_abs_diff"].values())}
    if onnx_eval:
        onnx_report = evaluate(best, part, onnx_path=exported["onnx"], show_progress=show_progress)
        result["onnxruntime"] = {k: onnx_report["results"]["fused"][k] for k in KEYS}
    return result


def chain(cfg: Config, all_folds: bool = False, show_progress: bool = True,
          onnx_eval: bool = True) -> dict[str, Any]:
    prepare(cfg)
    out = Path(cfg.train.output)
    folds = range(cfg.data.split.folds) if all_folds and cfg.data.split.protocol == "kfold" \
        else [cfg.data.split.fold]
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
               "folds": results,
               "mean": {k: float(np.mean([r["pytorch"][k] for r in results])) for k in KEYS},
               "std": {k: float(np.std([r["pytorch"][k] for r in results])) for k in KEYS}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    log.info("chain done: test accuracy %.4f ± %.4f, UAR %.4f ± %.4f over %d fold(s) -> %s",
             summary["mean"]["accuracy"], summary["std"]["accuracy"], summary["mean"]["uar"],
             summary["std"]["uar"], len(results), out / "summary.json")
    return summary


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
