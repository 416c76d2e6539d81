"""Shared node plumbing: QoS, stamps, msg <-> numpy, diagnostics, and ``main()``."""
from __future__ import annotations

import signal
import threading
from typing import Callable, Iterable, Optional, Type

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import (ExternalShutdownException, MultiThreadedExecutor,
                              SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from sensor_msgs.msg import Image

from emotion_core.image import ImageFields, from_array, to_bgr

NS = 1_000_000_000


def sensor_qos(reliability: str = "best_effort", depth: int = 5) -> QoSProfile:
    """REP-2003 sensor-data QoS, with overridable reliability and depth."""
    qos = QoSProfile(depth=depth)
    qos.history = HistoryPolicy.KEEP_LAST
    qos.durability = qos_profile_sensor_data.durability
    qos.reliability = (ReliabilityPolicy.RELIABLE if reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
    return qos


def latched_qos() -> QoSProfile:
    """Transient-local: late subscribers get the last message (AudioInfo)."""
    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_ns(stamp: TimeMsg) -> int:
    return int(stamp.sec) * NS + int(stamp.nanosec)


def ns_to_msg(ns: int) -> TimeMsg:
    return TimeMsg(sec=int(ns // NS), nanosec=int(ns % NS))


def image_fields(msg: Image) -> ImageFields:
    """Zero-copy view of an Image message's buffer."""
    return ImageFields(msg.height, msg.width, msg.encoding, msg.step, memoryview(msg.data))


def image_to_bgr(msg: Image) -> np.ndarray:
    return to_bgr(image_fields(msg))


def fill_image(msg: Image, image: np.ndarray, encoding: str = "bgr8") -> Image:
    fields = from_array(image, encoding)
    msg.height, msg.width, msg.encoding, msg.step = fields.height, fields.width, fields.encoding, fields.step
    msg.is_bigendian = 0
    msg.data = fields.data.tobytes()
    return msg


class Counters:
    """Thread-safe named counters that end up as /diagnostics key-values."""

    def __init__(self, names: Iterable[str]) -> None:
        self._values = {n: 0 for n in names}
        self._lock = threading.Lock()

    def inc(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + by

    def get(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


class Diagnostics:
    """Publishes one DiagnosticStatus for a node on /diagnostics at a fixed period.

    diagnostic_updater has no wheel; this publishes the same message directly.
    """

    def __init__(self, node: Node, name: str, collect: Callable[[], tuple[int, str, dict]],
                 period_s: float = 1.0) -> None:
        self._node = node
        self._name = name
        self._collect = collect
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period_s, self.publish)

    def publish(self) -> None:
        level, message, values = self._collect()
        status = DiagnosticStatus(level=bytes([level]), name=f"{self._node.get_fully_qualified_name()}: {self._name}",
                                  message=message, hardware_id=self._node.get_name())
        status.values = [KeyValue(key=str(k), value=_fmt(v)) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self._node.get_clock().now().to_msg()
        arr.status = [status]
        self._pub.publish(arr)


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


OK, WARN, ERROR = 0, 1, 2


def run(node_cls: Type[Node], args: Optional[list[str]] = None, threads: int = 2) -> None:
    """Standard ``main``: spin until Ctrl-C, SIGTERM or shutdown, exit quietly (status 0).

    A stop signal raises KeyboardInterrupt wherever the main thread is, also inside rclpy's
    conversion of a message being taken, which then surfaces as an unrelated RuntimeError
    ("Unable to convert call argument '0' to Python object"); a callback mid-publish may see
    "context is invalid". Our handler records the request first, so whatever spin raises once
    a stop was requested is part of stopping, not a fault.
    """
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()
        raise KeyboardInterrupt

    # Installed before rclpy.init: rclpy's own handlers (which wake the executor and shut the
    # context down) chain to these.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        with rclpy.init(args=args):
            node = node_cls()
            executor = (SingleThreadedExecutor() if threads == 1
                        else MultiThreadedExecutor(num_threads=threads))
            executor.add_node(node)
            try:
                executor.spin()
            except Exception:
                if not stopping.is_set() and rclpy.ok():
                    raise
            finally:
                close = getattr(node, "close", None)
                if close is not None:
                    close()
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not stopping.is_set():
            raise
