"""Real TensorRT path: build an engine from the sample ONNX model and compare it with ONNX
Runtime. Runs only where TensorRT, cuda-python and a GPU exist (a lent GPU machine, a Jetson);
skipped elsewhere with the reason."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.backends import OnnxRuntimeBackend, TensorRTBackend, load_model, tensorrt_available
from emotion_core.engines import build_engine, ensure_engine
from emotion_core.sample_model import sample_contract, write_sample_model

pytestmark = pytest.mark.skipif(not tensorrt_available(),
                                reason="TensorRT + cuda-python + a CUDA GPU are not all present here")


def feeds(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    c = sample_contract()
    rng = np.random.default_rng(seed)
    return {
        "face": rng.standard_normal((batch, 3, c.face.size, c.face.size)).astype(np.float32),
        "audio": rng.standard_normal((batch, 1, c.audio.n_mels, c.audio.frames)).astype(np.float32),
        "modality_mask": np.ones((batch, 2), np.float32),
    }


@pytest.mark.parametrize("precision,tol", [("fp32", 1e-3), ("fp16", 3e-2)])
@pytest.mark.parametrize("batch", [1, 8])
def test_engine_matches_onnxruntime(tmp_path, precision, tol, batch):
    onnx = write_sample_model(tmp_path / "m.onnx")
    engine = build_engine(onnx, precision=precision)
    trt_out = TensorRTBackend(engine).run(feeds(batch))
    ort_out = OnnxRuntimeBackend(onnx).run(feeds(batch))
    for name in ("logits", "fusion_weights"):
        assert np.max(np.abs(trt_out[name] - ort_out[name])) < tol, name


def test_node_path_builds_once_then_reuses(tmp_path):
    onnx = write_sample_model(tmp_path / "m.onnx")
    _, first = ensure_engine(onnx)
    _, second = ensure_engine(onnx)
    assert first.startswith("rebuilt") and second.startswith("using cached")
    backend, contract = load_model(onnx, backend="tensorrt")
    assert backend.name == "tensorrt" and contract.labels == sample_contract().labels
