"""emotion_node: AudioVisualPair -> emotion_msgs/Emotion, stamped with the frame's stamp.

The subscription callback only stores the latest pair (replacing, and counting, one that was
not processed yet); a worker thread runs the recognizer, so inference never blocks the executor.
A missing or broken model leaves the node running, reporting the error on /diagnostics, until
``model_path`` is set to a loadable model.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Optional

import numpy as np
from builtin_interfaces.msg import Duration
from emotion_msgs.msg import AudioVisualPair, Emotion
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, RegionOfInterest

from emotion_core.audio import AudioFormatError, decode_pcm
from emotion_core.backends import BackendError, load_model, tensorrt_available
from emotion_core.contract import ContractError, read_contract
from emotion_core.face import create_detector
from emotion_core.governor import LoadGovernor
from emotion_core.image import ImageFormatError
from emotion_core.recognizer import EmotionRecognizer, Recognition
from emotion_core.sync import AUDIO_MISSING

from .common import (ERROR, OK, WARN, Counters, Diagnostics, fill_image, image_to_bgr, run,
                     sensor_qos, stamp_ns)
from .params import Param, declare, qos_params

PARAMS = [
    Param("model_path", "", "ONNX model or TensorRT engine carrying an emotion contract"),
    Param("backend", "auto", "inference backend", choices=("auto", "onnxruntime", "onnxruntime-cuda", "tensorrt")),
    Param("force_engine_update", False, "TensorRT: rebuild the engine even when the cached one "
          "matches this GPU, TensorRT and ONNX file (default false: a valid engine is reused)"),
    Param("engine_precision", "fp16", "TensorRT engine precision when one is built from ONNX",
          choices=("fp32", "fp16", "int8")),
    Param("detector", "auto", "face detector: tiny (face-api's tiny detector, ONNX), haar (OpenCV), "
          "or auto (tiny when its model is built, else haar)", choices=("auto", "tiny", "haar"),
          read_only=True),
    Param("use_face", True, "use the face branch when the model has one"),
    Param("use_voice", True, "use the voice branch when the model has one"),
    Param("vad_threshold_dbfs", -45.0, "voice activity threshold on the loudest 25 ms frame [dBFS]",
          range=(-120.0, 0.0)),
    Param("smoothing_tau_s", 0.5, "time constant of the probability smoothing [s] (0 = none)",
          range=(0.0, 30.0)),
    Param("intra_op_threads", 0, "ONNX Runtime threads (0 = its default)", range=(0, 64), read_only=True),
    Param("publish_debug_image", False, "publish the frame with the face box and label", read_only=True),
    Param("publish_hri", False, "also publish REP-155 hri_msgs/Expression on "
          "/humans/faces/<hri_face_id>/expression for frames with a face", read_only=True),
    Param("hri_face_id", "face0", "face id in the REP-155 topic (a letter, then letters, digits or '_')",
          read_only=True),
    Param("adapt_to_load", True, "shed pairs (process 1 in N) while latency p50 exceeds the budget, "
          "restore them when it recovers", read_only=True),
    Param("latency_budget_ms", 200.0, "stamp->publish latency budget: /diagnostics warns above it "
          "and, with adapt_to_load, pairs are shed [ms]",
          range=(1.0, 10000.0)),
    *qos_params(),
]

_MODEL_ERRORS = (BackendError, ContractError, ValueError, FileNotFoundError, OSError)

COUNTERS = ["pairs_in", "processed", "dropped", "shed", "bad_images", "bad_audio", "no_model", "errors"]


class EmotionNode(Node):
    def __init__(self) -> None:
        super().__init__("emotion_node")
        self.p = declare(self, PARAMS, self._on_param, self._check_param)
        self._reverting = False
        self._reload_lock = threading.Lock()
        self._model_params = {k: self.p[k] for k in self.MODEL_PARAMS}
        self.counters = Counters(COUNTERS)
        self.recognizer: Optional[EmotionRecognizer] = None
        self.backend_name = ""
        self.model_error = ""
        self._slot: Optional[AudioVisualPair] = None
        self._cond = threading.Condition()
        self._running = True
        self._proc_ms: deque[float] = deque(maxlen=100)
        self._latency_ms: deque[float] = deque(maxlen=100)
        self.governor = LoadGovernor(self.p["latency_budget_ms"]) if self.p["adapt_to_load"] else None
        self._process_info = _process_probe()
        self._load_model()

        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.emotion_pub = self.create_publisher(Emotion, "emotion", 10)
        self.debug_pub = (self.create_publisher(Image, "emotion/debug_image", qos)
                          if self.p["publish_debug_image"] else None)
        self.hri_pub = self._hri_publisher() if self.p["publish_hri"] else None
        self.create_subscription(AudioVisualPair, "emotion/av_pair", self._on_pair, qos)
        self.diagnostics = Diagnostics(self, "inference", self._diag)
        self._worker = threading.Thread(target=self._work, name="inference", daemon=True)
        self._worker.start()

    def _hri_publisher(self):
        from .hri import ExpressionPublisher  # hri_msgs is needed only when this is on

        try:
            return ExpressionPublisher(self, self.p["hri_face_id"])
        except ValueError as exc:
            self.get_logger().error(f"{exc}; using face id 'face0'")
            return ExpressionPublisher(self, "face0")

    # -- model ------------------------------------------------------------------------------
    MODEL_PARAMS = ("model_path", "backend", "force_engine_update", "engine_precision")

    def _load_model(self) -> None:
        """Start-up load: a missing or broken model leaves the node up, reporting ERROR."""
        if not self.p["model_path"]:
            self.model_error = "no model: set the model_path parameter"
            self.get_logger().error(self.model_error)
            return
        try:
            self._install(self._build_recognizer(self.p))
        except _MODEL_ERRORS as exc:
            self.model_error = f"cannot use model {self.p['model_path']}: {exc}"
            self.get_logger().error(self.model_error)

    def _build_recognizer(self, p: dict) -> tuple[EmotionRecognizer, str]:
        backend, contract = load_model(p["model_path"], p["backend"], p["intra_op_threads"],
                                       p["engine_precision"], p["force_engine_update"])
        detector = create_detector(p["detector"]) if "face" in contract.modalities else None
        recognizer = EmotionRecognizer(backend, contract, detector, p["use_face"], p["use_voice"],
                                       p["vad_threshold_dbfs"], p["smoothing_tau_s"])
        self._warm_up(recognizer)
        return recognizer, backend.name

    def _install(self, built: tuple[EmotionRecognizer, str]) -> None:
        recognizer, backend_name = built
        with self._cond:
            self.recognizer, self.backend_name, self.model_error = recognizer, backend_name, ""
        contract = recognizer.contract
        self.get_logger().info(
            f"model '{contract.name}' ({', '.join(contract.modalities)}; {len(contract.labels)} classes) "
            f"on {backend_name}")

    @staticmethod
    def _warm_up(recognizer: EmotionRecognizer) -> None:
        """Pay first-call costs (lazy imports, allocations) before the first real frame."""
        image = np.zeros((120, 160, 3), np.uint8)
        audio = np.zeros(16000, np.float32)
        audio[::50] = 0.5
        recognizer.process(image, audio, 16000, 0)
        recognizer.smoother.reset()

    def _check_param(self, name: str, value) -> Optional[str]:
        """Refuse, inside the set request, a model that cannot be used: missing or unreadable
        file, no contract, a contract this runtime cannot honour. Cheap (no session, no engine
        build), so the parameter service answers at once."""
        if name == "backend":
            return _backend_problem(value)
        if name != "model_path":
            return None
        if not value:
            return "model_path must name a model file (an empty value would unload the running model)"
        try:
            read_contract(value)
        except (ContractError, OSError, ValueError) as exc:
            return f"model_path={value!r} refused: {exc}"
        return None

    def _reload(self, previous: dict) -> None:
        """Load the changed model beside the running one and swap only when it works; on
        failure the running model stays and the parameters go back to what it was built from."""
        with self._reload_lock:
            try:
                built = self._build_recognizer(dict(self.p))
            except _MODEL_ERRORS as exc:
                if self.recognizer is None:
                    self.model_error = f"cannot use model {self.p['model_path']}: {exc}"
                    self.get_logger().error(self.model_error)
                    return
                self.get_logger().error(f"cannot use model {self.p['model_path']}: {exc}; "
                                        f"keeping {self.recognizer.contract.name}")
                self._model_params = previous
                self._reverting = True
                try:
                    self.set_parameters([Parameter(k, value=v) for k, v in previous.items()
                                         if self.p[k] != v])
                finally:
                    self._reverting = False
                return
            self._install(built)

    def _on_param(self, name: str, value) -> None:
        if name == "latency_budget_ms" and self.governor is not None:
            self.governor.budget_ms = value
        elif name in self.MODEL_PARAMS:
            if self._reverting:
                return
            previous = dict(self._model_params)
            self._model_params = {k: self.p[k] for k in self.MODEL_PARAMS}
            threading.Thread(target=self._reload, args=(previous,), name="model_reload",
                             daemon=True).start()
        elif self.recognizer is not None:
            if name == "smoothing_tau_s":
                self.recognizer.smoother.tau_s = value
            elif name == "vad_threshold_dbfs":
                self.recognizer.vad_threshold_dbfs = value
            elif name in ("use_face", "use_voice"):
                modality = "face" if name == "use_face" else "audio"
                setattr(self.recognizer, name, value and modality in self.recognizer.contract.modalities)

    # -- input ------------------------------------------------------------------------------
    def _on_pair(self, msg: AudioVisualPair) -> None:
        self.counters.inc("pairs_in")
        if self.governor is not None and not self.governor.admit():
            self.counters.inc("shed")
            return
        with self._cond:
            if self._slot is not None:
                self.counters.inc("dropped")
            self._slot = msg
            self._cond.notify()

    def _work(self) -> None:
        while self._running:
            with self._cond:
                while self._slot is None and self._running:
                    self._cond.wait(timeout=0.5)
                msg, self._slot = self._slot, None
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as exc:  # keep the worker alive whatever one message does
                if not self.context.ok():
                    return
                self.counters.inc("errors")
                self.get_logger().error(f"processing failed: {exc!r}", throttle_duration_sec=2.0)

    def _process(self, msg: AudioVisualPair) -> None:
        t0 = time.perf_counter()
        recognizer = self.recognizer
        if recognizer is None:
            self.counters.inc("no_model")
            return
        try:
            bgr = image_to_bgr(msg.image)
        except ImageFormatError as exc:
            self.counters.inc("bad_images")
            self.get_logger().error(f"bad image: {exc}", throttle_duration_sec=2.0)
            bgr = None
        samples, rate = None, int(msg.audio_info.sample_rate)
        if msg.audio_status != AUDIO_MISSING and len(msg.audio.data):
            try:
                samples = decode_pcm(msg.audio.data, msg.audio_info.sample_format or "F32LE",
                                     max(1, msg.audio_info.channels))
                if rate <= 0:
                    raise AudioFormatError(f"invalid sample rate {rate}")
            except AudioFormatError as exc:
                self.counters.inc("bad_audio")
                self.get_logger().error(f"bad audio: {exc}", throttle_duration_sec=2.0)
                samples = None
        if bgr is None and samples is None:
            return
        result = recognizer.process(bgr, samples, rate, stamp_ns(msg.header.stamp))
        self._publish(msg, result, time.perf_counter() - t0)
        if self.debug_pub is not None and bgr is not None:
            self._publish_debug(msg, bgr, result)

    # -- output -----------------------------------------------------------------------------
    def _publish(self, msg: AudioVisualPair, r: Recognition, seconds: float) -> None:
        out = Emotion()
        out.header = msg.header
        out.label, out.confidence = r.label, float(r.confidence)
        out.class_names = list(r.labels)
        out.probabilities = r.probabilities.astype(float).tolist()
        out.face_probabilities = r.face_probabilities.astype(float).tolist()
        out.voice_probabilities = r.voice_probabilities.astype(float).tolist()
        out.face_weight, out.voice_weight = float(r.face_weight), float(r.voice_weight)
        out.face_present, out.voice_present = r.face_present, r.voice_present
        out.face_used, out.voice_used = r.face_used, r.voice_used
        if r.face_box is not None:
            b = r.face_box
            x0, y0 = max(b.x, 0), max(b.y, 0)
            out.face_roi = RegionOfInterest(x_offset=x0, y_offset=y0,
                                            width=max(0, min(b.x + b.w, msg.image.width) - x0),
                                            height=max(0, min(b.y + b.h, msg.image.height) - y0))
        out.audio_status = msg.audio_status
        out.model_name = self.recognizer.contract.name if self.recognizer else ""
        out.processing_time = Duration(sec=int(seconds), nanosec=int((seconds % 1) * 1e9))
        self.emotion_pub.publish(out)
        if self.hri_pub is not None and r.face_present:
            self.hri_pub.publish(out.header, out.class_names, out.probabilities)
        self.counters.inc("processed")
        self._proc_ms.append(seconds * 1e3)
        latency_ms = (self.get_clock().now().nanoseconds - stamp_ns(msg.header.stamp)) / 1e6
        self._latency_ms.append(latency_ms)
        if self.governor is not None:
            self.governor.record(latency_ms)

    def _publish_debug(self, msg: AudioVisualPair, bgr: np.ndarray, r: Recognition) -> None:
        import cv2

        img = bgr.copy()
        if r.face_box is not None:
            b = r.face_box
            cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), (0, 255, 0), 2)
        cv2.putText(img, f"{r.label} {r.confidence:.2f}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX,
                    1.0, (0, 255, 0), 2)
        out = Image(header=msg.header)
        self.debug_pub.publish(fill_image(out, img))  # type: ignore[union-attr]

    def _diag(self):
        values: dict = self.counters.snapshot()
        proc, lat = list(self._proc_ms), list(self._latency_ms)
        values.update(
            backend=self.backend_name or "none",
            model=self.recognizer.contract.name if self.recognizer else "none",
            processing_ms_mean=float(np.mean(proc)) if proc else 0.0,
            processing_ms_max=float(np.max(proc)) if proc else 0.0,
            latency_ms_p50=float(np.percentile(lat, 50)) if lat else 0.0,
            latency_ms_max=float(np.max(lat)) if lat else 0.0,
            shedding_1_in=(self.governor.skip + 1) if self.governor else 1,
            # Matched subscriptions, writer side: what a replay waits for before it starts, so
            # that no estimate goes out before its listeners are connected.
            emotion_subscribers=self.emotion_pub.get_subscription_count(),
        )
        if self.hri_pub is not None:
            values["hri_subscribers"] = self.hri_pub.subscription_count()
        if self._process_info is not None:
            values.update(cpu_percent=self._process_info.cpu_percent(),
                          rss_mb=self._process_info.memory_info().rss / 2**20)
        if self.model_error:
            return ERROR, self.model_error, values
        if self.governor is not None and self.governor.skip:
            return WARN, (f"over latency budget: processing 1 pair in {self.governor.skip + 1} "
                          f"(p50 {values['latency_ms_p50']:.0f} ms)"), values
        if lat and values["latency_ms_p50"] > self.p["latency_budget_ms"]:
            return WARN, f"latency p50 {values['latency_ms_p50']:.0f} ms over budget", values
        return OK, "running", values

    def close(self) -> None:
        """Stop and join the worker: a thread still inside ONNX Runtime when the interpreter
        exits aborts the process."""
        self._running = False
        with self._cond:
            self._cond.notify_all()
        self._worker.join(timeout=5.0)



def _backend_problem(backend: str) -> Optional[str]:
    """Why ``backend`` cannot run on this machine, or None."""
    if backend == "tensorrt" and not tensorrt_available():
        return "backend=tensorrt refused: TensorRT, cuda-python or a CUDA device is missing here"
    if backend == "onnxruntime-cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return ("backend=onnxruntime-cuda refused: this onnxruntime has no CUDAExecutionProvider "
                    f"(it has {ort.get_available_providers()})")
    return None


def _process_probe():
    """psutil handle on this process for CPU/RSS on /diagnostics (None where psutil is absent)."""
    try:
        import psutil

        proc = psutil.Process()
        proc.cpu_percent()  # the first call only starts the measurement
        return proc
    except ImportError:
        return None


def main(args=None) -> None:
    run(EmotionNode, args, threads=2)


if __name__ == "__main__":
    main()
