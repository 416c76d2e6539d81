"""Bad recorded data through the graph: a looping bag (time jumps back), out-of-order frame and
audio stamps, wrong image encoding and a truncated buffer, audio at another rate than AudioInfo
says, and a bag without the audio topic. Nothing dies; each case has a log line and a counter,
and the evaluation report counts what was skipped and why."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from emotion_core.labels_timeline import METADATA_KEY, LabelSegment, LabelTimeline
from emotion_recorded.bag_messages import (AUDIO_TOPIC, IMAGE_TOPIC, INFO_TOPIC, audio_items, audio_msg,
                                           image_msg, info_msg, write_bag)
from emotion_ros.common import ns_to_msg
from emotion_recorded.evaluate import evaluate

from bagutil import eval_config

pytestmark = pytest.mark.graph
NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS
RATE = 16000


def tone(n: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE)).astype(np.float32)


def frame(t: int):
    return (IMAGE_TOPIC, t, image_msg(t, np.full((120, 160, 3), 100, np.uint8)))


def raw_frame(t: int, **fields):
    msg = Image(**fields)
    msg.header.stamp = ns_to_msg(t)
    return (IMAGE_TOPIC, t, msg)


def bad_stream_items():
    """3 s at 15 fps with 50 ms audio chunks; the damage is placed at known times."""
    items = [(INFO_TOPIC, T0, info_msg(RATE))]
    items += [frame(T0 + i * NS // 15) for i in range(15)]  # 0-1 s good
    items += audio_items(((T0 + j * 50 * MS, tone(800)) for j in range(40)), RATE)  # audio to 2 s
    items.append((AUDIO_TOPIC, T0 + 500 * MS + 1, audio_msg(T0 + 450 * MS, tone(800))))  # duplicate chunk
    items.append(frame(T0 + 1000 * MS + 1))
    items.append((IMAGE_TOPIC, T0 + 1000 * MS + 2, image_msg(T0 + 950 * MS, np.zeros((120, 160, 3), np.uint8))))
    items.append(raw_frame(T0 + 1200 * MS, encoding="yuv422", width=160, height=120, step=320,
                           data=bytes(320 * 120)))
    items.append(raw_frame(T0 + 1400 * MS, encoding="bgr8", width=160, height=120, step=480,
                           data=bytes(1000)))
    items += [frame(T0 + 1500 * MS + i * NS // 15) for i in range(23)]  # 1.5-3 s good frames
    # 2-3 s: chunks of 400 samples stamped 50 ms apart: the stream runs at 8 kHz, AudioInfo says 16.
    items += audio_items(((T0 + 2000 * MS + j * 50 * MS, tone(400)) for j in range(20)), RATE)
    return items


def test_bad_recorded_data_is_counted_logged_and_survived(model, tmp_path):
    labels_a = LabelTimeline([LabelSegment(T0, T0 + NS, "happy", "good"),
                              LabelSegment(T0 + NS, T0 + 3 * NS, "sad", "damaged")])
    bad = write_bag(tmp_path / "bad_stream", bad_stream_items(), "mcap", {METADATA_KEY: labels_a.to_json()})
    t1 = T0 + 10 * NS
    labels_b = LabelTimeline([LabelSegment(t1, t1 + NS, "neutral", "no_audio")])
    no_audio = write_bag(tmp_path / "no_audio", [frame(t1 + i * NS // 15) for i in range(6)], "sqlite3",
                         {METADATA_KEY: labels_b.to_json()})

    cfg = eval_config([bad.path, no_audio.path], tmp_path / "eval", model, loops=2, rate_hz=0.0)
    report = evaluate(cfg, log=lambda *_: None)

    assert all(report["nodes_alive"].values()), report["nodes_alive"]
    skipped = report["skipped"]
    assert skipped["frames_out_of_order"] >= 2 and skipped["audio_out_of_order"] >= 2  # once per pass
    assert skipped["bad_images"] >= 4  # wrong encoding + truncated, twice
    assert skipped["audio_rate_mismatch"] >= 1
    assert skipped["clock_jumps"] >= 1  # the loop: buffers reset (logged below)
    problems = report["bag_problems"]
    assert problems["out_of_order_stamps"][IMAGE_TOPIC] >= 2 and problems["out_of_order_stamps"][AUDIO_TOPIC] >= 2
    assert problems["stamp_jumps_back"][IMAGE_TOPIC] >= 1 and problems["passes"] == 2
    assert problems["bags_missing_topics"] == 1
    assert report["bags"][1]["missing_topics"] == [AUDIO_TOPIC, INFO_TOPIC] and not report["bags"][0]["missing_topics"]

    # Frames are still answered: the bad images with voice only, the no-audio bag with face only.
    seg = {s["id"]: s for s in report["scores"]["segments"]}
    assert seg["good"]["frames"] >= 2 * 14 and seg["damaged"]["frames"] > 0 and seg["no_audio"]["frames"] >= 2 * 5
    status = report["modalities"]["audio_status"]  # no audio: stale after bag A's audio, else missing
    assert status.get("missing", 0) + status.get("stale", 0) >= 2 * 6

    logs = (tmp_path / "eval" / "node_logs.txt").read_text()
    for line in ("dropping frame stamped", "dropping audio chunk stamped", "bad image",
                 "AudioInfo says 16000 Hz", "stamps jumped backwards: buffers reset",
                 "frames go out with stale audio"):
        assert line in logs, line
    text = (tmp_path / "eval" / "report.txt").read_text()
    assert "frames_out_of_order" in text and "bags_missing_topics 1" in text
