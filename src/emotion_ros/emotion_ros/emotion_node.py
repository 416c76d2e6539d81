"""emotion_node: AudioVisualPair -> emotion_msgs/Emotion, stamped with the frame's stamp.

The subscription callback only queues the pair (at most ``queue_depth``; a new pair beyond it
replaces the oldest, counted as dropped); a worker thread runs the recognizer, so inference never
blocks the executor.
A missing or broken model leaves the node running, reporting the error on /diagnostics, until
``model_path`` is set to a loadable model.
"""
from __future__ import annotations

import math
import threading
from dataclasses import asdict
import time
from collections import deque
from typing import Optional

import numpy as np
from builtin_interfaces.msg import Duration
from emotion_msgs.msg import AudioVisualPair, Emotion, EmotionArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, RegionOfInterest

from emotion_core.audio import AudioFormatError, decode_pcm
from emotion_core.backends import BackendError, tensorrt_available
from emotion_core.contract import ContractError, read_contract
from emotion_core.governor import LoadGovernor
from emotion_core.image import ImageFormatError
from emotion_core.recognizer import STAGES, EmotionRecognizer, FrameResult, Recognition
from emotion_core.settings import specs
from emotion_core.speaker import SpeakerSettings
from emotion_core.tracking import TrackingSettings
from emotion_core.recognizer_settings import MODEL_FIELDS, RecognizerSettings, apply_to, build_from_params
from emotion_core.sync import AUDIO_MISSING

from .common import (ERROR, OK, WARN, Counters, Diagnostics, fill_image, image_to_bgr, run,
                     sensor_qos, stamp_ns)
from .common import InputHealth, ThrottledLog, liveness_params, repeat_log_param
from .params import Param, declare, params_from, qos_params, settings_from

PARAMS = [
    *params_from(RecognizerSettings),
    *params_from(TrackingSettings, **{n: {"read_only": True} for n in specs(TrackingSettings)}),
    *params_from(SpeakerSettings, **{n: {"read_only": True} for n in specs(SpeakerSettings)}),
    Param("autostart", True, "configure and activate at start (false: wait for the lifecycle "
          "transitions, e.g. from a lifecycle manager)", read_only=True),
    Param("queue_depth", 2, "pairs that may wait for inference; a new pair beyond it replaces the "
          "oldest (counted as dropped)", range=(1, 30), read_only=True),
    Param("publish_debug_image", False, "publish the frame with the face box and label", read_only=True),
    Param("publish_hri", False, "also publish REP-155 hri_msgs/Expression on "
          "/humans/faces/<hri_face_id>/expression for frames with a face", read_only=True),
    Param("hri_id_prefix", "face", "REP-155 face ids are <prefix><track_id> (a letter, then letters, "
          "digits or '_')", read_only=True),
    Param("adapt_to_load", True, "shed pairs (process 1 in N) while the node's own processing time "
          "exceeds the budget, restore them when it recovers", read_only=True),
    Param("latency_budget_ms", 200.0, "processing budget per pair: /diagnostics warns above it and, "
          "with adapt_to_load, pairs are shed [ms]", range=(1.0, 10000.0)),
    *qos_params(),
    *liveness_params(),
    repeat_log_param(),
]

_MODEL_ERRORS = (BackendError, ContractError, ValueError, FileNotFoundError, OSError)

COUNTERS = ["pairs_in", "processed", "dropped", "shed", "inactive", "bad_images", "bad_audio", "no_model",
            "errors"]


class EmotionNode(LifecycleNode):
    """A lifecycle node: the model is loaded in ``on_configure`` (freed in ``on_cleanup``), the
    outputs publish only while active. With ``autostart`` (default) it configures and activates
    itself at start, as the graph runner and the launch file expect; a model that cannot be
    loaded leaves it unconfigured, reporting ERROR, until ``model_path`` names one that can."""

    def __init__(self, **node_options) -> None:
        super().__init__("emotion_node", **node_options)  # cli_args when composed in one process
        self.p = declare(self, PARAMS, self._on_param, self._check_param)
        self._reverting = False
        self._reload_lock = threading.Lock()
        self._model_params = {k: self.p[k] for k in MODEL_FIELDS}
        self.counters = Counters(COUNTERS)
        self.log = ThrottledLog(self.get_logger(), self.p["log_repeat_s"])
        self.create_timer(1.0, self.log.flush)
        self.recognizer: Optional[EmotionRecognizer] = None
        self.backend_name = ""
        self.model_error = ""
        # Pairs waiting for the worker (pair, arrival on the monotonic clock). Two absorb the
        # jitter of a 30 Hz stream without letting stale pairs pile up.
        self._queue: deque[tuple[AudioVisualPair, float]] = deque(maxlen=self.p["queue_depth"])
        self._cond = threading.Condition()
        self._running = True
        self._busy = False  # the worker is processing a pair (with the queue: pairs_waiting)
        self._proc_ms: deque[float] = deque(maxlen=100)
        self._latency_ms: deque[float] = deque(maxlen=100)
        self._own_ms: deque[float] = deque(maxlen=100)
        self._stage_ms: deque[dict[str, float]] = deque(maxlen=100)  # where each frame's time went
        self.governor = LoadGovernor(self.p["latency_budget_ms"]) if self.p["adapt_to_load"] else None
        self._process_info = _process_probe()
        self.lifecycle_state = "unconfigured"
        self._active = False
        self.emotion_pub = self.faces_pub = self.debug_pub = None
        self.hri = None

        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.health = InputHealth(self.p)  # a quiet input and DDS-lost pairs on /diagnostics
        pair_sub = self.create_subscription(AudioVisualPair, "emotion/av_pair", self._on_pair, qos,
                                            event_callbacks=self.health.lost_events("pairs", "emotion/av_pair"))
        self.health.watch_input("pairs", pair_sub.topic_name)
        self.diagnostics = Diagnostics(self, "inference", self.health.wrap(self._diag))
        self._worker = threading.Thread(target=self._work, name="inference", daemon=True)
        self._worker.start()
        if self.p["autostart"]:
            self._bring_up()

    # -- lifecycle ----------------------------------------------------------------------------
    def _bring_up(self) -> None:
        """Configure, then activate (autostart, or a loadable model given to an unconfigured node)."""
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self._load_model():
            return TransitionCallbackReturn.FAILURE
        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.emotion_pub = self.create_lifecycle_publisher(Emotion, "emotion", 10)
        self.faces_pub = self.create_lifecycle_publisher(EmotionArray, "emotion/faces", 10)
        self.debug_pub = (self.create_lifecycle_publisher(Image, "emotion/debug_image", qos)
                          if self.p["publish_debug_image"] else None)
        self.hri = self._hri_faces() if self.p["publish_hri"] else None
        self.lifecycle_state = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # activates the lifecycle publishers
        self._active, self.lifecycle_state = True, "active"
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active, self.lifecycle_state = False, "inactive"
        with self._cond:
            self._queue.clear()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.lifecycle_state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.lifecycle_state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Free the model and the outputs (cleanup, shutdown)."""
        self._active = False
        with self._cond:
            self._queue.clear()
            self.recognizer = None
        for pub in (self.emotion_pub, self.faces_pub, self.debug_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self.emotion_pub = self.faces_pub = self.debug_pub = None
        if self.hri is not None:
            self.hri.destroy()
            self.hri = None

    def _hri_faces(self):
        from .hri import HriFaces  # hri_msgs is needed only when this is on

        try:
            hri = HriFaces(self, self.p["hri_id_prefix"])
        except ValueError as exc:
            self.get_logger().error(f"{exc}; using the prefix 'face'")
            hri = HriFaces(self, "face")
        self._open_next_face(hri)
        return hri

    def _open_next_face(self, hri) -> None:
        """The topic of the next person to appear exists before they do, so a listener can be
        connected in advance and miss nothing."""
        recognizer = self.recognizer
        if recognizer is not None and recognizer.tracker is not None:
            hri.publisher(recognizer.tracker.next_id)

    # -- model ------------------------------------------------------------------------------
    def _settings(self) -> RecognizerSettings:
        return settings_from(RecognizerSettings, self.p)

    def _load_model(self) -> bool:
        """Configure-time load: a missing or broken model leaves the node up, reporting ERROR."""
        if not self.p["model_path"]:
            self.model_error = "no model: set the model_path parameter"
            self.get_logger().error(self.model_error)
            return False
        try:
            self._install(self._build_recognizer(self._settings()))
        except _MODEL_ERRORS as exc:
            self.model_error = f"cannot use model {self.p['model_path']}: {exc}"
            self.get_logger().error(self.model_error)
            return False
        return True

    def _build_recognizer(self, settings: RecognizerSettings) -> tuple[EmotionRecognizer, str]:
        recognizer, backend_name = build_from_params({**self.p, **asdict(settings)})
        self._warm_up(recognizer)
        return recognizer, backend_name

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
        """First-call costs are paid at configure, not on the first real frame."""
        recognizer.warm_up()

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
                built = self._build_recognizer(self._settings())
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
        elif name in MODEL_FIELDS:
            if self._reverting:
                return
            previous = dict(self._model_params)
            self._model_params = {k: self.p[k] for k in MODEL_FIELDS}
            if self.lifecycle_state == "unconfigured":
                if self.p["autostart"]:  # a model it can load now: come up, off the service thread
                    threading.Thread(target=self._bring_up, name="model_load", daemon=True).start()
                return
            threading.Thread(target=self._reload, args=(previous,), name="model_reload",
                             daemon=True).start()
        elif self.recognizer is not None:
            apply_to(self.recognizer, self._settings())

    # -- input ------------------------------------------------------------------------------
    def _on_pair(self, msg: AudioVisualPair) -> None:
        self.health.arrived("pairs")
        self.counters.inc("pairs_in")
        if not self._active:
            self.counters.inc("inactive")
            return
        if self.governor is not None and not self.governor.admit():
            self.counters.inc("shed")
            return
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.counters.inc("dropped")  # the oldest waiting pair gives way
            self._queue.append((msg, time.monotonic()))
            self._cond.notify()

    def _work(self) -> None:
        while self._running:
            with self._cond:
                while not self._queue and self._running:
                    self._cond.wait(timeout=0.5)
                slot = self._queue.popleft() if self._queue else None
                self._busy = slot is not None
            if slot is None:
                continue
            try:
                self._process(*slot)
            except Exception as exc:  # keep the worker alive whatever one message does
                if not self.context.ok():
                    return
                self.counters.inc("errors")
                self.log.error("processing", f"processing failed: {exc!r}")
            finally:
                self._busy = False

    def _process(self, msg: AudioVisualPair, arrived: float) -> None:
        t0 = time.perf_counter()
        recognizer = self.recognizer
        if recognizer is None:
            self.counters.inc("no_model")
            return
        try:
            bgr = image_to_bgr(msg.image)
        except ImageFormatError as exc:
            self.counters.inc("bad_images")
            self.log.error("bad_image", f"bad image: {exc}")
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
                self.log.error("bad_audio", f"bad audio: {exc}")
                samples = None
        if bgr is None and samples is None:
            return
        result = recognizer.process_frame(bgr, samples, rate, stamp_ns(msg.header.stamp))
        self._publish(msg, result, time.perf_counter() - t0, time.monotonic() - arrived)
        if self.debug_pub is not None and bgr is not None:
            self._publish_debug(msg, bgr, result)

    # -- output -----------------------------------------------------------------------------
    def _publish(self, msg: AudioVisualPair, frame: FrameResult, seconds: float, own_s: float) -> None:
        """``own_s``: arrival of the pair here -> publish, the part of the latency this node
        causes (its queue and its processing); the load governor sheds for that alone, never for
        time spent upstream waiting for audio or for stamps that jumped."""
        emotion_pub, faces_pub, hri = self.emotion_pub, self.faces_pub, self.hri
        if emotion_pub is None or faces_pub is None or not self._active:
            return  # deactivated or cleaned up while this pair was processed
        duration = Duration(sec=int(seconds), nanosec=int((seconds % 1) * 1e9))
        model_name = self.recognizer.contract.name if self.recognizer else ""
        primary_face = next((f for f in frame.faces if f.track_id == frame.primary_track), None)
        out = self._emotion(msg, frame.primary, frame.primary_track,
                            primary_face.speaking_probability if primary_face else math.nan)
        out.model_name, out.processing_time = model_name, duration
        emotion_pub.publish(out)
        faces = []
        for f in frame.faces:
            e = self._emotion(msg, f.recognition, f.track_id, f.speaking_probability)
            e.model_name, e.processing_time = model_name, duration
            faces.append(e)
        faces_pub.publish(EmotionArray(header=msg.header, faces=faces))
        if hri is not None:
            hri.update(msg.header, [f.track_id for f in frame.faces], frame.forgotten)
            self._open_next_face(hri)
            for f, e in zip(frame.faces, faces):
                hri.publisher(f.track_id).publish(msg.header, e.class_names, e.probabilities)
        self.counters.inc("processed")
        self._proc_ms.append(seconds * 1e3)
        self._latency_ms.append((self.get_clock().now().nanoseconds - stamp_ns(msg.header.stamp)) / 1e6)
        self._own_ms.append(own_s * 1e3)
        self._stage_ms.append(frame.primary.timings_ms)
        if self.governor is not None:
            self.governor.record(own_s * 1e3)

    def _emotion(self, msg: AudioVisualPair, r: Recognition, track_id: Optional[int],
                 speaking: float) -> Emotion:
        out = Emotion()
        out.header = msg.header
        out.label, out.confidence = r.label, float(r.confidence)
        out.class_names = list(r.labels)
        out.probabilities = r.probabilities.astype(float).tolist()
        out.face_probabilities = r.face_probabilities.astype(float).tolist()
        out.voice_probabilities = r.voice_probabilities.astype(float).tolist()
        out.face_weight, out.voice_weight = float(r.face_weight), float(r.voice_weight)
        out.face_present, out.voice_present = r.face_present, r.voice_present
        out.vad_probability = float(r.vad_probability)
        out.face_used, out.voice_used = r.face_used, r.voice_used
        if r.face_box is not None:
            b = r.face_box
            x0, y0 = max(b.x, 0), max(b.y, 0)
            out.face_roi = RegionOfInterest(x_offset=x0, y_offset=y0,
                                            width=max(0, min(b.x + b.w, msg.image.width) - x0),
                                            height=max(0, min(b.y + b.h, msg.image.height) - y0))
        out.track_id = "" if track_id is None else self._face_id(track_id)
        out.speaking_probability = float(speaking)
        out.audio_status = msg.audio_status
        return out

    def _face_id(self, track_id: int) -> str:
        """The id used on every topic: the REP-155 face id when that output is on."""
        return f"{self.hri.prefix if self.hri is not None else 'face'}{track_id}"

    def _publish_debug(self, msg: AudioVisualPair, bgr: np.ndarray, frame: FrameResult) -> None:
        import cv2

        img = bgr.copy()
        for f in frame.faces:
            b, r = f.recognition.face_box, f.recognition
            if b is None:
                continue
            colour = (0, 255, 0) if f.track_id == frame.primary_track else (0, 200, 255)
            cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2)
            cv2.putText(img, f"{self._face_id(f.track_id)} {r.label} {r.confidence:.2f}", (b.x, max(15, b.y - 8)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
            if f.speaking_probability >= 0.5:  # the speaker: a red dot on the box corner and a tag (NaN: never)
                cv2.circle(img, (b.x + b.w, b.y), 7, (0, 0, 255), -1)
                cv2.putText(img, f"speaking {f.speaking_probability:.2f}", (b.x, min(img.shape[0] - 5, b.y + b.h + 18)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 2)
        if not frame.faces:
            cv2.putText(img, f"{frame.primary.label} {frame.primary.confidence:.2f}", (10, 30),
                        cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 0), 2)
        out = Image(header=msg.header)
        self.debug_pub.publish(fill_image(out, img))  # type: ignore[union-attr]

    def _diag(self):
        values: dict = self.counters.snapshot()
        proc, lat, own = list(self._proc_ms), list(self._latency_ms), list(self._own_ms)
        values.update(
            backend=self.backend_name or "none",
            model=self.recognizer.contract.name if self.recognizer else "none",
            processing_ms_mean=float(np.mean(proc)) if proc else 0.0,
            processing_ms_max=float(np.max(proc)) if proc else 0.0,
            latency_ms_p50=float(np.percentile(lat, 50)) if lat else 0.0,
            latency_ms_max=float(np.max(lat)) if lat else 0.0,
            own_ms_p50=float(np.percentile(own, 50)) if own else 0.0,
            shedding_1_in=(self.governor.skip + 1) if self.governor else 1,
            # Received and not yet answered or dropped: 0 once everything sent has been handled
            # (a bag evaluation waits for it before it counts the estimates).
            pairs_waiting=len(self._queue) + int(self._busy),
            # Matched subscriptions, writer side: what a replay waits for before it starts, so
            # that no estimate goes out before its listeners are connected.
            emotion_subscribers=self.emotion_pub.get_subscription_count() if self.emotion_pub else 0,
            lifecycle_state=self.lifecycle_state,
            suppressed_log_lines=self.log.limiter.total_suppressed,
        )
        stages = list(self._stage_ms)
        for k in (k for k in STAGES if k != "total"):  # mean ms per frame, last 100 frames
            values[f"stage_ms_{k}"] = float(np.mean([t.get(k, 0.0) for t in stages])) if stages else 0.0
        if self.hri is not None:
            values["hri_subscribers"] = self.hri.subscription_count()
        if self.recognizer is not None and self.recognizer.tracker is not None:
            tracker = self.recognizer.tracker
            values["tracked_faces"] = len(tracker.active)
            values["reid_merges"] = tracker.reid_merges  # young ids found to be a remembered person
            for m in tracker.pop_merges():
                self.get_logger().info(f"re-identified: {self._face_id(m.young)} is {self._face_id(m.person)} "
                                       f"(descriptor distance {m.distance:.2f}), merged into it")
        if self._process_info is not None:
            values.update(cpu_percent=self._process_info.cpu_percent(),
                          rss_mb=self._process_info.memory_info().rss / 2**20)
        if self.model_error:
            return ERROR, self.model_error, values
        if self.lifecycle_state != "active":
            return WARN, (f"{self.lifecycle_state}: no estimates until it is configured and activated "
                          "(lifecycle transitions)"), values
        # One statistic for both judgements: the governor's median own time (queue + processing).
        median = self.governor.median_ms if self.governor is not None else values["own_ms_p50"]
        if self.governor is not None and self.governor.skip:
            return WARN, (f"over its processing budget: processing 1 pair in {self.governor.skip + 1} "
                          f"(own time median {median:.0f} ms)"), values
        if own and median > self.p["latency_budget_ms"]:
            return WARN, f"own time median {median:.0f} ms over the {self.p['latency_budget_ms']:.0f} ms budget", values
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
    run(EmotionNode, args)


if __name__ == "__main__":
    main()
