"""Summaries of an /emotion stream: a printable table row, statistics and a plot."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class EmotionRecord:
    """What a subscriber saw of one Emotion message."""

    stamp_s: float
    latency_ms: float
    label: str
    confidence: float
    class_names: list[str]
    probabilities: list[float]
    face_present: bool
    voice_present: bool
    face_weight: float
    voice_weight: float
    audio_status: int


TABLE_HEADER = f"{'t [s]':>8} {'label':>10} {'conf':>5} {'face':>4} {'voice':>5} {'w_face':>6} {'w_voice':>7} {'latency':>9}"


def table_row(r: EmotionRecord, t0: float = 0.0) -> str:
    """One line per message; ``t0`` = stamp of the first message, so times start at 0."""
    return (f"{r.stamp_s - t0:8.2f} {r.label:>10} {r.confidence:5.2f} {'yes' if r.face_present else '-':>4} "
            f"{'yes' if r.voice_present else '-':>5} {r.face_weight:6.2f} {r.voice_weight:7.2f} "
            f"{r.latency_ms:7.1f}ms")


def summarize(records: Sequence[EmotionRecord]) -> dict:
    if not records:
        return {"messages": 0}
    lat = np.array([r.latency_ms for r in records])
    labels = [r.label for r in records]
    counts = {name: labels.count(name) for name in sorted(set(labels))}
    stamps = np.array([r.stamp_s for r in records])
    span = float(stamps.max() - stamps.min()) if len(stamps) > 1 else 0.0
    return {
        "messages": len(records),
        "rate_hz": (len(records) - 1) / span if span > 0 else 0.0,
        "latency_ms": {"p50": float(np.percentile(lat, 50)), "p90": float(np.percentile(lat, 90)),
                       "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
                       "mean": float(lat.mean())},
        "labels": counts,
        "dominant_label": max(counts, key=counts.get),
        "face_present_share": float(np.mean([r.face_present for r in records])),
        "voice_present_share": float(np.mean([r.voice_present for r in records])),
    }


def save_report(records: Sequence[EmotionRecord], out_dir: str | Path, title: str = "/emotion") -> dict:
    """Write ``summary.json``, ``emotion_stream.jsonl`` and ``summary.png``; returns the summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    with open(out / "emotion_stream.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(asdict(r)) + "\n")
    if not records:
        return summary
    t0 = records[0].stamp_s
    t = np.array([r.stamp_s - t0 for r in records])
    names = records[0].class_names
    probs = np.array([r.probabilities if len(r.probabilities) == len(names) else [0.0] * len(names)
                      for r in records])
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), gridspec_kw={"height_ratios": [3, 1, 2]})
    axes[0].stackplot(t, probs.T, labels=names)
    axes[0].set_ylabel("probability")
    axes[0].set_ylim(0, 1)
    axes[0].legend(loc="upper left", ncol=min(len(names), 8), fontsize=8)
    axes[0].set_title(f"{title}: {summary['messages']} messages, dominant '{summary['dominant_label']}'")
    axes[1].step(t, [r.face_weight for r in records], label="face weight", where="post")
    axes[1].step(t, [r.voice_weight for r in records], label="voice weight", where="post")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(loc="upper left", fontsize=8)
    axes[1].set_ylabel("fusion")
    lat = [r.latency_ms for r in records]
    axes[2].plot(t, lat, ".", markersize=3)
    axes[2].set_xlabel("time since first frame [s]")
    axes[2].set_ylabel("stamp -> receive [ms]")
    axes[2].set_title(f"latency p50 {summary['latency_ms']['p50']:.1f} ms, "
                      f"p99 {summary['latency_ms']['p99']:.1f} ms")
    fig.tight_layout()
    fig.savefig(out / "summary.png", dpi=100)
    plt.close(fig)
    return summary
