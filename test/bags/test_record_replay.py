"""Record -> replay -> evaluate: camera_node and audio_node run on a generated clip while the
recorder writes a bag (sqlite3); the bag is then replayed through av_sync_node + emotion_node
and scored against a labels CSV of time ranges."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf
from sensor_msgs.msg import Image

from emotion_core.tools.assets import astronaut_frames, synthetic_voice, write_video
from emotion_recorded.bag_messages import AUDIO_TOPIC, IMAGE_TOPIC, INFO_TOPIC
from emotion_recorded.bagio import bag_info, header_stamp_ns, messages, typestore
from emotion_ros.common import sensor_qos, stamp_ns
from emotion_recorded.evaluate import evaluate
from emotion_ros.graph import Graph, GraphSpec

from bagutil import ROOT, eval_config
from rosutil import RosPeer, wait_for

pytestmark = pytest.mark.graph


@pytest.fixture
def clip(tmp_path):
    video = write_video(tmp_path / "clip.mp4", astronaut_frames(4.0, 15, (640, 480)), fps=15)
    audio = tmp_path / "clip.wav"
    sf.write(str(audio), synthetic_voice(4.0), 16000, subtype="PCM_16")
    return video, audio


def test_record_then_evaluate_the_recording(clip, model, tmp_path):
    video, audio = clip
    bag = tmp_path / "recorded"
    spec = GraphSpec(ROOT / "config" / "desktop_cpu.yaml", ("camera_node", "audio_node"),
                     overrides={"camera_node": {"source": str(video), "fps": 15.0, "loop": True},
                                "audio_node": {"source": str(audio), "chunk_ms": 50, "loop": True}})
    recorder = ("recorder", [sys.executable, "-m", "emotion_recorded.bag_record", "-o", str(bag), "-s", "sqlite3",
                             IMAGE_TOPIC, AUDIO_TOPIC, INFO_TOPIC])
    peer = RosPeer("record_peer")
    frames = peer.listen(Image, IMAGE_TOPIC, sensor_qos())
    graph = Graph(spec, extra=[recorder], echo=False).start()
    try:
        subscribed = wait_for(lambda: peer.node.count_subscribers(IMAGE_TOPIC) >= 2  # peer + recorder
                              and peer.node.count_subscribers(AUDIO_TOPIC) >= 1
                              and peer.node.count_subscribers(INFO_TOPIC) >= 1, 60)
        assert subscribed, graph.logs
        seen = len(frames)
        assert wait_for(lambda: len(frames) >= seen + 45, 60), graph.logs
        live_hash = str(peer.node.get_publishers_info_by_topic(IMAGE_TOPIC)[0].topic_type_hash)
    finally:
        codes = graph.stop()
        peer.close()
    assert codes["recorder"] in (0, -2, 130), graph.logs["recorder"]

    info = bag_info(bag)
    assert info.storage == "sqlite3" and set(info.topics) == {IMAGE_TOPIC, AUDIO_TOPIC, INFO_TOPIC}
    assert info.counts[IMAGE_TOPIC] >= 20 and info.counts[AUDIO_TOPIC] >= 20 and info.counts[INFO_TOPIC] == 1
    assert info.digests[IMAGE_TOPIC] == live_hash == typestore().hash_rihs01("sensor_msgs/msg/Image")
    recorded = [header_stamp_ns(d) for _, _, d in messages(bag, [IMAGE_TOPIC])]
    live = {stamp_ns(m.header.stamp) for _, m in frames}
    assert len(set(recorded) & live) >= 20  # camera_node's own nanosecond stamps, not new ones
    assert recorded == sorted(recorded)

    labels = tmp_path / "labels.csv"  # seconds from the start of the bag
    labels.write_text("start,end,label,id\n0,1.0,happy,greeting\n1.0,60,neutral,rest\n")
    report = evaluate(eval_config([bag], tmp_path / "eval", model, labels_csv=labels), log=lambda *_: None)

    assert all(report["nodes_alive"].values())
    estimates = (tmp_path / "eval" / "estimates.jsonl").read_text().splitlines()
    assert report["frames"]["published"] == len(recorded) == report["frames"]["received_by_graph"]
    assert report["frames"]["estimates"] == len(estimates) == report["frames"]["accepted"] >= 10, (report["frames"], report["dropped"], report["skipped"])
    scores = report["scores"]
    assert [s["id"] for s in scores["segments"]] == ["greeting", "rest"]
    assert scores["frame_level"]["samples"] + scores["estimates_outside_labels"] == len(estimates)
    assert report["modalities"]["no_face_share"] < 0.5
    assert report["modalities"]["audio_status"].get("ok", 0) > 0
    assert not any(report["dropped"].values()) and not any(report["skipped"].values())
    assert np.isfinite(report["latency_ms"]["p99"])
