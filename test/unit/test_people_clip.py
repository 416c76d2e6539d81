"""The multi-person demo clip's pure parts (emotion_core.tools.people_clip): motion and
crossings, the speech turns, the jaw drive, the jaw drop itself, where the photos come from,
and the astronaut fallback without the face-api package. No npm cache or models needed."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.tools import people_clip as pc
from emotion_core.tools.assets import _people_clip_due, build_people, demo_paths

RATE = pc.SAMPLE_RATE


def test_everyone_stays_in_frame_and_paths_cross():
    times = np.arange(int(pc.SECONDS * pc.FPS)) / pc.FPS
    centres = {name: [] for name in "ABC"}
    for t in times:
        for name, (x, y) in pc.positions(float(t)).items():
            assert 0 <= x and x + pc.PATCH <= pc.SIZE[0] and 0 <= y and y + pc.PATCH <= pc.SIZE[1], (t, name)
            centres[name].append(x + pc.PATCH / 2)
    found = pc.crossings(centres, list(times))
    assert {tuple(c["pair"]) for c in found} >= {("A", "B"), ("A", "C"), ("B", "C")}
    # A and B walk the whole width: they start on opposite sides and end swapped
    assert centres["A"][0] < centres["B"][0] and centres["A"][-1] > centres["B"][-1]


def test_crossings_by_hand():
    times = [0.0, 0.1, 0.2, 0.3]
    assert pc.crossings({"a": [0, 1, 2, 3], "b": [3, 2, 1, 0]}, times) == [{"t_s": 0.2, "pair": ["a", "b"]}]
    assert pc.crossings({"a": [0, 0, 0, 0], "b": [1, 2, 3, 4]}, times) == []
    # passing through a level frame still counts, once
    assert pc.crossings({"a": [0, 1, 2, 3], "b": [2, 1, 0, -1]}, times) == [{"t_s": 0.2, "pair": ["a", "b"]}]
    # touching is not crossing: the order must actually swap
    assert pc.crossings({"a": [0, 1, 0, 0], "b": [1, 1, 1, 1]}, times) == []


def test_turns_alternate_with_silences_between():
    turns = pc.TURNS
    assert [t.person for t in turns][:2] == ["A", "B"]  # the speaker changes
    assert all(a.end_s < b.start_s for a, b in zip(turns, turns[1:]))  # gaps between turns
    assert max(b.start_s - a.end_s for a, b in zip(turns, turns[1:])) >= 2.0  # one long silence
    assert turns[-1].end_s <= pc.SECONDS
    assert pc.speaker_at(0.0) is None and pc.speaker_at(turns[0].start_s) == "A"
    assert pc.speaker_at(turns[0].end_s) is None and pc.speaker_at(turns[1].start_s + 0.1) == "B"


def test_speech_track_puts_speech_in_the_turns_and_nothing_between():
    rng = np.random.default_rng(0)
    source = (0.2 * rng.standard_normal(30 * RATE)).astype(np.float32)
    wav = pc.speech_track(source)
    assert wav.size == int(pc.SECONDS * RATE) and wav.dtype == np.float32
    for turn in pc.TURNS:
        inside = wav[int((turn.start_s + 0.05) * RATE):int((turn.end_s - 0.05) * RATE)]
        assert np.sqrt(np.mean(inside ** 2)) > 0.1
    gap = wav[int((pc.TURNS[0].end_s + 0.01) * RATE):int((pc.TURNS[1].start_s - 0.01) * RATE)]
    assert gap.size and not gap.any()
    # the cuts fade in: the first sample of a turn is silent, not a click
    assert wav[int(pc.TURNS[0].start_s * RATE)] == 0.0


def test_jaw_follows_loudness_and_closes_in_quiet():
    env = np.array([0.0, 0.01, 0.05, 0.2, 0.5, 1.0, 2.0])
    jaw = pc.jaw_drive(env, loud=1.0)
    assert jaw[0] == jaw[1] == 0.0  # below CLOSED_BELOW of the loud level
    assert np.all(np.diff(jaw[2:]) >= 0) and jaw[-1] == jaw[-2] == pytest.approx(pc.MAX_JAW)
    assert not pc.jaw_drive(env, loud=0.0).any()
    t = np.array([0.05, 0.5, 1.0])
    speech = np.zeros(RATE, np.float32)
    speech[int(0.4 * RATE):int(0.5 * RATE)] = 0.5
    np.testing.assert_allclose(pc.envelope(speech, t), [0.0, 0.5, 0.0], atol=1e-6)


@pytest.fixture()
def striped_patch() -> pc.Patch:
    """A grey patch with horizontal stripes, a mouth 40 px wide with the lips at y=100."""
    img = np.full((170, 170, 3), 180, np.uint8)
    img[::10] = 60  # a dark line every 10 px shows where rows moved
    return pc.Patch(img, (40, 30, 90, 90), (65.0, 100.0), (105.0, 100.0), 100.0, 125.0)


def test_drop_jaw_moves_the_lower_face_down_at_the_mouth_only(striped_patch):
    assert pc.drop_jaw(striped_patch, 0.0) is striped_patch.image
    out = pc.drop_jaw(striped_patch, 0.5)  # 0.5 mouth widths = 20 px at the centre
    img = striped_patch.image
    assert np.array_equal(out[:100], img[:100])  # above the lips nothing moves
    centre, side = out[:, 85, 0].astype(int), out[:, 5, 0].astype(int)
    assert np.abs(side - img[:, 5, 0]).max() <= 1  # far from the mouth nothing moves
    # an open mouth: a dark cavity right below the lip line, at the centre only
    assert centre[101:112].max() < 70 and out[101:112, 5, 0].min() >= 59
    # displacement 20 px at the lips falling linearly to 0 at y_end = chin + 0.35 widths = 139:
    # the stripe from y=110 lands at y with y - 20 (139 - y) / 39 = 110, i.e. ~120; y=140 stays
    stripes = [y for y in range(114, 160) if centre[y] < 100]
    assert stripes[0] in (119, 120, 121) and 140 in stripes and 110 not in stripes, stripes


def test_mouth_geometry_from_landmarks_or_box():
    pts = np.zeros((68, 2), np.float32)
    pts[48], pts[54], pts[8] = (10, 50), (30, 50), (20, 70)
    pts[60:68] = (20, 52)
    left, right, lip_y, chin_y = pc.mouth_geometry(pts, (0, 0, 40, 60))
    assert (left, right, lip_y, chin_y) == ((10.0, 50.0), (30.0, 50.0), 52.0, 70.0)
    left, right, lip_y, chin_y = pc.mouth_geometry(None, (0, 0, 100, 100))
    assert left[0] < 50 < right[0] and 70 < lip_y < chin_y
    pts[0] = np.nan  # a failed net falls back to the box
    assert pc.mouth_geometry(pts, (0, 0, 100, 100))[2] == pytest.approx(78.0)


def _jpeg(colour: int) -> bytes:
    return cv2.imencode(".jpg", np.full((64, 64, 3), colour, np.uint8))[1].tobytes()


def _tarball(path: Path, names: list[str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            data = _jpeg(40 * i)
            info = tarfile.TarInfo(f"package/demo/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_photos_come_from_the_extracted_package_or_the_tarball(tmp_path):
    assert pc.find_photo(tmp_path / "nowhere", "sample1.jpg") is None
    _tarball(tmp_path / "vladmandic-face-api-1.7.15.tgz", ["sample1.jpg", "sample2.jpg", "sample5.jpg"])
    assert pc.find_photo(tmp_path, "sample1.jpg") == _jpeg(0)
    assert pc.find_photo(tmp_path, "sample9.jpg") is None
    photos = pc.load_people(tmp_path)
    assert photos is not None and set(photos) == {"A", "B", "C"} and photos["A"].shape == (64, 64, 3)
    extracted = tmp_path / "face-api-1.7.15" / "package" / "demo"
    extracted.mkdir(parents=True)
    (extracted / "sample1.jpg").write_bytes(b"extracted")
    assert pc.find_photo(tmp_path, "sample1.jpg") == b"extracted"  # the extracted copy first


def test_without_the_package_the_demo_clip_is_the_astronaut_and_says_so(tmp_path, caplog):
    paths = demo_paths(tmp_path / "data")
    paths["video"].parent.mkdir(parents=True)
    paths["video"].write_bytes(b"astronaut video")
    paths["audio"].write_bytes(b"astronaut speech")
    empty_cache = tmp_path / "npm"
    with caplog.at_level("WARNING"):
        what = build_people(paths, empty_cache, tmp_path / "data")
    assert "fallback" in what and "face-api package not in" in caplog.text
    assert paths["people_video"].read_bytes() == b"astronaut video"
    assert paths["people_audio"].read_bytes() == b"astronaut speech"
    truth = json.loads(paths["people_truth"].read_text())
    assert truth["fallback"] == "astronaut" and truth["people"] == []
    assert "people: copy of the astronaut clip" in (paths["video"].parent / "SOURCES.txt").read_text()
    # setup again without the package: nothing to do; once the package is there: rebuild
    assert not _people_clip_due(paths, empty_cache)
    empty_cache.mkdir()
    _tarball(empty_cache / "vladmandic-face-api-1.7.15.tgz", ["sample1.jpg", "sample2.jpg", "sample5.jpg"])
    assert _people_clip_due(paths, empty_cache)
    paths["people_truth"].unlink()
    assert _people_clip_due(paths, tmp_path / "elsewhere")  # a missing file is always rebuilt


def test_a_current_truth_is_kept_and_an_old_version_rebuilt(tmp_path):
    paths = demo_paths(tmp_path)
    paths["people_video"].parent.mkdir(parents=True)
    for key in ("people_video", "people_audio"):
        paths[key].write_bytes(b"x")
    paths["people_truth"].write_text(json.dumps({"version": pc.CLIP_VERSION, "frames": []}))
    assert not _people_clip_due(paths, tmp_path / "npm")
    paths["people_truth"].write_text(json.dumps({"version": pc.CLIP_VERSION - 1, "frames": []}))
    assert _people_clip_due(paths, tmp_path / "npm")
