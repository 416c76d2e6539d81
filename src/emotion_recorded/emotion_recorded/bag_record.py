"""emotion_bag_record: record topics into a rosbag2 folder, as ``ros2 bag record`` does.

For machines without the ros2 CLI. Messages are stored as the serialized bytes that arrived
(raw subscriptions: nothing is deserialized or re-encoded), stamped with the receive time of
the node's clock (sim time under ``use_sim_time``), with each topic's type hash, message
definition and its publishers' offered QoS in the metadata. Topics are discovered while
recording, so nodes may start before or after the recorder; subscriptions adapt to the
publishers' QoS (latched AudioInfo is recorded even when it was published before we joined).
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from .bag_play import message_class, split_ros_args
from .bagio import STORAGES, BagError, BagWriter, make_qos

#: What the emotion graph publishes: its inputs (for replay) and outputs (for inspection).
DEFAULT_TOPICS = ("/camera/image_raw", "/camera/camera_info", "/audio/audio", "/audio/audio_info",
                  "/emotion", "/diagnostics")
#: Left out of --all, as bookkeeping rather than data.
NOISE_TOPICS = ("/rosout", "/parameter_events", "/clock")


class BagRecorder:
    """Subscribes (raw) to the wanted topics as their publishers appear and writes to ``writer``."""

    def __init__(self, node: Node, writer: BagWriter, topics: Optional[Sequence[str]],
                 discovery_period_s: float = 0.2) -> None:
        self.node, self.writer = node, writer
        self.topics = None if topics is None else set(topics)
        self._subs: dict[str, object] = {}
        self.messages = 0
        self._lock = threading.Lock()
        node.create_timer(discovery_period_s, self._discover)
        self._discover()

    def _wanted(self, topic: str) -> bool:
        return topic not in NOISE_TOPICS if self.topics is None else topic in self.topics

    def _discover(self) -> None:
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self._subs or not self._wanted(topic):
                continue
            pubs = self.node.get_publishers_info_by_topic(topic)
            if not pubs:
                continue
            try:
                cls = message_class(types[0])
                offered = [make_qos(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE,
                                    p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL,
                                    max(1, p.qos_profile.depth)) for p in pubs]
                advertised = str(pubs[0].topic_type_hash)
                known = advertised.startswith("RIHS01_") and advertised.strip("RIHS01_0")
                self.writer.add_topic(topic, types[0], offered, advertised if known else None)
            except BagError as exc:
                self.node.get_logger().error(f"not recording {topic}: {exc}", throttle_duration_sec=30.0)
                continue
            reliable = all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in pubs)
            latched = all(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in pubs)
            qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                             reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
            self._subs[topic] = self.node.create_subscription(
                cls, topic, lambda data, t=topic: self._on_message(t, data), qos, raw=True)
            self.node.get_logger().info(f"recording {topic} [{types[0]}]"
                                        f"{' (latched)' if latched else ''}")

    def _on_message(self, topic: str, data: bytes) -> None:
        self.writer.write(topic, self.node.get_clock().now().nanoseconds, data)
        with self._lock:
            self.messages += 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Record topics into a rosbag2 folder (the format of "
                                            "ros2 bag record; sqlite3 or MCAP storage).")
    p.add_argument("topics", nargs="*", help=f"topics to record (default: {' '.join(DEFAULT_TOPICS)})")
    p.add_argument("-o", "--output", type=Path, required=True, help="new bag folder")
    p.add_argument("-a", "--all", action="store_true", help="every topic (but /rosout, /parameter_events, /clock)")
    p.add_argument("-s", "--storage", choices=sorted(STORAGES), default="mcap",
                   help="storage plugin (default mcap, as ros2 bag record)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = Ctrl-C)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    ours, ros_args = split_ros_args(argv)
    args = build_parser().parse_args(ours)
    topics = None if args.all else (args.topics or list(DEFAULT_TOPICS))
    try:
        writer = BagWriter(args.output, args.storage)
    except BagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with rclpy.init(args=ros_args):
            node = Node("emotion_bag_recorder")
            recorder = BagRecorder(node, writer, topics)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            start = time.monotonic()
            try:
                while rclpy.ok() and (args.duration <= 0 or time.monotonic() - start < args.duration):
                    executor.spin_once(timeout_sec=0.1)
            finally:
                writer.close()
                node.get_logger().info(f"wrote {recorder.messages} messages to {args.output} "
                                       f"({', '.join(f'{t}: {n}' for t, n in writer.counts.items())})")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
