"""Two people in front of the camera, through av_sync_node + emotion_node as real processes:
/emotion/faces carries one estimate per person with ids that stay the same from frame to frame,
/humans/faces/tracked lists them, each person has their own REP-155 expression topic, and the
topic of the next person exists before they appear (a listener connected in advance misses
nothing)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from emotion_msgs.msg import Emotion, EmotionArray
from hri_msgs.msg import Expression, IdsList

from emotion_ros.common import latched_qos, stamp_ns
from emotion_ros.graph import Graph, GraphSpec

from rosutil import RosPeer, latest_diagnostics, wait_for
from test_bad_input import Driver

pytestmark = pytest.mark.graph
NS = 1_000_000_000


@pytest.fixture(scope="module")
def two_people_frame(repo_root: Path) -> np.ndarray:
    """Two adults from face-api's demo photo sample1, side by side on a grey 640x480 frame."""
    import cv2

    pytest.importorskip("emotion_training.face_api.package")
    from emotion_training.face_api.package import demo_photos

    cache = repo_root / ".cache" / "npm"
    photo = next(p for p in demo_photos(cache) if p.name == "sample1.jpg")
    image = cv2.imread(str(photo))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    for (x, y, w, h), left in (((1422, 206, 281, 270), 40), ((811, 446, 263, 250), 400)):
        m = int(0.45 * max(w, h))
        patch = cv2.resize(image[y - m:y + h + m, x - m:x + w + m], (190, 190), interpolation=cv2.INTER_AREA)
        canvas[140:330, left:left + 190] = patch
    return canvas


def test_each_person_gets_an_estimate_an_id_and_a_topic(repo_root, two_people_frame):
    peer = RosPeer("people_peer")
    faces = peer.listen(EmotionArray, "/emotion/faces", 100)
    emotions = peer.listen(Emotion, "/emotion", 100)
    tracked = peer.listen(IdsList, "/humans/faces/tracked", latched_qos())
    first = peer.listen(Expression, "/humans/faces/face0/expression", 100)
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", ("av_sync_node", "emotion_node"),
                     overrides={"emotion_node": {"publish_hri": True, "detector": "tiny"},
                                "av_sync_node": {"rate_hz": 0.0, "qos_depth": 100}})
    graph = Graph(spec, echo=False).start()
    try:
        # The first person's topic exists before anyone appears, and emotion_node sees us on it.
        assert wait_for(lambda: int((latest_diagnostics(diags, "emotion_node") or {}).get("hri_subscribers", 0)) >= 1,
                        60), graph.logs
        driver = Driver(peer)

        def answered() -> bool:
            """Frames until one comes back on /emotion/faces: best-effort frames and the first
            estimates can be lost while the endpoints are still matching each other."""
            driver.frame(two_people_frame, peer.now_ns())
            return wait_for(lambda: bool(faces), 2.0)

        assert wait_for(answered, 60, interval=0.1), graph.logs["emotion_node"][-10:]
        faces.clear()
        t0 = peer.now_ns()
        stamps = [t0 + k * NS // 10 for k in range(12)]
        for k, stamp in enumerate(stamps):
            driver.frame(two_people_frame, stamp)
            assert wait_for(lambda: any(stamp_ns(m.header.stamp) == stamp for _, m in faces), 20), \
                (k, graph.logs["emotion_node"][-10:])
        # A late listener of the second person's topic: it gets their expressions once matched.
        second = peer.listen(Expression, "/humans/faces/face1/expression", 100)
        assert wait_for(lambda: peer.node.count_publishers("/humans/faces/face1/expression") >= 1, 30)
        k = 12

        def next_frame() -> bool:
            nonlocal k
            stamp = t0 + k * NS // 10
            k += 1
            driver.frame(two_people_frame, stamp)
            wait_for(lambda: any(stamp_ns(m.header.stamp) == stamp for _, m in faces), 20)
            return bool(second)

        assert wait_for(next_frame, 60, interval=0.1)
        # /emotion and /emotion/faces are separate topics: let the last /emotion arrive too.
        assert wait_for(lambda: {stamp_ns(m.header.stamp) for _, m in emotions}
                        >= {stamp_ns(m.header.stamp) for _, m in faces}, 20)
        # Where the frames' time went, per stage, on /diagnostics (mean ms over the last frames).
        from emotion_core.recognizer import STAGES

        assert wait_for(lambda: float((latest_diagnostics(diags, "emotion_node") or {})
                                      .get("stage_ms_inference", 0)) > 0, 20)
        d = latest_diagnostics(diags, "emotion_node")
        stage_ms = {k: float(d[f"stage_ms_{k}"]) for k in STAGES if k != "total"}
        assert stage_ms["detect"] > 0 and stage_ms["landmarks"] > 0 and stage_ms["crops"] > 0
        assert stage_ms["features"] == 0.0  # no audio: no voice features
        # every frame sent was answered: the next diagnostics say nothing waits
        assert wait_for(lambda: int((latest_diagnostics(diags, "emotion_node") or {})
                                    .get("pairs_waiting", -1)) == 0, 10)
        assert sum(stage_ms.values()) <= float(d["processing_ms_mean"]) * 1.05, (stage_ms, d["processing_ms_mean"])
    finally:
        graph.stop()
        peer.close()

    arrays = [m for _, m in faces]
    # Both people from the second frame on (a weakly detected face is confirmed when seen twice).
    assert all(len(a.faces) == 2 for a in arrays[1:]), [len(a.faces) for a in arrays]
    ids_by_side = {}
    for a in arrays[1:]:
        for f in a.faces:
            side = "left" if f.face_roi.x_offset < 320 else "right"
            ids_by_side.setdefault(side, set()).add(f.track_id)
            assert f.face_present and f.label and abs(sum(f.probabilities) - 1) < 1e-3
            assert f.header.stamp == a.header.stamp
    assert ids_by_side["left"] != ids_by_side["right"]
    assert all(len(ids) == 1 for ids in ids_by_side.values()), ids_by_side  # ids never change
    assert set().union(*ids_by_side.values()) == {"face0", "face1"}
    # /emotion keeps its meaning for an existing subscriber: one message per frame, the primary
    # person (no voice: the largest face) with the same id, label and probabilities as their entry
    # on /emotion/faces.
    primary_ids = {m.track_id for _, m in emotions}
    assert primary_ids <= {"face0", "face1"} and len(primary_ids) == 1
    by_stamp = {stamp_ns(a.header.stamp): a for a in arrays}
    primaries = [m for _, m in emotions if stamp_ns(m.header.stamp) in by_stamp]
    assert len(primaries) == len(arrays)
    for m in primaries:
        entry = next(f for f in by_stamp[stamp_ns(m.header.stamp)].faces if f.track_id == m.track_id)
        assert (m.label, m.face_present, m.voice_used) == (entry.label, entry.face_present, entry.voice_used)
        assert np.allclose(m.probabilities, entry.probabilities) and list(m.class_names) == list(entry.class_names)
    # The face connected in advance got an expression for every frame; the list names both.
    assert {stamp_ns(m.header.stamp) for _, m in first} >= set(stamps[1:])
    assert tracked and list(tracked[-1][1].ids) == ["face0", "face1"]
