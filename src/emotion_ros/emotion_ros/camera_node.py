"""camera_node: a camera device, stream, video file, image folder or synthetic source -> Image +
CameraInfo.

Stamps are the capture time (taken right after the grab), never the publish time. Capture runs
on its own thread, so a device that blocks in a read never stops /diagnostics: a source that
fails or disappears is reopened with exponential back-off (``Reconnector``), every failure is
logged and counted, and the node reports ERROR naming the source while it delivers nothing.
Frames too large for the Fast DDS shared-memory segment are reported here, where their size is
known, because subscribers only see them vanish.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Optional

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from emotion_core.liveness import OK, WARN, Reconnector, merge_status
from emotion_core.sources import FrameSource, is_live, open_frames

from .common import (Counters, Diagnostics, InputHealth, ThrottledLog, fill_image, liveness_params,
                     repeat_log_param, run, sensor_qos, shm_segment_bytes, source_log)
from .params import Param, declare, qos_params

PARAMS = [
    Param("source", "synthetic", "'synthetic', a device index or /dev/videoN, a stream URL, a "
          "video file, or an image folder", read_only=True),
    Param("fps", 30.0, "publish rate [Hz]", range=(0.1, 240.0)),
    Param("width", 640, "frame width for synthetic and device sources [px]", range=(16, 4096), read_only=True),
    Param("height", 480, "frame height for synthetic and device sources [px]", range=(16, 4096), read_only=True),
    Param("loop", True, "restart a video file or folder at its end", read_only=True),
    Param("frame_id", "camera", "frame_id of the published images", read_only=True),
    Param("encoding", "bgr8", "published encoding", choices=("bgr8", "rgb8"), read_only=True),
    Param("retry_initial_s", 1.0, "first delay before reopening a source that failed; doubles per "
          "consecutive failure [s]", range=(0.05, 60.0), read_only=True),
    Param("retry_max_s", 30.0, "longest delay between reopen attempts [s]", range=(0.05, 600.0),
          read_only=True),
    repeat_log_param(),
    *liveness_params(warn_s=2.0, error_s=5.0),
    *qos_params(),
]

COUNTERS = ["frames", "open_attempts", "source_failures", "reopens", "skipped_images",
            "size_changes", "oversize_frames"]


class CameraNode(Node):
    def __init__(self, **node_options) -> None:
        super().__init__("camera_node", **node_options)  # cli_args when composed in one process
        self.p = declare(self, PARAMS)
        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.image_pub = self.create_publisher(Image, "camera/image_raw", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", qos)
        self.counters = Counters(COUNTERS)
        self.log = ThrottledLog(self.get_logger(), self.p["log_repeat_s"])
        source = self.p["source"]
        self.live = is_live(source)
        self.keeper: Reconnector[FrameSource] = Reconnector(
            self._open, f"camera source {source}", self.p["retry_initial_s"],
            max(self.p["retry_max_s"], self.p["retry_initial_s"]), log=source_log(self, self.counters))
        # A frame period is the shortest silence that means anything: at 0.2 fps, 2 s is normal.
        self.health = InputHealth(self.p, floor_s=lambda: 3.0 / self.p["fps"])
        self.health.watch_input("source", f"camera source {source}")
        self.segment = shm_segment_bytes()
        self.size: Optional[tuple[int, int]] = None
        self.frame_bytes = 0
        self.ended = False
        self._published: deque[float] = deque(maxlen=2000)  # publish times (monotonic)
        self.diagnostics = Diagnostics(self, "camera", self._diag)
        self.create_timer(1.0, self.log.flush)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="camera_capture", daemon=True)
        self._thread.start()
        self.get_logger().info(f"publishing {source} at {self.p['fps']:.1f} fps on "
                               f"{self.image_pub.topic_name}")

    # -- source -----------------------------------------------------------------------------
    def _open(self) -> FrameSource:
        self.counters.inc("open_attempts")
        return open_frames(self.p["source"], self.p["loop"], self.p["width"], self.p["height"])

    def _loop(self) -> None:
        next_t = time.monotonic()
        while self._running and self.context.ok():
            period = 1.0 / self.p["fps"]
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period / 2:  # late (a slow read): skip the slot, never a burst of frames
                next_t = time.monotonic()
            source = self.keeper.poll()
            if source is None:
                continue
            try:
                frame = source.read()
            except Exception as exc:  # a device can fail in any way: reopen it
                self.keeper.failed(str(exc))
                continue
            stamp = self.get_clock().now().to_msg()
            self._report_skipped(source)
            if frame is None:
                self.ended = True
                self.get_logger().info(f"end of source after {self.counters.get('frames')} frames")
                return
            self.keeper.delivered()
            self.health.arrived("source")
            if not self._publish(frame, stamp):
                return

    def _report_skipped(self, source: FrameSource) -> None:
        skipped = getattr(source, "skipped", None)
        while skipped:
            path = skipped.pop(0)
            self.counters.inc("skipped_images")
            self.log.warning(f"skip:{path}", f"skipped unreadable image {path}")

    # -- output -----------------------------------------------------------------------------
    def _publish(self, frame: np.ndarray, stamp) -> bool:
        """Publish one frame; False once the context is gone (shutting down)."""
        self._check_size(frame)
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = self.p["frame_id"]
        if self.p["encoding"] == "rgb8":
            frame = frame[:, :, ::-1]
        fill_image(msg, frame, self.p["encoding"])
        try:
            self.image_pub.publish(msg)
            self.info_pub.publish(CameraInfo(header=msg.header, width=msg.width, height=msg.height))
        except Exception:
            if not self.context.ok():  # Ctrl-C while publishing: leave quietly
                return False
            raise
        self.counters.inc("frames")
        self._published.append(time.monotonic())
        return True

    def publish_rate(self, window_s: float = 5.0) -> Optional[float]:
        """Frames per second over the last ``window_s`` (None before 2 s of history): a source
        or conversion slower than ``fps`` drops the rate, and nobody downstream can tell why."""
        now = time.monotonic()
        times = [t for t in list(self._published) if now - t <= window_s]
        if len(times) < 2 or now - times[0] < min(2.0, window_s / 2):
            return None
        return (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else None

    def _check_size(self, frame: np.ndarray) -> None:
        """Count and report what subscribers cannot see: a frame size that changed, or a frame
        too large for the shared-memory segment (lost by local best-effort subscribers)."""
        height, width = frame.shape[:2]
        self.frame_bytes = int(frame.nbytes)
        if self.size is None and self.live and (width, height) != (self.p["width"], self.p["height"]):
            self.get_logger().info(f"the device delivers {width}x{height}, not the "
                                   f"{self.p['width']}x{self.p['height']} asked for")
        if self.size is not None and (width, height) != self.size:
            self.counters.inc("size_changes")
            self.log.warning("size", f"frame size changed from {self.size[0]}x{self.size[1]} to "
                                     f"{width}x{height}: subscribers that assume one size break")
        self.size = (width, height)
        if self.segment is not None and self.frame_bytes > self.segment:
            self.counters.inc("oversize_frames")
            self.log.warning("oversize", self._oversize_message())

    def _oversize_message(self) -> str:
        return (f"frames of {self.frame_bytes / 2**20:.1f} MB do not fit the Fast DDS shared-memory "
                f"segment ({self.segment / 2**20:.1f} MB, segment_size in FASTDDS_DEFAULT_PROFILES_FILE): "
                "subscribers on this machine lose many of them (their /diagnostics count them as *_lost); "
                "lower width/height or raise segment_size")

    def _diag(self):
        values: dict = self.counters.snapshot()
        width, height = self.size or (0, 0)
        rate = self.publish_rate()
        values.update(source=self.p["source"], width=width, height=height,
                      publish_fps=rate if rate is not None else 0.0,
                      frame_mb=self.frame_bytes / 2**20,
                      shm_segment_mb=(self.segment / 2**20) if self.segment else "n/a",
                      suppressed_log_lines=self.log.limiter.total_suppressed)
        if self.ended:
            return OK, f"end of source after {values['frames']} frames", values
        in_level, in_message, in_values = self.health.check()
        values.update(in_values)
        own = self.keeper.status()
        if own[0] == OK:
            problems = []
            if self.segment is not None and self.frame_bytes > self.segment:
                problems.append(self._oversize_message())
            if rate is not None and rate < 0.8 * self.p["fps"]:
                problems.append(f"publishing {rate:.1f} fps of the {self.p['fps']:.1f} asked: the "
                                f"source or the {width}x{height} conversion is too slow")
            own = (WARN, "; ".join(problems)) if problems else (OK, "capturing")
        level, message = merge_status(own, (in_level, in_message))
        return level, message, values

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self.keeper.close()


def main(args=None) -> None:
    run(CameraNode, args)


if __name__ == "__main__":
    main()
