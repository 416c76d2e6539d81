"""Bags written here are the bags ``ros2 bag record`` writes: metadata.yaml version 9, sqlite3 or
MCAP storage, RIHS01 type hashes equal to rosidl's for our custom types, full message
definitions, offered QoS, and CDR that rclpy deserializes back to the same messages."""
from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from emotion_msgs.msg import Emotion
from hri_msgs.msg import Expression
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image

from emotion_recorded.bag_messages import (AUDIO_TOPIC, IMAGE_TOPIC, INFO_TOPIC, INPUT_TOPICS, audio_items,
                                           image_msg, info_msg, write_bag)
from emotion_recorded.bagio import header_stamp_ns, make_qos, messages
from emotion_ros.common import ns_to_msg

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def rosidl_hash(msgtype: str) -> str:
    """The hash rosidl generated into the installed package's ``msg/<Type>.json``."""
    pkg, _, name = msgtype.split("/")
    try:
        share = Path(get_package_share_directory(pkg))
    except PackageNotFoundError:  # PyPI wheels install beside Python, outside the ament index
        share = Path(sys.prefix) / "share" / pkg
    doc = json.loads((share / "msg" / f"{name}.json").read_text())
    return next(h["hash_string"] for h in doc["type_hashes"] if h["type_name"] == msgtype)


def sample_items():
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    frames = [(IMAGE_TOPIC, T0 + i * NS // 10, image_msg(T0 + i * NS // 10, p)) for i, p in enumerate(pixels)]
    chunks = [(T0 + j * NS // 20, (0.1 * rng.standard_normal(800)).astype(np.float32)) for j in range(10)]
    emotion = Emotion(label="happy", confidence=0.7, class_names=["happy", "sad"], probabilities=[0.7, 0.3])
    emotion.header.stamp = ns_to_msg(T0)
    expression = Expression(expression=Expression.HAPPY, valence=0.5, arousal=0.2, confidence=0.7)
    return [(INFO_TOPIC, T0, info_msg(16000)), *frames, *audio_items(chunks, 16000),
            ("/emotion", T0 + NS // 5, emotion), ("/humans/faces/face0/expression", T0 + NS // 5, expression)]


TOPICS = {**INPUT_TOPICS, "/emotion": ("emotion_msgs/msg/Emotion", make_qos(True)),
          "/humans/faces/face0/expression": ("hri_msgs/msg/Expression", make_qos(True))}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_matches_the_rosbag2_format_and_round_trips(tmp_path, storage):
    items = sample_items()
    bag = tmp_path / f"bag_{storage}"
    info = write_bag(bag, items, storage, {"note": "test"}, TOPICS)

    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == storage
    assert meta["message_count"] == len(items) and meta["custom_data"] == {"note": "test"}
    assert meta["starting_time"]["nanoseconds_since_epoch"] == T0
    suffix = {"mcap": ".mcap", "sqlite3": ".db3"}[storage]
    assert meta["relative_file_paths"] == [bag.name + suffix] and (bag / (bag.name + suffix)).is_file()
    by_topic = {t["topic_metadata"]["name"]: t for t in meta["topics_with_message_count"]}
    for topic, (msgtype, qos) in TOPICS.items():
        tm = by_topic[topic]["topic_metadata"]
        assert tm["type"] == msgtype and tm["serialization_format"] == "cdr"
        # The hash rosidl generated for the installed package (ours or the system's).
        assert tm["type_description_hash"] == rosidl_hash(msgtype), topic
        assert tm["offered_qos_profiles"][0]["reliability"] == qos.reliability.name.lower()
    assert by_topic[INFO_TOPIC]["topic_metadata"]["offered_qos_profiles"][0]["durability"] == "transient_local"
    assert by_topic[IMAGE_TOPIC]["message_count"] == 5 and by_topic[AUDIO_TOPIC]["message_count"] == 10

    if storage == "sqlite3":  # rosbag2's schema version 4 tables, definitions included
        db = sqlite3.connect(bag / (bag.name + suffix))
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        assert {"schema", "metadata", "topics", "messages", "message_definitions"} <= tables
        defs = dict(db.execute("select topic_type, encoded_message_definition from message_definitions"))
        assert "string expression" in defs["hri_msgs/msg/Expression"]
        assert "MSG: std_msgs/Header" in defs["emotion_msgs/msg/Emotion"]

    # Every message comes back byte-exact and deserializes with rclpy.
    assert info.start_ns == T0 and info.topics[IMAGE_TOPIC] == "sensor_msgs/msg/Image"
    read = [(c.topic, t, data) for c, t, data in messages(bag)]
    assert [t for _, t, _ in read] == sorted(t for _, t, _ in items)
    images = [deserialize_message(d, Image) for topic, _, d in read if topic == IMAGE_TOPIC]
    assert [m.header.stamp.sec * NS + m.header.stamp.nanosec for m in images] == \
        [T0 + i * NS // 10 for i in range(5)]
    assert bytes(images[2].data) == bytes(items[3][2].data)
    assert all(header_stamp_ns(d) == t for topic, t, d in read if topic == IMAGE_TOPIC)
    expr = next(deserialize_message(d, Expression) for topic, _, d in read if "expression" in topic)
    assert expr.expression == "happy" and expr.valence == pytest.approx(0.5)
    for c, _, _ in messages(bag, ["/emotion"]):
        assert "float32[] probabilities" in c.msgdef.data  # full definition travels with the bag
