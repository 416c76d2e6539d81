"""Who speaks: two people in view and read speech on the microphone; the face whose mouth opens
with the speech envelope is the speaker and the only one that fuses the voice. When no mouth
moves, the voice is from off camera and no face gets it. Real landmarks, real Silero VAD, real
speech (the demo clip's LibriVox reading); the talking mouth is the jaw drop of the landmark
tests, driven by the speech envelope."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.assets import build_assets
from emotion_core.face_landmarks import FaceLandmarker
from emotion_core.recognizer import EmotionRecognizer
from emotion_core.speaker import SpeakerScorer, SpeakerSettings, speaking_probability
from emotion_core.tracking import TrackingSettings
from emotion_core.vad import SileroVad

from .test_face_landmarks import open_mouth
from .test_people import fusion, person, scene, two_people  # noqa: F401 (fixtures)

NS = 1_000_000_000
RATE = 16000
FPS = 10


@pytest.fixture(scope="module")
def speech(repo_root) -> np.ndarray:
    import soundfile as sf

    samples, rate = sf.read(str(build_assets(repo_root / "data")["audio"]), dtype="float32")
    assert rate == RATE
    return samples


def envelope_at(speech: np.ndarray, t_s: float) -> float:
    lo, hi = max(0, int((t_s - 0.1) * RATE)), int(t_s * RATE)
    return float(np.sqrt(np.mean(np.square(speech[lo:hi])))) if hi > lo else 0.0


@pytest.fixture(scope="module")
def mouths(two_people, landmarker: FaceLandmarker, tiny):
    """Each person's patch with its landmarks (patch pixels): the jaw can then be dropped."""
    out = []
    for patch in two_people:
        frame = scene({"p": (patch, 200, 150)})
        box = tiny.detect(frame)[0]
        pts = landmarker.landmarks(frame, [box])[0] - np.array([200, 150], np.float32)
        out.append((patch, box, pts))
    return out


def talking(patch_info, frac: float) -> np.ndarray:
    patch, _, pts = patch_info
    return open_mouth(patch, pts, frac) if frac > 0.01 else patch


def run(rec: EmotionRecognizer, speech: np.ndarray, mouths, who_talks: set[int], seconds: float = 3.0):
    """Frames at 10 Hz; the listed people's jaws follow the speech envelope."""
    peak = max(envelope_at(speech, t / FPS) for t in range(1, int(seconds * FPS) + 1)) or 1.0
    results = []
    for k in range(1, int(seconds * FPS) + 1):
        t = k / FPS
        frac = 0.6 * envelope_at(speech, t) / peak  # the jaw drops up to 0.6 mouth widths
        patches = {i: (talking(m, frac) if i in who_talks else m[0]) for i, m in enumerate(mouths)}
        frame = scene({"a": (patches[0], 40, 150), "b": (patches[1], 400, 150)})
        window = speech[max(0, int((t - 2.0) * RATE)):int(t * RATE)]
        results.append(rec.process_frame(frame, window, RATE, 100 * NS + k * NS // FPS))
    return results


def recognizer(fusion, tiny, landmarker):  # noqa: F811 (fixture passed in)
    backend, contract = fusion
    return EmotionRecognizer(backend, contract, tiny, tracking=TrackingSettings(frame_rate_hz=FPS),
                             vad=SileroVad(), landmarker=landmarker, speaker=SpeakerSettings())


def by_x(result) -> dict[str, object]:
    """Faces keyed by side of the frame (a: left, b: right)."""
    return {("a" if f.recognition.face_box.x < 320 else "b"): f for f in result.faces}


@pytest.mark.parametrize("talker", [0, 1])
def test_the_face_that_moves_with_the_speech_is_the_speaker(fusion, tiny, landmarker, speech, mouths,  # noqa: F811
                                                            talker):
    rec = recognizer(fusion, tiny, landmarker)
    results = run(rec, speech, mouths, {talker})
    late = [r for r in results[15:] if r.primary.voice_present]
    assert len(late) >= 8, "the reading should be detected as speech"
    talker_side, other_side = ("a", "b") if talker == 0 else ("b", "a")
    hits = 0
    for r in late:
        faces = by_x(r)
        assert set(faces) == {"a", "b"}
        speaking, silent = faces[talker_side], faces[other_side]
        assert not silent.recognition.voice_used and silent.speaking_probability < 0.5
        if speaking.recognition.voice_used:
            hits += 1
            assert r.primary_track == speaking.track_id and r.primary.voice_used
    assert hits >= 0.8 * len(late), f"the talking face fused the voice in {hits} of {len(late)} frames"


def test_voice_from_off_camera_goes_to_no_face(fusion, tiny, landmarker, speech, mouths):  # noqa: F811
    rec = recognizer(fusion, tiny, landmarker)
    results = run(rec, speech, mouths, set())
    late = [r for r in results[15:] if r.primary.voice_present]
    assert late
    for r in late:
        assert len(r.faces) == 2
        assert not any(f.recognition.voice_used for f in r.faces)
        assert all(f.speaking_probability < 0.5 for f in r.faces)
        assert not r.primary.voice_used and r.primary.vad_probability >= 0.5


def test_speaking_probability_needs_motion_in_step_with_the_voice():
    t = np.arange(20) / 10
    env = np.abs(np.sin(2 * np.pi * 1.3 * t)) + 0.1
    assert speaking_probability(0.02 + 0.1 * env, env) > 0.9
    assert speaking_probability(np.full(20, 0.05), env) == 0.0  # still mouth
    off_step = np.abs(np.cos(2 * np.pi * 1.3 * t)) + 0.1  # open while the voice is quiet
    assert speaking_probability(0.02 + 0.1 * off_step, env) < 0.5  # moving, out of step
    scorer = SpeakerScorer(SpeakerSettings(speaker_window_s=1.0))
    for k in range(4):
        scorer.observe(k * NS // 10, {7: 0.1 * k})
    assert np.isnan(scorer.score(3 * NS // 10, [7], lambda s: np.ones(len(s)))[7])  # too short to judge
    assert scorer.speaker({7: float("nan")}) is None and scorer.speaker({1: 0.2, 2: 0.7}) == 2
    assert scorer.speaker({1: 0.2, 2: 0.4}) is None  # nobody in view: off camera

