"""Summaries of an /emotion stream (and, per person, of /emotion/faces): printable table rows,
statistics and a plot."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

#: A face at or above this speaking probability is marked as the one speaking (the node's
#: speaker_min_probability default).
SPEAKING = 0.5
#: Messages further apart than this many median periods leave a gap (dropped or shed frames).
GAP_PERIODS = 2.5


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


@dataclass
class FaceRecord:
    """One person's entry of an /emotion/faces message (EmotionArray)."""

    stamp_s: float
    track_id: str
    label: str
    confidence: float
    speaking_probability: float  # NaN: not scored
    voice_used: bool


def speaking_marker(p: float) -> str:
    """``speaking 0.93`` / ``quiet 0.02`` / ``not scored`` (NaN: no audio or too short a history)."""
    if not math.isfinite(p):
        return "not scored"
    return f"{'SPEAKING' if p >= SPEAKING else 'quiet':>8} {p:4.2f}"


def face_row(f: FaceRecord, t0: float = 0.0) -> str:
    """A person's row under the /emotion rows: time, id, label, confidence, speaking marker."""
    return (f"{f.stamp_s - t0:8.2f} {'  ' + f.track_id:>10} {f.label:>10} {f.confidence:5.2f} "
            f"{speaking_marker(f.speaking_probability)}{'  +voice' if f.voice_used else ''}")


def summarize_tracks(faces: Sequence[FaceRecord], t0: float = 0.0) -> dict:
    """Per track id: messages, time span (seconds after ``t0``), label counts and the dominant label, the share of its
    messages marked speaking, and the share that fused the voice."""
    out: dict[str, dict] = {}
    for tid in sorted({f.track_id for f in faces}, key=_track_order):
        mine = [f for f in faces if f.track_id == tid]
        labels = [f.label for f in mine]
        counts = {name: labels.count(name) for name in sorted(set(labels))}
        speaking = [f.speaking_probability for f in mine]
        out[tid] = {
            "messages": len(mine),
            "first_s": round(float(min(f.stamp_s for f in mine)) - t0, 3),
            "last_s": round(float(max(f.stamp_s for f in mine)) - t0, 3),
            "labels": counts,
            "dominant_label": max(counts, key=counts.get),  # type: ignore[arg-type]
            "speaking_share": float(np.mean([math.isfinite(p) and p >= SPEAKING for p in speaking])),
            "scored_share": float(np.mean([math.isfinite(p) for p in speaking])),
            "voice_used_share": float(np.mean([f.voice_used for f in mine])),
        }
    return out


def _track_order(tid: str) -> tuple[int, str]:
    digits = "".join(c for c in tid if c.isdigit())
    return (int(digits) if digits else 1 << 30, tid)


def gaps(stamps: Sequence[float], periods: float = GAP_PERIODS) -> list[tuple[float, float]]:
    """(start, end) of every interval longer than ``periods`` median intervals: frames that were
    dropped, shed or never came. Needs at least 3 stamps to know the period."""
    t = np.sort(np.asarray(stamps, np.float64))
    if t.size < 3:
        return []
    d = np.diff(t)
    period = float(np.median(d))
    if period <= 0:
        return []
    return [(float(t[i]), float(t[i + 1])) for i in np.flatnonzero(d > periods * period)]


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


def save_report(records: Sequence[EmotionRecord], out_dir: str | Path, title: str = "/emotion",
                faces: Sequence[FaceRecord] = ()) -> dict:
    """Write ``summary.json``, ``emotion_stream.jsonl`` and ``summary.png`` (with ``faces``, the
    per-person entries of /emotion/faces, also ``faces_stream.jsonl``, a ``tracks`` section and a
    per-track timeline panel); returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records)
    if records:
        summary["gaps"] = [[round(a - records[0].stamp_s, 3), round(b - records[0].stamp_s, 3)]
                           for a, b in gaps([r.stamp_s for r in records])]
    if faces:
        summary["faces_messages"] = len({f.stamp_s for f in faces})
        summary["tracks"] = summarize_tracks(faces, records[0].stamp_s if records else faces[0].stamp_s)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    with open(out / "emotion_stream.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(asdict(r)) + "\n")
    if faces:
        with open(out / "faces_stream.jsonl", "w") as f:
            for face in faces:
                f.write(json.dumps(asdict(face)) + "\n")
    if records:
        fig = summary_figure(records, faces, summary, title)
        fig.savefig(out / "summary.png", dpi=100)
        import matplotlib.pyplot as plt  # loaded (Agg) by summary_figure

        plt.close(fig)
    return summary


def summary_figure(records: Sequence[EmotionRecord], faces: Sequence[FaceRecord], summary: dict,
                   title: str = "/emotion"):
    """The summary figure (matplotlib, Agg): /emotion probabilities, fusion weights, a timeline
    per person (label as colour, speaking as a black bar under it) and latency. Legends sit right of the axes, off
    the data; gaps in the stream are hatched on every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    t0 = records[0].stamp_s
    t = np.array([r.stamp_s - t0 for r in records])
    names = list(records[0].class_names)
    for f in faces:  # a label no /emotion message carried still gets a colour
        if f.label not in names:
            names.append(f.label)
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(names)}
    probs = np.array([r.probabilities if len(r.probabilities) == len(records[0].class_names)
                      else [0.0] * len(records[0].class_names) for r in records])
    tracks = sorted({f.track_id for f in faces}, key=_track_order)
    panels = 4 if tracks else 3
    ratios = [3, 1, max(1.2, 0.6 * len(tracks)), 2] if tracks else [3, 1, 2]
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.4 + 2.4 * panels), sharex=True,
                             gridspec_kw={"height_ratios": ratios})
    holes = [(a - t0, b - t0) for a, b in gaps([r.stamp_s for r in records])]
    gap_patch = Patch(facecolor="none", edgecolor="0.5", hatch="///", label="gap (no message)")

    ax = axes[0]
    ax.stackplot(t, probs.T, labels=records[0].class_names,
                 colors=[colours[n] for n in records[0].class_names])
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles + [gap_patch], labels + [gap_patch.get_label()], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize=8, title="class", title_fontsize=8)
    ax.set_title(f"{title}: {summary['messages']} messages, dominant '{summary['dominant_label']}', "
                 f"{len(holes)} gap(s) > {GAP_PERIODS:g} periods")

    ax = axes[1]
    ax.step(t, [r.face_weight for r in records], label="face weight", where="post")
    ax.step(t, [r.voice_weight for r in records], label="voice weight", where="post")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("fusion weight")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    if tracks:
        _track_timeline(axes[2], faces, tracks, t0, colours)
    ax = axes[-1]
    lat = [r.latency_ms for r in records]
    ax.plot(t, lat, ".", markersize=3, label="one message")
    ax.set_ylabel("stamp -> receive [ms]")
    ax.set_title(f"latency p50 {summary['latency_ms']['p50']:.1f} ms, "
                 f"p99 {summary['latency_ms']['p99']:.1f} ms")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    for ax in axes:  # every panel says what its x axis is (shared, but printed on each)
        ax.set_xlabel("time since first frame [s]")
        ax.tick_params(labelbottom=True)
        for a, b in holes:
            ax.axvspan(a, b, facecolor="none", edgecolor="0.5", hatch="///", linewidth=0)
    fig.tight_layout()
    return fig


def _track_timeline(ax, faces: Sequence[FaceRecord], tracks: list[str], t0: float,
                    colours: dict) -> None:
    """One row per track id, top to bottom: its label over time as coloured spans (a span ends
    where that person's messages stop for more than GAP_PERIODS periods) and, under it, a black
    bar while the person is marked speaking."""
    from matplotlib.patches import Patch

    stamps = sorted({f.stamp_s for f in faces})
    period = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 0.1
    for row, tid in enumerate(tracks):
        mine = sorted((f for f in faces if f.track_id == tid), key=lambda f: f.stamp_s)
        y = len(tracks) - 1 - row
        for i, f in enumerate(mine):
            nxt: Optional[float] = mine[i + 1].stamp_s if i + 1 < len(mine) else None
            end = nxt if nxt is not None and nxt - f.stamp_s <= GAP_PERIODS * period else f.stamp_s + period
            start = f.stamp_s - t0
            ax.broken_barh([(start, end - f.stamp_s)], (y + 0.05, 0.6), facecolors=colours[f.label])
            if math.isfinite(f.speaking_probability) and f.speaking_probability >= SPEAKING:
                ax.broken_barh([(start, end - f.stamp_s)], (y - 0.3, 0.22), facecolors="black")
    ax.set_yticks([y + 0.17 for y in range(len(tracks))])  # mid-way between label and speaking bars
    ax.set_yticklabels(list(reversed(tracks)))
    ax.set_ylim(-0.45, len(tracks) - 0.2)
    ax.set_ylabel("person (track id)")
    ax.set_title("/emotion/faces: label per person (colour), speaking (black bar)")
    seen = [n for n in colours if any(f.label == n for f in faces)]
    handles = [Patch(facecolor=colours[n], label=n) for n in seen]
    handles.append(Patch(facecolor="black", label=f"speaking (p >= {SPEAKING:g})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
