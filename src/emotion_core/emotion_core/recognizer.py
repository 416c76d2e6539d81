"""One frame + audio window -> one emotion estimate. Everything the emotion node computes lives
here, parameterised by the model contract, so it runs and is tested without ROS."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import audio as audio_mod
from .backends import InferenceBackend
from .contract import ModelContract
from .face import FaceBox, FaceDetector, face_tensor
from .mouths import Landmarker, MouthReader
from .smoothing import ProbabilitySmoother
from .tracking import Embedder, FaceTracker, Track, TrackingSettings
from .speaker import SpeakerScorer, SpeakerSettings, speech_envelope
from .vad import CHUNK, RATE, EnergyVad, Vad, VoiceActivity

UNKNOWN = "unknown"
NS = 1_000_000_000
CHUNK_NS = CHUNK * NS // RATE  # one VAD chunk
RECENT_SPEECH_NS = 700_000_000  # speech in the last 0.7 s (word pauses are shorter): speaking now


def _lap(timings: dict[str, float], key: str, since: float) -> float:
    """Add the ms since ``since`` to ``timings[key]``; returns now (the next stage's start)."""
    now = time.perf_counter()
    timings[key] = timings.get(key, 0.0) + (now - since) * 1e3
    return now


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


@dataclass
class Recognition:
    """The result for one frame. Probability arrays follow ``labels``."""

    labels: tuple[str, ...]
    label: str = UNKNOWN
    confidence: float = 0.0
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    raw_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    face_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    voice_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    face_weight: float = 0.0
    voice_weight: float = 0.0
    face_present: bool = False
    voice_present: bool = False
    face_used: bool = False
    voice_used: bool = False
    face_box: Optional[FaceBox] = None
    #: Peak speech probability of the VAD over the audio window (0 without audio).
    vad_probability: float = 0.0
    #: Where the frame's time went, ms per stage (every key of ``STAGES``; disjoint, their sum
    #: is about ``total``; 0 for a stage that did not run this frame).
    timings_ms: dict[str, float] = field(default_factory=dict)


#: The stages of ``Recognition.timings_ms``, in pipeline order: the face detector (every
#: ``detect_every`` frames), the tracker, the re-identification descriptors the tracker takes
#: (with the landmarks that align them), the landmark pass on the tracked boxes and the mouth
#: pass on eye-anchored boxes, the VAD, the voice branch's log-mel features, speaker scoring, the
#: face crops of the batch, the expression net (``inference``), per-face softmax + smoothing,
#: and the whole frame (``total``).
STAGES = ("detect", "tracking", "descriptor", "landmarks", "landmarks_mouth", "vad", "features",
          "speaker", "crops", "inference", "smoothing", "total")


class _Stopwatch:
    """Accumulates the time spent in calls of a wrapped model (the tracker's descriptor and the
    landmarks it reads for it), so that a stage inside another module is timed without
    touching that module."""

    def __init__(self, inner: object, method: str) -> None:
        self.inner, self.method, self.ms, self.calls = inner, method, 0.0, 0

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.ms += (time.perf_counter() - t0) * 1e3
                self.calls += 1
        return timed

    def pop_ms(self) -> float:
        ms, self.ms = self.ms, 0.0
        return ms


@dataclass
class FaceEstimate:
    """One tracked person's estimate in a frame."""

    track_id: int
    recognition: Recognition
    #: Probability that this person is the one speaking (NaN: not scored).
    speaking_probability: float = float("nan")


@dataclass
class FrameResult:
    """Every face of a frame, and the primary estimate (what ``/emotion`` carries): the
    speaker's, else the largest face's, else the voice alone."""

    faces: list[FaceEstimate]
    primary: Recognition
    primary_track: Optional[int] = None
    #: Person ids forgotten during this frame (their per-person outputs can go).
    forgotten: list[int] = field(default_factory=list)


NO_FACE = -1  # smoother key of voice-only estimates


class EmotionRecognizer:
    """Face detection + tracking, crops of every tracked face in one batch, log-mel features,
    inference, fusion bookkeeping and per-person smoothing.

    ``tracking``: with settings, faces are tracked across calls (stable person ids, detector every
    ``detect_every`` calls); without, every call detects and numbers faces by size.
    """

    def __init__(self, backend: InferenceBackend, contract: ModelContract,
                 detector: Optional[FaceDetector] = None, use_face: bool = True,
                 use_voice: bool = True, vad_threshold_dbfs: float = -45.0,
                 smoothing_tau_s: float = 0.5, tracking: Optional[TrackingSettings] = None,
                 embedder: Optional[Embedder] = None,
                 vad: Optional[Vad] = None, landmarker: Optional[Landmarker] = None,
                 speaker: Optional[SpeakerSettings] = None) -> None:
        self.backend = backend
        self.contract = contract.validate()
        self.detector = detector
        self.use_face = use_face and "face" in contract.modalities
        self.use_voice = use_voice and "audio" in contract.modalities
        if self.use_face and detector is None:
            raise ValueError("a face model needs a face detector")
        self.vad_threshold_dbfs = vad_threshold_dbfs
        self.vad: Vad = vad if vad is not None else EnergyVad(vad_threshold_dbfs)
        self.smoothing_tau_s = smoothing_tau_s
        self.tracking = tracking
        self.max_faces = tracking.max_faces if tracking else 1
        self.tracker = FaceTracker(tracking, embedder, landmarker) if tracking else None
        # The tracker's descriptor calls (and the landmarks it aligns them with) are timed as the
        # ``descriptor`` share of ``tracking``.
        self._descriptor_clock: list[_Stopwatch] = []
        if self.tracker is not None:
            if self.tracker.embedder is not None:
                self.tracker.embedder = _Stopwatch(self.tracker.embedder, "embed")  # type: ignore[assignment]
                self._descriptor_clock.append(self.tracker.embedder)  # type: ignore[arg-type]
            if self.tracker.landmarker is not None:
                self.tracker.landmarker = _Stopwatch(self.tracker.landmarker, "landmarks")  # type: ignore[assignment]
                self._descriptor_clock.append(self.tracker.landmarker)  # type: ignore[arg-type]
        # With the mouth rate, the frame rate sizes how many faces a frame reads mouths of and the
        # speech envelope's bins (one per reading: ``MouthReader.interval_ns``).
        self.frame_rate = (tracking or TrackingSettings()).frame_rate_hz
        # Without landmarks there is no speaker scoring: the largest face gets the voice.
        self.landmarker = landmarker
        self.speakers = SpeakerScorer(speaker or SpeakerSettings()) if landmarker is not None else None
        self.mouths = MouthReader(landmarker, self.speakers.settings.speaker_mouth_rate_hz,  # type: ignore[union-attr]
                                  self.frame_rate) if landmarker is not None else None
        self._smoothers: dict[int, ProbabilitySmoother] = {}
        self._calls = 0
        self._forgotten: list[int] = []

    def configure(self, use_face: bool, use_voice: bool, vad_threshold_dbfs: float,
                  smoothing_tau_s: float) -> None:
        """Change the run-time choices; a branch the model lacks stays off."""
        if use_face and "face" in self.contract.modalities and self.detector is None:
            raise ValueError("a face model needs a face detector")
        self.use_face = use_face and "face" in self.contract.modalities
        self.use_voice = use_voice and "audio" in self.contract.modalities
        self.vad_threshold_dbfs = vad_threshold_dbfs
        if isinstance(self.vad, EnergyVad):
            self.vad.threshold_dbfs = vad_threshold_dbfs
        self.smoothing_tau_s = smoothing_tau_s
        for smoother in self._smoothers.values():
            smoother.tau_s = smoothing_tau_s

    def warm_up(self) -> None:
        """Pay every first-call cost (ONNX Runtime sessions' first runs, lazy imports, the VAD's
        state) before the first real frame, then forget the warm-up frames."""
        image = np.zeros((120, 160, 3), np.uint8)
        audio = np.zeros(16000, np.float32)
        audio[::50] = 0.5
        self.process(image, audio, 16000, 0)
        box = [FaceBox(40, 20, 60, 60)]
        if self.landmarker is not None:
            self.landmarker.landmarks(image, box)
        if self.tracker is not None and self.tracker.embedder is not None:
            self.tracker.embedder.embed(image, box)
        self.reset()

    def reset(self) -> None:
        """Forget every person and smoothing state (a new clip, a clock jump)."""
        self._smoothers.clear()
        self._calls = 0
        self.vad.reset()
        if self.speakers is not None:
            self.speakers.reset()
        if self.mouths is not None:
            self.mouths.reset()
        if self.tracker is not None:
            self.tracker.reset()
            self._forgotten.extend(self.tracker.pop_forgotten())

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    def process(self, bgr: Optional[np.ndarray], samples: Optional[np.ndarray],
                sample_rate: int, stamp_ns: int) -> Recognition:
        """The primary estimate for a frame (BGR uint8) and the audio window ending at it."""
        return self.process_frame(bgr, samples, sample_rate, stamp_ns).primary

    # -- the frame ------------------------------------------------------------------------------
    def process_frame(self, bgr: Optional[np.ndarray], samples: Optional[np.ndarray],
                      sample_rate: int, stamp_ns: int) -> FrameResult:
        """Every tracked face of the frame, one model call for all of them."""
        c = self.contract
        t0 = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        tracks = self._faces(bgr, stamp_ns, timings) if self.use_face and bgr is not None else []
        forgotten, self._forgotten = self._forgotten, []

        voice, activity = self._voice(samples, sample_rate, stamp_ns, timings)
        voice_present = activity is not None and activity.has_voice(self.vad.threshold)
        vad_probability = activity.peak if activity is not None else 0.0

        speaking, speaker = self._speaker(bgr, tracks, samples, sample_rate, stamp_ns, activity,
                                          voice_present, forgotten, timings)
        rows: list[tuple[Optional[Track], bool]] = [(t, voice is not None and i == speaker)
                                                    for i, t in enumerate(tracks)]
        if not rows and voice is not None:
            rows = [(None, True)]
        if not rows:
            timings["total"] = (time.perf_counter() - t0) * 1e3
            empty = Recognition(labels=c.labels, voice_present=voice_present,
                                vad_probability=vad_probability, timings_ms=timings)
            return FrameResult([], empty, forgotten=forgotten)

        tic = time.perf_counter()
        feeds = self._feeds(bgr, rows, voice)
        tic = _lap(timings, "crops", tic)
        out = self.backend.run(feeds)
        tic = _lap(timings, "inference", tic)

        estimates = [self._estimate(out, i, track, fused, voice_present, stamp_ns)
                     for i, (track, fused) in enumerate(rows)]
        _lap(timings, "smoothing", tic)
        timings["total"] = (time.perf_counter() - t0) * 1e3
        for e in estimates:
            e.timings_ms = dict(timings)
            e.vad_probability = vad_probability
        faces = [FaceEstimate(t.track_id, e, speaking.get(t.track_id, float("nan")))
                 for (t, _), e in zip(rows, estimates) if t is not None]
        primary_index = speaker if speaker is not None else 0  # the speaker, else the largest face
        primary_track = rows[primary_index][0].track_id if rows[primary_index][0] is not None else None
        return FrameResult(faces, estimates[primary_index], primary_track, forgotten)

    def _speaker(self, bgr: Optional[np.ndarray], tracks: list[Track], samples: Optional[np.ndarray],
                 sample_rate: int, stamp_ns: int, activity: Optional[VoiceActivity], voice_present: bool,
                 forgotten: list[int], timings: dict[str, float]) -> tuple[dict[int, float], Optional[int]]:
        """(speaking probability per track, index in ``tracks`` of the face that gets the voice).

        With landmarks: the face whose mouth moves with the speech, or none (off camera). Without:
        the largest face, unscored (NaN)."""
        if not tracks:
            return {}, None
        if self.speakers is None:
            return {}, 0
        for tid in forgotten:
            self.speakers.forget(tid)
            self.mouths.forget(tid)  # type: ignore[union-attr]
        if self.speakers.settings.speaker_pause_in_silence and self._quiet(activity, stamp_ns):
            # Nobody can be speaking now, nor be scored later on this frame's mouths unless a
            # voice starts within the scorer's window: the two landmark passes (after the
            # expression net, most of the per-face cost) wait for the voice.
            self.mouths.reset()  # type: ignore[union-attr]
            return {t.track_id: 0.0 for t in tracks}, None
        openings = self.mouths.read(bgr, tracks, stamp_ns, timings)  # type: ignore[union-attr]
        tic = time.perf_counter()
        try:
            return self._score_speakers(tracks, openings, samples, sample_rate, stamp_ns, activity,
                                        voice_present)
        finally:
            _lap(timings, "speaker", tic)

    def _quiet(self, activity: Optional[VoiceActivity], stamp_ns: int) -> bool:
        """No speech over the scorer's window (and the speaking-now span) before ``stamp_ns``.
        False without audio, or when the audio window is too short to tell."""
        assert self.speakers is not None
        if activity is None or not activity.ends_ns.size:
            return False
        span = max(int(self.speakers.settings.speaker_window_s * NS), RECENT_SPEECH_NS)
        if activity.ends_ns[0] - CHUNK_NS > stamp_ns - span:
            return False
        return not activity.has_voice_since(stamp_ns - span, self.vad.threshold)

    def _score_speakers(self, tracks: list[Track], openings: np.ndarray, samples: Optional[np.ndarray],
                        sample_rate: int, stamp_ns: int, activity: Optional[VoiceActivity],
                        voice_present: bool) -> tuple[dict[int, float], Optional[int]]:
        """``_speaker`` once the mouths are read: history, then the scores while a voice is heard."""
        assert self.speakers is not None
        self.speakers.observe(stamp_ns, dict(zip([t.track_id for t in tracks], openings.tolist())))
        if activity is None or samples is None:
            return {}, None  # no audio: nobody is heard, so nobody is scored
        if not voice_present or not activity.has_voice_since(stamp_ns - RECENT_SPEECH_NS, self.vad.threshold):
            # Nobody speaks now: the window may still hold speech that ended up to 2 s ago, and
            # the last speaker's mouth history with it, but a face is speaking only while a
            # voice is heard.
            return {t.track_id: 0.0 for t in tracks}, None
        # One envelope bin per mouth reading: the audio since the face's previous one.
        interval = self.mouths.interval_ns  # type: ignore[union-attr]
        probabilities = self.speakers.score(
            stamp_ns, [t.track_id for t in tracks],
            lambda stamps: speech_envelope(samples, sample_rate, stamp_ns, stamps, interval, activity.at))
        best = self.speakers.speaker(probabilities)
        index = next((i for i, t in enumerate(tracks) if t.track_id == best), None)
        return probabilities, index

    def _faces(self, bgr: np.ndarray, stamp_ns: int, timings: dict[str, float]) -> list[Track]:
        every = self.tracking.detect_every if self.tracking else 1
        tic = time.perf_counter()
        boxes = None
        if self._calls % every == 0:  # else the tracker carries the boxes, and detect stays 0
            boxes = self.detector.detect(bgr)  # type: ignore[union-attr]
            tic = _lap(timings, "detect", tic)
        self._calls += 1
        if self.tracker is None:
            boxes = sorted(boxes or [], key=lambda b: -b.area)
            return [Track(i, b, True) for i, b in enumerate(boxes[:self.max_faces])]
        for clock in self._descriptor_clock:
            clock.pop_ms()
        tracks = self.tracker.update(bgr, boxes, stamp_ns)
        timings["descriptor"] = sum(clock.pop_ms() for clock in self._descriptor_clock)
        for pid in self.tracker.pop_forgotten():
            self._smoothers.pop(pid, None)
            self._forgotten.append(pid)
        out = sorted(tracks, key=lambda t: -t.box.area)[:self.max_faces]
        timings["tracking"] = (time.perf_counter() - tic) * 1e3 - timings["descriptor"]
        return out

    def _voice(self, samples: Optional[np.ndarray], sample_rate: int, stamp_ns: int,
               timings: dict[str, float]) -> tuple[Optional[np.ndarray], Optional[VoiceActivity]]:
        """(log-mel features for the voice branch, or None without speech; the VAD's activity
        over the window ending at the frame, or None without audio). A face-only model still
        reports voice activity: behaviour nodes use it."""
        if samples is None or not samples.size or sample_rate <= 0:
            return None, None
        spec = self.contract.audio
        if spec is not None:  # the model's window decides, as fit_window does for the features
            samples = samples[-int(round(spec.window_s * sample_rate)):]
        tic = time.perf_counter()
        activity = self.vad.activity(samples, sample_rate, stamp_ns)
        tic = _lap(timings, "vad", tic)
        if not self.use_voice or not activity.has_voice(self.vad.threshold):
            return None, activity
        assert spec is not None
        wav = audio_mod.fit_window(audio_mod.resample(samples, sample_rate, spec.sample_rate), spec)
        features = audio_mod.log_mel(wav, spec)[None, None]
        _lap(timings, "features", tic)
        return features, activity

    def _feeds(self, bgr: Optional[np.ndarray], rows: list[tuple[Optional[Track], bool]],
               voice: Optional[np.ndarray]) -> dict[str, np.ndarray]:
        """One batch: a row per face (the speaker's row also gets the voice), or one voice row.
        Absent branches get zeros and a zero in the modality mask."""
        c = self.contract
        n = len(rows)
        feeds: dict[str, np.ndarray] = {}
        if "face" in c.modalities:
            s = c.face.size  # type: ignore[union-attr]
            faces = np.zeros((n, 3, s, s), np.float32)
            for i, (track, _) in enumerate(rows):
                if track is not None:
                    faces[i] = face_tensor(bgr, [track.box], c.face)[0]  # type: ignore[arg-type]
            feeds[c.inputs["face"]] = faces
        if "audio" in c.modalities:
            a = c.audio
            audio = np.zeros((n, 1, a.n_mels, a.frames), np.float32)  # type: ignore[union-attr]
            for i, (_, fused) in enumerate(rows):
                if fused and voice is not None:
                    audio[i] = voice[0]
            feeds[c.inputs["audio"]] = audio
        if "modality_mask" in c.inputs:
            feeds[c.inputs["modality_mask"]] = np.array(
                [[float(t is not None), float(fused)] for t, fused in rows], np.float32)
        return feeds

    def _estimate(self, out: dict[str, np.ndarray], i: int, track: Optional[Track], fused: bool,
                  voice_present: bool, stamp_ns: int) -> Recognition:
        c = self.contract
        r = Recognition(labels=c.labels, voice_present=voice_present,
                        face_present=track is not None, face_used=track is not None,
                        voice_used=fused, face_box=track.box if track is not None else None)
        raw = softmax(out[c.outputs["logits"]][i].astype(np.float32))
        r.raw_probabilities = raw
        if "face_logits" in c.outputs and r.face_used:
            r.face_probabilities = softmax(out[c.outputs["face_logits"]][i].astype(np.float32))
        if "audio_logits" in c.outputs and r.voice_used:
            r.voice_probabilities = softmax(out[c.outputs["audio_logits"]][i].astype(np.float32))
        if "fusion_weights" in c.outputs:
            w = out[c.outputs["fusion_weights"]][i]
            r.face_weight, r.voice_weight = float(w[0]), float(w[1])
        else:  # single-modality model
            r.face_weight = 1.0 if r.face_used else 0.0
            r.voice_weight = 1.0 if r.voice_used else 0.0
            if r.face_used and not r.face_probabilities.size:
                r.face_probabilities = raw
            if r.voice_used and not r.voice_probabilities.size:
                r.voice_probabilities = raw
        key = track.track_id if track is not None else NO_FACE
        smoother = self._smoothers.setdefault(key, ProbabilitySmoother(self.smoothing_tau_s))
        smoothed = smoother.update(raw, stamp_ns)
        r.probabilities = smoothed
        best = int(np.argmax(smoothed))
        r.label, r.confidence = c.labels[best], float(smoothed[best])
        return r
