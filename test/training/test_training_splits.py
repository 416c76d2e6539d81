"""Splits are speaker-independent by construction and checked."""
from __future__ import annotations

import pytest

from emotion_training.datasets import DatasetError, Split, kfold_split
from emotion_training.datasets.splits import fixed_split

ACTORS = [f"{i:02d}" for i in range(1, 25)]


@pytest.mark.parametrize("folds", [5, 6])
def test_kfold_is_speaker_independent_and_covers_every_actor_once(folds):
    tested = []
    for fold in range(folds):
        split = kfold_split(ACTORS, folds, fold, val_folds=1, seed=0)
        assert not set(split.train) & set(split.test)
        assert not set(split.train) & set(split.val)
        assert not set(split.val) & set(split.test)
        assert set(split.train) | set(split.val) | set(split.test) == set(ACTORS)
        tested += split.test
    assert sorted(tested) == ACTORS


def test_kfold_does_not_depend_on_listing_order():
    assert kfold_split(ACTORS, 5, 2) == kfold_split(list(reversed(ACTORS)), 5, 2)


def test_fixed_split_trains_on_the_rest():
    split = fixed_split(ACTORS, test=["01", "02", "03", "04"], val=["05", "06", "07", "08"])
    assert len(split.train) == 16 and "09" in split.train and "01" not in split.train


def test_leaks_and_unknown_speakers_are_refused():
    with pytest.raises(DatasetError, match="both"):
        Split(("01", "02"), ("03",), ("02",)).check()
    with pytest.raises(DatasetError, match="does not have"):
        fixed_split(ACTORS, test=["99"], val=[])
    with pytest.raises(DatasetError):
        kfold_split(ACTORS, 5, 5)


def test_generated_dataset_split_keeps_speakers_apart(ravdess_root):
    from emotion_training.config import SplitConfig
    from emotion_training.datasets import make_split, scan_ravdess

    records = scan_ravdess(ravdess_root)
    split = make_split(records, SplitConfig(protocol="kfold", folds=3, fold=1))
    parts = {r.clip_id: split.part_of(r.speaker) for r in records}
    assert set(parts.values()) == {"train", "val", "test"}
    by_speaker = {}
    for r in records:
        by_speaker.setdefault(r.speaker, set()).add(parts[r.clip_id])
    assert all(len(p) == 1 for p in by_speaker.values())
