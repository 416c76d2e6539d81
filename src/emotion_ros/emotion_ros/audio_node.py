"""audio_node: microphone, audio file or synthetic voice -> audio_common_msgs chunks.

Each chunk's stamp is the capture time of its first sample, from the sample count anchored once
to the ROS clock (``emotion_core.clock.SampleClock``), not its arrival time. ``AudioInfo`` is
published transient-local so late subscribers learn the format. A source that fails (a
microphone unplugged or silent for 5 s, a file that cannot be read) is reopened with exponential
back-off, logged and counted, and /diagnostics reports ERROR naming it meanwhile.
"""
from __future__ import annotations

import threading
import time

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from rclpy.node import Node

from emotion_core.audio import SAMPLE_FORMATS, encode_pcm
from emotion_core.clock import SampleClock
from emotion_core.liveness import OK, WARN, Reconnector, merge_status
from emotion_core.sources import AudioSource, open_audio

from .common import (Counters, Diagnostics, InputHealth, latched_qos, liveness_params, ns_to_msg, source_log,
                     run, sensor_qos)
from .params import Param, declare, qos_params

PARAMS = [
    Param("source", "synthetic", "'synthetic', 'microphone', or an audio file (WAV/FLAC/OGG, any "
          "rate and channel count: mixed to mono and resampled)", read_only=True),
    Param("sample_rate", 16000, "published sample rate [Hz]", range=(8000, 48000), read_only=True),
    Param("chunk_ms", 100, "chunk length [ms]", range=(10, 1000), read_only=True),
    Param("sample_format", "S16LE", "published PCM format", choices=("S16LE", "F32LE"), read_only=True),
    Param("device", "", "PortAudio input device (index or name; empty = default)", read_only=True),
    Param("loop", True, "restart a file at its end", read_only=True),
    Param("frame_id", "microphone", "frame_id of the published chunks", read_only=True),
    Param("max_drift_ms", 50.0, "re-anchor the sample clock when it drifts this far from the "
          "ROS clock [ms]", range=(1.0, 1000.0), read_only=True),
    Param("retry_initial_s", 1.0, "first delay before reopening a source that failed (a "
          "microphone unplugged or delivering nothing for 5 s); doubles per consecutive failure [s]",
          range=(0.05, 60.0), read_only=True),
    Param("retry_max_s", 30.0, "longest delay between reopen attempts [s]", range=(0.05, 600.0),
          read_only=True),
    *liveness_params(warn_s=2.0, error_s=5.0),
    *qos_params(),
]


class AudioNode(Node):
    def __init__(self, **node_options) -> None:
        super().__init__("audio_node", **node_options)  # cli_args when composed in one process
        self.p = declare(self, PARAMS)
        rate, fmt = self.p["sample_rate"], self.p["sample_format"]
        self.chunk = int(rate * self.p["chunk_ms"] / 1000)
        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.audio_pub = self.create_publisher(AudioDataStamped, "audio/audio", qos)
        self.info_pub = self.create_publisher(AudioInfo, "audio/audio_info", latched_qos())
        self.info_pub.publish(AudioInfo(channels=1, sample_rate=rate, sample_format=fmt,
                                        bitrate=rate * SAMPLE_FORMATS[fmt].itemsize * 8,
                                        coding_format="WAVE"))
        self.clock = SampleClock(rate, self.p["max_drift_ms"] / 1000.0)
        self.counters = Counters(["chunks", "open_attempts", "source_failures", "reopens"])
        source = self.p["source"]
        self.keeper: Reconnector[AudioSource] = Reconnector(
            self._open, f"audio source {source}", self.p["retry_initial_s"],
            max(self.p["retry_max_s"], self.p["retry_initial_s"]), log=source_log(self, self.counters))
        self.health = InputHealth(self.p, floor_s=lambda: 3.0 * self.p["chunk_ms"] / 1000.0)
        self.health.watch_input("source", f"audio source {source}")
        self.ended = False
        self.diagnostics = Diagnostics(self, "audio", self._diag)
        self._running = True
        self._paced = source != "microphone"
        self._thread = threading.Thread(target=self._loop, name="audio_capture", daemon=True)
        self._thread.start()
        self.get_logger().info(f"publishing {source} as {fmt} {rate} Hz in "
                               f"{self.p['chunk_ms']} ms chunks on {self.audio_pub.topic_name}")

    def _open(self) -> AudioSource:
        self.counters.inc("open_attempts")
        return open_audio(self.p["source"], self.p["sample_rate"], self.p["loop"], self.p["device"],
                          self.chunk)

    def _loop(self) -> None:
        period = self.chunk / self.p["sample_rate"]
        next_t = time.monotonic() + period
        current = None
        while self._running and self.context.ok():
            source = self.keeper.poll()
            if source is None:
                time.sleep(min(0.1, max(0.01, self.keeper.retry_in_s)))
                continue
            if source is not current:  # (re)opened: samples after a gap are not contiguous
                current = source
                self.clock.reset()
                next_t = time.monotonic() + period
            if self._paced:  # a file or generator releases a chunk when it would have been captured
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_t += period
            try:
                samples = source.read(self.chunk)
            except Exception as exc:  # a live device can fail at any time: reopen it
                self.keeper.failed(str(exc))
                continue
            if samples is None:
                self.ended = True
                self.get_logger().info("end of audio source")
                return
            self.keeper.delivered()
            self.health.arrived("source")
            now = self.get_clock().now().nanoseconds
            start = self.clock.stamp(samples.size, now)
            msg = AudioDataStamped()
            msg.header.stamp = ns_to_msg(start)
            msg.header.frame_id = self.p["frame_id"]
            msg.audio = AudioData(data=encode_pcm(samples, self.p["sample_format"]))
            try:
                self.audio_pub.publish(msg)
            except Exception:
                if not self.context.ok():  # shutting down (Ctrl-C): leave quietly
                    return
                raise
            self.counters.inc("chunks")

    def _diag(self):
        values = self.counters.snapshot()
        values.update(source=self.p["source"], drift_ms=self.clock.drift_ns / 1e6,
                      reanchors=self.clock.reanchors,
                      overflows=getattr(self.keeper.source, "overflows", 0))
        if self.ended:
            return OK, f"end of audio source after {values['chunks']} chunks", values
        in_level, in_message, in_values = self.health.check()
        values.update(in_values)
        own = self.keeper.status()
        if own[0] == OK:
            own = ((WARN, f"sample clock re-anchored {self.clock.reanchors}x") if self.clock.reanchors
                   else (OK, "capturing"))
        level, message = merge_status(own, (in_level, in_message))
        return level, message, values

    def close(self) -> None:
        self._running = False
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout=2.0)
        self.keeper.close()


def main(args=None) -> None:
    run(AudioNode, args)


if __name__ == "__main__":
    main()
