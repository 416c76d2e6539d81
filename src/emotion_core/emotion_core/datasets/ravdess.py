"""RAVDESS (Livingstone & Russo 2018): 24 actors, file names ``MM-VV-EE-II-SS-RR-AA.ext``.

Fields: modality (01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song),
emotion (01 neutral … 08 surprised), intensity (01 normal, 02 strong), statement (01, 02),
repetition (01, 02), actor (01–24; odd male, even female). The three modalities of one take
share the last six fields, so an audio-only ``03-…wav`` is the exact audio of ``01/02-…mp4``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..labels import RAVDESS8, map_labels

from .records import ClipRecord, DatasetError, ScanReport, scan_named

log = logging.getLogger(__name__)

MODALITIES = {"01": "full-av", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
VIDEO_EXTS = (".mp4",)
AUDIO_EXTS = (".wav",)


@dataclass(frozen=True)
class RavdessName:
    """The seven fields of a RAVDESS file name."""

    modality: str
    channel: str
    emotion: int  # 0-based index into RAVDESS8
    intensity: str
    statement: int
    repetition: int
    actor: int

    @property
    def take(self) -> str:
        """Identifies the take across its three modality files."""
        return f"{self.channel}-{self.emotion + 1:02d}-{self.intensity}-{self.statement:02d}-" \
               f"{self.repetition:02d}-{self.actor:02d}"

    @property
    def gender(self) -> str:
        return "male" if self.actor % 2 else "female"


def parse_name(name: str) -> RavdessName:
    """Parse ``01-01-05-01-02-01-12.mp4``; raise DatasetError on anything else."""
    parts = Path(name).stem.split("-")
    if len(parts) != 7 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise DatasetError(f"{name!r} is not a RAVDESS name MM-VV-EE-II-SS-RR-AA")
    mod, chan, emo, inten, stmt, rep, actor = parts
    if mod not in MODALITIES or chan not in CHANNELS or inten not in INTENSITIES:
        raise DatasetError(f"{name!r}: modality/channel/intensity code out of range")
    if not 1 <= int(emo) <= 8 or not 1 <= int(actor) <= 24 or stmt not in ("01", "02") \
            or rep not in ("01", "02"):
        raise DatasetError(f"{name!r}: emotion/statement/repetition/actor code out of range")
    return RavdessName(MODALITIES[mod], CHANNELS[chan], int(emo) - 1, INTENSITIES[inten],
                       int(stmt), int(rep), int(actor))


def scan_ravdess(root: str | Path, label_set: Sequence[str] = RAVDESS8,
                 channel: str = "speech", report: Optional[ScanReport] = None) -> list[ClipRecord]:
    """One record per take that has a video, pairing each video with its audio-only file.

    A take with only a ``03`` wav becomes an audio-only record; a full-AV video without a wav
    uses its own audio track. Emotions absent from ``label_set`` (e.g. calm in Ekman-7) are
    dropped, explicitly, through ``emotion_core.labels.map_labels``. ``report`` receives the
    counts of takes found, used and skipped per reason (other vocal channel, label outside the
    set, unparsable name) and of takes used with one modality.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"RAVDESS root {root} is not a folder")
    report = report if report is not None else ScanReport("RAVDESS")
    report.root = str(root)
    mapping = map_labels(RAVDESS8, label_set)
    videos: dict[str, tuple[RavdessName, Path]] = {}
    audios: dict[str, Path] = {}
    skipped: list[str] = []
    all_takes: set[str] = set()
    other_channel: dict[str, set[str]] = {}
    parsed = 0
    for path, info in scan_named(root, VIDEO_EXTS + AUDIO_EXTS, parse_name, skipped):
        parsed += 1
        all_takes.add(info.take)
        if channel != "all" and info.channel != channel:
            other_channel.setdefault(info.channel, set()).add(info.take)
            continue
        if info.modality == "audio-only":
            audios[info.take] = path
        elif info.take not in videos or info.modality == "full-av":
            # Prefer the full-AV file: it still has its own audio track as a fallback.
            videos[info.take] = (info, path)
    records = []
    takes = set(videos) | set(audios)
    for take in sorted(takes):
        info, video = videos.get(take, (None, None))
        audio = audios.get(take)
        if info is None:
            info = parse_name(audio.name)  # type: ignore[union-attr]
        if info.emotion not in mapping:
            report.skip(f"label {RAVDESS8[info.emotion]!r} not in data.label_set", example=take)
            continue
        if audio is None and info.modality == "video-only":
            log.warning("take %s has a video-only file and no audio: face only", take)
            report.partial["face only: missing audio (a video-only 02- file and no 03- wav)"] += 1
        elif video is None:
            report.partial["voice only: no video (a 03- wav and no 01-/02- mp4)"] += 1
        ref = video or audio
        assert ref is not None
        target = mapping[info.emotion]
        records.append(ClipRecord(
            clip_id=f"ravdess-{take}", label=target, label_name=label_set[target],
            speaker=f"{info.actor:02d}",
            video=str(video) if video else None, audio=str(audio) if audio else None,
            meta={"modality": info.modality, "channel": info.channel, "intensity": info.intensity,
                  "statement": info.statement, "repetition": info.repetition,
                  "gender": info.gender, "emotion": RAVDESS8[info.emotion]}))
    for other, takes in sorted(other_channel.items()):
        report.skip(f"{other} takes (data.ravdess_channel={channel}; 'all' uses speech and song)",
                    len(takes))
    if skipped:
        report.skip("unparsable file names (not MM-VV-EE-II-SS-RR-AA)", len(skipped), skipped[0])
    report.files = parsed + len(skipped)
    report.takes, report.used = len(all_takes), len(records)
    if not records:
        found = f" ({'; '.join(report.lines()[1:]).strip()})" if report.skipped else ""
        raise DatasetError(f"no usable RAVDESS takes under {root}{found} "
                           f"(expected e.g. Actor_01/01-01-05-01-02-01-01.mp4)")
    log.info("RAVDESS: %d takes from %s (%d unparsable names skipped)", len(records), root, len(skipped))
    return records
