"""Inference backends: ONNX Runtime on the sample model, and every way loading a model can fail.

(TensorRT engines and their cache are covered by test_engines.py and, on a GPU, by
test_tensorrt_gpu.py.)
"""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.backends import BackendError, OnnxRuntimeBackend, load_model
from emotion_core.contract import ContractError, ModelContract, sidecar_path, write_onnx_contract
from emotion_core.sample_model import build_sample_model, sample_contract


def feeds(contract, batch: int = 1, mask=(1.0, 1.0), seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s, a = contract.face.size, contract.audio
    return {"face": rng.standard_normal((batch, 3, s, s)).astype(np.float32),
            "audio": rng.standard_normal((batch, 1, a.n_mels, a.frames)).astype(np.float32),
            "modality_mask": np.tile(np.asarray(mask, np.float32), (batch, 1))}


def test_load_model_gives_onnxruntime_and_the_contract(sample_model):
    backend, contract = sample_model
    assert isinstance(backend, OnnxRuntimeBackend)
    assert backend.name == "onnxruntime" and "CPUExecutionProvider" in backend.providers
    assert contract == sample_contract()
    assert sorted(backend.input_names) == sorted(contract.inputs.values())
    assert set(contract.outputs.values()) <= set(backend.output_names)


@pytest.mark.parametrize("batch", [1, 3])
def test_run_returns_every_output_with_a_batch_axis(sample_model, batch):
    backend, c = sample_model
    out = backend.run(feeds(c, batch))
    n = len(c.labels)
    assert out["logits"].shape == out["face_logits"].shape == out["audio_logits"].shape == (batch, n)
    assert out["fusion_weights"].shape == (batch, 2)
    np.testing.assert_allclose(out["fusion_weights"].sum(axis=1), 1.0, rtol=1e-6)


def test_extra_feeds_are_ignored(sample_model):
    backend, c = sample_model
    f = feeds(c)
    with_extra = backend.run({**f, "unused": np.zeros(1)})
    np.testing.assert_array_equal(with_extra["logits"], backend.run(f)["logits"])


def test_fusion_follows_the_modality_mask(sample_model):
    # The graph: weights = softmax(gates + (mask - 1) * 1e4); logits = w_f * face + w_a * audio.
    backend, c = sample_model
    face_only = backend.run(feeds(c, mask=(1.0, 0.0)))
    np.testing.assert_allclose(face_only["fusion_weights"], [[1.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(face_only["logits"], face_only["face_logits"], rtol=1e-5, atol=1e-6)
    voice_only = backend.run(feeds(c, mask=(0.0, 1.0)))
    np.testing.assert_allclose(voice_only["logits"], voice_only["audio_logits"], rtol=1e-5, atol=1e-6)
    both = backend.run(feeds(c))
    w = both["fusion_weights"][0]
    fused = w[0] * both["face_logits"][0] + w[1] * both["audio_logits"][0]
    np.testing.assert_allclose(both["logits"][0], fused, rtol=1e-5, atol=1e-5)


def test_missing_input_is_a_key_error(sample_model):
    backend, c = sample_model
    f = feeds(c)
    del f["audio"]
    with pytest.raises(KeyError, match="audio"):
        backend.run(f)


# -- failures ----------------------------------------------------------------------------------
def test_missing_model_file(tmp_path):
    with pytest.raises(ContractError, match="model file not found: .*absent.onnx"):
        load_model(tmp_path / "absent.onnx")
    with pytest.raises(BackendError, match="model file not found"):
        OnnxRuntimeBackend(tmp_path / "absent.onnx")


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage that is no protobuf" * 40])
def test_corrupt_model_file(tmp_path, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(ContractError, match="cannot load ONNX model .*bad.onnx"):
        load_model(bad)
    with pytest.raises(BackendError, match="ONNX Runtime cannot load .*bad.onnx"):
        OnnxRuntimeBackend(bad)


def test_truncated_model_file(tmp_path, sample_model_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(sample_model_path.read_bytes()[: sample_model_path.stat().st_size // 2])
    with pytest.raises(ContractError, match="cannot load ONNX model"):
        load_model(cut)


def model_with_contract(tmp_path, contract: ModelContract, name: str = "m.onnx"):
    import onnx

    model = build_sample_model()
    write_onnx_contract(model, contract)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_contract_naming_tensors_the_graph_lacks_is_refused(tmp_path):
    c = sample_contract()
    renamed = ModelContract(labels=c.labels, modalities=c.modalities, face=c.face, audio=c.audio,
                            inputs={"face": "image", "audio": "audio", "modality_mask": "modality_mask"},
                            outputs={"logits": "probs"})
    path = model_with_contract(tmp_path, renamed, "renamed.onnx")
    with pytest.raises(ContractError) as err:
        load_model(path, backend="onnxruntime")
    msg = str(err.value)
    assert msg.startswith("renamed.onnx: ")
    assert "contract inputs ['image']" in msg and "contract outputs ['probs']" in msg
    assert "model inputs ['face'] are not described" in msg


def test_audio_only_contract_on_a_fusion_graph_is_refused(tmp_path):
    c = sample_contract()
    audio_only = ModelContract(labels=c.labels, modalities=("audio",), audio=c.audio)
    path = model_with_contract(tmp_path, audio_only)
    with pytest.raises(ContractError, match=r"model inputs \['face', 'modality_mask'\] are not described"):
        load_model(path, backend="onnxruntime")


def test_engine_file_is_not_for_onnxruntime(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized")
    sidecar_path(engine).write_text(sample_contract().to_json())
    with pytest.raises(BackendError, match="ONNX Runtime cannot run the TensorRT engine m.engine"):
        load_model(engine, backend="onnxruntime")


def test_engine_file_without_its_contract(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized")
    with pytest.raises(ContractError, match="no contract side-car m.engine.json"):
        load_model(engine)


def test_unknown_backend_lists_the_choices(sample_model_path):
    with pytest.raises(BackendError, match="unknown backend 'openvino': use auto, onnxruntime"):
        load_model(sample_model_path, backend="openvino")


def test_cuda_provider_falls_back_to_cpu_when_absent(sample_model_path):
    import onnxruntime as ort

    backend, _ = load_model(sample_model_path, backend="onnxruntime-cuda")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert backend.providers[0] == "CUDAExecutionProvider"
    else:
        assert backend.providers == ["CPUExecutionProvider"]


class _FakeCudart:
    def __init__(self, err: int, count: int) -> None:
        self.answer = (err, count)

    def cudaGetDeviceCount(self):  # noqa: N802 (cuda-python's name)
        return self.answer


@pytest.mark.parametrize("tensorrt, cudart, expected", [
    (False, _FakeCudart(0, 1), False),     # no TensorRT
    (True, None, False),                   # TensorRT but no cuda-python
    (True, _FakeCudart(100, 0), False),    # cudaErrorNoDevice
    (True, _FakeCudart(0, 0), False),      # no device
    (True, _FakeCudart(0, 2), True),       # everything present
])
def test_tensorrt_available_needs_tensorrt_cuda_python_and_a_device(monkeypatch, tensorrt, cudart, expected):
    import sys
    import types

    from emotion_core import backends

    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt") if tensorrt else None)

    def fake_import():
        if cudart is None:
            raise ImportError("no cuda-python")
        return cudart

    monkeypatch.setattr(backends, "import_cudart", fake_import)
    assert backends.tensorrt_available() is expected
