"""CREMA-D (Cao et al. 2014): 91 actors (1001–1091), names ``ActorID_Sentence_Emotion_Level``.

Emotions ANG DIS FEA HAP NEU SAD; levels LO, MD, HI, XX (unspecified); 12 sentences (IEO,
TIE, …). Video in ``VideoFlash/*.flv``, the same take's audio in ``AudioWAV/*.wav``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..labels import CREMAD6, map_labels

from .records import ClipRecord, DatasetError, ScanReport, scan_named

log = logging.getLogger(__name__)

EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral",
            "SAD": "sad"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
VIDEO_EXTS = (".flv", ".mp4")
AUDIO_EXTS = (".wav",)


@dataclass(frozen=True)
class CremaName:
    actor: str
    sentence: str
    emotion: str  # canonical label name
    level: str

    @property
    def take(self) -> str:
        return f"{self.actor}_{self.sentence}_{self.emotion}_{self.level}"


def parse_name(name: str) -> CremaName:
    """Parse ``1001_DFA_ANG_XX.flv``; raise DatasetError on anything else."""
    match = _NAME.match(Path(name).stem)
    if not match:
        raise DatasetError(f"{name!r} is not a CREMA-D name ActorID_Sentence_Emotion_Level")
    actor, sentence, emo, level = match.groups()
    if emo not in EMOTIONS or level not in LEVELS or sentence not in SENTENCES:
        raise DatasetError(f"{name!r}: unknown emotion, level or sentence code")
    if not 1001 <= int(actor) <= 1091:
        raise DatasetError(f"{name!r}: actor id outside 1001..1091")
    return CremaName(actor, sentence, EMOTIONS[emo], LEVELS[level])


def scan_cremad(root: str | Path, label_set: Sequence[str] = CREMAD6,
                report: Optional[ScanReport] = None) -> list[ClipRecord]:
    """Pair each take's video with its wav (either alone is kept as a one-modality record);
    ``report`` receives the counts found, used and skipped per reason."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"CREMA-D root {root} is not a folder")
    report = report if report is not None else ScanReport("CREMA-D")
    report.root = str(root)
    parsed = 0
    mapping = map_labels(CREMAD6, label_set)
    videos: dict[str, Path] = {}
    audios: dict[str, Path] = {}
    names: dict[str, CremaName] = {}
    skipped: list[str] = []
    for path, info in scan_named(root, VIDEO_EXTS + AUDIO_EXTS, parse_name, skipped):
        parsed += 1
        names[info.take] = info
        (audios if path.suffix.lower() in AUDIO_EXTS else videos)[info.take] = path
    records = []
    for take in sorted(names):
        info = names[take]
        source = CREMAD6.index(info.emotion)
        if source not in mapping:
            report.skip(f"label {info.emotion!r} not in data.label_set", example=take)
            continue
        target = mapping[source]
        video, audio = videos.get(take), audios.get(take)
        if video is None:
            report.partial["voice only: no video (AudioWAV without VideoFlash)"] += 1
        elif audio is None:
            report.partial["face and the video's own audio: no AudioWAV file"] += 1
        records.append(ClipRecord(
            clip_id=f"cremad-{take}", label=target, label_name=label_set[target],
            speaker=info.actor, video=str(video) if video else None,
            audio=str(audio) if audio else None,
            meta={"sentence": info.sentence, "level": info.level, "emotion": info.emotion}))
    if skipped:
        report.skip("unparsable file names (not ActorID_Sentence_Emotion_Level)", len(skipped), skipped[0])
    report.files, report.takes, report.used = parsed + len(skipped), len(names), len(records)
    if not records:
        raise DatasetError(f"no CREMA-D files under {root} (expected VideoFlash/1001_DFA_ANG_XX.flv)")
    log.info("CREMA-D: %d takes from %s (%d unparsable names skipped)", len(records), root, len(skipped))
    return records
