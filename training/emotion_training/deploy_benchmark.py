"""Inference latency per sample of every deployed form of the model, side by side: eager PyTorch,
ONNX Runtime fp32, ONNX Runtime int8, and TensorRT FP16 / INT8 where a GPU is present, for the
EfficientNet-B0 and MobileNetV3 profiles at batch 1 and 8, plus model sizes on disk.

    python -m emotion_training.deploy_benchmark                     # both profiles, random init
    python -m emotion_training.deploy_benchmark --checkpoint runs/x/best.pt   # a deployed run

Profiles are built with random weights (nothing to download): latency does not depend on the
weights, accuracy does, so accuracy changes come from ``quantize`` on a trained run. Every
runtime gets the same inputs and the same thread count; batch 1 is the robot's usual call (one
face per frame), batch 8 several faces in one call.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from emotion_core.backends import OnnxRuntimeBackend, TensorRTBackend, tensorrt_available
from emotion_core.contract import ModelContract, read_onnx_contract

from .artifacts import DeployError, file_mb, int8_path, load_trained_checkpoint
from .build_engine import build_for_node
from .calibration import calibration_samples, random_samples
from .checkpoint import build_contract, model_from_checkpoint
from .config import load_config
from .datasets import label_names
from .export import export_onnx
from .models import create_model
from .quantize import QuantSettings, quantize_onnx
from .timing import Latency, backend_call, measure_interleaved
from .utils import progress, setup_logging

log = logging.getLogger("emotion_training.deploy_benchmark")
ROOT = Path(__file__).resolve().parents[1]
PROFILES = (ROOT / "configs" / "ravdess_efficientnet_b0.yaml", ROOT / "configs" / "ravdess_mobilenetv3.yaml")
RUNTIMES = ("PyTorch eager fp32", "ONNX Runtime fp32", "ONNX Runtime int8", "TensorRT FP16", "TensorRT INT8")
NO_GPU = "n/a (no GPU)"


@dataclass
class Candidate:
    """One model in its deployed forms."""

    name: str
    torch_model: torch.nn.Module
    contract: ModelContract
    onnx: Path
    int8: Optional[Path]
    state_dict_mb: float  # torch.save of the model's weights alone
    calibration: dict  # input name -> samples, for a TensorRT INT8 build


def candidate_from_profile(config: str | Path, workdir: Path, calib: int = 32) -> Candidate:
    """Random-init model of a training profile, exported and statically quantized."""
    cfg = load_config(config, ["model.weights=null", "model.backbone_checkpoint=null"])
    cfg.audio.norm_mean, cfg.audio.norm_std = 0.0, 1.0  # random init: any statistics will do
    labels = label_names(cfg.data.label_set)
    model = create_model(cfg.model, cfg.audio.n_mels, len(labels)).eval()
    contract = build_contract(cfg, labels, "random-init", {"weights": "random init (speed only)"})
    stem = workdir / Path(config).stem
    onnx = export_onnx(model, contract, stem.with_suffix(".onnx"))
    samples = random_samples(contract, calib)
    quantize_onnx(onnx, int8_path(onnx), QuantSettings(mode="static"), samples)
    name = f"{cfg.model.backbone} {cfg.face.size}px"
    return Candidate(name, model, contract, onnx, int8_path(onnx), state_dict_mb(model), samples)


def candidate_from_checkpoint(ckpt_path: str | Path, onnx: Optional[Path] = None,
                              int8: Optional[Path] = None, calib: int = 64) -> Candidate:
    """A trained run as ``deploy`` left it: best.pt, model.onnx and model.int8.onnx beside it."""
    ckpt_path = Path(ckpt_path)
    ckpt = load_trained_checkpoint(ckpt_path)
    model, cfg, _ = model_from_checkpoint(ckpt)
    onnx = onnx or ckpt_path.with_name("model.onnx")
    if not onnx.is_file():
        raise DeployError(f"no ONNX model at {onnx}: run python -m emotion_training.deploy --checkpoint {ckpt_path}")
    int8 = int8 or int8_path(onnx)
    samples = calibration_samples(ckpt, calib, show_progress=False) if tensorrt_available() else {}
    return Candidate(f"{cfg.name} ({cfg.model.backbone} {cfg.face.size}px, trained)", model,
                     read_onnx_contract(onnx), onnx, int8 if int8.is_file() else None,
                     state_dict_mb(model), samples)


def state_dict_mb(model: torch.nn.Module) -> float:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / 1e6


def _engines(c: Candidate, max_batch: int, workdir: Path) -> dict[str, Path]:
    """FP16 and INT8 engines of the candidate: the deployed ones beside its ONNX when they match
    this GPU/TensorRT/ONNX, else fresh builds in ``workdir`` (a benchmark never replaces a
    deployed engine or its calibration cache)."""
    if not tensorrt_available():
        return {}
    from emotion_core.engines import current_target, default_engine_path, read_record, stale_reason

    target, out = current_target(), {}
    for precision in ("fp16", "int8"):
        deployed = default_engine_path(c.onnx, precision)
        record = read_record(deployed)
        if stale_reason(deployed, c.onnx, target) is None and record and record.max_batch >= max_batch:
            out[f"TensorRT {precision.upper()}"] = deployed
            continue
        built = build_for_node(c.onnx, precision, engine=workdir / deployed.name, max_batch=max_batch,
                               calibration=c.calibration or None,
                               calibration_cache=workdir / f"{c.onnx.stem}.int8.calib")
        out[f"TensorRT {precision.upper()}"] = Path(built["engine"])
    return out


def measure_candidate(c: Candidate, batches: Sequence[int], runs: int, warmup: int, threads: int,
                      workdir: Path, show_progress: bool = True
                      ) -> tuple[dict[str, dict[int, Any]], dict[str, Optional[float]]]:
    """(runtime -> batch -> Latency or why there is no figure, file -> MB)."""
    engines = _engines(c, max(batches), workdir)
    backends: dict[str, Any] = {"ONNX Runtime fp32": OnnxRuntimeBackend(c.onnx, intra_op_threads=threads)}
    if c.int8 is not None:
        backends["ONNX Runtime int8"] = OnnxRuntimeBackend(c.int8, intra_op_threads=threads)
    backends.update({runtime: TensorRTBackend(engine) for runtime, engine in engines.items()})
    out: dict[str, dict[int, Any]] = {r: {} for r in RUNTIMES}
    for batch in progress(batches, total=len(batches), desc=c.name, enabled=show_progress):
        feeds = random_samples(c.contract, batch, seed=batch)
        args = [torch.from_numpy(feeds[c.contract.inputs[k]]) for k in ("face", "audio", "modality_mask")]

        def eager() -> None:
            with torch.inference_mode():
                c.torch_model(*args)

        calls = {"PyTorch eager fp32": eager,
                 **{name: backend_call(backend, feeds) for name, backend in backends.items()}}
        out.update({name: {**out[name], batch: lat} for name, lat in
                    measure_interleaved(calls, batch, warmup, runs).items()})
        for runtime in RUNTIMES:
            out[runtime].setdefault(batch, NO_GPU if runtime.startswith("TensorRT") else "n/a (no int8 model)")
    sizes = {"PyTorch state_dict": c.state_dict_mb, "ONNX fp32": file_mb(c.onnx),
             "ONNX int8": file_mb(c.int8) if c.int8 else None,
             **{f"{r.split()[1]} engine": file_mb(e) for r, e in engines.items()}}
    return out, sizes


def _cell(value: Any) -> str:
    return f"{value.per_sample_ms:.2f}" if isinstance(value, Latency) else str(value)


def format_tables(names: Sequence[str], results: Sequence[dict], sizes: Sequence[dict],
                  batches: Sequence[int]) -> str:
    head = ["runtime"] + [f"{n} b{b}" for n in names for b in batches]
    lines = ["inference ms per sample (median call time / batch):",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for runtime in RUNTIMES:
        cells = [_cell(r[runtime][b]) for r in results for b in batches]
        lines.append(f"| {runtime} | " + " | ".join(cells) + " |")
    for ref, other in (("ONNX Runtime fp32", "ONNX Runtime int8"), ("PyTorch eager fp32", "ONNX Runtime fp32")):
        cells = []
        for r in results:
            for b in batches:
                x, y = r[ref][b], r[other][b]
                cells.append(f"x{x.per_sample_ms / y.per_sample_ms:.2f}"
                             if isinstance(x, Latency) and isinstance(y, Latency) else "–")
        lines.append(f"| speed-up {other} vs {ref.split(' fp32')[0]} fp32 | " + " | ".join(cells) + " |")
    kinds = ["PyTorch state_dict", "ONNX fp32", "ONNX int8", "FP16 engine", "INT8 engine"]
    lines += ["", "size on disk (MB):", "| model | " + " | ".join(kinds) + " |", "|" + "---|" * (len(kinds) + 1)]
    for n, size in zip(names, sizes):
        cells = [f"{size[k]:.2f}" if size.get(k) is not None else NO_GPU if "engine" in k else "–"
                 for k in kinds]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment(threads: int) -> str:
    import onnxruntime as ort

    gpu = "TensorRT available" if tensorrt_available() else "no GPU/TensorRT: TensorRT rows n/a"
    return (f"{platform.processor() or platform.machine()}, {threads} thread(s) for PyTorch and ONNX "
            f"Runtime; torch {torch.__version__}, onnxruntime {ort.__version__}; {gpu}")


def run(configs: Sequence[str | Path] = PROFILES, checkpoint: Optional[Path] = None,
        batches: Sequence[int] = (1, 8), runs: int = 10, warmup: int = 2, threads: int = 0,
        workdir: Optional[Path] = None, show_progress: bool = True) -> dict[str, Any]:
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if checkpoint is not None:
            candidates = [candidate_from_checkpoint(checkpoint)]
            note = f"trained checkpoint {checkpoint}"
        else:
            candidates = [candidate_from_profile(c, work) for c in
                          progress(configs, total=len(configs), desc="export + int8", enabled=show_progress)]
            note = "random-init weights (latency does not depend on them; accuracy is measured by quantize)"
        measured = [measure_candidate(c, batches, runs, warmup, threads, work, show_progress) for c in candidates]
    names = [c.name for c in candidates]
    results, sizes = [m[0] for m in measured], [m[1] for m in measured]
    table = format_tables(names, results, sizes, batches)
    rows = {n: {**{rt: {str(b): (v.per_sample_ms if isinstance(v, Latency) else v) for b, v in r[rt].items()}
                   for rt in RUNTIMES}, "sizes_mb": size} for n, r, size in zip(names, results, sizes)}
    return {"environment": environment(threads), "note": note, "table": table, "rows": rows}


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=[str(c) for c in PROFILES], help="training profiles")
    parser.add_argument("--checkpoint", type=Path, help="benchmark a deployed run instead of profiles")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--runs", type=int, default=10, help="timed calls per cell")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--workdir", type=Path, help="keep the exported profile models here")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    result = run(args.configs, args.checkpoint, args.batches, args.runs, args.warmup, args.threads,
                 args.workdir, not args.no_progress)
    print(result["environment"])
    print(result["note"])
    print(result["table"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
