"""The model contract: everything a runtime must know to feed a model exactly as it was trained.

Training writes it into the exported model (ONNX ``metadata_props`` key ``emotion_contract``, or a
JSON side-car beside a TensorRT engine); the runtime reads it and builds its preprocessing from
it, so no number here is ever repeated in YAML.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from . import data_paths

CONTRACT_KEY = "emotion_contract"
#: Contract schema versions this runtime can honour.
SUPPORTED_SCHEMA = (1,)
MODALITIES = ("face", "audio")

# Canonical tensor names of the fusion models. A face-only or audio-only model lists the subset.
INPUT_FACE = "face"
INPUT_AUDIO = "audio"
INPUT_MASK = "modality_mask"
OUTPUT_LOGITS = "logits"
OUTPUT_FACE_LOGITS = "face_logits"
OUTPUT_AUDIO_LOGITS = "audio_logits"
OUTPUT_WEIGHTS = "fusion_weights"


class ContractError(ValueError):
    """A model's contract is missing, malformed, or cannot be honoured by this runtime."""


@dataclass(frozen=True)
class FaceSpec:
    """Face crop preprocessing: square crop around the box, resize, ``(pixel - mean) / std``."""

    size: int = 112
    mean: tuple[float, float, float] = (122.782, 117.001, 104.298)  # RGB, 0..255 scale
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    channel_order: str = "RGB"
    #: Extra margin around the detector box, as a fraction of the box side.
    margin: float = 0.0
    #: Pad a crop that leaves the image with zeros (True) or clamp it inside the image (False).
    pad_square: bool = True

    def validate(self) -> None:
        if not 8 <= self.size <= 1024:
            raise ContractError(f"face.size {self.size} outside 8..1024")
        if self.channel_order not in ("RGB", "BGR"):
            raise ContractError(f"face.channel_order {self.channel_order!r} is not RGB or BGR")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ContractError("face.mean and face.std need 3 values, std > 0")


@dataclass(frozen=True)
class AudioSpec:
    """Log-mel features of the audio window that ends at the frame's stamp."""

    sample_rate: int = 16000
    window_s: float = 2.0
    n_mels: int = 64
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    fmin: float = 50.0
    fmax: float = 8000.0
    preemphasis: float = 0.97
    log_floor: float = 1e-6
    #: Normalisation of the log-mel values (global statistics of the training set).
    norm_mean: float = 0.0
    norm_std: float = 1.0

    @property
    def window_samples(self) -> int:
        return int(round(self.sample_rate * self.window_s))

    @property
    def frames(self) -> int:
        """Number of STFT frames of one window (centred frames, as librosa computes them)."""
        return 1 + self.window_samples // self.hop_length

    def validate(self) -> None:
        if not 4000 <= self.sample_rate <= 96000:
            raise ContractError(f"audio.sample_rate {self.sample_rate} outside 4000..96000")
        if not 0.1 <= self.window_s <= 30:
            raise ContractError(f"audio.window_s {self.window_s} outside 0.1..30")
        if self.win_length > self.n_fft or self.hop_length <= 0:
            raise ContractError("audio.win_length must be <= n_fft and hop_length > 0")
        if self.fmax > self.sample_rate / 2:
            raise ContractError(f"audio.fmax {self.fmax} above Nyquist {self.sample_rate / 2}")
        if self.norm_std <= 0:
            raise ContractError("audio.norm_std must be > 0")


@dataclass(frozen=True)
class ModelContract:
    """What a model expects and produces. Serialised as JSON inside or beside the model."""

    labels: tuple[str, ...]
    modalities: tuple[str, ...] = MODALITIES
    face: Optional[FaceSpec] = None
    audio: Optional[AudioSpec] = None
    name: str = "unnamed"
    model_version: str = "0"
    schema: int = 1
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    #: Free-form provenance: dataset, training run, licence of the weights.
    provenance: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        inputs = dict(self.inputs)
        if not inputs:
            if "face" in self.modalities:
                inputs["face"] = INPUT_FACE
            if "audio" in self.modalities:
                inputs["audio"] = INPUT_AUDIO
            if len(self.modalities) > 1:
                inputs["modality_mask"] = INPUT_MASK
        outputs = dict(self.outputs) or {"logits": OUTPUT_LOGITS}
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "modalities", tuple(self.modalities))

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> "ModelContract":
        if self.schema not in SUPPORTED_SCHEMA:
            raise ContractError(
                f"contract schema {self.schema} is not supported (this runtime reads {SUPPORTED_SCHEMA})"
            )
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ContractError(f"labels must be >= 2 distinct names, got {list(self.labels)}")
        unknown = set(self.modalities) - set(MODALITIES)
        if not self.modalities or unknown:
            raise ContractError(f"modalities {list(self.modalities)} must be a non-empty subset of {MODALITIES}")
        if "face" in self.modalities:
            if self.face is None:
                raise ContractError("a face model needs a 'face' section")
            self.face.validate()
        if "audio" in self.modalities:
            if self.audio is None:
                raise ContractError("an audio model needs an 'audio' section")
            self.audio.validate()
        if "logits" not in self.outputs:
            raise ContractError("outputs must name the 'logits' tensor")
        for modality in self.modalities:
            if modality not in self.inputs:
                raise ContractError(f"inputs must name the tensor of modality {modality!r}")
        return self

    def check_io(self, input_names: Sequence[str], output_names: Sequence[str]) -> None:
        """Refuse a model whose graph does not have the tensors its contract names."""
        missing_in = [v for v in self.inputs.values() if v not in input_names]
        missing_out = [v for v in self.outputs.values() if v not in output_names]
        extra_in = [n for n in input_names if n not in self.inputs.values()]
        problems = []
        if missing_in:
            problems.append(f"contract inputs {missing_in} not in model inputs {list(input_names)}")
        if missing_out:
            problems.append(f"contract outputs {missing_out} not in model outputs {list(output_names)}")
        if extra_in:
            problems.append(f"model inputs {extra_in} are not described by the contract")
        if problems:
            raise ContractError("; ".join(problems))

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["inputs"] = dict(self.inputs)
        data["outputs"] = dict(self.outputs)
        data["provenance"] = dict(self.provenance)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelContract":
        try:
            face = FaceSpec(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in data["face"].items()}) if data.get("face") else None
            audio = AudioSpec(**data["audio"]) if data.get("audio") else None
            known = {"labels", "modalities", "name", "model_version", "schema", "inputs",
                     "outputs", "provenance"}
            rest = {k: v for k, v in data.items() if k in known}
            return cls(face=face, audio=audio, **rest).validate()
        except ContractError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"malformed model contract: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> "ModelContract":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"model contract is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ContractError("model contract must be a JSON object")
        return cls.from_dict(data)

    def diff(self, other: "ModelContract") -> list[str]:
        """Human-readable differences, e.g. to explain why an engine does not match its ONNX."""
        a, b = self.to_dict(), other.to_dict()
        out = []
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{key}: {a.get(key)!r} != {b.get(key)!r}")
        return out


def sidecar_path(model_path: str | Path) -> Path:
    """Where the JSON contract of a non-ONNX model (a TensorRT engine) lives."""
    return Path(str(model_path) + ".json")


def read_contract(model_path: str | Path) -> ModelContract:
    """Contract of an ONNX model (from its metadata) or of an engine (from its JSON side-car)."""
    try:  # a relative path is found by the data path rule (an installed share folder, ...)
        path = data_paths.resolve(model_path, "model file")
    except FileNotFoundError as exc:
        raise ContractError(str(exc)) from None
    if not path.is_file():
        raise ContractError(f"model file {path} is not a file")
    if path.suffix == ".onnx":
        return read_onnx_contract(path)
    side = sidecar_path(path)
    if not side.is_file():
        raise ContractError(f"{path} has no contract side-car {side.name}")
    try:
        data = json.loads(side.read_text())
    except json.JSONDecodeError as exc:
        raise ContractError(f"{side} is not valid JSON: {exc}") from exc
    # An engine side-car holds {"contract": ..., "engine": build record}; a bare contract is accepted too.
    return ModelContract.from_dict(data.get("contract", data) if isinstance(data, dict) else {})


def read_onnx_contract(path: str | Path) -> ModelContract:
    """Read the contract without loading the weights (onnxruntime metadata, no onnx import)."""
    import onnxruntime as ort  # local: keep this module importable without onnxruntime

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
        raise ContractError(f"cannot load ONNX model {path}: {exc}") from exc
    meta = session.get_modelmeta().custom_metadata_map
    if CONTRACT_KEY not in meta:
        raise ContractError(
            f"{path} carries no '{CONTRACT_KEY}' metadata: export it with the training workspace"
        )
    return ModelContract.from_json(meta[CONTRACT_KEY])


def write_onnx_contract(model: Any, contract: ModelContract) -> None:
    """Store the contract in an ``onnx.ModelProto``'s metadata (replacing an older one)."""
    contract.validate()
    for prop in list(model.metadata_props):
        if prop.key == CONTRACT_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key = CONTRACT_KEY
    entry.value = contract.to_json()
