"""One command from a trained checkpoint to everything the robot can run:

    python -m emotion_training.deploy --checkpoint runs/x/best.pt [--output-dir runs/x/deploy]

1. ``model.onnx``: export with the contract, checked against PyTorch (``export.py``);
2. ``model.int8.onnx``: CPU int8 with the accuracy change and speed-up (``quantize.py``);
3. ``model.fp16.engine`` / ``model.int8.engine`` (+ side-cars, + ``model.int8.calib``): TensorRT
   engines when TensorRT and a GPU are present here (``build_engine.py``), else skipped with why.

``deploy.json`` lists them with sizes and the ``emotion_node`` parameters that run each one. Every
model carries its contract, so ``model_path`` is the only thing to set.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from emotion_core.backends import tensorrt_available
from emotion_core.engines import PRECISIONS

from .artifacts import DeployError, file_mb, int8_path, load_trained_checkpoint
from .build_engine import NO_TENSORRT, build_for_node
from .calibration import calibration_samples
from .export import export_checkpoint
from .quantize import QuantSettings, add_quant_args, quantize_checkpoint, settings_from_args
from .utils import setup_logging

log = logging.getLogger("emotion_training.deploy")


def build_engines(onnx: Path, ckpt: dict[str, Any], precisions: Sequence[str], calib_count: int,
                  data_root: Optional[str], show_progress: bool) -> list[dict[str, Any]]:
    """TensorRT engines beside ``onnx``, or one 'skipped' row saying why none can be built here."""
    if not precisions:
        return []
    if not tensorrt_available():
        return [{"precision": p, "skipped": NO_TENSORRT} for p in precisions]
    rows = []
    for precision in precisions:
        samples = calibration_samples(ckpt, calib_count, data_root=data_root,
                                      show_progress=show_progress) if precision == "int8" else None
        rows.append(build_for_node(onnx, precision, calibration=samples))
    return rows


def node_params(path: str, backend: str, precision: Optional[str] = None) -> dict[str, Any]:
    params: dict[str, Any] = {"model_path": path, "backend": backend}
    if precision:
        params["engine_precision"] = precision
    return params


def deploy(ckpt_path: str | Path, output_dir: Optional[str | Path] = None, int8: bool = True,
           engines: Sequence[str] = ("fp16", "int8"), settings: QuantSettings = QuantSettings(),
           calib_count: int = 256, threads: int = 1, tolerance: float = 1e-3,
           data_root: Optional[str] = None, show_progress: bool = True) -> dict[str, Any]:
    """Export, quantize and (where possible) build engines; write and return ``deploy.json``."""
    ckpt_path = Path(ckpt_path)
    ckpt = load_trained_checkpoint(ckpt_path)  # fail before minutes of export on a wrong file
    out = Path(output_dir) if output_dir else ckpt_path.parent
    out.mkdir(parents=True, exist_ok=True)
    onnx = out / "model.onnx"
    exported = export_checkpoint(ckpt_path, onnx, tolerance)
    models = [{"file": str(onnx), "kind": "onnx fp32", "mb": file_mb(onnx),
               "node": node_params(str(onnx), "onnxruntime")}]
    summary: dict[str, Any] = {"checkpoint": str(ckpt_path), "epoch": ckpt["epoch"],
                               "labels": list(ckpt["labels"]),
                               "parity_max_abs_diff": max(exported["max_abs_diff"].values()),
                               "parity_tolerance": tolerance}
    if int8:
        report = quantize_checkpoint(ckpt_path, onnx, int8_path(onnx), settings, calib_count,
                                     threads, data_root, show_progress)
        models.append({"file": report["int8"], "kind": f"onnx int8 ({report['method']})",
                       "mb": report["mb"]["int8"], "node": node_params(report["int8"], "onnxruntime")})
        summary["int8"] = {k: report[k] for k in ("method", "why", "part", "speedup", "threads")}
        summary["int8"]["accuracy_change"] = report["accuracy"]["change"]["fused"]
        summary["int8"]["report"] = str(int8_path(onnx).with_suffix(".quant.json"))
    for row in build_engines(onnx, ckpt, engines, calib_count, data_root, show_progress):
        if "skipped" in row:
            models.append({"file": None, "kind": f"tensorrt {row['precision']}", "skipped": row["skipped"]})
        else:
            models.append({"file": row["engine"], "kind": f"tensorrt {row['precision']}", "mb": row["mb"],
                           "node": node_params(str(onnx), "tensorrt", row["precision"])})
    summary["models"] = models
    (out / "deploy.json").write_text(json.dumps(summary, indent=1))
    log.info("deployment artefacts (%s):\n%s", out / "deploy.json", format_models(models))
    return summary


def format_models(models: Sequence[dict[str, Any]]) -> str:
    lines = ["| model | size MB | emotion_node parameters |", "|---|---|---|"]
    for m in models:
        if m.get("skipped"):
            lines.append(f"| {m['kind']} | – | skipped: no TensorRT/GPU here |")
        else:
            params = ", ".join(f"{k}: {v}" for k, v in m["node"].items())
            lines.append(f"| {m['kind']} `{Path(m['file']).name}` | {m['mb']:.2f} | {params} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt of a training run")
    parser.add_argument("--output-dir", type=Path, help="default: the checkpoint's run folder")
    parser.add_argument("--no-int8", action="store_true", help="skip CPU int8 quantization")
    parser.add_argument("--engines", default="fp16,int8",
                        help="TensorRT precisions to build when a GPU is present ('none' to skip)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="max |ONNX Runtime - PyTorch|")
    parser.add_argument("--data-root", help="dataset folder, if it moved since training")
    parser.add_argument("--no-progress", action="store_true")
    add_quant_args(parser)
    args = parser.parse_args(argv)
    setup_logging()
    engines = [] if args.engines == "none" else [p.strip() for p in args.engines.split(",") if p.strip()]
    bad = [p for p in engines if p not in PRECISIONS]
    if bad:
        parser.error(f"--engines {bad}: use precisions from {PRECISIONS} or 'none'")
    try:
        return deploy(args.checkpoint, args.output_dir, not args.no_int8, engines,
                      settings_from_args(args), args.calib_samples, args.threads, args.tolerance,
                      args.data_root, not args.no_progress)
    except DeployError as exc:
        parser.exit(2, f"deploy: {exc}\n")


if __name__ == "__main__":
    main()
