"""Ground truth for recorded data: labelled time ranges on the recording's stamp axis.

A bag is labelled either by a CSV of time ranges (what a person annotating a recording writes)
or by the segments the dataset converter stores in the bag's ``metadata.yaml`` ``custom_data``
(so a converted clip carries its own label wherever the bag goes). Both become a
``LabelTimeline`` of absolute stamps, which is what ``/emotion`` header stamps are compared to.
"""
from __future__ import annotations

import bisect
import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

NS = 1_000_000_000
#: ``custom_data`` key of the label segments in a bag's metadata.yaml.
METADATA_KEY = "emotion_ros.labels"


class LabelError(ValueError):
    """A labels file or metadata entry that cannot be used as ground truth."""


@dataclass(frozen=True)
class LabelSegment:
    """``label`` holds for stamps in ``[start_ns, end_ns)``."""

    start_ns: int
    end_ns: int
    label: str
    clip_id: str = ""

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise LabelError(f"segment {self.clip_id or self.label!r}: end {self.end_ns} <= start {self.start_ns}")
        if not self.label.strip():
            raise LabelError(f"segment {self.clip_id!r} at {self.start_ns / NS:.3f} s has no label")

    @property
    def name(self) -> str:
        return self.clip_id or f"{self.label}@{self.start_ns / NS:.3f}"


class LabelTimeline:
    """Non-overlapping segments sorted by start; ``segment_at`` is a binary search."""

    def __init__(self, segments: Sequence[LabelSegment] = ()) -> None:
        self.segments = sorted(segments, key=lambda s: s.start_ns)
        for a, b in zip(self.segments, self.segments[1:]):
            if b.start_ns < a.end_ns:
                raise LabelError(f"label segments overlap: {a.name} ends at {a.end_ns / NS:.3f} s, "
                                 f"{b.name} starts at {b.start_ns / NS:.3f} s")
        self._starts = [s.start_ns for s in self.segments]

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[LabelSegment]:
        return iter(self.segments)

    def segment_at(self, stamp_ns: int) -> Optional[LabelSegment]:
        i = bisect.bisect_right(self._starts, stamp_ns) - 1
        if i >= 0 and stamp_ns < self.segments[i].end_ns:
            return self.segments[i]
        return None

    def merged(self, other: "LabelTimeline") -> "LabelTimeline":
        return LabelTimeline([*self.segments, *other.segments])

    @property
    def labels(self) -> list[str]:
        return sorted({s.label for s in self.segments})

    def to_json(self) -> str:
        return json.dumps([asdict(s) for s in self.segments])

    @classmethod
    def from_json(cls, text: str) -> "LabelTimeline":
        try:
            rows = json.loads(text)
            return cls([LabelSegment(int(r["start_ns"]), int(r["end_ns"]), str(r["label"]),
                                     str(r.get("clip_id", ""))) for r in rows])
        except (ValueError, KeyError, TypeError) as exc:
            raise LabelError(f"invalid label segments in bag metadata ({METADATA_KEY}): {exc}") from exc


def _seconds(row: Mapping[str, str], key: str, where: str) -> Optional[float]:
    value = (row.get(key) or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise LabelError(f"{where}: {key}={value!r} is not a number of seconds") from exc


def _bag_start(row: Mapping[str, str], bag_starts: Mapping[str, int], where: str) -> int:
    bag = (row.get("bag") or "").strip()
    if bag:
        if bag not in bag_starts:
            raise LabelError(f"{where}: bag {bag!r} is not among {sorted(bag_starts)}")
        return bag_starts[bag]
    if len(bag_starts) != 1:
        raise LabelError(f"{where}: relative times with several bags need a 'bag' column")
    return next(iter(bag_starts.values()))


def read_labels_csv(path: str | Path, bag_starts: Mapping[str, int]) -> LabelTimeline:
    """Segments from a CSV with columns ``label`` and either ``start``/``end`` (seconds from the
    start of the bag; with several bags a ``bag`` column names the bag folder) or
    ``start_stamp``/``end_stamp`` (absolute stamps in seconds). Optional: ``id``.

    ``bag_starts`` maps bag folder names to their first message time [ns].
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"labels file not found: {path}")
    segments = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or ())
        relative = {"start", "end"} <= cols
        absolute = {"start_stamp", "end_stamp"} <= cols
        if "label" not in cols or not (relative or absolute):
            raise LabelError(f"{path}: needs a 'label' column and start/end (seconds into the bag) "
                             f"or start_stamp/end_stamp (absolute); has {sorted(cols)}")
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            keys = ("start", "end") if relative else ("start_stamp", "end_stamp")
            start, end = (_seconds(row, k, where) for k in keys)
            if start is None or end is None:
                raise LabelError(f"{where}: needs both {keys[0]} and {keys[1]}")
            base = _bag_start(row, bag_starts, where) if relative else 0
            segments.append(LabelSegment(base + round(start * NS), base + round(end * NS),
                                         row["label"].strip(), (row.get("id") or "").strip()))
    if not segments:
        raise LabelError(f"{path}: no label rows")
    return LabelTimeline(segments)
