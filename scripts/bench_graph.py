#!/usr/bin/env python3
"""Benchmark the running graph: 30 fps 640x480 frames + 16 kHz audio through the four nodes.

Prints frames in, /emotion out, stamp -> /emotion latency p50/p99, dropped frames, and CPU %
and peak RSS of every node process, for each inference rate asked for, side by side.

    source scripts/env.sh
    python scripts/bench_graph.py --duration 30 --rates 10 30 30 --detect-every 1 1 3
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "ros"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from emotion_msgs.msg import Emotion  # noqa: E402
from rosutil import RosPeer, latest_diagnostics, wait_for  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from emotion_core.assets import build_assets  # noqa: E402
from emotion_ros.common import sensor_qos, stamp_ns  # noqa: E402
from emotion_ros.graph import NODES, Graph, GraphSpec  # noqa: E402


class ProcessSampler:
    """CPU % (of one core) and peak RSS of each process, sampled every 0.2 s."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {n: psutil.Process(p) for n, p in pids.items()}
        self.peak = {n: 0 for n in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for n, p in self.procs.items():
                try:
                    self.peak[n] = max(self.peak[n], p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.2)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = {n: sum(p.cpu_times()[:2]) for n, p in self.procs.items()}
        self._thread.start()

    def stop(self) -> dict[str, tuple[float, float]]:
        wall = time.monotonic() - self._t0
        out = {}
        for n, p in self.procs.items():
            try:
                cpu = (sum(p.cpu_times()[:2]) - self._cpu0[n]) / wall * 100
            except psutil.Error:
                cpu = float("nan")
            out[n] = (cpu, self.peak[n] / 2**20)
        self._stop.set()
        return out


def run_once(rate: float, duration: float, model: Path, detector: str, assets: dict,
             detect_every: int = 1) -> dict:
    peer = RosPeer("bench_peer")
    frames = peer.listen(Image, "/camera/image_raw", sensor_qos())
    emotions = peer.listen(Emotion, "/emotion")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    spec = GraphSpec(ROOT / "config" / "desktop_cpu.yaml", NODES, overrides={
        "camera_node": {"source": str(assets["video"]), "fps": 30.0, "loop": True},
        "audio_node": {"source": str(assets["audio"]), "sample_rate": 16000, "loop": True},
        "av_sync_node": {"rate_hz": float(rate)},
        "emotion_node": {"model_path": str(model), "detector": detector, "detect_every": detect_every,
                         "frame_rate_hz": float(rate) or 30.0},
    })
    graph = Graph(spec, echo=False).start()
    try:
        if not wait_for(lambda: len(emotions) > 0, 60):
            raise RuntimeError(f"graph produced no /emotion: {graph.logs}")
        sampler = ProcessSampler({n: p.pid for n, p in graph.procs.items()})
        n_frames0, n_emotions0 = len(frames), len(emotions)
        t0 = peer.now_ns()
        sampler.start()
        time.sleep(duration)
        usage = sampler.stop()
        t1 = peer.now_ns()
        wait_for(lambda: False, 1.5)  # let the last diagnostics arrive
    finally:
        graph.stop()
        peer.close()
    window = [(t, m) for t, m in emotions[n_emotions0:] if t0 <= stamp_ns(m.header.stamp) <= t1]
    latency = np.array([t - stamp_ns(m.header.stamp) / 1e9 for t, m in window]) * 1e3
    sync = latest_diagnostics(diags, "av_sync_node") or {}
    emo = latest_diagnostics(diags, "emotion_node") or {}
    return {
        "rate": rate,
        "detect_every": detect_every,
        "frames_in": len(frames) - n_frames0,
        "emotion_out": len(window),
        "latency_p50": float(np.percentile(latency, 50)) if latency.size else float("nan"),
        "latency_p99": float(np.percentile(latency, 99)) if latency.size else float("nan"),
        "sync_frames_in": sync.get("frames_in", "?"),
        "rate_limited": sync.get("frames_rate_limited", "?"),
        "dropped_in_emotion_node": emo.get("dropped", "?"),
        "shed": emo.get("shed", "?"),
        "processing_ms": emo.get("processing_ms_mean", "?"),
        "usage": usage,
        "duration": (t1 - t0) / 1e9,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    ap.add_argument("--rates", type=float, nargs="+", default=[10.0, 30.0], help="inference rates [Hz]")
    ap.add_argument("--model", type=Path, help="model (default: data/models/face_expression.onnx "
                    "when built, else the sample fusion model)")
    ap.add_argument("--detector", default="auto", choices=("auto", "tiny", "ssd", "haar"))
    ap.add_argument("--detect-every", type=int, nargs="+",
                    help="emotion_node detect_every per rate (default 1 for each)")
    args = ap.parse_args()
    every = args.detect_every or [1] * len(args.rates)
    if len(every) != len(args.rates):
        ap.error("--detect-every needs one value per rate")
    assets = build_assets(ROOT / "data")
    default = ROOT / "data" / "models" / "face_expression.onnx"
    model = args.model or (default if default.is_file() else assets["model"])
    results = [run_once(r, args.duration, model, args.detector, assets, e) for r, e in zip(args.rates, every)]

    print(f"\nGraph benchmark: camera 30 fps 640x480 bgr8 (demo clip) + audio 16 kHz S16LE, {args.duration:.0f} s, "
          f"model {model.name}, detector {args.detector}, {os.cpu_count()} cores")
    rows = [
        ("inference rate limit [Hz]", lambda r: f"{r['rate']:.0f}"),
        ("detector every N frames", lambda r: str(r["detect_every"])),
        ("frames published (peer saw)", lambda r: str(r["frames_in"])),
        ("frames into av_sync", lambda r: str(r["sync_frames_in"])),
        ("frames skipped by rate limit", lambda r: str(r["rate_limited"])),
        ("/emotion out", lambda r: f"{r['emotion_out']} ({r['emotion_out'] / r['duration']:.1f}/s)"),
        ("pairs dropped in emotion_node", lambda r: str(r["dropped_in_emotion_node"])),
        ("pairs shed (over own-time budget)", lambda r: str(r["shed"])),
        ("processing ms (mean)", lambda r: str(r["processing_ms"])),
        ("latency p50 [ms]", lambda r: f"{r['latency_p50']:.1f}"),
        ("latency p99 [ms]", lambda r: f"{r['latency_p99']:.1f}"),
    ]
    for node in (*NODES,):
        rows.append((f"{node} CPU % / peak RSS MB",
                     lambda r, n=node: f"{r['usage'][n][0]:.0f} / {r['usage'][n][1]:.0f}"))
    width = max(len(name) for name, _ in rows)
    for name, fn in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{fn(r):>16}" for r in results))


if __name__ == "__main__":
    main()
