"""Speaker-independent splits: no speaker ever appears in two of train / val / test.

Every split is computed from speaker ids alone and then checked for disjointness, because the
best-known failure of public reproductions was a split that leaked actors between train and
test (inflating RAVDESS accuracy to 92 %).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from .records import ClipRecord, DatasetError


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def check(self) -> "Split":
        sets = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = sets[a] & sets[b]
            if shared:
                raise DatasetError(f"speakers {sorted(shared)} are in both {a} and {b}")
        if not self.train:
            raise DatasetError("the split leaves no training speakers")
        return self

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    def part_of(self, speaker: str) -> str | None:
        for name in ("train", "val", "test"):
            if speaker in getattr(self, name):
                return name
        return None


def speakers_of(records: Sequence[ClipRecord]) -> list[str]:
    return sorted({r.speaker for r in records}, key=lambda s: (len(s), s))


def speaker_folds(speakers: Sequence[str], folds: int, seed: int = 0) -> list[list[str]]:
    """Partition speakers into ``folds`` groups of near-equal size (seeded shuffle, then
    round-robin), so fold membership does not depend on file-system listing order."""
    if not 2 <= folds <= len(speakers):
        raise DatasetError(f"{folds} folds need 2..{len(speakers)} speakers")
    order = sorted(speakers, key=lambda s: (len(s), s))
    if seed >= 0:
        random.Random(seed).shuffle(order)
    groups: list[list[str]] = [[] for _ in range(folds)]
    for i, speaker in enumerate(order):
        groups[i % folds].append(speaker)
    return [sorted(g, key=lambda s: (len(s), s)) for g in groups]


def kfold_split(speakers: Sequence[str], folds: int, fold: int, val_folds: int = 1,
                seed: int = 0) -> Split:
    """Fold ``fold`` is the test set; the next ``val_folds`` groups validate; the rest train."""
    if not 0 <= fold < folds:
        raise DatasetError(f"fold {fold} outside 0..{folds - 1}")
    if not 0 <= val_folds <= folds - 2:
        raise DatasetError(f"val_folds {val_folds} outside 0..{folds - 2}")
    groups = speaker_folds(speakers, folds, seed)
    val_idx = {(fold + 1 + k) % folds for k in range(val_folds)}
    train = [s for i, g in enumerate(groups) if i != fold and i not in val_idx for s in g]
    val = [s for i in sorted(val_idx) for s in groups[i]]
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(groups[fold])).check()


def fixed_split(speakers: Sequence[str], test: Sequence[str], val: Sequence[str]) -> Split:
    """Explicit test and validation speakers; every other speaker trains."""
    known = set(speakers)
    unknown = sorted((set(test) | set(val)) - known)
    if unknown:
        raise DatasetError(f"split names speakers {unknown} that the dataset does not have")
    held = set(test) | set(val)
    train = tuple(s for s in speakers if s not in held)
    return Split(train, tuple(val), tuple(test)).check()


def make_split(records: Sequence[ClipRecord], cfg) -> Split:
    """Split from a ``SplitConfig``."""
    speakers = speakers_of(records)
    if cfg.protocol == "fixed":
        return fixed_split(speakers, [str(s) for s in cfg.test_speakers],
                           [str(s) for s in cfg.val_speakers])
    return kfold_split(speakers, cfg.folds, cfg.fold, cfg.val_folds, cfg.shuffle_seed)
