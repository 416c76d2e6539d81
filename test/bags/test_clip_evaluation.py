"""A generated labelled clip set (RAVDESS layout: astronaut video + voiced audio), converted to
bags, replayed through the running graph (paced, use_sim_time) and scored; the same clips run
through emotion_core offline must agree. emotion_node also publishes REP-155 expressions."""
from __future__ import annotations

import json

import pytest
from hri_msgs.msg import Expression

from emotion_core.labels import AFFECT
from emotion_recorded.bagio import find_bags
from emotion_ros.common import stamp_ns
from emotion_recorded.evaluate import evaluate

from bagutil import eval_config
from rosutil import RosPeer

pytestmark = pytest.mark.graph


def test_clip_set_replay_matches_offline_and_reports_everything(clip_bags, model, tmp_path):
    peer = RosPeer("clip_eval_peer")
    expressions = peer.listen(Expression, "/humans/faces/face0/expression", 1000)
    cfg = eval_config(find_bags(clip_bags), tmp_path / "eval", model, offline_check=True,
                      node_overrides={"emotion_node": {"publish_hri": True}}, hri_listeners=1)
    try:
        report = evaluate(cfg, log=lambda *_: None)
    finally:
        peer.close()

    assert all(report["nodes_alive"].values())
    for name in ("report.json", "report.txt", "confusion_clips.png", "confusion_frames.png", "latency.png",
                 "estimates.jsonl"):
        assert (tmp_path / "eval" / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["model_name"] == "sample-fusion-untrained"
    assert "UAR" in (tmp_path / "eval" / "report.txt").read_text()

    scores = report["scores"]
    assert scores["segment_level"]["samples"] == 8 and len(scores["segments"]) == 8
    assert scores["unmapped_labels"] == {} and scores["estimates_outside_labels"] == 0
    frames = report["frames"]
    assert frames["published"] == 8 * 18 and frames["received_by_graph"] == frames["published"]
    assert frames["estimates"] == frames["accepted"] == scores["frame_level"]["samples"] > 0, (frames, report["dropped"])
    assert not any(report["dropped"].values()), report["dropped"]
    assert not any(report["skipped"].values()), report["skipped"]
    assert report["bag_problems"]["bags_missing_topics"] == 0
    assert report["latency_ms"]["count"] == frames["estimates"] and report["latency_ms"]["p50"] > 0
    assert report["modalities"]["no_face_share"] < 0.5
    assert 0 < report["modalities"]["no_voice_share"] < 0.5  # the first frame of each clip has no audio yet
    assert report["replay_speed_x"] > 0 and report["clips_per_s"] > 0

    # Offline emotion_core on the dataset files == the graph on the bags (the contract holds).
    agree = report["agreement"]
    assert agree["within_tolerance"] and agree["clips_compared"] == 8
    assert agree["label_agreement"] == 1.0 and agree["max_abs_prob_diff"] < 1e-3
    assert agree["frames"]["frames_compared"] == frames["estimates"] and agree["frames"]["label_agreement"] == 1.0

    # REP-155: one Expression per estimate with a face, stamped like it, with a REP-155 constant.
    lines = (tmp_path / "eval" / "estimates.jsonl").read_text().splitlines()
    with_face = {e["stamp_ns"] for e in map(json.loads, lines) if e["face_present"]}
    assert {stamp_ns(m.header.stamp) for _, m in expressions} == with_face
    constants = {a.expression for a in AFFECT.values()}
    for _, m in expressions:
        assert m.expression in constants and -1 <= m.valence <= 1 and -1 <= m.arousal <= 1
        assert 0 < m.confidence <= 1
