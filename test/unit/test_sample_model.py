"""The generated sample fusion model: a valid ONNX graph whose I/O is what its contract says."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.contract import CONTRACT_KEY, ModelContract, read_contract
from emotion_core.labels import EKMAN7
from emotion_core.sample_model import build_sample_model, main, sample_contract, write_sample_model


def dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_sample_contract_is_valid_and_says_it_is_untrained():
    c = sample_contract()
    assert c.validate() is c
    assert c.labels == EKMAN7 and c.modalities == ("face", "audio")
    assert "none" in c.provenance["training"]
    assert set(c.outputs) == {"logits", "face_logits", "audio_logits", "fusion_weights"}


def test_graph_io_matches_the_contract():
    c = sample_contract()
    model = build_sample_model()
    inputs = {i.name: dims(i) for i in model.graph.input}
    outputs = {o.name: dims(o) for o in model.graph.output}
    c.check_io(list(inputs), list(outputs))
    n = len(c.labels)
    assert inputs[c.inputs["face"]] == ["N", 3, c.face.size, c.face.size]
    assert inputs[c.inputs["audio"]] == ["N", 1, c.audio.n_mels, c.audio.frames]
    assert inputs[c.inputs["modality_mask"]] == ["N", 2]
    assert outputs[c.outputs["logits"]] == ["N", n]
    assert outputs[c.outputs["fusion_weights"]] == ["N", 2]
    meta = {p.key: p.value for p in model.metadata_props}
    assert ModelContract.from_json(meta[CONTRACT_KEY]) == c


def test_label_count_follows_a_custom_contract():
    labels = ("happy", "sad", "neutral")
    model = build_sample_model(sample_contract(labels))
    out = {o.name: dims(o) for o in model.graph.output}
    assert out["logits"] == ["N", 3] and out["face_logits"] == ["N", 3]


def test_same_seed_same_model_other_seed_other_weights():
    a = build_sample_model(seed=3).SerializeToString()
    assert build_sample_model(seed=3).SerializeToString() == a
    assert build_sample_model(seed=4).SerializeToString() != a


def test_written_model_loads_with_its_contract(tmp_path):
    path = write_sample_model(tmp_path / "deep" / "dir" / "m.onnx")
    assert path.is_file()
    assert read_contract(path) == sample_contract()


def test_untrained_outputs_are_finite_and_unsaturated(sample_model):
    # Weights ~ N(0, 1/fan_in) keep unit-variance activations O(1) layer after layer, so the
    # logits of unit-variance inputs stay small and the softmax is far from one-hot.
    backend, c = sample_model
    rng = np.random.default_rng(0)
    out = backend.run({
        "face": rng.standard_normal((4, 3, c.face.size, c.face.size)).astype(np.float32),
        "audio": rng.standard_normal((4, 1, c.audio.n_mels, c.audio.frames)).astype(np.float32),
        "modality_mask": np.ones((4, 2), np.float32)})
    for name in ("logits", "face_logits", "audio_logits", "fusion_weights"):
        assert np.all(np.isfinite(out[name])), name
    assert np.abs(out["logits"]).max() < 10
    # Different inputs give different answers: the model is not a constant.
    assert np.ptp(out["logits"], axis=0).max() > 1e-3


def test_command_line_writes_the_model(tmp_path, capsys):
    target = tmp_path / "cli.onnx"
    main([str(target), "--seed", "2"])
    assert capsys.readouterr().out.strip() == str(target)
    assert read_contract(target) == sample_contract()


def test_command_line_needs_an_output():
    with pytest.raises(SystemExit):
        main([])
