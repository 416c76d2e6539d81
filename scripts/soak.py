#!/usr/bin/env python3
"""Soak the whole graph: camera at 30 fps + 16 kHz audio through all four nodes for a long time
(default 10 min), under the graph runner's supervision, and print per minute what decides whether
it can run for hours on a robot:

- per node: RSS and CPU, and the RSS slope over the run so far (MB/min; a leak shows here);
- /emotion: messages and rate, latency (receipt - frame stamp) p50 / p99;
- gaps in /emotion over 0.5 s, each with its cause where the graph says one: non-OK
  /diagnostics around the gap, a node death, and which stage's counters stopped advancing;
- node deaths and restarts (``Graph.supervise()`` restarts them).

Not a CI test. It measures the machine it runs on, so run it on an otherwise idle machine.

    source scripts/env.sh
    python scripts/soak.py --minutes 10 --json soak.json
    python scripts/soak.py --minutes 10 --one-process      # all four nodes in one process
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "ros"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from emotion_msgs.msg import Emotion  # noqa: E402
from rosutil import RosPeer, wait_for  # noqa: E402

from emotion_core.assets import build_assets  # noqa: E402
from emotion_ros.common import stamp_ns  # noqa: E402
from emotion_ros.graph import NODES, Graph, GraphSpec, RestartPolicy  # noqa: E402

GAP_S = 0.5
# Counters that show which stage stopped during a gap: (node, key).
STAGES = [("camera_node", "frames"), ("audio_node", "chunks"), ("av_sync_node", "frames_in"),
          ("av_sync_node", "pairs_out"), ("emotion_node", "pairs_in"), ("emotion_node", "processed")]


@dataclass
class NodeSeries:
    """Samples of one node's process: (monotonic s, RSS MB, cumulative CPU s)."""

    samples: list[tuple[float, float, float]] = field(default_factory=list)
    pid: int = 0
    proc: Optional[psutil.Process] = None
    cpu_base: float = 0.0  # CPU seconds of earlier incarnations (restarts)

    def sample(self, pid: int, now: float) -> None:
        try:
            if pid != self.pid:
                if self.samples:
                    self.cpu_base = self.samples[-1][2]
                self.pid, self.proc = pid, psutil.Process(pid)
            assert self.proc is not None
            cpu = sum(self.proc.cpu_times()[:2])
            self.samples.append((now, self.proc.memory_info().rss / 2**20, self.cpu_base + cpu))
        except psutil.Error:
            pass

    def window(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        return [s for s in self.samples if t0 <= s[0] <= t1]

    def cpu_percent(self, t0: float, t1: float) -> float:
        w = self.window(t0, t1)
        if len(w) < 2 or w[-1][0] <= w[0][0]:
            return float("nan")
        return (w[-1][2] - w[0][2]) / (w[-1][0] - w[0][0]) * 100

    def rss_slope(self, t0: float, t1: float) -> float:
        """Least-squares RSS slope [MB/min] over [t0, t1]."""
        w = self.window(t0, t1)
        if len(w) < 3:
            return float("nan")
        t = np.array([s[0] for s in w]) / 60.0
        rss = np.array([s[1] for s in w])
        return float(np.polyfit(t - t[0], rss, 1)[0])


class Diagnostics:
    """Received /diagnostics as (receive time [monotonic], node, level, message, values)."""

    def __init__(self, store: list[tuple[float, Any]], offset: float) -> None:
        self._store = store
        self._offset = offset  # ROS receive time - monotonic

    def entries(self) -> list[tuple[float, str, int, str, dict]]:
        out = []
        for t, arr in list(self._store):
            for s in arr.status:
                level = s.level[0] if isinstance(s.level, bytes) else int(s.level)
                out.append((t - self._offset, s.hardware_id, level, s.message,
                            {kv.key: kv.value for kv in s.values}))
        return out

    def counter_at(self, node: str, key: str, t: float) -> Optional[int]:
        """The newest value of ``node``'s counter received at or before ``t``."""
        best = None
        for when, name, _, _, values in self.entries():
            if name == node and when <= t and key in values:
                try:
                    best = int(values[key])
                except ValueError:
                    pass
        return best


def gap_cause(diag: Diagnostics, events: list[tuple[float, str]], t0: float, t1: float) -> str:
    """What the graph said about the interval [t0, t1] (monotonic)."""
    causes = []
    for when, text in events:
        if t0 - 1.0 <= when <= t1 + 1.0:
            causes.append(text)
    seen = set()
    for when, node, level, message, _ in diag.entries():
        if level and t0 - 1.0 <= when <= t1 + 1.5 and (node, message.split(" for ")[0]) not in seen:
            seen.add((node, message.split(" for ")[0]))
            causes.append(f"{node} {'WARN' if level == 1 else 'ERROR'}: {message}")
    stalled = []
    for node, key in STAGES:
        a, b = diag.counter_at(node, key, t0), diag.counter_at(node, key, t1 + 1.0)
        if a is not None and b is not None and b == a:
            stalled.append(f"{node}.{key}")
    if stalled:
        causes.append("no progress: " + ", ".join(stalled))
    return "; ".join(causes) if causes else "unknown (every node OK, all stages advancing)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to run [min]")
    ap.add_argument("--report-s", type=float, default=60.0, help="report period [s]")
    ap.add_argument("--fps", type=float, default=30.0, help="camera rate [Hz]")
    ap.add_argument("--rate", type=float, default=10.0, help="inference rate of av_sync_node [Hz]")
    ap.add_argument("--model", type=Path, help="model (default: data/models/face_expression.onnx "
                    "when built, else the sample fusion model)")
    ap.add_argument("--json", type=Path, help="write every figure here too")
    ap.add_argument("--one-process", action="store_true",
                    help="the four nodes composed in one process (emotion_graph_process)")
    args = ap.parse_args()

    assets = build_assets(ROOT / "data")
    default = ROOT / "data" / "models" / "face_expression.onnx"
    model = args.model or (default if default.is_file() else assets["model"])
    spec = GraphSpec(ROOT / "config" / "desktop_cpu.yaml", NODES, overrides={
        "camera_node": {"source": str(assets["video"]), "fps": args.fps, "loop": True},
        "audio_node": {"source": str(assets["audio"]), "sample_rate": 16000, "loop": True},
        "av_sync_node": {"rate_hz": args.rate},
        "emotion_node": {"model_path": str(model.resolve())},
    }, one_process=args.one_process)
    peer = RosPeer("soak_peer")
    emotions = peer.listen(Emotion, "/emotion")
    diag_store = peer.listen(DiagnosticArray, "/diagnostics")
    offset = peer.now_ns() / 1e9 - time.monotonic()
    diag = Diagnostics(diag_store, offset)
    graph = Graph(spec, echo=False, restart=RestartPolicy(max_restarts=10)).start()
    print(f"soak: {', '.join(NODES)} in {', '.join(graph.procs)}; camera {args.fps:.0f} fps (demo clip), audio 16 kHz, "
          f"inference <= {args.rate:.0f} Hz, model {model.name}, {args.minutes:g} min, "
          f"{os.cpu_count()} cores, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}", flush=True)
    if not wait_for(lambda: len(emotions) > 0, 90):
        graph.stop()
        peer.close()
        print("no /emotion within 90 s:\n" + "\n".join(
            f"{n}: {lines[-5:]}" for n, lines in graph.logs.items()), file=sys.stderr)
        return 1

    series = {n: NodeSeries() for n in graph.procs}  # per process: the nodes, or the composed one
    events: list[tuple[float, str]] = []  # (monotonic, what happened)
    pids = {n: p.pid for n, p in graph.procs.items()}
    dead: set[int] = set()
    start = time.monotonic()
    end = start + args.minutes * 60
    next_report, next_sample = start + args.report_s, start
    reports: list[dict] = []
    gaps: list[dict] = []
    scanned = len(emotions)
    last_rx = emotions[-1][0] - offset
    header = False

    def slope_from(t1: float) -> float:
        """The slope leaves out the first minute (model load, caches) once there is more."""
        return start + 60.0 if t1 - start >= 120.0 else start

    try:
        while True:
            now = time.monotonic()
            if now >= end and next_report > end + 1e-6:
                break
            graph.supervise()
            for name, proc in graph.procs.items():
                if proc.pid != pids[name]:
                    events.append((now, f"{name} restarted (restart {graph.restarts[name]})"))
                    pids[name] = proc.pid
                elif proc.poll() is not None and proc.pid not in dead:
                    dead.add(proc.pid)
                    events.append((now, f"{name} died (exit {proc.returncode})"))
            if now >= next_sample:
                for name, proc in graph.procs.items():
                    series[name].sample(proc.pid, now)
                next_sample += 2.0
            if now >= next_report:
                t0, t1 = next_report - args.report_s, next_report
                msgs = emotions[scanned:]
                scanned += len(msgs)
                window_gaps = []
                for recv, _ in msgs:
                    t = recv - offset
                    if t - last_rx > GAP_S:
                        window_gaps.append((last_rx, t))
                    last_rx = t
                lat = np.array([recv - stamp_ns(m.header.stamp) / 1e9 for recv, m in msgs]) * 1e3
                row = {
                    "minute": round((t1 - start) / 60, 2),
                    "emotion": len(msgs), "rate_hz": len(msgs) / args.report_s,
                    "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                    "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
                    "nodes": {n: {"rss_mb": s.samples[-1][1] if s.samples else float("nan"),
                                  "cpu_percent": s.cpu_percent(t0, t1),
                                  "rss_slope_mb_min": s.rss_slope(slope_from(t1), t1)}
                              for n, s in series.items()},
                    "deaths": sum(1 for _, e in events if "died" in e),
                    "restarts": dict(graph.restarts),
                    "load_avg_1min": os.getloadavg()[0],
                }
                for g0, g1 in window_gaps:
                    gaps.append({"at_min": round((g0 - start) / 60, 2), "length_s": round(g1 - g0, 2),
                                 "cause": gap_cause(diag, events, g0, g1)})
                row["gaps"] = [g for g in gaps if t0 - GAP_S <= start + g["at_min"] * 60 <= t1]
                reports.append(row)
                if not header:
                    print(f"{'min':>5} {'/emotion':>8} {'Hz':>5} {'p50ms':>6} {'p99ms':>6} " +
                          " ".join(f"{n.removesuffix('_node'):>22}" for n in series) +
                          "  (RSS MB / CPU % / slope MB/min)",
                          flush=True)
                    header = True
                cells = " ".join(f"{v['rss_mb']:7.1f}/{v['cpu_percent']:5.1f}/{v['rss_slope_mb_min']:+7.3f}"
                                 for v in row["nodes"].values())
                print(f"{row['minute']:5.1f} {row['emotion']:8d} {row['rate_hz']:5.1f} "
                      f"{row['latency_p50_ms']:6.0f} {row['latency_p99_ms']:6.0f} {cells}  "
                      f"gaps>{GAP_S}s: {len(row['gaps'])}  deaths: {row['deaths']}  load {row['load_avg_1min']:.1f}  "
                      f"restarts: {sum(graph.restarts.values())}",
                      flush=True)
                for g in row["gaps"]:
                    print(f"      gap {g['length_s']:.2f} s at {g['at_min']:.2f} min: {g['cause']}", flush=True)
                next_report += args.report_s
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        codes = graph.stop()
        peer.close()

    t_end = time.monotonic()
    steady_from = slope_from(t_end)  # model load and caches: not a leak
    summary = {
        "minutes": (t_end - start) / 60,
        "emotion_total": sum(r["emotion"] for r in reports),
        "latency_p99_ms_worst_minute": max((r["latency_p99_ms"] for r in reports), default=float("nan")),
        "gaps": gaps,
        "events": [(round((t - start) / 60, 2), e) for t, e in events],
        "deaths": sum(1 for _, e in events if "died" in e),
        "restarts": dict(graph.restarts),
        "given_up": list(graph.given_up),
        "exit_codes": codes,
        "rss_slope_mb_min_after_warmup": {n: s.rss_slope(steady_from, t_end) for n, s in series.items()},
        "rss_mb_first_last": {n: (s.samples[0][1], s.samples[-1][1]) if s.samples else None
                              for n, s in series.items()},
        "cpu_percent_mean": {n: s.cpu_percent(start, t_end) for n, s in series.items()},
    }
    print("\nsummary")
    print(f"  ran {summary['minutes']:.1f} min, /emotion {summary['emotion_total']} messages, "
          f"worst minute p99 {summary['latency_p99_ms_worst_minute']:.0f} ms, "
          f"{len(gaps)} gaps > {GAP_S} s, deaths {summary['deaths']}, restarts {summary['restarts']}, "
          f"exit codes {codes}")
    for n in series:
        first_last = summary["rss_mb_first_last"][n]
        print(f"  {n:<13} RSS {first_last[0]:.1f} -> {first_last[1]:.1f} MB, slope after warm-up "
              f"{summary['rss_slope_mb_min_after_warmup'][n]:+.3f} MB/min, CPU {summary['cpu_percent_mean'][n]:.1f} %"
              if first_last else f"  {n}: no samples")
    for g in gaps:
        print(f"  gap {g['length_s']:.2f} s at {g['at_min']:.2f} min: {g['cause']}")
    if args.json:
        args.json.write_text(json.dumps({"reports": reports, "summary": summary}, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
