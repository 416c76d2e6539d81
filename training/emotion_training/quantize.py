"""CPU int8: ONNX Runtime static quantization (QDQ, per-channel weights, activation ranges
calibrated on training windows), dynamic quantization as the fallback, the model contract kept,
and the accuracy change and speed-up measured.

    python -m emotion_training.quantize --checkpoint runs/x/best.pt      # model.onnx -> model.int8.onnx

Static QDQ quantizes activations too (the convolutions of both branches run in int8); it needs
representative inputs, taken from the run's training speakers (``calibration.py``). Dynamic
quantization needs none (activation ranges are computed per call) and also covers the LSTM, but
is slower; ``--mode auto`` uses it when static quantization fails or loses more than
``--max-drop`` validation accuracy. The test split is only used for the final report.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from emotion_core.contract import ModelContract, read_onnx_contract, write_onnx_contract

from .artifacts import DeployError, file_mb, int8_path, load_trained_checkpoint, require_same_contract
from .calibration import batches, calibration_samples
from .timing import Latency, backend_call, measure_interleaved, speedup
from .utils import setup_logging

log = logging.getLogger("emotion_training.quantize")
MODES = ("auto", "static", "dynamic")
KEYS = ("accuracy", "uar", "macro_f1")


@dataclass(frozen=True)
class QuantSettings:
    mode: str = "auto"
    #: Per-output-channel weight scales for Conv/Gemm/MatMul: depthwise and projection layers
    #: have very different ranges per channel, and one scale per tensor costs accuracy.
    per_channel: bool = True
    #: Activation type: ``uint8`` (U8S8, fastest on x86 without VNNI) or ``int8`` (S8S8).
    activation: str = "uint8"
    calibrate_method: str = "minmax"  # minmax | entropy | percentile
    calib_batch: int = 16
    #: auto: fall back to dynamic when static loses more validation accuracy than this.
    max_drop: float = 0.02

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DeployError(f"mode {self.mode!r}: use one of {MODES}")
        if self.activation not in ("uint8", "int8"):
            raise DeployError(f"activation {self.activation!r}: uint8 or int8")
        if self.calibrate_method not in ("minmax", "entropy", "percentile"):
            raise DeployError(f"calibrate_method {self.calibrate_method!r}: minmax, entropy or percentile")


def _sample_reader(samples: Mapping[str, np.ndarray], batch: int):
    from onnxruntime.quantization import CalibrationDataReader

    class SampleReader(CalibrationDataReader):
        """Feeds the calibration windows to ONNX Runtime's calibrator, batch by batch."""

        def __init__(self) -> None:
            self._it = batches(samples, batch)

        def get_next(self) -> Optional[dict[str, np.ndarray]]:
            return next(self._it, None)

    return SampleReader()


class _DropRankOneAxisWarning(logging.Filter):
    """ONNX Runtime warns (on the root logger) for every rank-1 weight (LayerNorm scales) that
    per-channel quantization cannot split, then quantizes it per tensor as it should: noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is out-of-range for weight" not in record.getMessage()


def quantize_static_qdq(fp32: Path, out: Path, samples: Mapping[str, np.ndarray],
                        settings: QuantSettings) -> None:
    """QDQ static quantization after ORT's pre-processing (constant folding, shape inference;
    the symbolic shape pass cannot follow the exporter's dynamic batch and is skipped)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    with tempfile.TemporaryDirectory(prefix="quant-") as tmp:
        source = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32), str(source), skip_symbolic_shape=True)
        except Exception as exc:  # pre-processing only helps; quantize the raw graph without it
            log.warning("ONNX Runtime pre-processing failed (%s); quantizing the exported graph", exc)
            source = fp32
        quiet = _DropRankOneAxisWarning()
        logging.getLogger().addFilter(quiet)
        try:
            quantize_static(
                str(source), str(out), _sample_reader(samples, settings.calib_batch),
                quant_format=QuantFormat.QDQ, per_channel=settings.per_channel,
                activation_type=QuantType.QUInt8 if settings.activation == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8, calibrate_method=methods[settings.calibrate_method])
        finally:
            logging.getLogger().removeFilter(quiet)


def quantize_dynamic_int8(fp32: Path, out: Path, settings: QuantSettings) -> None:
    """Dynamic quantization: int8 weights, activation ranges computed at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), per_channel=settings.per_channel, weight_type=QuantType.QInt8)


def stamp_contract(path: Path, contract: ModelContract, method: str, detail: str) -> ModelContract:
    """Write the source's contract into the int8 model (provenance says how it was derived), then
    check it reads back and that emotion_node's loader accepts the model."""
    import onnx

    from emotion_core.backends import load_model

    derived = ModelContract.from_dict({**contract.to_dict(), "provenance": {
        **dict(contract.provenance), "quantization": f"onnxruntime {method} int8 ({detail})"}})
    proto = onnx.load(str(path))
    write_onnx_contract(proto, derived)
    onnx.save(proto, str(path))
    require_same_contract(path, contract)
    load_model(path, backend="onnxruntime")  # the graph's tensors match the contract
    return derived


def quantize_onnx(fp32: str | Path, out: str | Path, settings: QuantSettings,
                  samples: Optional[Mapping[str, np.ndarray]] = None, method: Optional[str] = None) -> str:
    """Quantize ``fp32`` into ``out`` with ``method`` (static/dynamic; default: the settings' mode,
    ``auto`` meaning static with dynamic when static fails); returns the method used."""
    fp32, out = Path(fp32), Path(out)
    contract = read_onnx_contract(fp32)
    method = method or ("static" if settings.mode == "auto" else settings.mode)
    if method == "static":
        if samples is None:
            raise DeployError("static quantization needs calibration samples (or use --mode dynamic)")
        try:
            quantize_static_qdq(fp32, out, samples, settings)
            n = min(len(v) for v in samples.values())
            detail = (f"QDQ, {'per-channel' if settings.per_channel else 'per-tensor'} weights, "
                      f"{settings.activation} activations, {settings.calibrate_method} over {n} windows")
        except Exception as exc:
            if settings.mode == "static":
                raise DeployError(f"static quantization of {fp32.name} failed: {exc}") from exc
            log.warning("static quantization failed (%s): falling back to dynamic", exc)
            method = "dynamic"
    if method == "dynamic":
        quantize_dynamic_int8(fp32, out, settings)
        detail = f"{'per-channel' if settings.per_channel else 'per-tensor'} int8 weights"
    stamp_contract(out, contract, method, detail)
    log.info("%s int8: %s (%.2f MB -> %.2f MB)", method, out.name, file_mb(fp32), file_mb(out))
    return method


def onnx_accuracy(ckpt_path: Path, model: Path, part: str, out_dir: Path,
                  data_root: Optional[str] = None, show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Clip-level metrics of an ONNX model on a split part, per ablation (the robot's backend)."""
    from .evaluate import evaluate

    report = evaluate(ckpt_path, part, onnx_path=model, out_dir=out_dir, data_root=data_root,
                      show_progress=show_progress)
    return {ablation: {k: r[k] for k in KEYS} for ablation, r in report["results"].items()}


def latency_rows(models: Mapping[str, Path], contract: ModelContract, threads: int,
                 batch_sizes: tuple[int, ...] = (1, 8), runs: int = 20) -> dict[str, dict[int, Latency]]:
    """ONNX Runtime latency of each model at each batch size (the node's backend and threads)."""
    from emotion_core.backends import OnnxRuntimeBackend

    from .calibration import random_samples

    backends = {name: OnnxRuntimeBackend(path, intra_op_threads=threads) for name, path in models.items()}
    out: dict[str, dict[int, Latency]] = {name: {} for name in models}
    for b in batch_sizes:
        feeds = random_samples(contract, b)
        timed = measure_interleaved({n: backend_call(be, feeds) for n, be in backends.items()}, b, runs=runs)
        for name, latency in timed.items():
            out[name][b] = latency
    return out


def _drop(fp32: dict, int8: dict) -> float:
    return fp32["fused"]["accuracy"] - int8["fused"]["accuracy"]


class _Evaluator:
    """ONNX Runtime evaluation of models on one run's split parts, reports under one folder."""

    def __init__(self, ckpt_path: Path, folder: Path, data_root: Optional[str], show_progress: bool) -> None:
        self.ckpt_path, self.folder = ckpt_path, folder
        self.data_root, self.show_progress = data_root, show_progress

    def __call__(self, model: Path, part: str, tag: str) -> dict[str, dict[str, float]]:
        return onnx_accuracy(self.ckpt_path, model, part, self.folder / f"{part}-{tag}",
                             self.data_root, self.show_progress)


def choose_on_validation(fp32: Path, out: Path, settings: QuantSettings,
                         evaluate: _Evaluator) -> tuple[str, str]:
    """``auto``: keep static int8 unless it loses more than ``max_drop`` validation accuracy and
    dynamic int8 loses less. Returns (method kept in ``out``, why)."""
    val_fp32 = evaluate(fp32, "val", "fp32")
    static_drop = _drop(val_fp32, evaluate(out, "val", "int8"))
    if static_drop <= settings.max_drop:
        return "static", f"validation accuracy change {0.0 - static_drop:+.3f} within --max-drop {settings.max_drop}"
    log.warning("static int8 loses %.3f validation accuracy (> %.3f): trying dynamic", static_drop,
                settings.max_drop)
    static_copy = out.with_name(out.stem + ".static.onnx")
    out.replace(static_copy)
    quantize_onnx(fp32, out, settings, method="dynamic")
    if _drop(val_fp32, evaluate(out, "val", "dynamic")) < static_drop:
        static_copy.unlink()
        return "dynamic", f"static lost {static_drop:.3f} validation accuracy (> --max-drop)"
    static_copy.replace(out)
    return "static", "static kept: dynamic was no better on validation"


def quantize_checkpoint(ckpt_path: str | Path, onnx_path: Optional[str | Path] = None,
                        output: Optional[str | Path] = None, settings: QuantSettings = QuantSettings(),
                        calib_count: int = 256, threads: int = 1, data_root: Optional[str] = None,
                        show_progress: bool = True) -> dict[str, Any]:
    """Quantize a run's exported model and report accuracy (test split) and speed vs fp32."""
    ckpt_path = Path(ckpt_path)
    ckpt = load_trained_checkpoint(ckpt_path)
    fp32 = Path(onnx_path) if onnx_path else ckpt_path.with_name("model.onnx")
    if not fp32.is_file():
        raise DeployError(f"no ONNX model at {fp32}: export it first "
                          f"(python -m emotion_training.export --checkpoint {ckpt_path})")
    out = Path(output) if output else int8_path(fp32)
    samples = None if settings.mode == "dynamic" else calibration_samples(
        ckpt, calib_count, data_root=data_root, show_progress=show_progress)
    method = quantize_onnx(fp32, out, settings, samples)
    evaluate = _Evaluator(ckpt_path, out.parent / f"{out.stem}.eval", data_root, show_progress)
    why = "requested" if settings.mode != "auto" else "static failed" if method == "dynamic" \
        else "no validation speakers to check it on"
    if settings.mode == "auto" and method == "static" and ckpt["split"]["val"]:
        method, why = choose_on_validation(fp32, out, settings, evaluate)
    part = "test" if ckpt["split"]["test"] else "val"
    acc_fp32, acc_int8 = evaluate(fp32, part, "fp32"), evaluate(out, part, "int8")
    lat = latency_rows({"fp32": fp32, "int8": out}, read_onnx_contract(out), threads)
    report = {
        "fp32": str(fp32), "int8": str(out), "method": method, "why": why,
        "settings": asdict(settings), "calibration_windows": 0 if samples is None else
        int(min(len(v) for v in samples.values())), "part": part,
        "accuracy": {"fp32": acc_fp32, "int8": acc_int8,
                     "change": {a: {k: acc_int8[a][k] - acc_fp32[a][k] for k in KEYS} for a in acc_fp32}},
        "latency_ms_per_sample": {name: {str(b): r.per_sample_ms for b, r in rows.items()}
                                  for name, rows in lat.items()},
        "speedup": {str(b): speedup(lat["fp32"][b], lat["int8"][b]) for b in lat["fp32"]},
        "threads": threads, "mb": {"fp32": file_mb(fp32), "int8": file_mb(out)},
        "contract_kept": True,
    }
    out.with_suffix(".quant.json").write_text(json.dumps(report, indent=1))
    log.info("%s", format_report(report))
    return report


def format_report(report: Mapping[str, Any]) -> str:
    acc, fused = report["accuracy"], report["accuracy"]["change"]["fused"]
    lat = report["latency_ms_per_sample"]
    lines = [f"int8 ({report['method']}: {report['why']}) on the {report['part']} split, fused:",
             f"  accuracy {acc['fp32']['fused']['accuracy']:.4f} -> {acc['int8']['fused']['accuracy']:.4f} "
             f"({fused['accuracy']:+.4f}), UAR {acc['fp32']['fused']['uar']:.4f} -> "
             f"{acc['int8']['fused']['uar']:.4f} ({fused['uar']:+.4f})"]
    for b in lat["fp32"]:
        lines.append(f"  batch {b}: {lat['fp32'][b]:.2f} -> {lat['int8'][b]:.2f} ms/sample "
                     f"(x{report['speedup'][b]:.2f}, {report['threads']} thread(s))")
    lines.append(f"  size {report['mb']['fp32']:.2f} MB -> {report['mb']['int8']:.2f} MB")
    return "\n".join(lines)


def add_quant_args(parser: argparse.ArgumentParser) -> None:
    """The quantization flags (shared with ``deploy``)."""
    parser.add_argument("--mode", default="auto", choices=MODES, help="int8 method (auto: static, dynamic as fallback)")
    parser.add_argument("--calib-samples", type=int, default=256, help="training windows for calibration")
    parser.add_argument("--activation", default="uint8", choices=("uint8", "int8"), help="activation type")
    parser.add_argument("--calibration", default="minmax", choices=("minmax", "entropy", "percentile"))
    parser.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor")
    parser.add_argument("--max-drop", type=float, default=0.02,
                        help="auto: largest validation accuracy loss static int8 may cost")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for the timing (node default 1)")


def settings_from_args(args: argparse.Namespace) -> QuantSettings:
    return QuantSettings(mode=args.mode, per_channel=not args.per_tensor, activation=args.activation,
                         calibrate_method=args.calibration, max_drop=args.max_drop)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt of a training run")
    parser.add_argument("--onnx", type=Path, help="fp32 model (default: model.onnx beside the checkpoint)")
    parser.add_argument("--output", type=Path, help="default: <model>.int8.onnx beside it")
    parser.add_argument("--data-root", help="dataset folder, if it moved since training")
    parser.add_argument("--no-progress", action="store_true")
    add_quant_args(parser)
    args = parser.parse_args(argv)
    setup_logging()
    return quantize_checkpoint(args.checkpoint, args.onnx, args.output, settings_from_args(args),
                               args.calib_samples, args.threads, args.data_root, not args.no_progress)


if __name__ == "__main__":
    main()
