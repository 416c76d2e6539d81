#!/usr/bin/env python3
"""Benchmark the running graph: 30 fps 640x480 frames + 16 kHz audio through the four nodes.

Prints frames in (the camera's own count: the benchmark does not subscribe to the images, so it
does not take CPU from the graph it measures), /emotion out, stamp -> /emotion latency p50/p99,
dropped frames, and CPU % and peak RSS of every node process, for each inference rate asked for, side by side.

    source scripts/env.sh
    python scripts/bench_graph.py --duration 30 --rates 10 30 30 --detect-every 1 1 3
    python scripts/bench_graph.py --duration 20 --rates 30 --detect-every 3 --faces 1 2 4 8
    python scripts/bench_graph.py --duration 20 --rates 30 --detect-every 3 --faces 1 --chunk-ms 50 20
    python scripts/bench_graph.py --duration 20 --rates 30 --detect-every 3 --faces 1 --processes 4 1

``--processes 1`` composes the four nodes in one process (``python -m emotion_ros.graph --one-process``);
``whole graph peak RSS MB`` sums the peak RSS of the graph's processes (the monitor of the
runner is not started).
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
from emotion_msgs.msg import Emotion, EmotionArray  # noqa: E402
from rosutil import RosPeer, latest_diagnostics, wait_for  # noqa: E402

from emotion_core.assets import build_assets  # noqa: E402
from emotion_ros.common import stamp_ns  # noqa: E402
from emotion_ros.graph import COMPOSED_EXECUTABLE, NODES, Graph, GraphSpec  # noqa: E402


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


def crowd_clip(n_faces: int, out: Path, seconds: float = 6.0, fps: int = 30) -> Path:
    """A 640x480 clip with ``n_faces`` copies of the astronaut's face in a grid, each drifting
    on its own path (so the tracker has work), written once per face count."""
    import cv2

    from skimage import data

    from emotion_core.face import create_detector
    from emotion_core.tools.assets import write_video

    path = out / f"crowd_{n_faces}.mp4"
    if path.is_file():
        return path
    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    box = max(create_detector("auto").detect(portrait), key=lambda b: b.area)
    m = box.w // 2
    face = portrait[max(0, box.y - m):box.y + box.h + m, max(0, box.x - m):box.x + box.w + m]
    cols = {1: 1, 2: 2, 4: 2, 8: 4}.get(n_faces, int(np.ceil(np.sqrt(n_faces))))
    rows = int(np.ceil(n_faces / cols))
    cell_w, cell_h = 640 // cols, 480 // rows
    side = min(150, cell_w - 20, cell_h - 20)
    patch = cv2.resize(face, (side, side))
    frames = []
    for k in range(int(seconds * fps)):
        canvas = np.full((480, 640, 3), 70, np.uint8)
        for i in range(n_faces):
            r, c = divmod(i, cols)
            slack_x, slack_y = cell_w - side, cell_h - side
            x = c * cell_w + int(slack_x / 2 * (1 + np.sin(2 * np.pi * k / (fps * 3) + i)))
            y = r * cell_h + int(slack_y / 2 * (1 + np.cos(2 * np.pi * k / (fps * 4) + 2 * i)))
            canvas[y:y + side, x:x + side] = patch
        frames.append(canvas)
    return write_video(path, frames, fps)


PROFILE = ROOT / "config" / "desktop_cpu.yaml"


def profile_value(node: str, key: str):
    import yaml

    return yaml.safe_load(PROFILE.read_text())[f"/**/{node}"]["ros__parameters"][key]


def camera_frames(diags: list) -> tuple[int, float]:
    """(frames the camera node had published, when that count arrived [s]): its diagnostics' own
    counter, so the benchmark need not receive every image."""
    for arrived, arr in reversed(diags):
        for status in arr.status:
            if status.hardware_id == "camera_node":
                values = {kv.key: kv.value for kv in status.values}
                return int(values.get("frames", 0)), arrived
    return 0, float("nan")


def run_once(rate: float, duration: float, model: Path, detector: str, assets: dict,
             detect_every: int = 1, faces: int = 0, chunk_ms: int | None = None, processes: int = 4) -> dict:
    peer = RosPeer("bench_peer")
    emotions = peer.listen(Emotion, "/emotion")
    arrays = peer.listen(EmotionArray, "/emotion/faces")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    video = crowd_clip(faces, ROOT / "data" / "bench") if faces else assets["video"]
    spec = GraphSpec(PROFILE, NODES, overrides={
        "camera_node": {"source": str(video), "fps": 30.0, "loop": True},
        "audio_node": {"source": str(assets["audio"]), "sample_rate": 16000, "loop": True,
                       **({"chunk_ms": chunk_ms} if chunk_ms else {})},
        "av_sync_node": {"rate_hz": float(rate)},
        "emotion_node": {"model_path": str(model), "detector": detector, "detect_every": detect_every,
                         "frame_rate_hz": float(rate) or 30.0, "max_faces": max(4, faces)},
    }, one_process=processes == 1)
    graph = Graph(spec, echo=False).start()
    try:
        if not wait_for(lambda: len(emotions) > 0, 60):
            raise RuntimeError(f"graph produced no /emotion: {graph.logs}")
        if not wait_for(lambda: camera_frames(diags)[0] > 0, 10):
            raise RuntimeError("camera_node published no diagnostics")
        sampler = ProcessSampler({n: p.pid for n, p in graph.procs.items()})
        n_emotions0, n_arrays0 = len(emotions), len(arrays)
        camera0 = camera_frames(diags)
        t0 = peer.now_ns()
        sampler.start()
        time.sleep(duration)
        usage = sampler.stop()
        t1 = peer.now_ns()
        camera1 = camera_frames(diags)
        wait_for(lambda: False, 1.5)  # let the last diagnostics arrive
    finally:
        graph.stop()
        peer.close()
    window = [(t, m) for t, m in emotions[n_emotions0:] if t0 <= stamp_ns(m.header.stamp) <= t1]
    face_window = [m for _, m in arrays[n_arrays0:] if t0 <= stamp_ns(m.header.stamp) <= t1]
    faces_seen = float(np.mean([len(m.faces) for m in face_window])) if face_window else 0.0
    latency = np.array([t - stamp_ns(m.header.stamp) / 1e9 for t, m in window]) * 1e3
    sync = latest_diagnostics(diags, "av_sync_node") or {}
    emo = latest_diagnostics(diags, "emotion_node") or {}
    return {
        "rate": rate,
        "detect_every": detect_every,
        "faces": faces or 1,
        "faces_out": len(face_window),
        "faces_per_frame": faces_seen,
        "chunk_ms": chunk_ms or profile_value("audio_node", "chunk_ms"),
        "frames_in": camera1[0] - camera0[0],
        "camera_fps": (camera1[0] - camera0[0]) / max(camera1[1] - camera0[1], 1e-9),
        "emotion_out": len(window),
        "latency_p50": float(np.percentile(latency, 50)) if latency.size else float("nan"),
        "latency_p99": float(np.percentile(latency, 99)) if latency.size else float("nan"),
        "sync_frames_in": sync.get("frames_in", "?"),
        "rate_limited": sync.get("frames_rate_limited", "?"),
        "dropped_in_emotion_node": emo.get("dropped", "?"),
        "shed": emo.get("shed", "?"),
        "processing_ms": emo.get("processing_ms_mean", "?"),
        "usage": usage,
        "processes": processes,
        "graph_rss": sum(rss for _, rss in usage.values()),
        "graph_cpu": sum(cpu for cpu, _ in usage.values()),
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
                    help="emotion_node detect_every per column (default 1 for each)")
    ap.add_argument("--chunk-ms", type=int, nargs="+",
                    help="audio_node chunk_ms per column (default: desktop_cpu.yaml's)")
    ap.add_argument("--processes", type=int, nargs="+", choices=(1, 4),
                    help="4: a process per node (default); 1: all nodes in one process, per column")
    ap.add_argument("--faces", type=int, nargs="+",
                    help="faces in view per column (a generated crowd clip; default: the demo clip); "
                         "with one rate, it applies to every column")
    args = ap.parse_args()
    n = max(len(args.rates), len(args.faces or []), len(args.detect_every or []), len(args.chunk_ms or []),
            len(args.processes or []))
    rates = args.rates * n if len(args.rates) == 1 else args.rates
    every = (args.detect_every or [1]) * n if len(args.detect_every or [1]) == 1 else args.detect_every
    faces = (args.faces or [0]) * n if len(args.faces or [0]) == 1 else args.faces
    chunks = (args.chunk_ms or [None]) * n if len(args.chunk_ms or [None]) == 1 else args.chunk_ms
    procs = (args.processes or [4]) * n if len(args.processes or [4]) == 1 else args.processes
    if not len(rates) == len(every) == len(faces) == len(chunks) == len(procs) == n:
        ap.error("--rates, --detect-every, --faces, --chunk-ms and --processes need one value per column "
                 "(or a single value)")
    assets = build_assets(ROOT / "data")
    default = ROOT / "data" / "models" / "face_expression.onnx"
    model = args.model or (default if default.is_file() else assets["model"])
    results = [run_once(r, args.duration, model, args.detector, assets, e, f, c, p)
               for r, e, f, c, p in zip(rates, every, faces, chunks, procs)]

    print(f"\nGraph benchmark: camera 30 fps 640x480 bgr8 (demo clip) + audio 16 kHz S16LE, {args.duration:.0f} s, "
          f"model {model.name}, detector {args.detector}, {os.cpu_count()} cores")
    rows = [
        ("graph processes", lambda r: str(r["processes"])),
        ("inference rate limit [Hz]", lambda r: f"{r['rate']:.0f}"),
        ("detector every N frames", lambda r: str(r["detect_every"])),
        ("faces in view", lambda r: str(r["faces"])),
        ("faces per /emotion/faces message", lambda r: f"{r['faces_per_frame']:.2f}"),
        ("audio chunk [ms]", lambda r: str(r["chunk_ms"])),
        ("frames published (camera count)", lambda r: f"{r['frames_in']} ({r['camera_fps']:.1f}/s)"),
        ("frames into av_sync", lambda r: str(r["sync_frames_in"])),
        ("frames skipped by rate limit", lambda r: str(r["rate_limited"])),
        ("/emotion out", lambda r: f"{r['emotion_out']} ({r['emotion_out'] / r['duration']:.1f}/s)"),
        ("/emotion/faces out", lambda r: f"{r['faces_out']} ({r['faces_out'] / r['duration']:.1f}/s)"),
        ("pairs dropped in emotion_node", lambda r: str(r["dropped_in_emotion_node"])),
        ("pairs shed (over own-time budget)", lambda r: str(r["shed"])),
        ("processing ms per frame (mean)", lambda r: f"{float(r['processing_ms']):.1f}"),
        ("processing ms per face", lambda r: f"{float(r['processing_ms']) / max(r['faces_per_frame'], 1e-9):.1f}"),
        ("latency p50 [ms]", lambda r: f"{r['latency_p50']:.1f}"),
        ("latency p99 [ms]", lambda r: f"{r['latency_p99']:.1f}"),
    ]
    for node in (*NODES, COMPOSED_EXECUTABLE):
        if any(node in r["usage"] for r in results):
            rows.append((f"{node} CPU % / peak RSS MB",
                         lambda r, n=node: (f"{r['usage'][n][0]:.0f} / {r['usage'][n][1]:.0f}"
                                            if n in r["usage"] else "-")))
    rows.append(("whole graph CPU % (of one core)", lambda r: f"{r['graph_cpu']:.0f}"))
    rows.append(("whole graph peak RSS MB", lambda r: f"{r['graph_rss']:.0f}"))
    width = max(len(name) for name, _ in rows)
    for name, fn in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{fn(r):>16}" for r in results))


if __name__ == "__main__":
    main()
