"""emotion_core.labels_timeline: ground truth as time ranges from CSV or bag metadata."""
from __future__ import annotations

import pytest

from emotion_core.labels_timeline import LabelError, LabelSegment, LabelTimeline, read_labels_csv

NS = 1_000_000_000


def test_segment_lookup_is_half_open():
    tl = LabelTimeline([LabelSegment(2 * NS, 3 * NS, "sad"), LabelSegment(0, NS, "happy", "c1")])
    assert tl.segment_at(0).label == "happy" and tl.segment_at(NS - 1).clip_id == "c1"
    assert tl.segment_at(NS) is None and tl.segment_at(3 * NS) is None
    assert tl.segment_at(2 * NS).label == "sad" and tl.labels == ["happy", "sad"]


def test_overlaps_and_empty_segments_are_refused():
    with pytest.raises(LabelError, match="overlap"):
        LabelTimeline([LabelSegment(0, 2 * NS, "a"), LabelSegment(NS, 3 * NS, "b")])
    with pytest.raises(LabelError, match="end"):
        LabelSegment(NS, NS, "a")


def test_json_round_trip_and_bad_json():
    tl = LabelTimeline([LabelSegment(5, 10, "angry", "x")])
    assert LabelTimeline.from_json(tl.to_json()).segments == tl.segments
    with pytest.raises(LabelError):
        LabelTimeline.from_json('[{"start_ns": 1}]')


def test_csv_relative_to_bags_and_absolute(tmp_path):
    rel = tmp_path / "rel.csv"
    rel.write_text("bag,start,end,label,id\nb1,0,1.5,happy,first\nb2,0.5,1,sad,\n")
    tl = read_labels_csv(rel, {"b1": 100 * NS, "b2": 200 * NS})
    assert tl.segment_at(100 * NS + NS).clip_id == "first"
    assert tl.segment_at(200 * NS + int(0.7 * NS)).label == "sad"
    one = tmp_path / "one.csv"
    one.write_text("start,end,label\n1,2,neutral\n")
    assert read_labels_csv(one, {"only": 10 * NS}).segment_at(11 * NS).label == "neutral"
    absolute = tmp_path / "abs.csv"
    absolute.write_text("start_stamp,end_stamp,label\n1700000000.5,1700000001,angry\n")
    assert read_labels_csv(absolute, {}).segments[0].start_ns == 1_700_000_000_500_000_000


@pytest.mark.parametrize("text, match", [
    ("start,label\n0,a\n", "needs"),
    ("start,end,label\n0,x,a\n", "not a number"),
    ("start,end,label\n0,1,a\n", "several bags"),
    ("bag,start,end,label\nnope,0,1,a\n", "not among"),
    ("start,end,label\n", "no label rows"),
])
def test_csv_errors_say_what_is_wrong(tmp_path, text, match):
    path = tmp_path / "l.csv"
    path.write_text(text)
    with pytest.raises(LabelError, match=match):
        read_labels_csv(path, {"b1": 0, "b2": 0})
