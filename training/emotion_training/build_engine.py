"""Build the TensorRT engine ``emotion_node`` consumes, beside its ONNX model, on the GPU that
will run it (an engine is specific to its GPU and TensorRT version).

    python -m emotion_training.build_engine --onnx runs/x/model.onnx --precision fp16
    python -m emotion_training.build_engine --onnx runs/x/model.onnx --precision int8 \\
        --checkpoint runs/x/best.pt          # calibration windows from the run's training split

This wraps ``emotion_core.engines.build_engine`` (the node's own builder and cache rules): the
engine lands at ``model.<precision>.engine`` with its contract + build record side-car, so the
node given ``model.onnx`` with ``backend: tensorrt`` and ``engine_precision`` finds and reuses it.
INT8 writes the calibration cache ``model.int8.calib``; later INT8 builds of the same ONNX (on a
robot without the dataset) reuse the cache and need no samples.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from emotion_core.backends import tensorrt_available
from emotion_core.engines import PRECISIONS, build_engine, default_engine_path

from .artifacts import DeployError, calibration_cache_path, file_mb, load_trained_checkpoint
from .calibration import calibration_samples
from .utils import setup_logging

log = logging.getLogger("emotion_training.build_engine")

NO_TENSORRT = ("TensorRT, cuda-python and a CUDA GPU are needed to build an engine, and are not all "
               "present here. An engine only runs on the GPU/TensorRT that built it: build it on the "
               "robot, or let emotion_node build it on first start (backend: tensorrt, model_path: "
               "the .onnx); on CPU the node runs the ONNX (fp32 or int8) with ONNX Runtime")


def require_tensorrt() -> None:
    if not tensorrt_available():
        raise DeployError(NO_TENSORRT)


def build_for_node(onnx: str | Path, precision: str = "fp16", engine: Optional[str | Path] = None,
                   max_batch: int = 8, calibration: Optional[Mapping[str, np.ndarray]] = None,
                   calibration_cache: Optional[str | Path] = None,
                   workspace_gb: float = 2.0) -> dict[str, Any]:
    """Build one engine where the node looks for it; INT8 calibrates from ``calibration`` or an
    existing cache (default ``model.int8.calib`` beside the ONNX)."""
    require_tensorrt()
    onnx = Path(onnx)
    if precision not in PRECISIONS:
        raise DeployError(f"precision {precision!r}: use one of {PRECISIONS}")
    cache = Path(calibration_cache) if calibration_cache else calibration_cache_path(onnx)
    if precision == "int8" and calibration is None and not cache.is_file():
        raise DeployError(f"INT8 needs calibration windows (--checkpoint of the run: they are drawn "
                          f"from its training split) or an existing calibration cache ({cache} not found)")
    if precision == "int8" and calibration is not None:
        n = min(len(v) for v in calibration.values())
        if n < max_batch:
            raise DeployError(f"{n} calibration windows: INT8 calibration needs at least max_batch={max_batch}")
        if cache.is_file():  # TensorRT would read the old ranges instead of calibrating
            log.info("recalibrating: replacing %s", cache.name)
            cache.unlink()
    path = build_engine(onnx, engine or default_engine_path(onnx, precision), precision=precision,
                        max_batch=max_batch, workspace_gb=workspace_gb,
                        calibration=dict(calibration) if calibration is not None else None,
                        calibration_cache=cache if precision == "int8" else None)
    result = {"engine": str(path), "precision": precision, "mb": file_mb(path), "max_batch": max_batch}
    if precision == "int8":
        result["calibration_cache"] = str(cache)
    log.info("engine %s (%.1f MB)", path, result["mb"])
    return result


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True, help="exported model (carries the contract)")
    parser.add_argument("--precision", default="fp16", choices=PRECISIONS)
    parser.add_argument("--engine", type=Path, help="default: <model>.<precision>.engine beside the ONNX")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch (faces per call) the engine takes")
    parser.add_argument("--checkpoint", type=Path, help="INT8: the run whose training windows calibrate")
    parser.add_argument("--calib-samples", type=int, default=512, help="INT8: calibration windows")
    parser.add_argument("--calibration-cache", type=Path, help="INT8 cache (default <model>.int8.calib)")
    parser.add_argument("--data-root", help="dataset folder, if it moved since training")
    parser.add_argument("--workspace-gb", type=float, default=2.0, help="builder workspace memory")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        require_tensorrt()
        samples = None
        if args.precision == "int8" and args.checkpoint:
            samples = calibration_samples(load_trained_checkpoint(args.checkpoint), args.calib_samples,
                                          data_root=args.data_root)
        return build_for_node(args.onnx, args.precision, args.engine, args.max_batch, samples,
                              args.calibration_cache, args.workspace_gb)
    except DeployError as exc:
        parser.exit(2, f"build_engine: {exc}\n")


if __name__ == "__main__":
    main()
