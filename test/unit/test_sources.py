"""Frame and audio sources: synthetic generators, files, folders, and how they fail."""
from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from emotion_core.vad import EnergyVad
from emotion_core.sources import (FileAudio, FolderFrames, SourceError, SyntheticAudio,
                                  SyntheticFrames, VideoFrames, open_audio, open_frames)


# -- frames ----------------------------------------------------------------------------------------
def test_synthetic_frames_are_deterministic_and_moving():
    a, b = SyntheticFrames(160, 120), SyntheticFrames(160, 120)
    first = [a.read() for _ in range(3)]
    again = [b.read() for _ in range(3)]
    for x, y in zip(first, again):
        assert x.shape == (120, 160, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0], first[1])


def test_synthetic_frames_hold_no_face(haar):
    src = SyntheticFrames()
    assert all(haar.detect(src.read()) == [] for _ in range(3))


def write_images(folder, n: int, size=(24, 32)) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n):
        img = np.full(size + (3,), 40 * (i + 1), np.uint8)
        cv2.imwrite(str(folder / f"img_{i:02d}.png"), img)
        frames.append(img)
    return frames


def test_folder_frames_in_name_order_then_end(tmp_path):
    frames = write_images(tmp_path / "f", 3)
    (tmp_path / "f" / "notes.txt").write_text("not an image")
    src = open_frames(str(tmp_path / "f"))
    assert isinstance(src, FolderFrames)
    for expected in frames:
        np.testing.assert_array_equal(src.read(), expected)  # PNG is lossless
    assert src.read() is None


def test_folder_frames_loop(tmp_path):
    frames = write_images(tmp_path / "f", 2)
    src = FolderFrames(str(tmp_path / "f"), loop=True)
    got = [src.read() for _ in range(5)]
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, frames[i % 2])


def test_folder_skips_unreadable_images(tmp_path):
    frames = write_images(tmp_path / "f", 2)
    (tmp_path / "f" / "img_00b.png").write_bytes(b"\x89PNG garbage")
    src = FolderFrames(str(tmp_path / "f"))
    np.testing.assert_array_equal(src.read(), frames[0])
    np.testing.assert_array_equal(src.read(), frames[1])  # img_00b.png skipped
    assert src.read() is None
    assert src.skipped == [str(tmp_path / "f" / "img_00b.png")]


@pytest.mark.timeout(20)
def test_folder_of_only_unreadable_images_ends_instead_of_spinning(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    (tmp_path / "worse.png").write_bytes(b"")
    src = FolderFrames(str(tmp_path), loop=False)
    assert src.read() is None  # one pass over the folder, not an endless loop
    assert len(src.skipped) == 2


@pytest.mark.timeout(20)
def test_looping_folder_that_became_unreadable_fails_so_the_node_can_reopen_it(tmp_path):
    frames = write_images(tmp_path / "f", 2)
    src = FolderFrames(str(tmp_path / "f"), loop=True)
    np.testing.assert_array_equal(src.read(), frames[0])
    for path in (tmp_path / "f").iterdir():  # the folder's files go away (unmounted, replaced)
        path.unlink()
    with pytest.raises(SourceError, match="no readable image in a whole pass over 2 files"):
        src.read()  # one pass, then a failure: never an endless loop, never a silent end
    assert len(src.skipped) == 2


def test_live_sources_are_recognised():
    from emotion_core.sources import is_live

    assert is_live("0") and is_live("/dev/video9") and is_live("rtsp://cam.local/stream")
    assert not is_live("clip.mp4") and not is_live("frames/")


def test_microphone_that_stops_delivering_raises(monkeypatch):
    import queue

    from emotion_core.sources import MicrophoneAudio

    mic = MicrophoneAudio.__new__(MicrophoneAudio)  # no PortAudio here: only the read path
    mic._queue, mic._pending, mic.timeout_s = queue.Queue(), np.zeros(0, np.float32), 0.05
    mic._queue.put(np.ones(100, np.float32))
    with pytest.raises(SourceError, match="delivered nothing"):
        mic.read(160)


def test_folder_without_images_is_refused(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(SourceError, match="no images"):
        FolderFrames(str(tmp_path))


def write_video(path, n: int = 6, size=(64, 48), fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), 30 * i, np.uint8))
    writer.release()


def test_video_file_frames_then_end(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, n=6)
    src = open_frames(str(path))
    assert isinstance(src, VideoFrames)
    assert src.fps == pytest.approx(10.0)
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert len(frames) == 6
    assert frames[0].shape == (48, 64, 3)
    # Lossy codec: compare the mean level of each flat frame with what was written.
    assert [round(float(f.mean()) / 30) for f in frames] == list(range(6))
    src.close()


def test_video_file_loops(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, n=3)
    src = VideoFrames(str(path), loop=True)
    levels = [round(float(src.read().mean()) / 30) for _ in range(7)]
    assert levels == [0, 1, 2, 0, 1, 2, 0]
    src.close()


def test_missing_video_file(tmp_path):
    with pytest.raises(SourceError, match="video file not found"):
        open_frames(str(tmp_path / "missing.mp4"))


def test_corrupt_video_file(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x01garbage" * 200)
    with pytest.raises(SourceError, match="OpenCV cannot open video .*corrupt.mp4"):
        open_frames(str(path))


def test_open_frames_synthetic_size():
    src = open_frames("synthetic", width=80, height=60)
    assert isinstance(src, SyntheticFrames)
    assert src.read().shape == (60, 80, 3)


# -- audio -----------------------------------------------------------------------------------------
def test_synthetic_audio_is_deterministic_continuous_and_voiced():
    a, b = SyntheticAudio(16000), SyntheticAudio(16000)
    chunks = [a.read(1600) for _ in range(20)]
    whole = b.read(32000)
    np.testing.assert_array_equal(np.concatenate(chunks), whole)  # chunking does not matter
    assert whole.dtype == np.float32
    energy = EnergyVad(-45.0)  # the runtime's energy choice (synthetic voice is a tone: not Silero's)
    assert energy.activity(whole, 16000, 2_000_000_000).has_voice(energy.threshold)


def write_ramp(path, n: int, rate: int = 16000, channels: int = 1):
    import soundfile as sf

    ramp = (np.arange(n, dtype=np.float32) / n)
    data = np.repeat(ramp[:, None], channels, axis=1) if channels > 1 else ramp
    sf.write(str(path), data, rate, subtype="FLOAT")
    return ramp


def test_file_audio_reads_chunks_and_pads_the_last(tmp_path):
    ramp = write_ramp(tmp_path / "r.wav", 1000, channels=2)
    src = open_audio(str(tmp_path / "r.wav"), 16000)
    assert isinstance(src, FileAudio)
    chunks = [src.read(300) for _ in range(4)]
    np.testing.assert_array_equal(np.concatenate(chunks[:3]), ramp[:900])
    np.testing.assert_array_equal(chunks[3][:100], ramp[900:])
    np.testing.assert_array_equal(chunks[3][100:], 0)  # padded to a full chunk
    assert src.read(300) is None


def test_file_audio_loop_wraps_inside_a_chunk(tmp_path):
    ramp = write_ramp(tmp_path / "r.wav", 1000)
    src = FileAudio(str(tmp_path / "r.wav"), 16000, loop=True)
    got = np.concatenate([src.read(300) for _ in range(7)])  # 2100 samples = 2.1 loops
    np.testing.assert_array_equal(got, np.tile(ramp, 3)[:2100])


def test_file_audio_chunk_longer_than_the_file_loops_several_times(tmp_path):
    ramp = write_ramp(tmp_path / "r.wav", 100)
    src = FileAudio(str(tmp_path / "r.wav"), 16000, loop=True)
    np.testing.assert_array_equal(src.read(250), np.tile(ramp, 3)[:250])


def test_file_audio_resamples(tmp_path):
    import soundfile as sf

    sf.write(str(tmp_path / "a.wav"), np.zeros(44100, np.float32), 44100)
    assert abs(FileAudio(str(tmp_path / "a.wav"), 16000).samples.size - 16000) <= 1


def test_empty_audio_file_is_refused(tmp_path):
    import soundfile as sf

    sf.write(str(tmp_path / "empty.wav"), np.zeros(0, np.float32), 16000)
    with pytest.raises(SourceError, match="holds no samples"):
        FileAudio(str(tmp_path / "empty.wav"), 16000)


def test_missing_and_corrupt_audio_files(tmp_path):
    from emotion_core.audio import AudioFormatError

    with pytest.raises(SourceError, match="audio file not found"):
        open_audio(str(tmp_path / "missing.wav"), 16000)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....garbage")
    with pytest.raises(AudioFormatError, match="cannot read audio file"):
        open_audio(str(tmp_path / "bad.wav"), 16000)


def test_open_audio_synthetic():
    src = open_audio("synthetic", 8000)
    assert isinstance(src, SyntheticAudio) and src.sample_rate == 8000
    assert src.read(80).shape == (80,)


def test_microphone_without_sounddevice_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    with pytest.raises(SourceError, match="microphone needs sounddevice"):
        open_audio("microphone", 16000)
