#!/usr/bin/env python3
"""Start and stop the whole graph many times, optionally beside CPU-burning processes, and count
the node processes that did not end cleanly (exit status other than 0, or a traceback in the
log). Shutdown races (a signal landing inside rclpy's message conversion or mid-publish) show
up here and nowhere else, so this is the figure that says the graph starts and stops reliably.

    source scripts/env.sh
    python scripts/repeat_graph.py --runs 20 --duration 10 --load 2
    python scripts/repeat_graph.py --runs 20 --duration 10 --load 2 --one-process
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))

from emotion_ros.graph import NODES, Graph, GraphSpec  # noqa: E402

CLEAN = (0, -2, 130)  # exited by itself, or by the SIGINT the runner sends


@dataclass
class RunResult:
    codes: dict[str, int]
    tracebacks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def deaths(self) -> list[str]:
        return sorted({n for n, c in self.codes.items() if c not in CLEAN} | set(self.tracebacks))


def _burn(stop: "mp.synchronize.Event") -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 31 + 7) % 1_000_003


class CpuLoad:
    """``n`` processes spinning on the CPU: the busy robot (or CI machine) the graph must survive."""

    def __init__(self, n: int) -> None:
        self._stop = mp.Event()
        self._procs = [mp.Process(target=_burn, args=(self._stop,), daemon=True) for _ in range(n)]

    def __enter__(self) -> "CpuLoad":
        for p in self._procs:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for p in self._procs:
            p.join(timeout=5)


def synthetic_spec(params_file: Path = ROOT / "config" / "desktop_cpu.yaml", one_process: bool = False) -> GraphSpec:
    return GraphSpec(params_file, NODES, overrides={"camera_node": {"source": "synthetic"},
                                                    "audio_node": {"source": "synthetic"}},
                     one_process=one_process)


def run_once(spec: GraphSpec, duration_s: float) -> RunResult:
    graph = Graph(spec, echo=False).start()
    try:
        time.sleep(duration_s)
    finally:
        codes = graph.stop()
    tracebacks = {n: lines for n, lines in graph.logs.items()
                  if any("Traceback" in line for line in lines)}
    return RunResult(codes, tracebacks)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--duration", type=float, default=10.0, help="seconds each run lasts before Ctrl-C")
    p.add_argument("--load", type=int, default=0, help="CPU-burning processes beside the graph")
    p.add_argument("--one-process", action="store_true", help="all nodes in one process")
    args = p.parse_args(argv)
    spec = synthetic_spec(one_process=args.one_process)
    deaths = 0
    started = time.monotonic()
    with CpuLoad(args.load):
        for i in range(1, args.runs + 1):
            result = run_once(spec, args.duration)
            deaths += len(result.deaths)
            status = "clean" if not result.deaths else f"DIED: {', '.join(result.deaths)}"
            print(f"run {i:3d}/{args.runs}: {status}  exit codes {result.codes}", flush=True)
            for name, lines in result.tracebacks.items():
                print("\n".join(f"    [{name}] {line}" for line in lines[-15:]))
    print(f"\n{args.runs} runs x {args.duration:.0f} s with {args.load} CPU burner(s): "
          f"{deaths} process death(s) in {args.runs * len(spec.processes())} process runs "
          f"({len(spec.nodes)} nodes each run) "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if deaths else 0


if __name__ == "__main__":
    sys.exit(main())
