"""Mouth readings for active-speaker scoring: each face read at most at the mouth rate, the faces
taking turns so every frame costs the same, a new face read at once; and no landmark pass at
all while the microphone has been silent for the scorer's window. Real landmark net, real
Silero VAD, the demo clip's frames and speech."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion_core.face import FaceBox
from emotion_core.face_landmarks import FaceLandmarker, eye_anchored_box, mouth_opening
from emotion_core.mouths import MouthReader
from emotion_core.tracking import Track

NS = 1_000_000_000
FPS = 30


class CountingLandmarker:
    """The real net, counting the faces of each call."""

    def __init__(self, inner: FaceLandmarker) -> None:
        self.inner, self.calls = inner, []

    def landmarks(self, bgr, boxes):
        self.calls.append(len(boxes))
        return self.inner.landmarks(bgr, boxes)


@pytest.fixture(scope="module")
def people_frame(repo_root: Path, npm_cache: Path) -> tuple[np.ndarray, list[Track]]:
    """The demo clip's first frame and its three people's boxes as detected tracks."""
    import cv2

    from emotion_core.tools.assets import build_assets
    from emotion_core.tools.people_clip import read_truth

    paths = build_assets(repo_root / "data", npm_cache=npm_cache)
    cap = cv2.VideoCapture(str(paths["people_video"]))
    ok, frame = cap.read()
    cap.release()
    assert ok
    boxes = read_truth(paths["people_truth"])["frames"][0]["boxes"]
    tracks = [Track(i, FaceBox(*b), True) for i, (_, b) in enumerate(sorted(boxes.items()))]
    assert len(tracks) == 3
    return frame, tracks


def test_faces_take_turns_at_the_mouth_rate(landmarker, people_frame):
    frame, tracks = people_frame
    counting = CountingLandmarker(landmarker)
    reader = MouthReader(counting, rate_hz=10.0, frame_rate_hz=FPS)
    read_at: dict[int, list[int]] = {t.track_id: [] for t in tracks}
    for k in range(30):
        openings = reader.read(frame, tracks, 100 * NS + k * NS // FPS)
        assert np.isfinite(openings).sum() == 1  # 3 faces x 10 Hz / 30 Hz: one face per frame
        read_at[tracks[int(np.flatnonzero(np.isfinite(openings))[0])].track_id].append(k)
    assert counting.calls == [1, 1] * 30  # eyes, then mouth, for one face
    for frames in read_at.values():  # each face every third frame: 10 readings a second
        assert len(frames) == 10 and set(np.diff(frames)) == {3}
    assert reader.faces_read == 30


def test_at_the_frame_rate_every_face_is_read_every_frame(landmarker, people_frame):
    frame, tracks = people_frame
    reader = MouthReader(landmarker, rate_hz=30.0, frame_rate_hz=FPS)
    for k in range(4):
        assert np.isfinite(reader.read(frame, tracks, 100 * NS + k * NS // FPS)).all()


def test_a_reading_is_the_two_pass_reading_and_a_new_face_is_read_at_once(landmarker, people_frame):
    frame, tracks = people_frame
    reader = MouthReader(landmarker, rate_hz=10.0, frame_rate_hz=FPS)
    for k in range(2):  # faces 0 and 1, one per frame
        assert np.isfinite(reader.read(frame, tracks[:2], 100 * NS + k * NS // FPS)).tolist() == \
            [k == 0, k == 1]
    openings = reader.read(frame, tracks, 100 * NS + 2 * NS // FPS)
    assert np.isfinite(openings).tolist() == [False, False, True]  # the newcomer before face 0
    eyes = landmarker.landmarks(frame, [tracks[2].box])[0]
    expected = mouth_opening(landmarker.landmarks(frame, [eye_anchored_box(eyes)]))[0]
    assert openings[2] == pytest.approx(expected, abs=1e-6)
    reader.forget(tracks[1].track_id)  # a forgotten id is new again: before face 0, which is due
    assert np.isfinite(reader.read(frame, tracks, 100 * NS + 3 * NS // FPS)).tolist() == [False, True, False]


def test_bad_rates_are_refused(landmarker):
    with pytest.raises(ValueError, match="must be positive"):
        MouthReader(landmarker, rate_hz=0.0)


@pytest.fixture(scope="module")
def speech(repo_root: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    from emotion_core.assets import build_assets

    samples, rate = sf.read(str(build_assets(repo_root / "data")["audio"]), dtype="float32")
    return samples, rate


@pytest.mark.parametrize("pause", [True, False])
def test_no_landmark_pass_while_the_microphone_is_silent(models, landmarker, people_frame, speech, pause):
    """3 s of silence, then speech: with the pause, no pass once the silence fills the scorer's
    1.5 s window, and passes again from the first frame whose window holds the voice; without
    it, passes on every frame. The Silero VAD decides what is speech."""
    from emotion_core.backends import load_model
    from emotion_core.face import create_detector
    from emotion_core.recognizer import EmotionRecognizer
    from emotion_core.speaker import SpeakerSettings
    from emotion_core.tracking import TrackingSettings
    from emotion_core.vad import SileroVad

    frame, _ = people_frame
    samples, rate = speech
    backend, contract = load_model(models["expression"], "onnxruntime", 1)
    counting = CountingLandmarker(landmarker)
    rec = EmotionRecognizer(backend, contract, create_detector("tiny", model_path=models["detector"]),
                            tracking=TrackingSettings(frame_rate_hz=FPS, detect_every=3), vad=SileroVad(),
                            landmarker=counting,
                            speaker=SpeakerSettings(speaker_pause_in_silence=pause, speaker_mouth_rate_hz=FPS))
    voice = samples[rate:4 * rate]  # one second into the reading: speech from its first chunk
    audio = np.concatenate([np.zeros(3 * rate, np.float32), voice])
    passes, first_voice = [], None
    for k in range(int(4.5 * FPS)):
        t = k / FPS
        end = int(t * rate)
        window = audio[max(0, end - 2 * rate):end]
        before = len(counting.calls)
        result = rec.process_frame(frame, window, rate, 100 * NS + k * NS // FPS)
        passes.append(len(counting.calls) - before)
        if first_voice is None and result.primary.vad_probability >= 0.5:
            first_voice = k
        assert result.primary.timings_ms["landmarks"] >= 0
    assert first_voice is not None and 3 * FPS <= first_voice <= 3 * FPS + 3
    silent = passes[int(1.6 * FPS):3 * FPS]  # the window is all silence: nobody can speak
    if pause:
        assert silent == [0] * len(silent)
        assert passes[first_voice:] == [2] * len(passes[first_voice:])
    else:
        assert passes == [2] * len(passes)
