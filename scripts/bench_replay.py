#!/usr/bin/env python3
"""Replay benchmark: how fast labelled bags go through the running graph.

Writes ``--clips`` labelled clip bags (scikit-image's astronaut, animated, plus a synthetic
voice; 640x480 bgr8 at ``--fps``, 50 ms S16LE audio chunks), then evaluates them through
av_sync_node + emotion_node with the default model of the params file:

- paced (as fast as the graph keeps up, no drops): replay speed in x real time and evaluation
  throughput in clips per second;
- optionally ``--realtime``: the same bags at 1x, with the drops a live robot would see.

    source scripts/env.sh
    python scripts/bench_replay.py --clips 20 --seconds 2 --realtime
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from emotion_core.tools.assets import astronaut_frames, synthetic_voice  # noqa: E402
from emotion_core.labels_timeline import METADATA_KEY, LabelSegment, LabelTimeline  # noqa: E402
from emotion_core.offline import ClipTiming  # noqa: E402
from emotion_recorded.bag_messages import (IMAGE_TOPIC, INFO_TOPIC, audio_items, image_msg,  # noqa: E402
                                           info_msg, write_bag)
from emotion_recorded.evaluate import EvalConfig, evaluate  # noqa: E402

NS = 1_000_000_000
LABELS = ("happy", "neutral", "sad", "surprise")


def write_clips(folder: Path, n: int, seconds: float, fps: int) -> list[Path]:
    frames = list(astronaut_frames(seconds, fps, (640, 480)))
    voice = synthetic_voice(seconds)
    bags, base = [], 1_700_000_000 * NS
    for i in range(n):
        timing = ClipTiming(base, float(fps), 16000, 800)
        items = [(INFO_TOPIC, base, info_msg(16000))]
        items += [(IMAGE_TOPIC, timing.frame_stamp(k), image_msg(timing.frame_stamp(k), f))
                  for k, f in enumerate(frames)]
        items += audio_items(timing.chunks(voice), 16000)
        end = base + int(seconds * NS)
        labels = LabelTimeline([LabelSegment(base, end, LABELS[i % len(LABELS)], f"clip{i:03d}")])
        bags.append(write_bag(folder / f"clip{i:03d}", items, "mcap", {METADATA_KEY: labels.to_json()}).path)
        base = end + 5 * NS
    return bags


def run(bags: list[Path], out: Path, args, paced: bool) -> dict:
    cfg = EvalConfig(bags, out, model=args.model, params_file=args.params_file, paced=paced,
                     rate_hz=args.rate_hz)
    t0 = time.monotonic()
    report = evaluate(cfg, log=lambda *_: None)
    report["total_wall_s"] = time.monotonic() - t0
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=20)
    p.add_argument("--seconds", type=float, default=2.0, help="length of each clip")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--model", type=Path, help="default: the params file's model")
    p.add_argument("--params-file", type=Path, default=ROOT / "config" / "desktop_cpu.yaml")
    p.add_argument("--rate-hz", type=float, help="inference rate (default: the params file's)")
    p.add_argument("--realtime", action="store_true", help="also replay at 1x real time")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_replay_") as tmp:
        t0 = time.monotonic()
        bags = write_clips(Path(tmp) / "bags", args.clips, args.seconds, args.fps)
        write_s = time.monotonic() - t0
        modes = {"paced": run(bags, Path(tmp) / "paced", args, True)}
        if args.realtime:
            modes["realtime 1x"] = run(bags, Path(tmp) / "realtime", args, False)

    first = next(iter(modes.values()))
    content = args.clips * args.seconds
    print(f"model {first['model_name']} ({first['model']}); {args.clips} clips x {args.seconds:.1f} s, "
          f"640x480 @ {args.fps} fps + 16 kHz audio ({content:.0f} s of content; bags written in {write_s:.1f} s)")
    print(f"{'mode':>12} {'replay':>9} {'clips/s':>8} {'estimates':>9} {'lat p50':>8} {'lat p99':>8} "
          f"{'dropped':>8} {'wall':>7} {'+startup':>9}")
    figures = {}
    for name, r in modes.items():
        dropped = sum(r["dropped"].values()) - r["dropped"]["player_stalls"]
        print(f"{name:>12} {r['replay_speed_x']:8.2f}x {r['clips_per_s']:8.2f} {r['frames']['estimates']:9d} "
              f"{r['latency_ms']['p50']:6.1f}ms {r['latency_ms']['p99']:6.1f}ms {dropped:8d} "
              f"{r['wall_s']:6.1f}s {r['total_wall_s']:8.1f}s")
        if dropped:
            print(f"{'':>12} dropped: {r['dropped']}")
        figures[name] = {k: r[k] for k in ("replay_speed_x", "clips_per_s", "wall_s", "total_wall_s",
                                           "latency_ms", "dropped", "frames")}
    if args.json:
        args.json.write_text(json.dumps({"model": first["model"], "clips": args.clips,
                                         "seconds": args.seconds, "fps": args.fps, "modes": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
