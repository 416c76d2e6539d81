"""Scoring a stream of emotion estimates against labelled time ranges, and comparing two
evaluations of the same clips (offline recognizer vs. bag replay through the graph).

Frame level: every estimate inside a labelled segment. Segment (clip) level: the mean of the
segment's probabilities, as training's clip-level evaluation does. An estimate without usable
input (label ``unknown``) and a segment without any estimate count as wrong, never as skipped.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from .labels import canonical
from .labels_timeline import LabelTimeline
from .metrics import latency_summary, score_with_missing
from .recognizer import UNKNOWN


@dataclass(frozen=True)
class Estimate:
    """What an evaluation keeps of one estimate (an /emotion message or an offline result)."""

    stamp_ns: int
    label: str
    probabilities: tuple[float, ...]
    face_present: bool = False
    voice_present: bool = False
    audio_status: int = 0
    latency_ms: float = math.nan

    @property
    def usable(self) -> bool:
        return self.label != UNKNOWN and len(self.probabilities) > 0


def score_estimates(estimates: Sequence[Estimate], timeline: LabelTimeline,
                    class_names: Sequence[str]) -> dict[str, Any]:
    """Frame- and segment-level metrics over the model's classes, plus what could not be scored."""
    index = {canonical(n): i for i, n in enumerate(class_names)}
    frame_true: list[int] = []
    frame_pred: list[int] = []
    by_segment: dict[str, list[np.ndarray]] = {}
    frames_in: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    outside = 0
    for e in estimates:
        seg = timeline.segment_at(e.stamp_ns)
        if seg is None:
            outside += 1
            continue
        truth = index.get(canonical(seg.label))
        if truth is None:
            unmapped[seg.label] += 1
            continue
        frames_in[seg.name] += 1
        usable = e.usable and len(e.probabilities) == len(class_names)
        frame_true.append(truth)
        frame_pred.append(int(np.argmax(e.probabilities)) if usable else -1)
        if usable:
            by_segment.setdefault(seg.name, []).append(np.asarray(e.probabilities, np.float64))

    seg_true, seg_pred, segments = [], [], []
    for seg in timeline:
        truth = index.get(canonical(seg.label))
        if truth is None:
            unmapped.setdefault(seg.label, 0)
            continue
        probs = by_segment.get(seg.name)
        mean = np.mean(probs, axis=0) if probs else None
        pred = int(np.argmax(mean)) if mean is not None else -1
        seg_true.append(truth)
        seg_pred.append(pred)
        segments.append({"id": seg.name, "label": class_names[truth],
                         "predicted": class_names[pred] if pred >= 0 else None,
                         "frames": frames_in[seg.name],
                         "probabilities": mean.round(6).tolist() if mean is not None else []})
    labels = list(class_names)
    return {
        "labels": labels,
        "frame_level": score_with_missing(frame_true, frame_pred, labels),
        "segment_level": score_with_missing(seg_true, seg_pred, labels),
        "segments": segments,
        "estimates": len(estimates),
        "estimates_outside_labels": outside,
        "unmapped_labels": dict(unmapped),
    }


def modality_shares(estimates: Sequence[Estimate]) -> dict[str, Any]:
    """Share of estimates with no face / no voice, and the audio status of their pairs."""
    if not estimates:
        return {"no_face_share": 0.0, "no_voice_share": 0.0, "audio_status": {}}
    names = {0: "ok", 1: "partial", 2: "stale", 3: "missing"}
    status = Counter(names.get(e.audio_status, str(e.audio_status)) for e in estimates)
    return {"no_face_share": float(np.mean([not e.face_present for e in estimates])),
            "no_voice_share": float(np.mean([not e.voice_present for e in estimates])),
            "audio_status": dict(status)}


def latency_of(estimates: Sequence[Estimate]) -> dict[str, float]:
    return latency_summary([e.latency_ms for e in estimates if not math.isnan(e.latency_ms)])


def compare_segments(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Agreement of two segment-level evaluations of the same clips: share of clips with the
    same predicted label, and the largest / mean absolute difference of their mean probabilities."""
    b_by_id = {s["id"]: s for s in b}
    common = [(s, b_by_id[s["id"]]) for s in a if s["id"] in b_by_id]
    diffs = [np.abs(np.asarray(x["probabilities"]) - np.asarray(y["probabilities"])).max()
             for x, y in common if len(x["probabilities"]) and len(x["probabilities"]) == len(y["probabilities"])]
    return {
        "clips_compared": len(common),
        "clips_missing": len(a) + len(b) - 2 * len(common),
        "label_agreement": float(np.mean([x["predicted"] == y["predicted"] for x, y in common])) if common else 0.0,
        "max_abs_prob_diff": float(max(diffs)) if diffs else math.nan,
        "mean_abs_prob_diff": float(np.mean(diffs)) if diffs else math.nan,
    }


def compare_frames(a: Iterable[Estimate], b: Iterable[Estimate]) -> dict[str, Any]:
    """Agreement frame by frame (matched by stamp): label agreement and probability difference."""
    b_by_stamp = {e.stamp_ns: e for e in b}
    pairs = [(x, b_by_stamp[x.stamp_ns]) for x in a if x.stamp_ns in b_by_stamp]
    diffs = [float(np.abs(np.subtract(x.probabilities, y.probabilities)).max())
             for x, y in pairs if x.usable and y.usable and len(x.probabilities) == len(y.probabilities)]
    return {"frames_compared": len(pairs),
            "label_agreement": float(np.mean([x.label == y.label for x, y in pairs])) if pairs else 0.0,
            "max_abs_prob_diff": float(max(diffs)) if diffs else math.nan,
            "mean_abs_prob_diff": float(np.mean(diffs)) if diffs else math.nan}


def _metric_line(name: str, m: Optional[Mapping[str, Any]]) -> str:
    if not m:
        return f"{name:8s} -"
    return (f"{name:8s} accuracy {m['accuracy']:.3f}  UAR {m['uar']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
            f"weighted-F1 {m['weighted_f1']:.3f}  ({m['samples']} scored, "
            f"{m.get('without_prediction', 0)} without prediction)")


def format_report(report: Mapping[str, Any]) -> str:
    """A short human-readable summary of an evaluation report (the JSON has everything)."""
    s = report.get("scores", {})
    lines = [f"model    {report.get('model', '?')}",
             f"bags     {len(report.get('bags', []))}  mode {report.get('mode', '?')}  "
             f"wall {report.get('wall_s', 0):.1f} s  ({report.get('replay_speed_x', 0):.1f}x real time)",
             _metric_line("clips", s.get("segment_level")),
             _metric_line("frames", s.get("frame_level"))]
    seg = s.get("segment_level")
    if seg:
        recall = "  ".join(f"{k} {v['recall']:.2f}" for k, v in seg["per_class"].items() if v["support"])
        lines.append(f"recall   {recall}")
    lat = report.get("latency_ms", {})
    if lat.get("count"):
        lines.append(f"latency  p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms")
    mod = report.get("modalities", {})
    if mod:
        lines.append(f"inputs   no face {100 * mod['no_face_share']:.1f}%  no voice "
                     f"{100 * mod['no_voice_share']:.1f}%  audio {mod.get('audio_status', {})}")
    drops = report.get("dropped", {})
    if drops:
        lines.append("dropped  " + "  ".join(f"{k} {v}" for k, v in drops.items()))
    skipped = {k: v for k, v in report.get("skipped", {}).items() if v}
    lines.append("skipped  " + ("  ".join(f"{k} {v}" for k, v in skipped.items()) if skipped else "nothing"))
    problems = {k: v for k, v in report.get("bag_problems", {}).items() if v and k != "passes"}
    if problems:
        lines.append("in bags  " + "  ".join(f"{k} {v}" for k, v in problems.items()))
    agree = report.get("agreement")
    if agree:
        lines.append(f"offline  {agree['clips_compared']} clips: label agreement {agree['label_agreement']:.3f}, "
                     f"max |dp| {agree['max_abs_prob_diff']:.2e} (tolerance {agree.get('tolerance', '?')}): "
                     f"{'PASS' if agree.get('within_tolerance') else 'FAIL'}")
    return "\n".join(lines)
