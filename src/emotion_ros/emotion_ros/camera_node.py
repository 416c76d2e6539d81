"""camera_node: a camera device, video file, image folder or synthetic source -> Image + CameraInfo.

Stamps are the capture time (taken right after the grab), never the publish time.
"""
from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from emotion_core.sources import SourceError, open_frames

from .common import fill_image, run, sensor_qos
from .params import Param, declare, qos_params

PARAMS = [
    Param("source", "synthetic", "'synthetic', a device index or /dev/videoN, a video file, or an "
          "image folder", read_only=True),
    Param("fps", 30.0, "publish rate [Hz]", range=(0.1, 240.0)),
    Param("width", 640, "frame width for synthetic and device sources [px]", range=(16, 4096), read_only=True),
    Param("height", 480, "frame height for synthetic and device sources [px]", range=(16, 4096), read_only=True),
    Param("loop", True, "restart a video file or folder at its end", read_only=True),
    Param("frame_id", "camera", "frame_id of the published images", read_only=True),
    Param("encoding", "bgr8", "published encoding", choices=("bgr8", "rgb8"), read_only=True),
    *qos_params(),
]


class CameraNode(Node):
    def __init__(self) -> None:
        super().__init__("camera_node")
        self.p = declare(self, PARAMS, self._on_param)
        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.image_pub = self.create_publisher(Image, "camera/image_raw", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", qos)
        self.frames_out = 0
        self.source = None
        try:
            self.source = open_frames(self.p["source"], self.p["loop"], self.p["width"], self.p["height"])
        except (SourceError, OSError) as exc:
            self.get_logger().error(f"cannot open source: {exc}")
            return
        self.timer = self.create_timer(1.0 / self.p["fps"], self._tick)
        self.get_logger().info(f"publishing {self.p['source']} at {self.p['fps']:.1f} fps on "
                               f"{self.image_pub.topic_name}")

    def _on_param(self, name: str, value) -> None:
        if name == "fps" and self.source is not None:
            self.timer.cancel()
            self.timer = self.create_timer(1.0 / value, self._tick)

    def _tick(self) -> None:
        frame = self.source.read()  # type: ignore[union-attr]
        stamp = self.get_clock().now().to_msg()
        if frame is None:
            self.get_logger().info(f"end of source after {self.frames_out} frames")
            self.timer.cancel()
            return
        skipped = getattr(self.source, "skipped", None)
        if skipped:
            for path in skipped:
                self.get_logger().warning(f"skipped unreadable image {path}")
            skipped.clear()
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = self.p["frame_id"]
        if self.p["encoding"] == "rgb8":
            frame = frame[:, :, ::-1]
        fill_image(msg, frame, self.p["encoding"])
        self.image_pub.publish(msg)
        info = CameraInfo(header=msg.header, width=msg.width, height=msg.height)
        self.info_pub.publish(info)
        self.frames_out += 1

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


def main(args=None) -> None:
    run(CameraNode, args, threads=1)


if __name__ == "__main__":
    main()
