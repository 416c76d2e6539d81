"""Dataset parsers: every field of the real file-name schemes, pairing, label-set mapping."""
from __future__ import annotations

from pathlib import Path

import pytest

from emotion_core.labels import CREMAD6, EKMAN7, RAVDESS8
from emotion_training.datasets import DatasetError, read_manifest, scan_cremad, scan_ravdess
from emotion_training.datasets import cremad, ravdess


def test_ravdess_name_fields():
    info = ravdess.parse_name("01-02-05-02-02-01-12.mp4")
    assert (info.modality, info.channel, RAVDESS8[info.emotion], info.intensity) == \
        ("full-av", "song", "angry", "strong")
    assert (info.statement, info.repetition, info.actor, info.gender) == (2, 1, 12, "female")
    assert ravdess.parse_name("03-01-08-01-01-02-01.wav").modality == "audio-only"
    assert ravdess.parse_name("02-01-01-01-01-02-07.mp4").gender == "male"


@pytest.mark.parametrize("name", ["01-01-09-01-01-01-01.mp4", "01-01-05-01-01-01-25.mp4",
                                  "04-01-05-01-01-01-01.mp4", "01-01-05-01-01-01.mp4", "readme.mp4"])
def test_ravdess_rejects_bad_names(name):
    with pytest.raises(DatasetError):
        ravdess.parse_name(name)


def test_scan_ravdess_pairs_each_video_with_its_takes_wav(ravdess_root):
    records = scan_ravdess(ravdess_root)
    assert len(records) == 6 * 4 * 2
    for r in records:
        assert Path(r.video).stem[3:] == Path(r.audio).stem[3:]  # same take, other modality
        assert Path(r.video).name.startswith("01-") and Path(r.audio).name.startswith("03-")
        assert r.speaker == Path(r.video).stem[-2:]
        assert RAVDESS8[r.label] == r.label_name == r.meta["emotion"]
    assert {r.label_name for r in records} == {"neutral", "happy", "sad", "angry"}


def test_ravdess_to_ekman7_maps_by_name_and_drops_calm(tmp_path):
    for emo in (1, 2, 5):  # neutral, calm, angry
        (tmp_path / f"03-01-{emo:02d}-01-01-01-01.wav").write_bytes(b"")
    records = scan_ravdess(tmp_path, EKMAN7)
    assert sorted(r.label_name for r in records) == ["angry", "neutral"]
    assert all(EKMAN7[r.label] == r.label_name for r in records)
    assert all(r.video is None for r in records)


def test_cremad_name_fields():
    info = cremad.parse_name("1091_IEO_SAD_HI.wav")
    assert (info.actor, info.sentence, info.emotion, info.level) == ("1091", "IEO", "sad", "high")
    for bad in ("1001_DFA_XXX_XX.flv", "0999_DFA_ANG_XX.flv", "1001_ZZZ_ANG_XX.flv", "1001_DFA_ANG.flv"):
        with pytest.raises(DatasetError):
            cremad.parse_name(bad)


def test_scan_cremad_pairs_flv_and_wav(cremad_root):
    records = scan_cremad(cremad_root)
    assert len(records) == 3 * 3
    for r in records:
        assert r.video.endswith(".flv") and "VideoFlash" in r.video
        assert r.audio.endswith(".wav") and "AudioWAV" in r.audio
        assert Path(r.video).stem == Path(r.audio).stem
        assert r.speaker in {"1001", "1002", "1003"}
        assert CREMAD6[r.label] == r.label_name
        assert r.meta["sentence"] == "DFA" and r.meta["level"] == "unspecified"


def test_manifest_resolves_paths_synonyms_and_segments(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "video,audio,label,speaker,start,end\n"
        "a.mp4,a.wav,Anger,alice,0,2.5\n"
        "a.mp4,a.wav,happiness,alice,2.5,5\n"
        ",b.wav,calm,bob,,\n"          # not in Ekman-7: skipped with a warning
        "/abs/c.mp4,,sad,carol,,\n")
    records = read_manifest(tmp_path / "manifest.csv", EKMAN7)
    assert [r.label_name for r in records] == ["angry", "happy", "sad"]
    assert records[0].video == str(tmp_path / "a.mp4") and records[0].end_s == 2.5
    assert records[1].start_s == 2.5 and records[0].clip_id != records[1].clip_id
    assert records[2].video == "/abs/c.mp4" and records[2].audio is None


def test_manifest_errors_are_explicit(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("file,label\nx.wav,angry\n")
    with pytest.raises(DatasetError, match="needs columns"):
        read_manifest(path, EKMAN7)
    path.write_text("audio,label,speaker,start,end\nx.wav,angry,s1,3,2\n")
    with pytest.raises(DatasetError, match="end"):
        read_manifest(path, EKMAN7)
