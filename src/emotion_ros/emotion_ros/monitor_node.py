"""emotion_monitor: prints the /emotion stream as a table with latency, with a row per person
under it from /emotion/faces (track id, label, confidence, speaking marker), and on exit writes a
summary (JSON + PNG plot, with a per-person timeline) — what a person wants to see of a running
graph. On /diagnostics it reports the stream itself: rate and latency, and WARN then ERROR when
/emotion goes quiet — the symptom every upstream fault ends in, seen from where behaviour nodes
listen."""
from __future__ import annotations

import sys
from collections import deque

import numpy as np
from emotion_msgs.msg import Emotion, EmotionArray
from rclpy.node import Node

from emotion_core.report import TABLE_HEADER, EmotionRecord, FaceRecord, face_row, save_report, table_row

from .common import OK, Diagnostics, InputHealth, liveness_params, run, stamp_ns
from .params import Param, declare

PARAMS = [
    Param("output_dir", "", "where to write summary.json / summary.png on exit (empty = none)",
          read_only=True),
    Param("print_every", 1, "print one row per N messages (0 = no table)", range=(0, 1000)),
    *liveness_params(),
]


class MonitorNode(Node):
    def __init__(self, **node_options) -> None:
        super().__init__("emotion_monitor", **node_options)  # cli_args when composed in one process
        self.p = declare(self, PARAMS)
        self.records: list[EmotionRecord] = []
        self.faces: list[FaceRecord] = []
        self._face_messages = 0
        self._latency_ms: deque[float] = deque(maxlen=100)
        self.health = InputHealth(self.p)
        sub = self.create_subscription(Emotion, "emotion", self._on_emotion, 50)
        self.health.watch_input("emotion", sub.topic_name)
        # Per person: not a liveness input (an empty room publishes no faces worth waiting for).
        self.create_subscription(EmotionArray, "emotion/faces", self._on_faces, 50)
        self.diagnostics = Diagnostics(self, "monitor", self.health.wrap(self._diag))
        if self.p["print_every"]:
            print(TABLE_HEADER, flush=True)

    def _on_emotion(self, msg: Emotion) -> None:
        now = self.get_clock().now().nanoseconds
        stamp = stamp_ns(msg.header.stamp)
        rec = EmotionRecord(stamp / 1e9, (now - stamp) / 1e6, msg.label, float(msg.confidence),
                            list(msg.class_names), [float(p) for p in msg.probabilities],
                            bool(msg.face_present), bool(msg.voice_present), float(msg.face_weight),
                            float(msg.voice_weight), int(msg.audio_status))
        self.records.append(rec)
        self.health.arrived("emotion")
        self._latency_ms.append(rec.latency_ms)
        every = self.p["print_every"]
        if every and len(self.records) % every == 0:
            print(table_row(rec, self.records[0].stamp_s), flush=True)

    def _on_faces(self, msg: EmotionArray) -> None:
        stamp = stamp_ns(msg.header.stamp) / 1e9
        rows = [FaceRecord(stamp, e.track_id, e.label, float(e.confidence), float(e.speaking_probability),
                           bool(e.voice_used)) for e in msg.faces]
        self.faces.extend(rows)
        self._face_messages += 1
        every = self.p["print_every"]
        if every and rows and self._face_messages % every == 0:
            t0 = self.records[0].stamp_s if self.records else stamp
            for row in rows:
                print(face_row(row, t0), flush=True)

    def _diag(self):
        lat = list(self._latency_ms)
        values = {"messages": len(self.records),
                  "latency_ms_p50": float(np.percentile(lat, 50)) if lat else 0.0,
                  "latency_ms_p99": float(np.percentile(lat, 99)) if lat else 0.0}
        return OK, "receiving", values

    def close(self) -> None:
        if self.p["output_dir"]:
            summary = save_report(self.records, self.p["output_dir"], faces=self.faces)
            print(f"summary: {summary}", file=sys.stderr, flush=True)
            print(f"wrote {self.p['output_dir']}/summary.png and summary.json", file=sys.stderr, flush=True)


def main(args=None) -> None:
    run(MonitorNode, args)


if __name__ == "__main__":
    main()
