"""A user's own recordings, described by a CSV manifest.

Columns: ``label``, ``speaker``, and at least one of ``video``, ``audio``; optional ``start``,
``end`` (seconds) to cut several labelled segments from one long recording, and ``id``. Paths
may be relative to the manifest's folder. Labels are matched by canonical name
(``emotion_core.labels.canonical``: "anger" → "angry"), so the label set stays explicit.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Optional, Sequence

from ..labels import canonical

from .records import ClipRecord, DatasetError, safe_id

log = logging.getLogger(__name__)

REQUIRED = ("label", "speaker")


def _seconds(value: Optional[str], row: int, column: str) -> Optional[float]:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise DatasetError(f"manifest row {row}: {column}={value!r} is not a number of seconds") from exc


def read_manifest(path: str | Path, label_set: Sequence[str]) -> list[ClipRecord]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest not found: {path}")
    index = {canonical(n): i for i, n in enumerate(label_set)}
    records = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        missing = [c for c in REQUIRED if c not in columns]
        if missing or not columns & {"video", "audio"}:
            raise DatasetError(
                f"{path}: needs columns {list(REQUIRED)} and video and/or audio; has {sorted(columns)}")
        for row_no, row in enumerate(reader, start=2):
            name = canonical(row["label"])
            if name not in index:
                log.warning("%s:%d: label %r not in the label set %s: skipped",
                            path, row_no, row["label"], list(label_set))
                continue
            media = {}
            for col in ("video", "audio"):
                value = (row.get(col) or "").strip()
                if value:
                    p = Path(value)
                    media[col] = str(p if p.is_absolute() else path.parent / p)
            if not media:
                raise DatasetError(f"{path}:{row_no}: neither video nor audio given")
            start = _seconds(row.get("start"), row_no, "start") or 0.0
            end = _seconds(row.get("end"), row_no, "end")
            if end is not None and end <= start:
                raise DatasetError(f"{path}:{row_no}: end {end} <= start {start}")
            ref = media.get("video") or media["audio"]
            clip_id = (row.get("id") or "").strip() or safe_id(
                f"{Path(ref).stem}@{start:.2f}" if row.get("start") else Path(ref).stem)
            records.append(ClipRecord(
                clip_id=f"manifest-{clip_id}", label=index[name], label_name=label_set[index[name]],
                speaker=row["speaker"].strip(), video=media.get("video"), audio=media.get("audio"),
                start_s=start, end_s=end))
    ids = [r.clip_id for r in records]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path}: duplicate clip ids; add an 'id' column")
    if not records:
        raise DatasetError(f"{path}: no usable rows")
    return records
