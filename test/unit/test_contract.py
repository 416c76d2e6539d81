"""The model contract: serialisation round trips, validation messages, I/O checks, reading it
from ONNX metadata and from an engine's JSON side-car."""
from __future__ import annotations

import dataclasses
import json

import pytest

from emotion_core.contract import (CONTRACT_KEY, AudioSpec, ContractError, FaceSpec,
                                   ModelContract, read_contract, sidecar_path,
                                   write_onnx_contract)

LABELS = ("angry", "happy", "neutral")


def fusion_contract(**overrides) -> ModelContract:
    kwargs = dict(labels=LABELS, face=FaceSpec(size=48), audio=AudioSpec(window_s=1.5, n_mels=40),
                  name="t", model_version="1.2.3", provenance={"dataset": "none"})
    kwargs.update(overrides)
    return ModelContract(**kwargs)


# -- derived quantities ----------------------------------------------------------------------
def test_audio_spec_window_and_frame_counts():
    spec = AudioSpec(sample_rate=22050, window_s=1.5, hop_length=256)
    # 22050 * 1.5 = 33075 samples; centred STFT frames = 1 + floor(33075 / 256) = 1 + 129.
    assert spec.window_samples == 33075
    assert spec.frames == 130


def test_default_inputs_follow_modalities():
    both = fusion_contract()
    assert both.inputs == {"face": "face", "audio": "audio", "modality_mask": "modality_mask"}
    assert both.outputs == {"logits": "logits"}
    face_only = ModelContract(labels=LABELS, modalities=("face",), face=FaceSpec())
    assert face_only.inputs == {"face": "face"}  # no mask for a single-modality model
    audio_only = ModelContract(labels=LABELS, modalities=["audio"], audio=AudioSpec())
    assert audio_only.inputs == {"audio": "audio"}
    assert audio_only.modalities == ("audio",)  # lists are frozen into tuples


# -- serialisation -----------------------------------------------------------------------------
def test_json_round_trip_is_lossless():
    c = fusion_contract(outputs={"logits": "out", "fusion_weights": "w"},
                        face=FaceSpec(size=96, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0),
                                      channel_order="BGR", margin=0.25, pad_square=False))
    back = ModelContract.from_json(c.to_json())
    assert back == c
    assert back.face.mean == (1.0, 2.0, 3.0) and isinstance(back.face.mean, tuple)
    assert back.diff(c) == []


def test_from_dict_ignores_unknown_top_level_keys():
    data = fusion_contract().to_dict()
    data["future_field"] = {"anything": 1}
    assert ModelContract.from_dict(data) == fusion_contract()


def test_diff_names_each_differing_field():
    a = fusion_contract()
    b = fusion_contract(labels=("angry", "happy", "sad"), model_version="2")
    lines = a.diff(b)
    assert [line.split(":")[0] for line in lines] == ["labels", "model_version"]
    assert "'neutral'" in lines[0] and "'sad'" in lines[0]


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "must be a JSON object"),
    (json.dumps({"modalities": ["face"]}), "malformed model contract"),  # no labels
    (json.dumps({"labels": ["a", "b"], "modalities": ["audio"],
                 "audio": {"sample_rate": 16000, "bogus_field": 1}}), "malformed model contract"),
    (json.dumps({"labels": ["a", "b"], "modalities": ["audio"],
                 "audio": {"sample_rate": "16000"}}), "malformed model contract"),
])
def test_from_json_rejects_malformed_text(text, fragment):
    with pytest.raises(ContractError, match=fragment):
        ModelContract.from_json(text)


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("contract, fragment", [
    (fusion_contract(schema=2), "schema 2 is not supported"),
    (fusion_contract(labels=("happy",)), "labels must be >= 2"),
    (fusion_contract(labels=("happy", "sad", "happy")), "labels must be >= 2 distinct"),
    (fusion_contract(modalities=("face", "smell")), "modalities"),
    (fusion_contract(modalities=()), "modalities"),
    (fusion_contract(face=None), "needs a 'face' section"),
    (fusion_contract(audio=None), "needs an 'audio' section"),
    (fusion_contract(outputs={"probs": "p"}), "'logits'"),
    (fusion_contract(inputs={"face": "face"}), "modality 'audio'"),
    (fusion_contract(face=FaceSpec(size=4)), "face.size 4"),
    (fusion_contract(face=FaceSpec(channel_order="GBR")), "channel_order 'GBR'"),
    (fusion_contract(face=FaceSpec(std=(1.0, 0.0, 1.0))), "std > 0"),
    (fusion_contract(face=FaceSpec(mean=(1.0, 2.0))), "3 values"),
    (fusion_contract(audio=AudioSpec(sample_rate=1000, fmax=400)), "sample_rate 1000"),
    (fusion_contract(audio=AudioSpec(window_s=60)), "window_s 60"),
    (fusion_contract(audio=AudioSpec(win_length=1024, n_fft=512)), "win_length"),
    (fusion_contract(audio=AudioSpec(hop_length=0)), "hop_length"),
    (fusion_contract(audio=AudioSpec(sample_rate=8000, fmax=8000)), "above Nyquist 4000"),
    (fusion_contract(audio=AudioSpec(norm_std=0.0)), "norm_std"),
])
def test_validate_says_what_is_wrong(contract, fragment):
    with pytest.raises(ContractError, match=fragment):
        contract.validate()


def test_validate_returns_self_for_chaining():
    c = fusion_contract()
    assert c.validate() is c


def test_face_only_model_does_not_need_audio_section():
    c = ModelContract(labels=LABELS, modalities=("face",), face=FaceSpec())
    assert c.validate() is c


# -- check_io ----------------------------------------------------------------------------------
def test_check_io_accepts_matching_graph():
    c = fusion_contract(outputs={"logits": "logits", "fusion_weights": "w"})
    c.check_io(["face", "audio", "modality_mask"], ["logits", "w", "extra_output_is_fine"])


def test_check_io_reports_every_mismatch_at_once():
    c = fusion_contract()
    with pytest.raises(ContractError) as err:
        c.check_io(["image", "audio", "modality_mask", "speaker_id"], ["probs"])
    msg = str(err.value)
    assert "contract inputs ['face'] not in model inputs" in msg
    assert "contract outputs ['logits'] not in model outputs ['probs']" in msg
    assert "model inputs ['image', 'speaker_id'] are not described by the contract" in msg


def test_check_io_rejects_unfed_extra_input():
    c = ModelContract(labels=LABELS, modalities=("audio",), audio=AudioSpec())
    with pytest.raises(ContractError, match=r"\['modality_mask'\] are not described"):
        c.check_io(["audio", "modality_mask"], ["logits"])


# -- reading from files --------------------------------------------------------------------------
def test_sidecar_path_appends_json():
    assert str(sidecar_path("/m/model.engine")) == "/m/model.engine.json"


def test_read_contract_missing_file(tmp_path):
    with pytest.raises(ContractError, match="model file not found"):
        read_contract(tmp_path / "nope.onnx")


def test_read_contract_engine_sidecar(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\x00engine bytes")
    with pytest.raises(ContractError, match="no contract side-car model.engine.json"):
        read_contract(engine)
    c = fusion_contract()
    sidecar_path(engine).write_text(c.to_json())
    assert read_contract(engine) == c
    sidecar_path(engine).write_text("{")
    with pytest.raises(ContractError, match="not valid JSON"):
        read_contract(engine)


def test_read_contract_engine_sidecar_with_build_record(tmp_path):
    # The engine cache writes {"contract": ..., "engine": build record}; the contract is inside.
    engine = tmp_path / "model.plan"
    engine.write_bytes(b"\x00")
    c = fusion_contract()
    sidecar_path(engine).write_text(json.dumps({"contract": c.to_dict(), "engine": {"precision": "fp16"}}))
    assert read_contract(engine) == c
    sidecar_path(engine).write_text(json.dumps([1, 2]))
    with pytest.raises(ContractError, match="malformed"):
        read_contract(engine)


def test_read_contract_from_onnx_metadata(sample_model_path):
    from emotion_core.sample_model import sample_contract

    assert read_contract(sample_model_path) == sample_contract()


def test_read_contract_corrupt_onnx(tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"this is not a protobuf \xff\xfe" * 50)
    with pytest.raises(ContractError, match="cannot load ONNX model .*corrupt.onnx"):
        read_contract(bad)


def test_read_contract_truncated_onnx(tmp_path, sample_model_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(sample_model_path.read_bytes()[:2000])
    with pytest.raises(ContractError, match="cannot load ONNX model"):
        read_contract(cut)


def _tiny_identity_model():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["audio"], ["logits"])], "g",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_onnx_without_contract_is_refused(tmp_path):
    import onnx

    path = tmp_path / "plain.onnx"
    onnx.save(_tiny_identity_model(), str(path))
    with pytest.raises(ContractError, match=f"carries no '{CONTRACT_KEY}' metadata"):
        read_contract(path)


def test_write_onnx_contract_replaces_older_entry(tmp_path):
    import onnx

    model = _tiny_identity_model()
    old = ModelContract(labels=("a", "b"), modalities=("audio",), audio=AudioSpec())
    new = dataclasses.replace(old, labels=("x", "y"), model_version="2")
    write_onnx_contract(model, old)
    write_onnx_contract(model, new)
    assert [p.key for p in model.metadata_props] == [CONTRACT_KEY]
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    assert read_contract(path) == new


def test_write_onnx_contract_refuses_invalid_contract():
    model = _tiny_identity_model()
    with pytest.raises(ContractError):
        write_onnx_contract(model, ModelContract(labels=("only",), modalities=("audio",),
                                                 audio=AudioSpec()))
    assert len(model.metadata_props) == 0
