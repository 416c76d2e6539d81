"""One labelled clip, whatever dataset it comes from."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
import logging
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatasetError(ValueError):
    """A dataset folder, file name or manifest row that cannot be parsed."""


@dataclass(frozen=True)
class ClipRecord:
    """A clip: where its video and audio are, its label (already in the target label set) and
    its speaker, which is what every split is keyed on.

    ``video`` and ``audio`` are recordings of the same take: the audio may be the video's own
    track (``audio`` None) or a separate file that starts at the same instant (RAVDESS
    ``03-…wav`` beside ``01/02-…mp4``, CREMA-D ``AudioWAV`` beside ``VideoFlash``).
    """

    clip_id: str
    label: int
    label_name: str
    speaker: str
    video: Optional[str] = None
    audio: Optional[str] = None
    start_s: float = 0.0
    end_s: Optional[float] = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["meta"] = dict(self.meta)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClipRecord":
        return cls(**data)

    @property
    def sources(self) -> list[str]:
        return [p for p in (self.video, self.audio) if p]


@dataclass
class ScanReport:
    """What a dataset scan found, used and left out, and why, so that a user sees before any
    training which part of the corpus the run learns from (e.g. that song takes are excluded)."""

    dataset: str
    root: str = ""
    #: Media files with the dataset's extensions (parsable or not).
    files: int = 0
    #: Distinct takes among the parsable names (all channels, all labels).
    takes: int = 0
    used: int = 0
    #: Reason -> number of takes (or files, for unparsable names) left out.
    skipped: Counter = field(default_factory=Counter)
    #: Reason -> number of used takes that have one modality only.
    partial: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1, example: str = "") -> None:
        self.skipped[reason] += count
        if example and reason not in self.examples:
            self.examples[reason] = example

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        left = sum(self.skipped.values())
        out = [f"{self.dataset} at {self.root}: {self.files} media files, {self.takes} takes found, "
               f"{self.used} used, {left} skipped"]
        for reason, count in sorted(self.skipped.items()):
            example = f" (e.g. {self.examples[reason]})" if reason in self.examples else ""
            out.append(f"  skipped {count:5d}: {reason}{example}")
        for reason, count in sorted(self.partial.items()):
            out.append(f"  used    {count:5d}: {reason}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "root": self.root, "files": self.files, "takes": self.takes,
                "used": self.used, "skipped": dict(self.skipped), "partial": dict(self.partial)}


def safe_id(path: str | Path) -> str:
    """A file-system-safe clip id from a relative path."""
    return str(path).replace("/", "__").replace("\\", "__").replace(" ", "_")


def scan_named(root: Path, exts: Sequence[str], parse: Callable[[str], T],
               skipped: list[str]) -> Iterator[tuple[Path, T]]:
    """Media files under ``root`` (sorted) whose names ``parse``; a name that does not parse is
    logged and appended to ``skipped`` instead of stopping a long scan."""
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in exts or path.name.startswith("."):
            continue
        try:
            yield path, parse(path.name)
        except DatasetError as exc:
            log.warning("skipping %s", exc)
            skipped.append(path.name)
