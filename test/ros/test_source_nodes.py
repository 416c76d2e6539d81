"""camera_node and audio_node as real processes: stamps, formats and bad source files."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import soundfile as sf
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from sensor_msgs.msg import Image

from emotion_core.audio import decode_pcm
from emotion_ros.common import latched_qos, sensor_qos, stamp_ns
from emotion_ros.graph import Graph, GraphSpec

from rosutil import RosPeer, wait_for

pytestmark = pytest.mark.graph


@pytest.fixture
def peer():
    p = RosPeer("source_peer")
    yield p
    p.close()


def start(repo_root, node: str, **params) -> Graph:
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", (node,), overrides={node: params})
    return Graph(spec, echo=False).start()


def test_audio_node_stamps_come_from_the_sample_count(repo_root, peer, tmp_path):
    # A 44.1 kHz stereo file: published as 16 kHz mono, chunk stamps exactly contiguous.
    rate_in, seconds = 44100, 3.0
    t = np.arange(int(rate_in * seconds)) / rate_in
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "stereo.wav", np.stack([left, -left * 0.5], axis=1), rate_in)
    chunks = peer.listen(AudioDataStamped, "/audio/audio", sensor_qos(depth=50))
    infos = peer.listen(AudioInfo, "/audio/audio_info", latched_qos())
    graph = start(repo_root, "audio_node", source=str(tmp_path / "stereo.wav"), loop=True,
                  chunk_ms=100, sample_format="F32LE")
    try:
        assert wait_for(lambda: len(chunks) >= 20, 30), graph.logs
    finally:
        graph.stop()
    info = infos[-1][1]
    assert (info.sample_rate, info.channels, info.sample_format) == (16000, 1, "F32LE")
    stamps = [stamp_ns(m.header.stamp) for _, m in chunks]
    sizes = [decode_pcm(m.audio.data, "F32LE").size for _, m in chunks]
    assert set(sizes) == {1600}
    # Each chunk starts exactly where the previous one ended (sample time, not arrival time).
    steps = np.diff(stamps)
    assert np.all(np.abs(steps - 100_000_000) <= 1), steps
    # ... and the stamps stay anchored to the ROS clock: a chunk arrives soon after it ends.
    lags = [(recv * 1e9 - (s + 100_000_000)) / 1e6 for (recv, _), s in zip(chunks, stamps)]
    assert -5 < np.median(lags) < 200, lags
    # The mono mix of (x, -x/2) is x/4: amplitude 0.125 at 440 Hz survives resampling.
    audio = np.concatenate([decode_pcm(m.audio.data, "F32LE") for _, m in chunks])
    assert abs(np.max(np.abs(audio[1600:])) - 0.125) < 0.01


def test_camera_node_reads_a_folder_and_skips_unreadable_images(repo_root, peer, tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img_{i}.png"), np.full((120, 160, 3), 60 * i, np.uint8))
    (tmp_path / "img_1b.png").write_bytes(b"not a png")
    frames = peer.listen(Image, "/camera/image_raw", sensor_qos(depth=50))
    graph = start(repo_root, "camera_node", source=str(tmp_path), fps=20.0, loop=True, frame_id="cam_test")
    try:
        assert wait_for(lambda: len(frames) >= 9, 30), graph.logs
        assert wait_for(lambda: any("img_1b.png" in line for line in graph.logs["camera_node"]), 5)
        assert graph.alive()["camera_node"]
    finally:
        graph.stop()
    msgs = [m for _, m in frames]
    assert {(m.width, m.height, m.encoding, m.header.frame_id) for m in msgs} == {(160, 120, "bgr8", "cam_test")}
    values = [int(np.frombuffer(m.data, np.uint8)[0]) for m in msgs]
    assert set(values) == {0, 60, 120}  # three good images, in a loop
    stamps = np.array([stamp_ns(m.header.stamp) for m in msgs]) / 1e9
    assert np.all(np.diff(stamps) > 0)
    assert 0.03 < np.median(np.diff(stamps)) < 0.08  # 20 fps


def test_camera_node_with_a_missing_file_reports_and_stays_up(repo_root, peer, tmp_path):
    graph = start(repo_root, "camera_node", source=str(tmp_path / "nope.mp4"))
    try:
        assert wait_for(lambda: any("video file not found" in line for line in graph.logs["camera_node"]), 20)
        assert graph.alive()["camera_node"]
    finally:
        graph.stop()
