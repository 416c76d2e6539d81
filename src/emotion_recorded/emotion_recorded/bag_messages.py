"""Build the graph's input messages and write them to a bag as a sensor stream would have been
recorded: used by the dataset converter, the benchmarks and the tests' bad-data bags.

Messages are the ROS classes, serialized with rclpy (the same CDR the nodes publish); each is
logged at the time it would have arrived: a frame at its exposure stamp, an audio chunk when its
last sample was captured (stamp + duration), AudioInfo before the first chunk.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from emotion_core.audio import encode_pcm
from emotion_ros.common import fill_image, ns_to_msg

from .bagio import BagInfo, BagWriter, bag_info, make_qos

NS = 1_000_000_000
IMAGE_TOPIC, AUDIO_TOPIC, INFO_TOPIC = "/camera/image_raw", "/audio/audio", "/audio/audio_info"
#: topic -> (type, offered QoS) as camera_node / audio_node offer them.
INPUT_TOPICS = {
    IMAGE_TOPIC: ("sensor_msgs/msg/Image", make_qos(reliable=False, depth=5)),
    AUDIO_TOPIC: ("audio_common_msgs/msg/AudioDataStamped", make_qos(reliable=False, depth=5)),
    INFO_TOPIC: ("audio_common_msgs/msg/AudioInfo", make_qos(reliable=True, transient_local=True, depth=1)),
}
#: One recorded message: (topic, receive time [ns], message object).
Item = tuple[str, int, Any]


def image_msg(stamp_ns: int, bgr: np.ndarray, frame_id: str = "camera", encoding: str = "bgr8") -> Image:
    msg = Image()
    msg.header.stamp = ns_to_msg(stamp_ns)
    msg.header.frame_id = frame_id
    return fill_image(msg, bgr, encoding)


def audio_msg(stamp_ns: int, samples: np.ndarray, sample_format: str = "S16LE",
              frame_id: str = "microphone") -> AudioDataStamped:
    msg = AudioDataStamped()
    msg.header.stamp = ns_to_msg(stamp_ns)
    msg.header.frame_id = frame_id
    msg.audio = AudioData(data=encode_pcm(samples, sample_format))
    return msg


def info_msg(sample_rate: int, sample_format: str = "S16LE") -> AudioInfo:
    bits = {"S16LE": 16, "S32LE": 32, "F32LE": 32, "U8": 8}[sample_format]
    return AudioInfo(channels=1, sample_rate=sample_rate, sample_format=sample_format,
                     bitrate=sample_rate * bits, coding_format="WAVE")


def audio_items(chunks: Iterable[tuple[int, np.ndarray]], sample_rate: int,
                sample_format: str = "S16LE") -> list[Item]:
    """Chunks (start stamp, samples) as recorded: logged when their last sample was captured."""
    return [(AUDIO_TOPIC, start + (x.size * NS) // sample_rate, audio_msg(start, x, sample_format))
            for start, x in chunks]


def write_bag(path: str | Path, items: Sequence[Item], storage: str = "mcap",
              custom_data: Optional[Mapping[str, str]] = None,
              topics: Mapping[str, tuple[str, Any]] = INPUT_TOPICS) -> BagInfo:
    """Write ``items`` in receive-time order (stable: equal times keep their order)."""
    with BagWriter(path, storage, custom_data) as writer:
        for topic, (msgtype, qos) in topics.items():
            if any(item[0] == topic for item in items):
                writer.add_topic(topic, msgtype, [qos])
        for topic, t, msg in sorted(items, key=lambda item: item[1]):
            writer.write(topic, t, serialize_message(msg))
    return bag_info(path)
