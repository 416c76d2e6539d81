"""Summaries of an /emotion stream: table rows, statistics computed by hand, report files."""
from __future__ import annotations

import json

import pytest

from emotion_core.report import TABLE_HEADER, EmotionRecord, save_report, summarize, table_row

NAMES = ["happy", "sad", "neutral"]


def record(i: int, label: str, latency: float, face: bool = True, voice: bool = False,
           probs=(0.6, 0.3, 0.1)) -> EmotionRecord:
    return EmotionRecord(stamp_s=100.0 + 0.1 * i, latency_ms=latency, label=label,
                         confidence=max(probs, default=0.0),
                         class_names=list(NAMES), probabilities=list(probs), face_present=face,
                         voice_present=voice, face_weight=0.7, voice_weight=0.3, audio_status=0)


RECORDS = [record(0, "happy", 10.0, voice=True), record(1, "sad", 20.0), record(2, "happy", 30.0, face=False),
           record(3, "happy", 40.0, voice=True), record(4, "sad", 50.0)]


def test_summary_statistics_by_hand():
    s = summarize(RECORDS)
    assert s["messages"] == 5
    assert s["rate_hz"] == pytest.approx(10.0)  # 4 intervals over 0.4 s
    lat = s["latency_ms"]
    # Linear-interpolated percentiles of 10..50: rank p/100 * 4.
    assert lat["p50"] == pytest.approx(30.0)
    assert lat["p90"] == pytest.approx(46.0)
    assert lat["p99"] == pytest.approx(49.6)
    assert (lat["max"], lat["mean"]) == (50.0, 30.0)
    assert s["labels"] == {"happy": 3, "sad": 2}
    assert s["dominant_label"] == "happy"
    assert s["face_present_share"] == pytest.approx(0.8)
    assert s["voice_present_share"] == pytest.approx(0.4)


def test_summary_of_one_and_of_none():
    assert summarize([]) == {"messages": 0}
    one = summarize(RECORDS[:1])
    assert one["messages"] == 1 and one["rate_hz"] == 0.0
    assert one["latency_ms"]["p99"] == 10.0


def test_table_row_lines_up_with_the_header():
    row = table_row(RECORDS[0])
    assert len(row) == len(TABLE_HEADER)
    assert row.split()[1:] == ["happy", "0.60", "yes", "yes", "0.70", "0.30", "10.0ms"]
    assert table_row(RECORDS[2]).split()[3] == "-"  # no face


def test_save_report_writes_summary_stream_and_plot(tmp_path):
    records = RECORDS + [record(5, "unknown", 12.0, face=False, probs=())]  # an empty estimate too
    out = tmp_path / "report"
    summary = save_report(records, out, title="test")
    assert json.loads((out / "summary.json").read_text()) == summary
    lines = (out / "emotion_stream.jsonl").read_text().splitlines()
    assert [EmotionRecord(**json.loads(line)) for line in lines] == records
    png = (out / "summary.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_save_report_without_messages(tmp_path):
    assert save_report([], tmp_path) == {"messages": 0}
    assert (tmp_path / "emotion_stream.jsonl").read_text() == ""
    assert not (tmp_path / "summary.png").exists()
