"""Prepare step: aligned windows, the runtime's detector and crop, bad files skipped."""
from __future__ import annotations

import json

import numpy as np

from emotion_core.audio import fit_window, load_audio
from emotion_core.face import create_detector, crop_square
from emotion_training.data import PreparedData
from emotion_training.datasets import ClipRecord, scan_cremad, scan_ravdess
from emotion_training.media import read_frames_at
from emotion_training.prepare import prepare, resize_square, window_ends

from .conftest import tiny_config


def test_window_ends_stay_inside_the_clip():
    assert window_ends(0.0, 3.5, 2.0, 3) == [2.0, 2.75, 3.5]
    assert window_ends(1.0, 2.0, 2.0, 3) == [2.0]  # shorter than a window: one, padded left
    assert window_ends(0.5, 4.0, 1.0, 1) == [4.0]


def test_audio_window_ends_at_the_face_frame_of_the_same_take(ravdess_root, tmp_path):
    """The known bug of public reproductions: audio and video cut from different parts of the
    clip. Here each cached audio window is exactly the take's audio ending at the frame time,
    and the cached face is the runtime's crop of the frame at that time."""
    cfg = tiny_config(ravdess_root, tmp_path, f"data.cache_dir={tmp_path / 'cache'}")
    records = scan_ravdess(ravdess_root)[:3]
    data = PreparedData(prepare(cfg, records, workers=1))
    spec = cfg.audio.spec(normalised=False)
    detector = create_detector("haar")
    for record in records:
        clip = data.load(record)
        wave = load_audio(record.audio, spec.sample_rate)
        frames = read_frames_at(record.video, clip["times"])
        for k, t in enumerate(clip["times"]):
            stop = int(round(t * spec.sample_rate))
            expected = fit_window(wave[max(0, stop - spec.window_samples):stop], spec)
            np.testing.assert_allclose(clip["audio"][k] / 32768.0, expected, atol=1.5 / 32768)
            box = detector.detect(frames[k])[0]
            crop = resize_square(crop_square(frames[k], box, cfg.face.margin), cfg.face.size)
            np.testing.assert_array_equal(clip["faces"][k], crop)
        assert clip["face_found"].all()


def test_missing_and_corrupt_files_are_reported_and_skipped(ravdess_root, tmp_path):
    cfg = tiny_config(ravdess_root, tmp_path, f"data.cache_dir={tmp_path / 'cache'}")
    good = scan_ravdess(ravdess_root)[:2]
    corrupt = tmp_path / "01-01-05-01-01-01-01.mp4"
    corrupt.write_bytes(b"\x00not a video" * 100)
    bad = [ClipRecord("bad-missing", 0, "neutral", "01", audio=str(tmp_path / "missing.wav")),
           ClipRecord("bad-corrupt", 0, "neutral", "01", video=str(corrupt),
                      audio=str(tmp_path / "broken.wav"))]
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00")
    root = prepare(cfg, good + bad, workers=1)
    index = json.loads((root / "index.json").read_text())
    assert sorted(f["clip_id"] for f in index["failed"]) == ["bad-corrupt", "bad-missing"]
    assert all(f["error"] for f in index["failed"])
    assert [r.clip_id for r in PreparedData(root).records] == [r.clip_id for r in good]
    # A second run re-extracts nothing that is cached (and retries the failures).
    cached = [PreparedData(root).path(r) for r in good]
    stamps = [p.stat().st_mtime_ns for p in cached]
    prepare(cfg, good + bad, workers=1)
    assert [p.stat().st_mtime_ns for p in cached] == stamps


def test_cremad_flv_is_prepared_with_faces_and_voice(cremad_root, tmp_path):
    cfg = tiny_config(cremad_root, tmp_path, "data.dataset=cremad", "data.label_set=cremad6",
                      f"data.cache_dir={tmp_path / 'cache'}")
    records = scan_cremad(cremad_root)
    data = PreparedData(prepare(cfg, records, workers=2))
    assert len(data.records) == len(records) and not data.failed
    clip = data.load(data.records[0])
    assert clip["face_found"].all() and bool(clip["has_audio"])
    assert np.abs(clip["audio"]).max() > 1000  # the tone, not silence


def test_container_audio_of_a_full_av_mp4(tmp_path):
    """RAVDESS full-AV files carry their own audio: read through PyAV when no wav exists."""
    import av

    from emotion_training.media import clip_audio

    sr, seconds, f0 = 16000, 1.0, 440.0
    tone = (0.3 * np.sin(2 * np.pi * f0 * np.arange(int(sr * seconds)) / sr)).astype(np.float32)
    path = tmp_path / "01-01-03-01-01-01-01.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr)
        stream.layout = "mono"
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="flt", layout="mono")
            frame.rate = sr
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    wave = clip_audio(None, str(path), sr)
    assert abs(wave.size / sr - seconds) < 0.15
    spectrum = np.abs(np.fft.rfft(wave[2000:14000]))
    assert abs(np.argmax(spectrum) * sr / 12000 - f0) < 5.0
