"""Shared node plumbing: QoS, stamps, msg <-> numpy, diagnostics, and ``main()``."""
from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from typing import Callable, Iterable, Optional, Sequence, Type
from xml.etree import ElementTree

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import (ExternalShutdownException, MultiThreadedExecutor,
                              SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from sensor_msgs.msg import Image

from emotion_core.image import ImageFields, from_array, to_bgr
from emotion_core.liveness import InputWatch, merge_status
from emotion_core.ratelimit import RepeatLimiter

from .params import Param

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


def run(node_cls: Type[Node], args: Optional[list[str]] = None, threads: int = 1) -> None:
    """Standard ``main`` of one node: ``run_nodes`` with that node alone."""
    run_nodes([node_cls], args, threads)


def run_nodes(factories: Sequence[Callable[[], Node]], args: Optional[list[str]] = None,
              threads: int = 1) -> None:
    """Create the nodes, spin them on one executor until Ctrl-C, SIGTERM or shutdown, close
    them in reverse order and exit quietly (status 0). Several factories put several nodes in
    one process (``emotion_ros.composed``): one interpreter, one DDS participant, one executor.

    One executor thread by default: our nodes keep their callbacks in the default (mutually
    exclusive) group and do long work on threads of their own, so a second executor thread runs
    nothing in parallel; it only polls and takes the GIL from the work. emotion_node on two threads
    ran one 30 Hz benchmark in three at 26.9 Hz with p99 223 ms; on one, 29.0-30.0 Hz, p99 63-78 ms.

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
            nodes: list[Node] = []
            executor = (SingleThreadedExecutor() if threads == 1
                        else MultiThreadedExecutor(num_threads=threads))
            try:
                for factory in factories:
                    nodes.append(factory())
                    executor.add_node(nodes[-1])
                executor.spin()
            except Exception:
                if not stopping.is_set() and rclpy.ok():
                    raise
            finally:
                for node in reversed(nodes):
                    close = getattr(node, "close", None)
                    if close is not None:
                        close()
                    node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not stopping.is_set():
            raise


# -- liveness, lost messages, repeated warnings ------------------------------------------------
def repeat_log_param() -> Param:
    """How often a repeated warning goes out (``ThrottledLog``), the same for every node."""
    return Param("log_repeat_s", 10.0, "a repeated warning is logged once per this period, with its "
                 "count [s]", range=(0.1, 3600.0), read_only=True)


def liveness_params(warn_s: float = 5.0, error_s: float = 15.0) -> list[Param]:
    """The stale-input thresholds every node declares."""
    return [
        Param("stale_warn_s", warn_s, "/diagnostics warns when an input has delivered nothing for "
              "this long [s]", range=(0.1, 3600.0)),
        Param("stale_error_s", error_s, "/diagnostics reports ERROR when an input has delivered "
              "nothing for this long (not for optional inputs) [s]", range=(0.1, 3600.0)),
    ]


LOSS_WINDOW_S = 10.0


class InputHealth:
    """A node's inputs on /diagnostics: how long each has been quiet (``InputWatch``) and how
    many messages DDS lost on each subscription (QoS ``message_lost`` events: best-effort
    samples that never arrived whole, e.g. frames too large for the shared-memory segment).

    ``wrap(collect)`` turns a node's diagnostics function into one that also reports these,
    so wiring a node takes a few lines. Thresholds are read from ``params`` (the node's live
    parameter dict) at every report, so run-time changes apply."""

    def __init__(self, params: dict, floor_s: Optional[Callable[[], float]] = None) -> None:
        self._p = params
        self._floor = floor_s
        self.watch = InputWatch(params["stale_warn_s"], params["stale_error_s"])
        self.lost = Counters([])
        self._lost_descriptions: dict[str, str] = {}
        self._loss_history: dict[str, deque[tuple[float, int]]] = {}

    def watch_input(self, key: str, description: str, optional: bool = False) -> None:
        self.watch.watch(key, description, optional)
        if key in self._lost_descriptions:  # the resolved topic name, once the subscription exists
            self._lost_descriptions[key] = description

    def arrived(self, key: str) -> None:
        self.watch.arrived(key)

    def lost_events(self, key: str, description: str) -> SubscriptionEventCallbacks:
        """Event callbacks for ``create_subscription(..., event_callbacks=...)`` that count
        lost messages as ``<key>_lost``. DDS learns of a lost sample from a gap in sequence
        numbers, i.e. when a later one arrives: when none arrives at all, the stale-input
        check is what reports it."""
        self._lost_descriptions[key] = description
        self.lost.inc(f"{key}_lost", 0)
        # Starts at zero now: losses before the first report are recent too.
        self._loss_history[key] = deque([(time.monotonic(), 0)], maxlen=64)

        def on_lost(info) -> None:
            self.lost.inc(f"{key}_lost", int(info.total_count_change))

        return SubscriptionEventCallbacks(message_lost=on_lost)

    def check(self) -> tuple[int, str, dict]:
        warn_s, error_s = self._p["stale_warn_s"], self._p["stale_error_s"]
        if self._floor is not None:
            floor = self._floor()
            warn_s, error_s = max(warn_s, floor), max(error_s, floor)
        self.watch.set_thresholds(warn_s, error_s)
        level, message, values = self.watch.check()
        lost = self.lost.snapshot()
        values.update(lost)
        now = time.monotonic()
        recent = []
        for key, history in self._loss_history.items():
            total = lost.get(f"{key}_lost", 0)
            history.append((now, total))
            while len(history) > 1 and now - history[0][0] > LOSS_WINDOW_S:
                history.popleft()
            if total > history[0][1]:
                recent.append(f"{total - history[0][1]} messages lost on "
                              f"{self._lost_descriptions[key]} in the last {LOSS_WINDOW_S:.0f} s "
                              f"({total} in all)")
        if recent:
            level, message = merge_status((level, message), (WARN, "; ".join(recent)))
        return level, message, values

    def wrap(self, collect: Callable[[], tuple[int, str, dict]]) -> Callable[[], tuple[int, str, dict]]:
        def collect_with_inputs() -> tuple[int, str, dict]:
            level, message, values = collect()
            in_level, in_message, in_values = self.check()
            values = {**values, **in_values}
            level, message = merge_status((level, message), (in_level, in_message))
            return level, message, values

        return collect_with_inputs


def source_log(node: Node, counters: Counters) -> Callable[[int, str], None]:
    """What a source node's Reconnector reports through: a reopened source is counted and
    logged as info, a failure counted and logged as an error (the back-off spaces them out)."""
    def log(level: int, message: str) -> None:
        if level == OK:
            counters.inc("reopens")
            node.get_logger().info(message)
        else:
            counters.inc("source_failures")
            node.get_logger().error(message)
    return log


class ThrottledLog:
    """Log lines keyed by what they are about: the first occurrence goes out, repeats within
    ``period_s`` are counted and go out with the next one as "(N more in the last T s)";
    ``flush()`` (from a timer) reports the count of a repeat that stopped."""

    def __init__(self, logger, period_s: float = 10.0) -> None:
        self._logger = logger
        self.limiter = RepeatLimiter(period_s)
        self._levels: dict[str, str] = {}

    def _log(self, level: str, key: str, message: str) -> None:
        self._levels[key] = level
        out = self.limiter.hit(key, message)
        if out is not None:
            self._emit(level, out.text())

    def _emit(self, level: str, text: str) -> None:
        # One call site per severity: rclpy refuses ("Logger severity cannot be changed between
        # calls") a line that logs at different severities.
        if level == "error":
            self._logger.error(text)
        elif level == "warning":
            self._logger.warning(text)
        else:
            self._logger.info(text)

    def info(self, key: str, message: str) -> None:
        self._log("info", key, message)

    def warning(self, key: str, message: str) -> None:
        self._log("warning", key, message)

    def error(self, key: str, message: str) -> None:
        self._log("error", key, message)

    def flush(self) -> None:
        for out in self.limiter.pending():
            self._emit(self._levels.get(out.key, "warning"), out.text())


def shm_segment_bytes(env: Optional[dict[str, str]] = None) -> Optional[int]:
    """Size of the Fast DDS shared-memory segment this process's participant uses, from the
    profile in FASTDDS_DEFAULT_PROFILES_FILE (config/fastdds_shm.xml: 16 MB); Fast DDS's
    default (512 KB) without one. None for another RMW, or a profile without shared memory.
    A sample larger than the segment cannot travel whole over shared memory: under best-effort
    QoS local subscribers lose most such frames."""
    env = os.environ if env is None else env
    if env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return None
    path = env.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    if not path:
        return FASTDDS_DEFAULT_SHM_SEGMENT
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return FASTDDS_DEFAULT_SHM_SEGMENT

    def local(element) -> str:  # tag without the XML namespace
        return element.tag.rsplit("}", 1)[-1]

    def child_text(element, name: str) -> str:
        return next(((c.text or "").strip() for c in element if local(c) == name), "")

    for element in root.iter():
        if local(element) == "transport_descriptor" and child_text(element, "type") == "SHM":
            size = child_text(element, "segment_size")
            return int(size) if size else FASTDDS_DEFAULT_SHM_SEGMENT
    if any(local(e) == "useBuiltinTransports" and (e.text or "").strip().lower() == "false"
           for e in root.iter()):
        return None  # only user transports, none of them shared memory
    return FASTDDS_DEFAULT_SHM_SEGMENT


FASTDDS_DEFAULT_SHM_SEGMENT = 512 * 1024
