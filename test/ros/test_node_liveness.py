"""Liveness as real node processes over DDS: sources that fail are retried with back-off and
reported, quiet inputs go WARN then ERROR naming the input, frames lost by DDS are counted
where they can be seen, and a repeated warning is logged once per period with its count."""
from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest
import soundfile as sf
from audio_common_msgs.msg import AudioDataStamped
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from emotion_core.sample_model import write_sample_model
from emotion_ros.common import sensor_qos
from emotion_ros.graph import Graph, GraphSpec

from rosutil import RosPeer, latest_diagnostics, wait_for

pytestmark = pytest.mark.graph

FAST_RETRY = {"retry_initial_s": 0.2, "retry_max_s": 0.8}


@pytest.fixture
def peer():
    p = RosPeer("liveness_peer")
    yield p
    p.close()


def start(repo_root, overrides: dict, env: dict | None = None) -> Graph:
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", tuple(overrides), overrides=overrides)
    return Graph(spec, env=env, echo=False).start()


def diag(diags: list, node: str) -> dict:
    return latest_diagnostics(diags, node) or {}


def test_missing_camera_is_retried_with_back_off_and_reported(repo_root, peer):
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(repo_root, {"camera_node": {"source": "/dev/video9", **FAST_RETRY}})
    try:
        assert wait_for(lambda: int(diag(diags, "camera_node").get("open_attempts", 0)) >= 5, 20), graph.logs
        d = diag(diags, "camera_node")
        assert d["_level"] == "2" and "/dev/video9" in d["_message"] and "retry" in d["_message"], d
        assert int(d["source_failures"]) >= 5 and d["frames"] == "0"
        assert graph.alive()["camera_node"]
    finally:
        graph.stop()
    retries = [line for line in graph.logs["camera_node"] if "cannot open camera source /dev/video9" in line]
    delays = [float(line.split(" in ")[-1].split(" s")[0]) for line in retries]
    assert delays[:5] == [0.2, 0.4, 0.8, 0.8, 0.8], retries  # doubling, capped at retry_max_s


def test_camera_folder_that_disappears_is_reported_and_picked_up_again(repo_root, peer, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"img_{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    frames = peer.listen(Image, "/camera/image_raw", sensor_qos(depth=50))
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(repo_root, {"camera_node": {"source": str(folder), "fps": 20.0, "loop": True,
                                              "stale_warn_s": 0.5, "stale_error_s": 1.0, **FAST_RETRY}})
    try:
        assert wait_for(lambda: len(frames) >= 5, 20), graph.logs
        shutil.move(str(folder), str(tmp_path / "gone"))  # unmounted, replaced, deleted
        assert wait_for(lambda: diag(diags, "camera_node").get("_level") == "2", 10), diag(diags, "camera_node")
        d = diag(diags, "camera_node")
        assert str(folder) in d["_message"] and int(d["source_failures"]) >= 1, d
        n = len(frames)
        shutil.move(str(tmp_path / "gone"), str(folder))
        assert wait_for(lambda: len(frames) >= n + 5, 10), graph.logs
        assert wait_for(lambda: diag(diags, "camera_node").get("_level") == "0", 10), diag(diags, "camera_node")
        assert int(diag(diags, "camera_node")["reopens"]) >= 1
        assert any("open again" in line for line in graph.logs["camera_node"])
    finally:
        graph.stop()


def test_audio_file_that_appears_later_is_picked_up(repo_root, peer, tmp_path):
    path = tmp_path / "later.wav"
    chunks = peer.listen(AudioDataStamped, "/audio/audio", sensor_qos(depth=50))
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(repo_root, {"audio_node": {"source": str(path), "loop": True, **FAST_RETRY}})
    try:
        assert wait_for(lambda: int(diag(diags, "audio_node").get("open_attempts", 0)) >= 2, 20), graph.logs
        d = diag(diags, "audio_node")
        assert d["_level"] == "2" and "later.wav" in d["_message"] and "not found" in d["_message"], d
        assert not chunks
        t = np.arange(16000) / 16000
        sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
        assert wait_for(lambda: len(chunks) >= 5, 10), graph.logs
        assert wait_for(lambda: diag(diags, "audio_node").get("_level") == "0", 10), diag(diags, "audio_node")
        assert int(diag(diags, "audio_node")["reopens"]) == 1
    finally:
        graph.stop()


def test_quiet_inputs_go_warn_then_error_naming_the_input(repo_root, peer, tmp_path):
    """No camera at all: av_sync_node and emotion_node say which input is quiet (audio, optional
    for a face-only graph, only ever warns); the frames come, then stop."""
    model = write_sample_model(tmp_path / "sample.onnx")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    quiet = {"stale_warn_s": 1.0, "stale_error_s": 3.0}
    graph = start(repo_root, {"av_sync_node": {"rate_hz": 0.0, **quiet},
                              "emotion_node": {"model_path": str(model), **quiet}})
    try:
        assert wait_for(lambda: diag(diags, "emotion_node").get("_level") == "2", 30), graph.logs
        d = diag(diags, "emotion_node")
        assert "nothing received on /emotion/av_pair since start" in d["_message"], d
        # The nodes started at different moments: each reaches ERROR on its own clock.
        assert wait_for(lambda: diag(diags, "av_sync_node").get("_level") == "2", 10), diag(diags, "av_sync_node")
        d = diag(diags, "av_sync_node")
        assert "/camera/image_raw" in d["_message"] and "/audio/audio" in d["_message"], d
        assert d["_message"].index("/camera/image_raw") < d["_message"].index("/audio/audio")  # worst first

        pub = peer.publisher(Image, "/camera/image_raw", sensor_qos())
        img = Image(height=48, width=64, encoding="bgr8", step=192, data=bytes(48 * 192))

        def frames_flowing() -> bool:
            img.header.stamp = peer.node.get_clock().now().to_msg()
            pub.publish(img)
            a, e = diag(diags, "av_sync_node"), diag(diags, "emotion_node")
            return a.get("_level") == "1" and e.get("_level") == "0"

        assert wait_for(frames_flowing, 15, interval=0.1), (diag(diags, "av_sync_node"), diag(diags, "emotion_node"))
        d = diag(diags, "av_sync_node")
        assert "/audio/audio" in d["_message"] and "/camera/image_raw" not in d["_message"], d
        mark = len(diags)
        # The camera stops: WARN first, then ERROR, both naming the quiet topic.
        assert wait_for(lambda: diag(diags[mark:], "av_sync_node").get("_level") == "2", 10)
        levels = [s.level[0] for _, a in diags[mark:] for s in a.status if s.hardware_id == "av_sync_node"]
        assert levels[-1] == 2 and 1 in levels and levels.index(1) < levels.index(2), levels
        assert "nothing received on /camera/image_raw for" in diag(diags, "av_sync_node")["_message"]
        assert all(graph.alive().values())
    finally:
        graph.stop()


SMALL_SHM = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <transport_descriptors>
    <transport_descriptor><transport_id>shm</transport_id><type>SHM</type>
      <segment_size>524288</segment_size></transport_descriptor>
    <transport_descriptor><transport_id>udp</transport_id><type>UDPv4</type></transport_descriptor>
  </transport_descriptors>
  <participant profile_name="small_shm" is_default_profile="true"><rtps>
    <userTransports><transport_id>shm</transport_id><transport_id>udp</transport_id></userTransports>
    <useBuiltinTransports>false</useBuiltinTransports></rtps></participant>
</profiles></dds>
"""


def test_frames_too_large_for_shared_memory_are_reported_and_counted_as_lost(repo_root, peer, tmp_path):
    """Row #9 at small scale: Fast DDS's default 512 KB segment and 640x480 bgr8 frames (900 KB),
    the same ratio as 4000x3000 frames against the shipped 16 MB segment."""
    profile = tmp_path / "small_shm.xml"
    profile.write_text(SMALL_SHM)
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    env = {**os.environ, "FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}
    graph = start(repo_root, {"camera_node": {"source": "synthetic", "fps": 15.0},
                              "av_sync_node": {"rate_hz": 0.0}}, env=env)
    try:
        assert wait_for(lambda: int(diag(diags, "av_sync_node").get("frames_lost", 0)) >= 10, 25), \
            (diag(diags, "av_sync_node"), graph.logs)
        assert wait_for(lambda: int(diag(diags, "camera_node").get("oversize_frames", 0)) >= 10, 10), graph.logs
        cam = diag(diags, "camera_node")
        assert cam["_level"] == "1" and "do not fit the Fast DDS shared-memory segment (0.5 MB" in cam["_message"], cam
        assert int(cam["oversize_frames"]) >= 10 and cam["shm_segment_mb"] == "0.500"
        sync = diag(diags, "av_sync_node")
        assert sync["_level"] != "0" and "messages lost on /camera/image_raw" in sync["_message"], sync
        # Frames vanished between the two nodes (>= 10 above), and the counter accounts for no
        # more than were sent (the two reports are up to a second apart: 15 frames of slack).
        assert int(sync["frames_in"]) + int(sync["frames_lost"]) <= int(cam["frames"]) + 15, (sync, cam)
        assert sum("do not fit" in line for line in graph.logs["camera_node"]) <= 3  # rate-limited
    finally:
        graph.stop()


def test_repeated_warning_is_logged_once_per_period_with_its_count(repo_root, peer, tmp_path):
    """Row #11: a looping folder with one corrupt file printed the same WARN 61 times in 18 s."""
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"corrupt")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(repo_root, {"camera_node": {"source": str(tmp_path), "fps": 30.0, "loop": True,
                                              "log_repeat_s": 2.0}})
    try:
        assert wait_for(lambda: int(diag(diags, "camera_node").get("skipped_images", 0)) >= 60, 20), graph.logs
        assert wait_for(lambda: any("more in the last" in line for line in graph.logs["camera_node"]), 5)
    finally:
        graph.stop()
    lines = [line for line in graph.logs["camera_node"] if "skipped unreadable image" in line]
    skipped = int(diag(diags, "camera_node")["skipped_images"])
    assert len(lines) <= skipped / 10, lines  # one line per 2 s, not one per skip
    counted = [int(line.split("(")[-1].split(" more")[0]) for line in lines if "more in the last" in line]
    assert counted and max(counted) >= 10, lines


def test_monitor_reports_a_silent_emotion_stream(repo_root, peer):
    """Where behaviour nodes listen: /emotion quiet -> ERROR on /diagnostics, flowing -> OK."""
    from emotion_msgs.msg import Emotion

    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(repo_root, {"emotion_monitor": {"print_every": 0, "stale_warn_s": 0.5,
                                                  "stale_error_s": 1.0}})
    try:
        assert wait_for(lambda: diag(diags, "emotion_monitor").get("_level") == "2", 20), graph.logs
        assert "nothing received on /emotion since start" in diag(diags, "emotion_monitor")["_message"]
        pub = peer.publisher(Emotion, "/emotion", 10)

        def flowing() -> bool:
            msg = Emotion(label="happy", confidence=0.9)
            msg.header.stamp = peer.node.get_clock().now().to_msg()
            pub.publish(msg)
            return diag(diags, "emotion_monitor").get("_level") == "0"

        assert wait_for(flowing, 10, interval=0.1), diag(diags, "emotion_monitor")
        assert int(diag(diags, "emotion_monitor")["messages"]) > 0
    finally:
        graph.stop()


def test_shared_memory_segment_is_read_from_the_fast_dds_profile(repo_root, tmp_path):
    from emotion_ros.common import shm_segment_bytes

    small = tmp_path / "small.xml"
    small.write_text(SMALL_SHM)
    assert shm_segment_bytes({"FASTDDS_DEFAULT_PROFILES_FILE": str(repo_root / "config" / "fastdds_shm.xml")}) == 16 * 2**20
    assert shm_segment_bytes({"FASTDDS_DEFAULT_PROFILES_FILE": str(small)}) == 512 * 1024
    assert shm_segment_bytes({}) == 512 * 1024  # Fast DDS's own default
    assert shm_segment_bytes({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) is None
    udp_only = tmp_path / "udp.xml"
    udp_only.write_text(SMALL_SHM.replace("<transport_id>shm</transport_id><type>SHM</type>",
                                          "<transport_id>shm</transport_id><type>UDPv6</type>"))
    assert shm_segment_bytes({"FASTDDS_DEFAULT_PROFILES_FILE": str(udp_only)}) is None


def test_camera_that_cannot_keep_its_rate_says_so(repo_root, peer):
    """A source or conversion slower than ``fps`` (row #9: 4000x3000 synthetic frames cost
    ~250 ms each here) lowers the rate silently unless the camera reports it."""
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(repo_root, {"camera_node": {"source": "synthetic", "width": 1280, "height": 960,
                                              "fps": 240.0}})
    try:
        assert wait_for(lambda: "fps of the 240.0 asked" in diag(diags, "camera_node").get("_message", ""), 20), \
            diag(diags, "camera_node")
        d = diag(diags, "camera_node")
        assert d["_level"] == "1" and 0 < float(d["publish_fps"]) < 192, d
    finally:
        graph.stop()


def test_one_throttled_log_says_info_warning_and_error_through_rclpy(capfd):
    """rclpy refuses a logging call site that changes severity ("Logger severity cannot be
    changed between calls"); av_sync_node's log says all three, so each must get its own site."""
    import rclpy.logging

    from emotion_ros.common import ThrottledLog

    log = ThrottledLog(rclpy.logging.get_logger("throttled_log_test"), period_s=10.0)
    for k in range(2):  # new keys: each line is a first occurrence and goes out
        log.info(f"a{k}", "first an info")
        log.error(f"b{k}", "then an error")
        log.warning(f"c{k}", "then a warning")
    err = capfd.readouterr().err
    assert err.count("first an info") == 2 and err.count("then an error") == 2 and err.count("then a warning") == 2
