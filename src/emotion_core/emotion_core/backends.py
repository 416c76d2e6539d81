"""Inference backends behind one small interface: ONNX Runtime (CPU, or CUDA where installed)
and TensorRT engines. The backend is chosen once at start; callers feed named numpy arrays."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from . import data_paths
from .contract import ContractError, ModelContract, read_contract
from .cuda import BackendError, check, import_cudart

log = logging.getLogger(__name__)

__all__ = ["BackendError", "InferenceBackend", "OnnxRuntimeBackend", "TensorRTBackend", "load_model",
           "tensorrt_available"]


class InferenceBackend(Protocol):
    """A loaded model: named inputs in, named outputs out."""

    name: str
    input_names: Sequence[str]
    output_names: Sequence[str]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class OnnxRuntimeBackend:
    """ONNX Runtime session; ``providers`` defaults to CPU (CUDA first when asked and present)."""

    name = "onnxruntime"

    def __init__(self, model_path: str | Path, providers: Sequence[str] | None = None,
                 intra_op_threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise BackendError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if intra_op_threads > 0:
            options.intra_op_num_threads = intra_op_threads
        # Idle worker threads would otherwise spin between frames, burning CPU that other nodes
        # on the robot need; the cost is a few tens of microseconds of wake-up per call.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        wanted = list(providers or ["CPUExecutionProvider"])
        chosen = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as exc:
            raise BackendError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self.providers = self._session.get_providers()
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._session.run(self.output_names, {k: feeds[k] for k in self.input_names})
        return dict(zip(self.output_names, outputs))


class TensorRTBackend:
    """A serialized TensorRT engine run with the TensorRT 10 tensor API and cuda-python.

    The engine's I/O shapes may have a dynamic batch; device buffers grow on demand.
    """

    name = "tensorrt"

    def __init__(self, engine_path: str | Path) -> None:
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise BackendError("TensorRT is not installed (pip install tensorrt, or JetPack)") from exc
        self._cudart = import_cudart()
        path = Path(engine_path)
        if not path.is_file():
            raise BackendError(f"engine file not found: {path}")
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise BackendError(
                f"TensorRT could not deserialize {path}: built by another TensorRT version or GPU")
        self._engine = engine
        self._context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._dtypes = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device ptr, bytes)
        err, self._stream = self._cudart.cudaStreamCreate()
        check(err, "cudaStreamCreate")

    def _device(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                check(self._cudart.cudaFree(ptr)[0], "cudaFree")
            err, ptr = self._cudart.cudaMalloc(max(nbytes, 1))
            check(err, "cudaMalloc")
            self._buffers[name] = (ptr, nbytes)
        return self._buffers[name][0]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.input_names:
            host = np.ascontiguousarray(feeds[name], dtype=self._dtypes[name])
            if not self._context.set_input_shape(name, host.shape):
                raise BackendError(f"engine rejects shape {host.shape} for input {name!r}")
            ptr = self._device(name, host.nbytes)
            check(cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, self._stream)[0], "H2D")
            self._context.set_tensor_address(name, ptr)
        outputs: dict[str, np.ndarray] = {}
        for name in self.output_names:
            shape = tuple(self._context.get_tensor_shape(name))
            outputs[name] = np.empty(shape, dtype=self._dtypes[name])
            self._context.set_tensor_address(name, self._device(name, outputs[name].nbytes))
        if not self._context.execute_async_v3(self._stream):
            raise BackendError("TensorRT execution failed")
        for name, host in outputs.items():
            ptr = self._buffers[name][0]
            check(cudart.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, d2h, self._stream)[0], "D2H")
        check(cudart.cudaStreamSynchronize(self._stream)[0], "cudaStreamSynchronize")
        return outputs

    def __del__(self) -> None:
        for ptr, _ in getattr(self, "_buffers", {}).values():
            self._cudart.cudaFree(ptr)


def tensorrt_available() -> bool:
    """True when TensorRT, cuda-python and a CUDA device are all present."""
    try:
        import tensorrt  # noqa: F401

        cudart = import_cudart()
        err, count = cudart.cudaGetDeviceCount()
        return int(err) == 0 and count > 0
    except Exception:
        return False


def load_model(model_path: str | Path, backend: str = "auto", intra_op_threads: int = 0,
               precision: str = "fp16", force_engine_update: bool = False,
               ) -> tuple[InferenceBackend, ModelContract]:
    """Load a model and its contract; refuse a model whose graph disagrees with its contract.

    ``backend``: ``auto`` (TensorRT when it and a GPU are present, else ONNX Runtime),
    ``onnxruntime``, ``onnxruntime-cuda`` or ``tensorrt``. With TensorRT, an ONNX model is run
    through the engine cached beside it (built on first use, rebuilt when stale or when
    ``force_engine_update``), and an engine is checked against this GPU, TensorRT and its ONNX.
    """
    path = data_paths.find(model_path) or Path(model_path)
    contract = read_contract(path)
    is_engine = path.suffix in (".engine", ".plan", ".trt")
    if backend == "auto":
        backend = "tensorrt" if is_engine or tensorrt_available() else "onnxruntime"
    if backend == "tensorrt":
        from .engines import EngineError, ensure_engine

        try:
            engine, what = (ensure_engine(None, path, precision, force_engine_update) if is_engine
                            else ensure_engine(path, None, precision, force_engine_update))
        except EngineError as exc:
            raise BackendError(str(exc)) from exc
        log.info(what)
        impl: InferenceBackend = TensorRTBackend(engine)
    elif backend in ("onnxruntime", "onnxruntime-cuda"):
        if is_engine:
            raise BackendError(f"ONNX Runtime cannot run the TensorRT engine {path.name}")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if backend.endswith("cuda") else None
        impl = OnnxRuntimeBackend(path, providers, intra_op_threads)
    else:
        raise BackendError(f"unknown backend {backend!r}: use auto, onnxruntime, onnxruntime-cuda or tensorrt")
    try:
        contract.check_io(impl.input_names, impl.output_names)
    except ContractError as exc:
        raise ContractError(f"{path.name}: {exc}") from exc
    log.info("loaded %s with %s (%d classes, modalities %s)", path.name, impl.name,
             len(contract.labels), ",".join(contract.modalities))
    return impl, contract
