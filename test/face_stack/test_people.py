"""People, not a face: every face of a frame in one model call, a stable id per person across
frames (detector every N frames, tracker in between), and a person who leaves and comes back
gets their old id from the face descriptor. Real detector, descriptor and model."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.backends import load_model
from emotion_core.face import FaceBox
from emotion_core.recognizer import EmotionRecognizer
from emotion_core.sample_model import write_sample_model
from emotion_core.tracking import TrackingSettings

NS = 1_000_000_000
STEP = NS // 10  # 10 Hz


def person(photo, box: FaceBox, side: int = 170) -> np.ndarray:
    """A square patch around a face, resized to ``side`` pixels."""
    import cv2

    h, w = photo.shape[:2]
    m = int(0.45 * max(box.w, box.h))
    x0, y0 = max(0, box.x - m), max(0, box.y - m)
    x1, y1 = min(w, box.x + box.w + m), min(h, box.y + box.h + m)
    return cv2.resize(photo[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_AREA)


def scene(patches: dict[str, tuple[np.ndarray, int, int]]) -> np.ndarray:
    canvas = np.full((480, 640, 3), 90, np.uint8)
    for patch, x, y in patches.values():
        canvas[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return canvas


@pytest.fixture(scope="module")
def two_people(demo_faces):
    """Two different people from the demo photos (sample1: three adults)."""
    name, photo, boxes = next(p for p in demo_faces if p[0] == "sample1.jpg")
    return person(photo, boxes[0]), person(photo, boxes[2])


class CountingBackend:
    """The real ONNX Runtime backend, recording the batch size of every call."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.batches: list[int] = []
        self.name = backend.name
        self.input_names, self.output_names = backend.input_names, backend.output_names

    def run(self, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        return self._backend.run(feeds)


@pytest.fixture(scope="module")
def fusion(tmp_path_factory):
    return load_model(write_sample_model(tmp_path_factory.mktemp("m") / "fusion.onnx"), "onnxruntime",
                      intra_op_threads=1)


def recognizer(fusion, tiny, descriptor=None, **tracking) -> tuple[EmotionRecognizer, CountingBackend]:
    backend, contract = fusion
    counting = CountingBackend(backend)
    rec = EmotionRecognizer(counting, contract, tiny, tracking=TrackingSettings(**tracking),
                            embedder=descriptor)
    return rec, counting


def voice(seconds: float = 2.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_every_face_in_one_batch_and_the_voice_only_for_one(fusion, tiny, two_people):
    a, b = two_people
    rec, counting = recognizer(fusion, tiny)
    frame = scene({"a": (a, 40, 150), "b": (b, 400, 150)})
    # B's face scores below confirm_score: it is tracked from its second detection on.
    first = rec.process_frame(frame, voice(), 16000, 10 * NS)
    result = rec.process_frame(frame, voice(), 16000, 10 * NS + STEP)
    assert len(first.faces) == 1 and counting.batches == [1, 2]  # one model call for both faces
    assert sorted(f.track_id for f in result.faces) == [0, 1]
    assert [f.recognition.voice_used for f in result.faces].count(True) == 1
    assert result.primary.voice_used and result.primary_track in (0, 1)
    assert all(f.recognition.face_used and f.recognition.face_box is not None for f in result.faces)
    # Each face has its own estimate (different crops -> different face-branch outputs).
    p0, p1 = (f.recognition.face_probabilities for f in result.faces)
    assert not np.allclose(p0, p1)


def test_max_faces_keeps_the_largest(fusion, tiny, two_people):
    a, b = two_people
    import cv2

    rec, counting = recognizer(fusion, tiny, max_faces=1)
    frame = scene({"a": (cv2.resize(a, (120, 120)), 40, 150), "b": (cv2.resize(b, (220, 220)), 380, 120)})
    result = rec.process_frame(frame, None, 16000, 10 * NS)
    assert counting.batches == [1] and len(result.faces) == 1
    assert result.faces[0].recognition.face_box.x > 300  # the larger face, on the right


def test_ids_stay_while_people_move_with_the_detector_every_third_frame(fusion, tiny, two_people):
    a, b = two_people
    rec, _ = recognizer(fusion, tiny, detect_every=3)
    seen: list[dict[int, int]] = []
    for i in range(12):
        frame = scene({"a": (a, 40 + 6 * i, 150), "b": (b, 420 - 6 * i, 160)})
        result = rec.process_frame(frame, None, 16000, 10 * NS + i * STEP)
        seen.append({f.track_id: f.recognition.face_box.x for f in result.faces})
    # The weaker face is confirmed at the second detection (frame 3); ids never change after.
    assert list(seen[0]) == [0] and all(sorted(s) == [0, 1] for s in seen[3:]), seen
    seen = seen[3:]
    left = min(seen[0], key=seen[0].get)
    assert all(s[left] < s[1 - left] for s in seen)  # the person on the left keeps their id
    xs = [s[left] for s in seen]
    assert xs[-1] - xs[0] > 40  # boxes follow the motion, also on frames without detection


def walk(rec, people) -> tuple[int, int]:
    """A and B together, B leaves for 3 s, B comes back elsewhere: (B's id before, after)."""
    a, b = people
    t = 10 * NS
    ids_before = None
    for i in range(5):
        result = rec.process_frame(scene({"a": (a, 40, 150), "b": (b, 420, 150)}), None, 16000, t)
        ids_before = {f.track_id: f.recognition.face_box.x for f in result.faces}
        t += STEP
    b_before = max(ids_before, key=ids_before.get)
    for _ in range(30):  # 3 s with A alone: B's track ends
        rec.process_frame(scene({"a": (a, 40, 150)}), None, 16000, t)
        t += STEP
    for _ in range(2):  # B's face is a weak detection: confirmed when seen twice
        result = rec.process_frame(scene({"a": (a, 40, 150), "b": (b, 300, 250)}), None, 16000, t)
        t += STEP
    after = {f.track_id: f.recognition.face_box.x for f in result.faces}
    return b_before, max(after, key=after.get)


def test_a_returning_person_gets_their_old_id_from_the_face_descriptor(fusion, tiny, descriptor, two_people):
    rec, _ = recognizer(fusion, tiny, descriptor, track_lost_s=1.0, remember_s=10.0)
    before, after = walk(rec, two_people)
    assert after == before

    # Control: without the descriptor the same walk gives a new id, so the descriptor did it.
    rec, _ = recognizer(fusion, tiny, None, track_lost_s=1.0, remember_s=10.0)
    before, after = walk(rec, two_people)
    assert after != before


def test_a_person_away_longer_than_remember_s_is_new(fusion, tiny, descriptor, two_people):
    rec, _ = recognizer(fusion, tiny, descriptor, track_lost_s=1.0, remember_s=2.0)
    before, after = walk(rec, two_people)
    assert after != before


def test_two_people_crossing_keep_their_ids(fusion, tiny, descriptor, two_people):
    """A walks left to right, B right to left; they pass each other (the boxes overlap) and
    each keeps the id it had."""
    a, b = two_people
    rec, _ = recognizer(fusion, tiny, descriptor)
    start_ids: dict[str, int] = {}
    end_ids: dict[str, int] = {}
    for i in range(40):
        xa, xb = 20 + 11 * i, 450 - 11 * i
        frame = scene({"b": (b, xb, 170), "a": (a, xa, 150)})  # A drawn on top while they overlap
        result = rec.process_frame(frame, None, 16000, 10 * NS + i * STEP)
        where = {f.track_id: f.recognition.face_box.x for f in result.faces}
        if i == 3:
            start_ids = {"a": min(where, key=where.get), "b": max(where, key=where.get)}
        if i == 39:
            end_ids = {"a": max(where, key=where.get), "b": min(where, key=where.get)}
    assert start_ids and end_ids and start_ids == end_ids, (start_ids, end_ids)


@pytest.fixture(scope="module")
def three_people(demo_faces):
    """The three adults of sample1, at a size where three fit the frame and can cross."""
    name, photo, boxes = next(p for p in demo_faces if p[0] == "sample1.jpg")
    return tuple(person(photo, b, side=150) for b in boxes[:3])


def test_three_people_crossing_keep_their_ids(fusion, tiny, descriptor, three_people):
    """A walks right, B walks left below A's path, C walks down through both: every pair
    crosses (the boxes overlap; for 1.5 s C hides the others, and only C is found), detector on
    every third frame, and each person's id at the end is the one they started with."""
    a, b, c = three_people
    rec, _ = recognizer(fusion, tiny, descriptor, detect_every=3)
    paths = {"a": lambda i: (20 + 9 * i, 110), "b": lambda i: (470 - 9 * i, 200),
             "c": lambda i: (245, 10 + 6 * i)}
    ids: list[dict[str, int]] = []
    crossed = 0
    for i in range(50):
        at = {k: p(i) for k, p in paths.items()}
        frame = scene({k: (patch, *at[k]) for k, patch in zip("bac", (b, a, c))})  # c on top
        result = rec.process_frame(frame, None, 16000, 10 * NS + i * STEP)
        crossed += any(abs(at[m][0] - at[n][0]) < 150 and abs(at[m][1] - at[n][1]) < 150
                       for m, n in (("a", "b"), ("a", "c"), ("b", "c")))
        # whose face each track's box is on: the person whose patch centre is nearest
        seen = {}
        for f in result.faces:
            box = f.recognition.face_box
            cx, cy = box.x + box.w / 2, box.y + box.h / 2
            who = min(at, key=lambda k: (at[k][0] + 75 - cx) ** 2 + (at[k][1] + 75 - cy) ** 2)
            seen[who] = f.track_id
        ids.append(seen)
    assert crossed >= 10
    start = next(s for s in ids if len(s) == 3)
    assert len(set(start.values())) == 3
    assert len(ids[-1]) == 3 and ids[-1] == start, (start, ids[-1])
    for s in ids:  # never a person under another's id, crossing included
        assert all(start.get(who) == tid for who, tid in s.items() if tid in start.values()), s


def test_an_id_survives_a_one_second_occlusion(fusion, tiny, descriptor, two_people):
    a, _ = two_people
    rec, _ = recognizer(fusion, tiny, descriptor, track_lost_s=1.0)
    t = 10 * NS
    ids = []
    for i in range(35):
        visible = not 10 <= i < 20  # hidden for 1 s (10 frames at 10 Hz)
        frame = scene({"a": (a, 200 + 3 * i, 150)} if visible else {})
        result = rec.process_frame(frame, None, 16000, t)
        if visible and result.faces:
            ids.append(result.faces[0].track_id)
        t += STEP
    assert len(ids) >= 24 and set(ids) == {ids[0]}, ids


def test_a_batch_of_faces_equals_one_call_per_face(fusion, tiny, two_people):
    """The dynamic batch axis: N faces in one call give what N single calls give."""
    from emotion_core.face import face_tensor

    backend, contract = fusion
    a, b = two_people
    frame = scene({"a": (a, 40, 150), "b": (b, 400, 150)})
    boxes = tiny.detect(frame)
    assert len(boxes) == 2
    faces = face_tensor(frame, boxes, contract.face)
    n = len(boxes)
    s = contract.audio
    feeds = {contract.inputs["face"]: faces,
             contract.inputs["audio"]: np.zeros((n, 1, s.n_mels, s.frames), np.float32),
             contract.inputs["modality_mask"]: np.array([[1.0, 0.0]] * n, np.float32)}
    batched = backend.run(feeds)["logits"]
    single = np.concatenate([backend.run({k: v[i:i + 1] for k, v in feeds.items()})["logits"] for i in range(n)])
    assert np.allclose(batched, single, atol=1e-5), np.abs(batched - single).max()

