"""av_sync_node: pairs each accepted camera frame with the audio window that ends at its stamp.

Frames are rate-limited by stamp to the inference rate, then paired with audio chunks by an
approximate-time synchronizer; every audio chunk also goes into a ring buffer keyed by sample
time, from which the window is cut. A frame never waits longer than ``max_wait_s`` for audio:
it is emitted anyway, marked partial, stale or missing.
"""
from __future__ import annotations

import math
import time
from typing import Optional

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from emotion_msgs.msg import AudioVisualPair
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import Image

from emotion_core.audio import AudioFormatError, decode_pcm
from emotion_core.stamp_order import JUMP_BACK, OUT_OF_ORDER, StampOrder
from emotion_core.sync import (AUDIO_MISSING, AUDIO_STALE, AUDIO_STATUS_NAMES, AudioRingBuffer,
                               RateLimiter, audio_status)

from .common import (ERROR, OK, WARN, Counters, Diagnostics, latched_qos, ns_to_msg, run,
                     sensor_qos, stamp_ns)
from .params import Param, declare, qos_params
from .synchronizer import FilterInput, make_synchronizer

NS = 1_000_000_000

PARAMS = [
    Param("rate_hz", 10.0, "inference rate: frames accepted per second of stamp time (0 = all)",
          range=(0.0, 240.0)),
    Param("window_s", 2.0, "length of the audio window ending at each frame [s]", range=(0.1, 30.0)),
    Param("slop_s", 0.15, "approximate-time slop between a frame and an audio chunk stamp [s]",
          range=(0.001, 5.0), read_only=True),
    Param("queue_size", 30, "synchronizer queue size per input", range=(1, 1000), read_only=True),
    Param("max_wait_s", 0.3, "longest a frame waits for its audio before it is emitted anyway [s]",
          range=(0.0, 5.0)),
    Param("stale_s", 0.5, "audio whose newest sample is older than this at the frame is stale [s]",
          range=(0.01, 30.0)),
    Param("buffer_s", 10.0, "audio ring buffer length [s]", range=(1.0, 120.0), read_only=True),
    Param("synchronizer", "auto", "pairing implementation", choices=("auto", "message_filters", "emotion_core"),
          read_only=True),
    Param("default_sample_rate", 16000, "sample rate assumed until AudioInfo arrives [Hz]",
          range=(8000, 48000), read_only=True),
    Param("default_sample_format", "S16LE", "sample format assumed until AudioInfo arrives",
          choices=("S16LE", "S32LE", "F32LE", "U8"), read_only=True),
    *qos_params(),
]

COUNTERS = ["frames_in", "frames_rate_limited", "frames_out_of_order", "audio_chunks",
            "audio_bad_chunks", "audio_out_of_order", "audio_rate_mismatch", "clock_jumps",
            "pairs_synchronized", "pairs_out",
            *[f"pairs_{n}" for n in AUDIO_STATUS_NAMES.values()]]


class AvSyncNode(Node):
    def __init__(self) -> None:
        super().__init__("av_sync_node")
        self.p = declare(self, PARAMS, self._on_param)
        self.counters = Counters(COUNTERS)
        self.info: Optional[AudioInfo] = None
        self.limiter = RateLimiter(self.p["rate_hz"])
        self.pending: dict[int, tuple[Image, float]] = {}
        self.sync_offsets: dict[int, float] = {}
        self.frame_order = StampOrder(jump_s=0.5)
        self.audio_order = StampOrder(jump_s=0.25)  # the ring buffer's own jump tolerance
        self._last_chunk: Optional[tuple[int, int, int]] = None  # stamp, samples, rate
        self._rate_ratio = 1.0
        self._rate_chunks = 0
        self.rate_problem = ""
        self._reset_audio(self.p["default_sample_rate"])

        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.image_input, self.audio_input = FilterInput(), FilterInput()
        self.sync, self.sync_impl = make_synchronizer(
            [self.image_input, self.audio_input], self.p["queue_size"], self.p["slop_s"],
            self.p["synchronizer"])
        self.sync.registerCallback(self._on_pair)
        self.pair_pub = self.create_publisher(AudioVisualPair, "emotion/av_pair", qos)
        self.create_subscription(Image, "camera/image_raw", self._on_image, qos)
        audio_sub = self.create_subscription(AudioDataStamped, "audio/audio", self._on_audio, qos)
        self.audio_topic = audio_sub.topic_name
        self.create_subscription(AudioInfo, "audio/audio_info", self._on_info, latched_qos())
        # max_wait_s bounds wall time: under use_sim_time a paused or slow /clock must not hold
        # frames, so this timer runs on the steady clock.
        self.create_timer(0.01, self._flush, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.diagnostics = Diagnostics(self, "av_sync", self._diag)
        self.get_logger().info(f"pairing with {self.sync_impl} (slop {self.p['slop_s']} s), "
                               f"{self.p['window_s']} s windows at <= {self.p['rate_hz']} Hz")

    # -- inputs -----------------------------------------------------------------------------
    def _on_param(self, name: str, value) -> None:
        if name == "rate_hz":
            self.limiter.set_rate(value)

    def _reset_audio(self, rate: int) -> None:
        self.buffer = AudioRingBuffer(rate, self.p["buffer_s"])
        self._last_chunk = None

    def _on_info(self, msg: AudioInfo) -> None:
        if msg.channels < 1 or msg.sample_rate <= 0:
            self.get_logger().error(f"ignoring invalid AudioInfo: {msg.channels} ch, {msg.sample_rate} Hz")
            return
        if self.info is None or msg.sample_rate != self.info.sample_rate:
            self._reset_audio(msg.sample_rate)
        self.info = msg
        self.get_logger().info(f"audio: {msg.sample_format} x{msg.channels} at {msg.sample_rate} Hz")

    def _audio_format(self) -> tuple[str, int, int]:
        if self.info is None:
            # Usually only the first chunk or two: AudioInfo is latched but discovery is racy.
            self.get_logger().info(
                "no AudioInfo yet: assuming %s mono at %d Hz" % (self.p["default_sample_format"],
                                                              self.p["default_sample_rate"]),
                throttle_duration_sec=10.0)
            return self.p["default_sample_format"], 1, self.p["default_sample_rate"]
        return self.info.sample_format, self.info.channels, self.info.sample_rate

    def _on_audio(self, msg: AudioDataStamped) -> None:
        fmt, channels, rate = self._audio_format()
        try:
            samples = decode_pcm(msg.audio.data, fmt, channels)
        except AudioFormatError as exc:
            self.counters.inc("audio_bad_chunks")
            self.get_logger().error(f"dropping audio chunk: {exc}", throttle_duration_sec=2.0)
            return
        if samples.size == 0:
            self.counters.inc("audio_bad_chunks")
            self.get_logger().warning("dropping empty audio chunk", throttle_duration_sec=5.0)
            return
        start = stamp_ns(msg.header.stamp)
        if self.audio_order.check(start) == OUT_OF_ORDER:
            self.counters.inc("audio_out_of_order")
            self.get_logger().warning(
                f"dropping audio chunk stamped {start / NS:.3f} s: not after the previous chunk "
                f"({self.audio_order.newest_ns / NS:.3f} s)", throttle_duration_sec=2.0)
            return
        self._check_rate(start, samples.size, rate)
        if not self.buffer.add(start, samples):
            self._clock_jump("audio")
        self.counters.inc("audio_chunks")
        self.audio_input.signalMessage(msg)

    def _check_rate(self, start: int, n: int, rate: int) -> None:
        """Compare how far stamps advance with how many samples arrived: a stream whose real
        rate differs from AudioInfo's would stretch every window."""
        last = self._last_chunk
        self._last_chunk = (start, n, rate)
        if last is None or last[2] != rate:
            return
        expected = last[1] / rate
        actual = (start - last[0]) / NS
        if expected <= 0 or actual <= 0 or actual > 10 * expected:
            return  # first chunk after a gap or a jump: not evidence about the rate
        self._rate_ratio = 0.9 * self._rate_ratio + 0.1 * (actual / expected)
        self._rate_chunks += 1
        if self._rate_chunks >= 10 and abs(self._rate_ratio - 1.0) > 0.1:
            self.counters.inc("audio_rate_mismatch")
            self.rate_problem = (f"audio stamps advance {self._rate_ratio:.2f}x the time its samples "
                                 f"span: the stream runs at ~{rate / self._rate_ratio:.0f} Hz, "
                                 f"AudioInfo says {rate} Hz")
            self.get_logger().error(self.rate_problem, throttle_duration_sec=5.0)
        elif self._rate_chunks >= 10:
            self.rate_problem = ""

    def _clock_jump(self, where: str) -> None:
        self.counters.inc("clock_jumps")
        self.get_logger().warning(f"{where} stamps jumped backwards: buffers reset")
        self.pending.clear()
        self.sync_offsets.clear()
        for q in self.sync.queues:  # both synchronizer implementations keep per-input queues
            q.clear()

    def _on_image(self, msg: Image) -> None:
        self.counters.inc("frames_in")
        stamp = stamp_ns(msg.header.stamp)
        order = self.frame_order.check(stamp)
        if order == JUMP_BACK:
            self._clock_jump("frame")
            self.buffer.clear()
        elif order == OUT_OF_ORDER:
            self.counters.inc("frames_out_of_order")
            self.get_logger().warning(
                f"dropping frame stamped {stamp / NS:.3f} s: not after the previous frame "
                f"({self.frame_order.newest_ns / NS:.3f} s)", throttle_duration_sec=2.0)
            return
        if not self.limiter.accept(stamp):
            self.counters.inc("frames_rate_limited")
            return
        self.pending[stamp] = (msg, time.monotonic())
        self.image_input.signalMessage(msg)
        self._flush()

    def _on_pair(self, image: Image, audio: AudioDataStamped) -> None:
        stamp = stamp_ns(image.header.stamp)
        if stamp in self.pending:
            self.counters.inc("pairs_synchronized")
            self.sync_offsets[stamp] = (stamp_ns(audio.header.stamp) - stamp) / NS

    # -- output -----------------------------------------------------------------------------
    def _flush(self) -> None:
        """Emit every pending frame whose audio has arrived or whose wait bound has passed."""
        if not self.pending:
            return
        newest = self.buffer.newest_ns
        now = time.monotonic()
        for stamp in sorted(self.pending):
            msg, arrived = self.pending[stamp]
            if (newest is not None and newest >= stamp) or now - arrived >= self.p["max_wait_s"]:
                del self.pending[stamp]
                self._emit(stamp, msg)

    def _emit(self, stamp: int, image: Image) -> None:
        window = self.buffer.window(stamp, self.p["window_s"])
        status = audio_status(window, self.p["stale_s"])
        out = AudioVisualPair()
        out.header = image.header
        out.image = image
        out.audio = AudioData(data=window.samples.tobytes())
        out.audio_info = AudioInfo(channels=1, sample_rate=self.buffer.sample_rate,
                                   sample_format="F32LE", bitrate=self.buffer.sample_rate * 32,
                                   coding_format="WAVE")
        out.audio_start = ns_to_msg(window.start_ns)
        out.audio_status = status
        out.audio_coverage = window.coverage
        out.sync_offset = self.sync_offsets.pop(stamp, math.nan)
        self.pair_pub.publish(out)
        self.counters.inc("pairs_out")
        self.counters.inc(f"pairs_{AUDIO_STATUS_NAMES[status]}")
        # Not for a window that merely starts before the stream does (a clip's first frame).
        if status == AUDIO_MISSING and window.newest_ns is None:
            self.get_logger().warning(f"frames go out without audio: nothing received on {self.audio_topic}",
                                      throttle_duration_sec=10.0)
        elif status == AUDIO_STALE:
            self.get_logger().warning(
                f"frames go out with stale audio: the newest chunk on {self.audio_topic} ends "
                f"{(stamp - window.newest_ns) / NS:.1f} s before the frame", throttle_duration_sec=10.0)

    def _diag(self):
        values = self.counters.snapshot()
        values.update(synchronizer=self.sync_impl, pending=len(self.pending),
                      audio_buffer_resets=self.buffer.resets)
        if self.rate_problem:
            return ERROR, self.rate_problem, values
        if values["pairs_out"] and values["pairs_ok"] < values["pairs_out"] / 2:
            return WARN, "most frames lack complete audio", values
        return OK, "pairing", values


def main(args=None) -> None:
    run(AvSyncNode, args, threads=1)


if __name__ == "__main__":
    main()
