"""Engine cache decisions: reuse a matching engine, rebuild a stale one (saying why), refuse a
foreign one that cannot be rebuilt. TensorRT itself is replaced by a recording build function;
the real builder runs only where a GPU is lent (see test_tensorrt_gpu.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotion_core.backends import BackendError, load_model
from emotion_core.contract import read_contract, read_onnx_contract
from emotion_core.engines import (BuildTarget, EngineError, EngineRecord, default_engine_path,
                                  ensure_engine, sha256_file, stale_reason, write_sidecar)
from emotion_core.sample_model import write_sample_model

ORIN = BuildTarget("10.3.0", "Orin", "8.7")
H100 = BuildTarget("10.3.0", "NVIDIA H100", "9.0")


@pytest.fixture
def onnx(tmp_path: Path) -> Path:
    return write_sample_model(tmp_path / "model.onnx")


class FakeBuilder:
    """Stands in for build_engine: writes an engine file and the side-car for ``target``."""

    def __init__(self, target: BuildTarget) -> None:
        self.target = target
        self.calls: list[Path] = []

    def __call__(self, onnx_path, engine_path, precision="fp16", **kwargs):
        self.kwargs = kwargs
        engine_path = Path(engine_path)
        engine_path.write_bytes(b"serialized engine for " + self.target.device_name.encode())
        record = EngineRecord(Path(onnx_path).name, sha256_file(onnx_path), precision, 8, self.target, 0.0)
        write_sidecar(engine_path, read_onnx_contract(onnx_path), record)
        self.calls.append(engine_path)
        return engine_path


def test_first_use_builds_then_reuses(onnx):
    build = FakeBuilder(ORIN)
    engine, what = ensure_engine(onnx, precision="fp16", target_fn=lambda: ORIN, build_fn=build)
    assert engine == default_engine_path(onnx, "fp16") and "rebuilt" in what and "no engine" in what
    engine2, what2 = ensure_engine(onnx, precision="fp16", target_fn=lambda: ORIN, build_fn=build)
    assert engine2 == engine and what2.startswith("using cached") and len(build.calls) == 1
    # The side-car carries the ONNX model's contract, so the node needs nothing else.
    assert read_contract(engine) == read_onnx_contract(onnx)


def test_force_engine_update_rebuilds(onnx):
    build = FakeBuilder(ORIN)
    ensure_engine(onnx, target_fn=lambda: ORIN, build_fn=build)
    _, what = ensure_engine(onnx, force=True, target_fn=lambda: ORIN, build_fn=build)
    assert "force_engine_update" in what and len(build.calls) == 2


def test_engine_from_another_gpu_or_tensorrt_is_rebuilt_with_the_reason(onnx):
    ensure_engine(onnx, target_fn=lambda: H100, build_fn=FakeBuilder(H100))
    engine = default_engine_path(onnx, "fp16")
    reason = stale_reason(engine, onnx, ORIN)
    assert "built for NVIDIA H100" in reason and "this GPU is Orin" in reason
    newer = BuildTarget("10.4.0", "NVIDIA H100", "9.0")
    assert "TensorRT 10.3.0" in stale_reason(engine, onnx, newer)
    build = FakeBuilder(ORIN)
    _, what = ensure_engine(onnx, target_fn=lambda: ORIN, build_fn=build)
    assert "rebuilt" in what and build.calls


def test_changed_onnx_makes_the_engine_stale(onnx):
    ensure_engine(onnx, target_fn=lambda: ORIN, build_fn=FakeBuilder(ORIN))
    write_sample_model(onnx, seed=1)  # same name, different weights
    assert "changed since" in stale_reason(default_engine_path(onnx, "fp16"), onnx, ORIN)


def test_engine_given_alone_is_rebuilt_from_the_onnx_named_in_its_record(onnx):
    ensure_engine(onnx, target_fn=lambda: H100, build_fn=FakeBuilder(H100))
    engine = default_engine_path(onnx, "fp16")
    build = FakeBuilder(ORIN)
    path, what = ensure_engine(None, engine, target_fn=lambda: ORIN, build_fn=build)
    assert path == engine and build.calls == [engine]


def test_foreign_engine_without_onnx_is_refused(onnx, tmp_path):
    ensure_engine(onnx, target_fn=lambda: H100, build_fn=FakeBuilder(H100))
    engine = default_engine_path(onnx, "fp16")
    onnx.unlink()
    with pytest.raises(EngineError, match="no ONNX model to rebuild"):
        ensure_engine(None, engine, target_fn=lambda: ORIN, build_fn=FakeBuilder(ORIN))


def test_engine_without_record_is_stale(tmp_path, onnx):
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"?")
    assert "no readable build record" in stale_reason(engine, onnx, ORIN)
    (tmp_path / "x.engine.json").write_text(json.dumps({"engine": {"broken": 1}}))
    assert "no readable build record" in stale_reason(engine, onnx, ORIN)


def test_tensorrt_backend_without_tensorrt_fails_with_a_clear_error(onnx):
    pytest.importorskip("onnxruntime")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here: the GPU test covers this path")
    except ImportError:
        pass
    with pytest.raises(BackendError, match="TensorRT"):
        load_model(onnx, backend="tensorrt")
    backend, contract = load_model(onnx, backend="auto")  # falls back to ONNX Runtime
    assert backend.name == "onnxruntime" and contract.name == "sample-fusion-untrained"


def test_int8_rebuild_uses_the_calibration_cache_beside_the_onnx(onnx):
    build = FakeBuilder(ORIN)
    ensure_engine(onnx, precision="int8", target_fn=lambda: ORIN, build_fn=build)
    assert build.kwargs["calibration_cache"] == onnx.with_suffix(".int8.calib")
