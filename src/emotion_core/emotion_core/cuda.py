"""CUDA runtime access (cuda-python) shared by the TensorRT backend and the engine builder.

A leaf module so that ``engines`` (build, calibrate) and ``backends`` (run) both reach the CUDA
runtime without importing each other. ``BackendError`` lives here for the same reason: a CUDA
failure is a backend failure wherever it happens, and callers catch one type
(``emotion_core.backends`` re-exports it).
"""
from __future__ import annotations

from types import ModuleType


class BackendError(RuntimeError):
    """The model cannot be loaded or run by the requested backend."""


class CudaError(BackendError):
    """cuda-python is missing, or a CUDA runtime call returned an error."""


def import_cudart() -> ModuleType:
    """The ``cudart`` runtime module of whichever cuda-python is installed."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[no-redef]  # older cuda-python
        except ImportError as exc:
            raise CudaError("TensorRT backend needs cuda-python (pip install cuda-python)") from exc
    return cudart


def check(err: object, what: str) -> None:
    """Raise ``CudaError`` when a cudart call's status ``err`` is not cudaSuccess (0)."""
    if int(err) != 0:  # type: ignore[call-overload]
        raise CudaError(f"{what} failed with CUDA error {err}")
