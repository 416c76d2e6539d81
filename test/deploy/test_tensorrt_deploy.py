"""TensorRT engines of a deployed run, the way emotion_node consumes them. Runs only where
TensorRT, cuda-python and a GPU are all present (a lent GPU machine, a Jetson); skipped elsewhere
with the reason. The CPU side of the same path is in test_deploy.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion_core.backends import OnnxRuntimeBackend, TensorRTBackend, tensorrt_available

pytestmark = pytest.mark.skipif(not tensorrt_available(),
                                reason="TensorRT + cuda-python + a CUDA GPU are not all present here")


def windows(trained_run: Path, count: int = 32) -> dict[str, np.ndarray]:
    from emotion_training.artifacts import load_trained_checkpoint
    from emotion_training.calibration import calibration_samples

    return calibration_samples(load_trained_checkpoint(trained_run), count, seed=1, show_progress=False)


def test_deploy_built_engines_the_node_reuses(deployed, trained_run):
    from emotion_core.engines import ensure_engine

    onnx = trained_run.with_name("model.onnx")
    for precision in ("fp16", "int8"):
        engine = onnx.with_name(f"model.{precision}.engine")
        assert engine.is_file() and Path(str(engine) + ".json").is_file()
        _, what = ensure_engine(onnx, None, precision)  # what load_model does for the node
        assert what.startswith("using cached"), what
    assert onnx.with_name("model.int8.calib").is_file()


@pytest.mark.parametrize("precision,min_agreement", [("fp16", 1.0), ("int8", 0.9)])
def test_engine_predictions_agree_with_onnxruntime(deployed, trained_run, precision, min_agreement):
    onnx = trained_run.with_name("model.onnx")
    feeds = windows(trained_run)
    reference = OnnxRuntimeBackend(onnx).run(feeds)["logits"]
    engine = TensorRTBackend(onnx.with_name(f"model.{precision}.engine"))
    got = np.concatenate([engine.run({k: v[i:i + 8] for k, v in feeds.items()})["logits"]
                          for i in range(0, len(reference), 8)])
    agreement = float(np.mean(got.argmax(1) == reference.argmax(1)))
    assert agreement >= min_agreement, (precision, agreement)


def test_int8_engine_rebuilds_from_the_calibration_cache_alone(deployed, trained_run, tmp_path):
    from emotion_training.build_engine import build_for_node

    onnx = trained_run.with_name("model.onnx")
    result = build_for_node(onnx, "int8", engine=tmp_path / "again.int8.engine")  # no samples
    assert Path(result["engine"]).is_file()
    assert result["calibration_cache"] == str(onnx.with_name("model.int8.calib"))
