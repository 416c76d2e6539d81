"""The default face stack end to end through ``EmotionRecognizer``, as the emotion node runs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion_core.backends import load_model
from emotion_core.recognizer import EmotionRecognizer


@pytest.fixture(scope="module")
def recognizer(models: dict[str, Path], tiny) -> EmotionRecognizer:
    backend, contract = load_model(models["expression"], intra_op_threads=1)
    return EmotionRecognizer(backend, contract, tiny)


def test_smiling_astronaut_is_happy(recognizer: EmotionRecognizer) -> None:
    import cv2
    from skimage import data

    bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    result = recognizer.process(bgr, None, 16000, 1)
    assert result.face_present and result.face_used and not result.voice_used
    assert result.label == "happy", dict(zip(result.labels, result.raw_probabilities.round(3)))
    assert result.raw_probabilities[result.labels.index("happy")] > 0.9
    np.testing.assert_allclose(result.face_probabilities, result.raw_probabilities)
    assert result.face_weight == 1.0 and result.voice_weight == 0.0
    box = result.face_box
    assert box is not None and 150 < box.x + box.w / 2 < 290 and 60 < box.y + box.h / 2 < 200


def test_audio_is_ignored_by_a_face_only_model(recognizer: EmotionRecognizer) -> None:
    noise = np.random.default_rng(0).normal(0, 0.3, 32000).astype(np.float32)
    result = recognizer.process(np.zeros((480, 640, 3), np.uint8), noise, 16000, 2)
    assert not result.face_present and not result.voice_used
    assert result.label == "unknown"


@pytest.mark.parametrize("threads", [1, 2])
def test_intra_op_threads_reaches_every_onnx_session(repo_root: Path, threads: int) -> None:
    """The node's one thread setting sizes the expression net, the detector, the landmark net
    and the descriptor alike (the detector used to keep ONNX Runtime's default)."""
    from emotion_core.recognizer_settings import build_from_params

    rec, _ = build_from_params({"model_path": str(repo_root / "data" / "models" / "face_expression.onnx"),
                                "detector": "tiny", "intra_op_threads": threads})
    sessions = {"expression": rec.backend, "detector": rec.detector._backend,
                "landmarks": rec.landmarker._backend, "descriptor": rec.tracker.embedder._backend}
    got = {name: b._session.get_session_options().intra_op_num_threads for name, b in sessions.items()}
    assert got == dict.fromkeys(sessions, threads)
