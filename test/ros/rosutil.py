"""Helpers for tests that run real node processes over DDS and listen from the test process."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class RosPeer:
    """An rclpy node in the test process, spun on a background thread."""

    def __init__(self, name: str = "test_peer") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[float, Any]]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if not self.context.ok():
                    return
                raise

    def listen(self, msg_type, topic: str, qos: QoSProfile | int = 50) -> list[tuple[float, Any]]:
        """Record (receive time [s, ROS clock], msg) of every message on ``topic``."""
        store: list[tuple[float, Any]] = []
        self.received[topic] = store

        def cb(msg) -> None:
            with self._lock:
                store.append((self.node.get_clock().now().nanoseconds / 1e9, msg))

        self.node.create_subscription(msg_type, topic, cb, qos)
        return store

    def publisher(self, msg_type, topic: str, qos: QoSProfile | int = 10, subscribers: int = 1,
                  timeout: float = 15.0):
        """A publisher that is already matched with ``subscribers`` subscriptions (no sleeps)."""
        pub = self.node.create_publisher(msg_type, topic, qos)
        if subscribers and not wait_for(lambda: pub.get_subscription_count() >= subscribers, timeout):
            raise TimeoutError(f"no subscriber matched {topic} within {timeout} s")
        return pub

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 20.0) -> bool:
        return wait_for(lambda: self.node.count_publishers(topic) >= count, timeout)

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2)


def latest_diagnostics(store: list[tuple[float, Any]], node_name: str) -> Optional[dict[str, str]]:
    """Key-values of the newest DiagnosticStatus from ``node_name``."""
    for _, arr in reversed(store):
        for status in arr.status:
            if status.hardware_id == node_name:
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = str(status.level[0] if isinstance(status.level, bytes) else status.level)
                values["_message"] = status.message
                return values
    return None
