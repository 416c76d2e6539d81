"""TensorRT engines built from, and cached beside, their ONNX models.

An engine is only valid for the TensorRT version and GPU that built it, and for the exact ONNX
file it came from. The JSON side-car beside each engine (``model.engine.json``) carries the
model contract plus what the engine was built from; ``ensure_engine`` loads a matching engine,
and rebuilds (saying why) one that is missing, stale or foreign. Unlike rebuilding at every start,
a valid engine is reused: building takes minutes on a Jetson.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .contract import ModelContract, read_onnx_contract, sidecar_path
from .cuda import check, import_cudart

log = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "int8")


class EngineError(RuntimeError):
    """An engine cannot be built or used here."""


@dataclass(frozen=True)
class BuildTarget:
    """What an engine is specific to."""

    tensorrt_version: str
    device_name: str
    compute_capability: str


@dataclass(frozen=True)
class EngineRecord:
    """Provenance written beside an engine."""

    onnx_file: str
    onnx_sha256: str
    precision: str
    max_batch: int
    target: BuildTarget
    built_unix: float


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def default_engine_path(onnx_path: str | Path, precision: str) -> Path:
    p = Path(onnx_path)
    return p.with_name(f"{p.stem}.{precision}.engine")


def write_sidecar(engine_path: Path, contract: ModelContract, record: EngineRecord) -> None:
    data = {"contract": contract.to_dict(), "engine": asdict(record)}
    sidecar_path(engine_path).write_text(json.dumps(data, indent=1, sort_keys=True))


def read_record(engine_path: str | Path) -> Optional[EngineRecord]:
    side = sidecar_path(engine_path)
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text())["engine"]
        return EngineRecord(**{**data, "target": BuildTarget(**data["target"])})
    except (KeyError, TypeError, ValueError):
        return None


def stale_reason(engine_path: str | Path, onnx_path: Optional[str | Path],
                 target: BuildTarget) -> Optional[str]:
    """Why the engine cannot be used as is (None when it matches this ONNX, TensorRT and GPU)."""
    engine = Path(engine_path)
    if not engine.is_file():
        return f"no engine at {engine}"
    record = read_record(engine)
    if record is None:
        return f"{engine.name} has no readable build record ({sidecar_path(engine).name})"
    if record.target.tensorrt_version != target.tensorrt_version:
        return (f"{engine.name} was built by TensorRT {record.target.tensorrt_version}, "
                f"this is TensorRT {target.tensorrt_version}")
    if (record.target.device_name, record.target.compute_capability) != (target.device_name, target.compute_capability):
        return (f"{engine.name} was built for {record.target.device_name} (sm {record.target.compute_capability}), "
                f"this GPU is {target.device_name} (sm {target.compute_capability})")
    if onnx_path is not None and Path(onnx_path).is_file() and sha256_file(onnx_path) != record.onnx_sha256:
        return f"{Path(onnx_path).name} changed since {engine.name} was built"
    return None


def current_target() -> BuildTarget:
    """TensorRT version and GPU of this machine (needs tensorrt + cuda-python)."""
    try:
        import tensorrt as trt

        cudart = import_cudart()
        err, props = cudart.cudaGetDeviceProperties(0)
        check(err, "cudaGetDeviceProperties")
    except Exception as exc:
        raise EngineError(f"TensorRT with a CUDA GPU is needed for engines: {exc}") from exc
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return BuildTarget(trt.__version__, name.strip("\x00 "), f"{props.major}.{props.minor}")


def build_engine(onnx_path: str | Path, engine_path: Optional[str | Path] = None,
                 precision: str = "fp16", max_batch: int = 8, workspace_gb: float = 2.0,
                 calibration: Optional[np.lib.npyio.NpzFile | dict[str, np.ndarray]] = None,
                 calibration_cache: Optional[str | Path] = None) -> Path:
    """Build a TensorRT engine from an ONNX model and write the side-car beside it.

    Every input's batch axis gets an optimisation profile of 1..max_batch (optimum 1: a robot
    sees one face per frame most of the time). INT8 needs ``calibration`` (input name -> array
    of samples, e.g. from the training set) or an existing ``calibration_cache``.
    """
    import tensorrt as trt

    if precision not in PRECISIONS:
        raise EngineError(f"precision {precision!r} not in {PRECISIONS}")
    onnx_path = Path(onnx_path)
    contract = read_onnx_contract(onnx_path)
    engine_path = Path(engine_path) if engine_path else default_engine_path(onnx_path, precision)
    target = current_target()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = list(tensor.shape)
        fixed = [d if d > 0 else 1 for d in shape[1:]]
        profile.set_shape(tensor.name, [1, *fixed], [1, *fixed], [max_batch, *fixed])
    config.add_optimization_profile(profile)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, calibration, calibration_cache, max_batch)
        config.set_calibration_profile(profile)
    t0 = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT failed to build {engine_path.name} (see the log above)")
    engine_path.write_bytes(bytes(serialized))
    record = EngineRecord(onnx_path.name, sha256_file(onnx_path), precision, max_batch, target, time.time())
    write_sidecar(engine_path, contract, record)
    log.info("built %s (%s) in %.0f s", engine_path.name, precision, time.monotonic() - t0)
    return engine_path


def _calibrator(trt, calibration, cache: Optional[str | Path], batch: int):
    """An entropy calibrator over in-memory samples, reading/writing a calibration cache."""
    cache_path = Path(cache) if cache else None
    if calibration is None and (cache_path is None or not cache_path.is_file()):
        raise EngineError("INT8 needs calibration samples or an existing calibration cache")
    cudart = import_cudart()

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.data = {k: np.ascontiguousarray(v, np.float32) for k, v in dict(calibration or {}).items()}
            self.n = min((len(v) for v in self.data.values()), default=0)
            self.i = 0
            self.ptrs = {}
            for name, arr in self.data.items():
                err, ptr = cudart.cudaMalloc(arr[:batch].nbytes)
                check(err, "cudaMalloc")
                self.ptrs[name] = ptr

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names):
            if self.i + batch > self.n:
                return None
            for name in names:
                host = self.data[name][self.i:self.i + batch]
                check(cudart.cudaMemcpy(self.ptrs[name], host.ctypes.data, host.nbytes,
                                         cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)[0], "H2D")
            self.i += batch
            return [self.ptrs[n] for n in names]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path and cache_path.is_file() else None

        def write_calibration_cache(self, data) -> None:
            if cache_path:
                cache_path.write_bytes(bytes(data))

    return Calibrator()


def ensure_engine(onnx_path: Optional[str | Path], engine_path: Optional[str | Path] = None,
                  precision: str = "fp16", force: bool = False,
                  target_fn: Callable[[], BuildTarget] = current_target,
                  build_fn: Callable[..., Path] = build_engine) -> tuple[Path, str]:
    """Return (engine path, what happened): the cached engine when it matches, else a rebuilt one.

    Refuses (EngineError) a stale or foreign engine that has no ONNX file to rebuild it from.
    """
    if engine_path is None:
        if onnx_path is None:
            raise EngineError("need an ONNX model or an engine path")
        engine_path = default_engine_path(onnx_path, precision)
    engine_path = Path(engine_path)
    if onnx_path is None:
        record = read_record(engine_path)
        if record is not None and (engine_path.parent / record.onnx_file).is_file():
            onnx_path = engine_path.parent / record.onnx_file
    target = target_fn()
    reason = "force_engine_update is set" if force else stale_reason(engine_path, onnx_path, target)
    if reason is None:
        return engine_path, f"using cached engine {engine_path.name}"
    if onnx_path is None or not Path(onnx_path).is_file():
        raise EngineError(f"cannot use {engine_path.name}: {reason}; and no ONNX model to rebuild it from")
    log.warning("rebuilding %s: %s", engine_path.name, reason)
    extra = {}
    if precision == "int8":  # the calibration cache written beside the ONNX by build_engine
        extra["calibration_cache"] = Path(onnx_path).with_suffix(".int8.calib")
    build_fn(onnx_path, engine_path, precision=precision, **extra)
    return engine_path, f"rebuilt {engine_path.name}: {reason}"
