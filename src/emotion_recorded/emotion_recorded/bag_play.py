"""emotion_bag_play: publish recorded bags as the robot's sensors did, for replay and evaluation.

Messages go out as their recorded serialized bytes, so header stamps are exactly the recorded
ones; ``/clock`` follows the bag's receive times, so nodes run with ``use_sim_time``. Three
pacings: real time, a rate factor, or ``--paced``: as fast as the graph keeps up. Paced, a frame
is published only while fewer than ``max_in_flight`` frames await their ``/emotion``
(back-pressure, not a blind fast-forward). Which frames the graph will answer is predicted with
av_sync_node's own rules (stamp order, stamp rate limit at ``pace_rate_hz``); a frame that is
never answered anyway releases the gate after ``stall_timeout_s``. Several bags play back to
back; ``--loop`` restarts them (time jumps back, as with ``ros2 bag play --loop``).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from emotion_core.pairing import ACCEPTED, CLOCK_JUMP, AvPairer, PairingSettings
from emotion_ros.common import ns_to_msg

from .bagio import BagError, bag_info, find_bags, header_stamp_ns, is_transient_local, messages

NS = 1_000_000_000
IMAGE_TYPE = "sensor_msgs/msg/Image"
#: Types whose first field is a std_msgs/Header: their stamps are checked for order.
STAMPED_TYPES = (IMAGE_TYPE, "audio_common_msgs/msg/AudioDataStamped")


@dataclass
class PlayConfig:
    bags: Sequence[Path]
    rate: float = 1.0
    paced: bool = False
    loops: int = 1  # 0 = until stopped
    remap: dict[str, str] = field(default_factory=dict)
    topics: Optional[Sequence[str]] = None  # bag topic names to play (None: all)
    exclude: Sequence[str] = ()
    clock_hz: float = 100.0  # 0: no /clock
    pace_topic: str = "/emotion"
    pace_rate_hz: float = 0.0  # the graph's inference rate (av_sync rate_hz; 0 = every frame)
    # One: emotion_node keeps only the latest pair, and a second one in flight can replace the
    # waiting one in the instant between publishing a result and taking the next pair.
    max_in_flight: int = 1
    stall_timeout_s: float = 1.0
    qos_depth: int = 100
    track_answers: bool = False  # follow answers without pacing (wait_idle at real time)


@dataclass
class PlayStats:
    messages: Counter = field(default_factory=Counter)  # per published topic
    frames: int = 0
    stalls: int = 0
    passes: int = 0
    out_of_order: Counter = field(default_factory=Counter)  # header stamps not after the last
    jumps_back: Counter = field(default_factory=Counter)  # header stamps back by > 0.5 s
    span_ns: int = 0  # bag time covered
    wall_s: float = 0.0

    @property
    def speed_x(self) -> float:
        return self.span_ns / NS / self.wall_s if self.wall_s > 0 else 0.0


def message_class(msgtype: str) -> Any:
    """The Python class of ``pkg/msg/Name``."""
    pkg, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {msgtype} is not installed (source the workspace or install "
                       f"{pkg})") from exc


def split_ros_args(argv: Optional[Sequence[str]]) -> tuple[list[str], list[str]]:
    """(our arguments, rclpy's arguments): everything after ``--ros-args`` goes to rclpy only,
    so our ``FROM:=TO`` remaps are not also taken as (deprecated) global ROS remaps."""
    argv = list(sys.argv if argv is None else argv)
    if "--ros-args" in argv:
        i = argv.index("--ros-args")
        return argv[1:i], [argv[0], *argv[i:]]
    return argv[1:], [argv[0]]


def parse_remap(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise ValueError(f"remap {item!r} is not FROM:=TO")
        out[src] = dst
    return out


class BagPlayer:
    """Publishes bags through ``node``; ``play()`` blocks, the node must be spun elsewhere."""

    def __init__(self, node: Node, config: PlayConfig) -> None:
        if config.rate <= 0:
            raise ValueError("rate must be > 0")
        self.node, self.cfg = node, config
        self.infos = [bag_info(b) for b in config.bags]
        self.stats = PlayStats()
        self.published_at: dict[int, float] = {}  # image stamp -> monotonic publish time
        self._in_flight: deque[int] = deque()
        # av_sync_node's own pairer, fed the frames only: predicts which frames get an answer.
        self._predictor: AvPairer[None] = AvPairer(PairingSettings(rate_hz=config.pace_rate_hz))
        self._cond = threading.Condition()
        self._last_progress = time.monotonic()
        self._stop = threading.Event()
        self._clock_pub = node.create_publisher(Clock, "/clock", 10) if config.clock_hz > 0 else None
        self._last_clock: Optional[int] = None
        self.types: dict[str, str] = {}  # bag topic -> type
        self._pubs: dict[str, Any] = {}  # bag topic -> publisher (remapped topics may share one)
        by_name: dict[str, Any] = {}
        for info in self.infos:
            for topic, msgtype in info.topics.items():
                if not self._wanted(topic) or topic in self._pubs:
                    continue
                name = self.out_topic(topic)
                if name not in by_name:
                    by_name[name] = node.create_publisher(message_class(msgtype), name,
                                                          self._qos(info.qos.get(topic, [])))
                self.types[topic], self._pubs[topic] = msgtype, by_name[name]
        if config.paced or config.track_answers:
            pace_type = message_class("emotion_msgs/msg/Emotion")
            node.create_subscription(pace_type, config.pace_topic, self._on_answer, 100)

    # -- setup ------------------------------------------------------------------------------
    def _wanted(self, topic: str) -> bool:
        if topic in self.cfg.exclude or topic == "/clock":
            return False
        return self.cfg.topics is None or topic in self.cfg.topics

    def out_topic(self, topic: str) -> str:
        return self.cfg.remap.get(topic, topic)

    def _qos(self, offered) -> QoSProfile:
        """Latched topics (AudioInfo) stay latched; everything else goes out reliable, which
        matches best-effort and reliable subscribers alike."""
        if is_transient_local(offered):
            return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
        return QoSProfile(depth=self.cfg.qos_depth, history=HistoryPolicy.KEEP_LAST,
                          reliability=ReliabilityPolicy.RELIABLE)

    @property
    def published_topics(self) -> list[str]:
        return sorted({self.out_topic(t) for t in self._pubs})

    def wait_for_subscribers(self, topics: Sequence[str], timeout_s: float) -> list[str]:
        """Wait until each of ``topics`` (output names) has a matched subscription; returns
        those still unmatched at the timeout."""
        pubs = {self.out_topic(t): p for t, p in self._pubs.items()}
        deadline = time.monotonic() + timeout_s
        while True:
            missing = [t for t in topics if t in pubs and pubs[t].get_subscription_count() < 1]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.02)

    # -- back-pressure ----------------------------------------------------------------------
    def _on_answer(self, msg: Any) -> None:
        stamp = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        with self._cond:
            while self._in_flight and self._in_flight[0] <= stamp:
                self._in_flight.popleft()
            self._last_progress = time.monotonic()
            self._cond.notify_all()

    def _will_answer(self, stamp: int) -> bool:
        outcome = self._predictor.add_frame(stamp, None)
        self._predictor.release(force=True)  # only the decision matters here
        if outcome == CLOCK_JUMP:
            with self._cond:
                self._in_flight.clear()  # the graph resets; older frames will not be answered
        return outcome in (ACCEPTED, CLOCK_JUMP)

    def _gate(self, stamp: int) -> None:
        """Block (paced) while ``max_in_flight`` answered-to-be frames await their /emotion."""
        if not self._will_answer(stamp):
            return
        with self._cond:
            while (self.cfg.paced and len(self._in_flight) >= self.cfg.max_in_flight
                   and not self._stop.is_set()):
                left = self._last_progress + self.cfg.stall_timeout_s - time.monotonic()
                if left <= 0:
                    self.stats.stalls += 1
                    self._in_flight.popleft()
                    self._last_progress = time.monotonic()
                    continue
                self._cond.wait(min(left, 0.05))
            self._in_flight.append(stamp)
            self._last_progress = time.monotonic()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every frame expected to be answered was, or the timeout (paced or
        ``track_answers``)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._in_flight and time.monotonic() < deadline:
                self._cond.wait(0.05)
            return not self._in_flight

    # -- playback ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    @property
    def clock_ns(self) -> Optional[int]:
        """The last /clock value published."""
        return self._last_clock

    def publish_clock(self, t_ns: int, force: bool = False) -> None:
        if self._clock_pub is None:
            return
        period = int(NS / self.cfg.clock_hz)
        if force or self._last_clock is None or abs(t_ns - self._last_clock) >= period:
            self._clock_pub.publish(Clock(clock=ns_to_msg(t_ns)))
            self._last_clock = t_ns

    def _sleep_until(self, wall: float, t_ref: int, wall_ref: float, cap_ns: int) -> None:
        """Sleep until ``wall``, publishing /clock on the way (real-time pacing)."""
        period = 1.0 / self.cfg.clock_hz if self.cfg.clock_hz > 0 else 0.05
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= wall:
                return
            sim = min(cap_ns, t_ref + int((now - wall_ref) * self.cfg.rate * NS))
            self.publish_clock(sim)
            time.sleep(min(period, wall - now))

    def advance_clock(self, seconds: float, speed: float = 10.0) -> None:
        """After the last message: let /clock run on so sim-time timers (diagnostics) fire."""
        if self._last_clock is None:
            return
        start, step = self._last_clock, int(0.05 * NS)
        for k in range(1, int(seconds / 0.05) + 1):
            self.publish_clock(start + k * step, force=True)
            time.sleep(0.05 / speed)

    def play(self) -> PlayStats:
        """Publish every bag, ``loops`` times (0: until ``stop()``); returns the statistics."""
        wall0 = time.monotonic()
        last_stamp: dict[str, int] = {}
        passes = 0
        while not self._stop.is_set() and (self.cfg.loops == 0 or passes < self.cfg.loops):
            for info in self.infos:
                topics = [t for t in info.topics if t in self._pubs]
                t_ref, wall_ref = None, time.monotonic()
                for conn, t, data in messages(info.path, topics):
                    if self._stop.is_set():
                        break
                    if t_ref is None:
                        t_ref, wall_ref = t, time.monotonic()
                        self.publish_clock(t, force=True)
                    self._publish_one(conn.topic, t, data, t_ref, wall_ref, last_stamp)
                if t_ref is not None:
                    self.stats.span_ns += max(0, info.end_ns - t_ref)
            passes += 1
            self.stats.passes = passes
        self.stats.wall_s = time.monotonic() - wall0
        return self.stats

    def _publish_one(self, topic: str, t: int, data: bytes, t_ref: int, wall_ref: float,
                     last_stamp: dict[str, int]) -> None:
        msgtype = self.types[topic]
        if not self.cfg.paced:
            self._sleep_until(wall_ref + (t - t_ref) / NS / self.cfg.rate, t_ref, wall_ref, t)
        stamp = header_stamp_ns(data) if msgtype in STAMPED_TYPES else None
        name = self.out_topic(topic)
        if stamp is not None:  # order as subscribers of the (remapped) topic see it
            prev = last_stamp.get(name)
            if prev is not None and stamp < prev - NS // 2:
                self.stats.jumps_back[name] += 1
            elif prev is not None and stamp <= prev:
                self.stats.out_of_order[name] += 1
            last_stamp[name] = stamp
        if msgtype == IMAGE_TYPE and stamp is not None:
            if self.cfg.paced or self.cfg.track_answers:
                self._gate(stamp)
            self.stats.frames += 1
        self.publish_clock(t, force=self.cfg.paced and msgtype == IMAGE_TYPE)
        self._pubs[topic].publish(bytes(data))
        if msgtype == IMAGE_TYPE and stamp is not None:
            self.published_at[stamp] = time.monotonic()
        self.stats.messages[name] += 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Play rosbag2 folders (sqlite3 or MCAP, from ros2 bag "
                                            "record or emotion_bag_record) with /clock.")
    p.add_argument("bags", nargs="+", type=Path, help="bag folders, or folders holding bags")
    p.add_argument("--rate", type=float, default=1.0, help="rate factor (2 = twice real time)")
    p.add_argument("--paced", action="store_true",
                   help="as fast as the graph keeps up: back-pressure on --pace-topic")
    p.add_argument("--loop", type=int, nargs="?", const=0, default=1, metavar="N",
                   help="play N times (no N: until Ctrl-C)")
    p.add_argument("--remap", nargs="*", default=[], metavar="FROM:=TO", help="rename topics")
    p.add_argument("--topics", nargs="*", help="only these bag topics")
    p.add_argument("--exclude", nargs="*", default=[], help="not these bag topics")
    p.add_argument("--clock", type=float, default=100.0, help="/clock rate [Hz] (0 = none)")
    p.add_argument("--pace-topic", default="/emotion")
    p.add_argument("--pace-rate-hz", type=float, default=0.0,
                   help="paced: the graph's inference rate (av_sync_node rate_hz; 0 = every frame)")
    p.add_argument("--max-in-flight", type=int, default=1, help="paced: frames awaiting /emotion")
    p.add_argument("--stall-timeout-s", type=float, default=1.0,
                   help="paced: give up waiting for an answer after this long")
    p.add_argument("--wait-subscribers", nargs="*", default=[], metavar="TOPIC",
                   help="before playing, wait until these topics have a subscriber")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    ours, ros_args = split_ros_args(argv)
    args = build_parser().parse_args(ours)
    try:
        bags = [b for path in args.bags for b in find_bags(path)]
        cfg = PlayConfig(bags, args.rate, args.paced, args.loop, parse_remap(args.remap), args.topics,
                         args.exclude, args.clock, args.pace_topic, args.pace_rate_hz, args.max_in_flight,
                         args.stall_timeout_s)
    except (BagError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rclpy.init(args=ros_args)
    node = Node("emotion_bag_player")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    try:
        player = BagPlayer(node, cfg)
        missing = player.wait_for_subscribers(args.wait_subscribers, 60.0)
        if missing:
            node.get_logger().warning(f"no subscriber on {missing} after 60 s: playing anyway")
        node.get_logger().info(f"playing {len(bags)} bag(s): {', '.join(player.published_topics)}")
        stats = player.play()
        node.get_logger().info(f"done: {sum(stats.messages.values())} messages in {stats.wall_s:.1f} s "
                               f"({stats.speed_x:.1f}x real time), {stats.stalls} stalls")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except BagError as exc:
        node.get_logger().error(str(exc))
        return 1
    finally:
        executor.shutdown()
        spin.join(timeout=2.0)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
