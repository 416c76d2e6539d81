"""The player without the graph: bags from another robot (older rosbag2 version, sqlite3,
other topic names) and our own MCAP bags play with their recorded stamps, remapped, at a rate
factor, looped, with /clock following the recorded time."""
from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from emotion_recorded.bag_messages import IMAGE_TOPIC, image_msg, write_bag
from emotion_recorded.bag_play import BagPlayer, PlayConfig, parse_remap
from emotion_recorded.bagio import find_bags, make_qos, typestore
from emotion_ros.common import sensor_qos, stamp_ns

from rosutil import RosPeer, wait_for

pytestmark = pytest.mark.graph
NS = 1_000_000_000
T0 = 1_650_000_000 * NS


def robot_bag(path, n=6):
    """As a Humble robot's ``ros2 bag record -s sqlite3`` would: metadata version 8, its own
    camera topic name."""
    store = typestore()
    with_writer = Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3)
    with_writer.open()
    conn = with_writer.add_connection("/usb_cam/image_raw", "sensor_msgs/msg/Image", typestore=store,
                                      offered_qos_profiles=[make_qos(reliable=False, depth=5)])
    for i in range(n):
        t = T0 + i * NS // 10
        img = image_msg(t, np.full((24, 32, 3), i, np.uint8), frame_id="usb_cam")
        with_writer.write(conn, t + 3_000_000, serialize_message(img))  # received 3 ms after exposure
    with_writer.close()
    return path


def test_player_replays_robot_and_own_bags_with_stamps_remap_rate_loop_and_clock(tmp_path):
    robot = robot_bag(tmp_path / "robot_humble")
    later = T0 + 2 * NS
    write_bag(tmp_path / "own", [(IMAGE_TOPIC, later + i * NS // 10,
                                  image_msg(later + i * NS // 10, np.zeros((24, 32, 3), np.uint8)))
                                 for i in range(4)])
    bags = find_bags(tmp_path)
    assert bags == [robot, tmp_path / "own"]  # ordered by start time

    peer, player_peer = RosPeer("player_test_peer"), RosPeer("player_test_host")
    try:
        images = peer.listen(Image, IMAGE_TOPIC, sensor_qos())
        clocks = peer.listen(Clock, "/clock", 100)
        cfg = PlayConfig(bags, rate=4.0, loops=2, remap=parse_remap(["/usb_cam/image_raw:=/camera/image_raw"]))
        player = BagPlayer(player_peer.node, cfg)
        assert sorted(player.published_topics) == [IMAGE_TOPIC]
        assert not player.wait_for_subscribers([IMAGE_TOPIC], 15.0)
        assert wait_for(lambda: player_peer.node.count_subscribers("/clock") >= 1, 15.0)
        start = time.monotonic()
        stats = player.play()
        wall = time.monotonic() - start
        assert wait_for(lambda: len(images) >= 20, 10.0), len(images)

        expected = [T0 + i * NS // 10 for i in range(6)] + [later + i * NS // 10 for i in range(4)]
        assert [stamp_ns(m.header.stamp) for _, m in images] == expected * 2
        assert {m.header.frame_id for _, m in images[:6]} == {"usb_cam"}
        assert stats.frames == 20 and stats.passes == 2 and stats.messages[IMAGE_TOPIC] == 20
        # Each bag's 0.5 s (robot) and 0.3 s (own) at 4x, twice, bags back to back (no gap wait).
        assert 0.8 * 2 * 0.8 / 4 <= wall < 4.0
        ticks = [stamp_ns(m.clock) for _, m in clocks]
        jumps = [b - a for a, b in zip(ticks, ticks[1:]) if b < a]
        assert len(jumps) >= 1  # the loop sent time back, as ros2 bag play --loop does
        assert min(ticks) >= T0 and max(ticks) <= later + NS
        assert stats.jumps_back[IMAGE_TOPIC] >= 1 and not stats.out_of_order
    finally:
        player_peer.close()
        peer.close()
