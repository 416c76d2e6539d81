"""av_sync_node: pairs each accepted camera frame with the audio window that ends at its stamp.

The rule (rate limit by stamp, approximate-time pairing, ring buffer, wait bound, stale/missing
marking, clock jumps, audio-rate check) is ``emotion_core.pairing.AvPairer``; its parameters are
generated from ``PairingSettings``. This node only converts messages, logs and reports.
"""
from __future__ import annotations

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from emotion_msgs.msg import AudioVisualPair
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy
from sensor_msgs.msg import Image

from emotion_core.pairing import (BAD_CHUNK, CLOCK_JUMP, OUT_OF_ORDER_DROPPED, UNSTAMPED, AvPairer,
                                  Pair, PairingSettings)
from emotion_core.sync import AUDIO_MISSING, AUDIO_STALE

from .common import ERROR, OK, WARN, Diagnostics, latched_qos, ns_to_msg, run, sensor_qos, stamp_ns
from .common import InputHealth, ThrottledLog, liveness_params, repeat_log_param
from .params import Param, declare, params_from, qos_params, settings_from
from .synchronizer import make_matcher

NS = 1_000_000_000

PARAMS = [
    *params_from(PairingSettings),
    Param("synchronizer", "auto", "approximate-time implementation: message_filters where "
          "installed, else the identical policy in emotion_core",
          choices=("auto", "message_filters", "emotion_core"), read_only=True),
    *qos_params(),
    *liveness_params(),
    repeat_log_param(),
]


class AvSyncNode(Node):
    def __init__(self, **node_options) -> None:
        super().__init__("av_sync_node", **node_options)  # cli_args when composed in one process
        self.p = declare(self, PARAMS, self._on_param)
        matcher, self.sync_impl = make_matcher(self.p["synchronizer"])
        self.pairer: AvPairer[Image] = AvPairer(settings_from(PairingSettings, self.p), matcher)
        self.info: AudioInfo | None = None
        self.log = ThrottledLog(self.get_logger(), self.p["log_repeat_s"])
        self.create_timer(1.0, self.log.flush)

        qos = sensor_qos(self.p["qos_reliability"], self.p["qos_depth"])
        self.pair_pub = self.create_publisher(AudioVisualPair, "emotion/av_pair", qos)
        # Quiet inputs and DDS-lost messages on /diagnostics; audio is optional (face only).
        self.health = InputHealth(self.p)
        image_sub = self.create_subscription(Image, "camera/image_raw", self._on_image, qos,
                                             event_callbacks=self.health.lost_events("frames", "camera/image_raw"))
        audio_sub = self.create_subscription(AudioDataStamped, "audio/audio", self._on_audio, qos,
                                             event_callbacks=self.health.lost_events("audio", "audio/audio"))
        self.health.watch_input("frames", image_sub.topic_name)
        self.health.watch_input("audio", audio_sub.topic_name, optional=True)
        self.audio_topic = audio_sub.topic_name
        # AudioInfo is latched by audio_node, but bags written by other tools replay it volatile:
        # a second, volatile subscription hears those (a transient-local one cannot match them).
        # Each of the two meets the other kind of publisher as "incompatible QoS": expected, so
        # that event is not logged as a warning.
        quiet = SubscriptionEventCallbacks(incompatible_qos=lambda event: None)
        self.create_subscription(AudioInfo, "audio/audio_info", self._on_info, latched_qos(),
                                 event_callbacks=quiet)
        volatile = latched_qos()
        volatile.durability = DurabilityPolicy.VOLATILE
        self.create_subscription(AudioInfo, "audio/audio_info", self._on_info, volatile, event_callbacks=quiet)
        # max_wait_s bounds wall time: under use_sim_time a paused or slow /clock must not hold
        # frames, so this timer runs on the steady clock.
        self.create_timer(0.01, self._flush, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.diagnostics = Diagnostics(self, "av_sync", self.health.wrap(self._diag))
        s = self.pairer.settings
        self.get_logger().info(f"pairing with {self.sync_impl} (slop {s.slop_s} s), "
                               f"{s.window_s} s windows at <= {s.rate_hz} Hz")

    def _on_param(self, name: str, value) -> None:
        self.pairer.update(settings_from(PairingSettings, self.p))

    # -- inputs -----------------------------------------------------------------------------
    def _on_info(self, msg: AudioInfo) -> None:
        if self.info is not None and (msg.sample_format, msg.channels, msg.sample_rate) == (
                self.info.sample_format, self.info.channels, self.info.sample_rate):
            return  # the same AudioInfo, heard on both subscriptions
        try:
            self.pairer.set_audio_format(msg.sample_format, msg.channels, msg.sample_rate)
        except ValueError as exc:
            self.get_logger().error(f"ignoring AudioInfo: {exc}")
            return
        self.info = msg
        self.get_logger().info(f"audio: {msg.sample_format} x{msg.channels} at {msg.sample_rate} Hz")

    def _on_audio(self, msg: AudioDataStamped) -> None:
        self.health.arrived("audio")
        if not self.pairer.format_known:
            # Usually only the first chunk or two: AudioInfo is latched but discovery is racy.
            s = self.pairer.settings
            self.log.info("no_info", f"no AudioInfo yet: assuming {s.default_sample_format} mono at "
                          f"{s.default_sample_rate} Hz")
        outcome, detail = self.pairer.add_audio(stamp_ns(msg.header.stamp), msg.audio.data)
        if outcome == BAD_CHUNK:
            self.log.error("bad_chunk", f"dropping audio chunk: {detail}")
        elif outcome == OUT_OF_ORDER_DROPPED:
            self.log.warning("audio_order", f"dropping {detail}")
        elif outcome == CLOCK_JUMP:
            self.log.warning("audio_jump", "audio stamps jumped backwards: buffers reset")
        elif detail:  # accepted, with a clock step of the sender's sample clock
            self.log.info("audio_clock_step", detail)
        if self.pairer.rate_problem:
            self.log.error("audio_rate", self.pairer.rate_problem)

    def _on_image(self, msg: Image) -> None:
        self.health.arrived("frames")
        stamp = stamp_ns(msg.header.stamp)
        outcome = self.pairer.add_frame(stamp, msg)
        if outcome == UNSTAMPED:
            self.log.warning("unstamped", "dropping frames stamped 0: the camera driver sets no capture time")
        elif outcome == OUT_OF_ORDER_DROPPED:
            self.log.warning("frame_order", f"dropping frame stamped {stamp / NS:.3f} s: not after the "
                             f"previous frame ({self.pairer.frame_order.newest_ns / NS:.3f} s)")
        elif outcome == CLOCK_JUMP:
            self.log.warning("frame_jump", "frame stamps jumped backwards: buffers reset")
        self._flush()

    # -- output -----------------------------------------------------------------------------
    def _flush(self) -> None:
        for pair in self.pairer.release():
            self._emit(pair)

    def _emit(self, pair: Pair[Image]) -> None:
        rate = self.pairer.sample_rate
        out = AudioVisualPair()
        out.header = pair.frame.header
        out.image = pair.frame
        out.audio = AudioData(data=pair.window.samples.tobytes())
        out.audio_info = AudioInfo(channels=1, sample_rate=rate, sample_format="F32LE",
                                   bitrate=rate * 32, coding_format="WAVE")
        out.audio_start = ns_to_msg(pair.window.start_ns)
        out.audio_status = pair.status
        out.audio_coverage = pair.window.coverage
        out.sync_offset = pair.sync_offset_s
        self.pair_pub.publish(out)
        # Not for a window that merely starts before the stream does (a clip's first frame).
        if pair.status == AUDIO_MISSING and pair.window.newest_ns is None:
            self.log.warning("no_audio", f"frames go out without audio: nothing received on {self.audio_topic}")
        elif pair.status == AUDIO_STALE:
            self.log.warning("stale_audio", f"frames go out with stale audio: the newest chunk on "
                             f"{self.audio_topic} ends {(pair.stamp_ns - pair.window.newest_ns) / NS:.1f} s "
                             "before the frame")

    def _diag(self):
        values: dict = dict(self.pairer.counters)
        values.update(synchronizer=self.sync_impl, pending=len(self.pairer.pending),
                      audio_buffer_resets=self.pairer.buffer.resets,
                      last_audio_clock_step_ms=self.pairer.last_clock_step_ms,
                      # writer side: a replay starts only once emotion_node is matched here
                      pair_subscribers=self.pair_pub.get_subscription_count(),
                      suppressed_log_lines=self.log.limiter.total_suppressed)
        if self.pairer.rate_problem:
            return ERROR, self.pairer.rate_problem, values
        if values["pairs_out"] and values["pairs_ok"] < values["pairs_out"] / 2:
            return WARN, "most frames lack complete audio", values
        return OK, "pairing", values


def main(args=None) -> None:
    run(AvSyncNode, args)


if __name__ == "__main__":
    main()
