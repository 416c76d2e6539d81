"""Re-identification that survives the frame's edge (issue #20).

A person who walks out at the right edge and comes back a few seconds later re-enters partly
outside the frame: a descriptor of that clipped face is no proof of who it is. Clips here are
built from real faces of face-api's demo photos (people_clip's patches, soft mask and clipped
paste) and run through the recognizer as emotion_node builds it (tiny detector, face descriptor,
68-point landmarks, ByteTrack), at 10 Hz. Each track's box is attributed to the person whose
visible face box it overlaps most, so the tests read each person's id sequence over the frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest

from emotion_core.backends import load_model
from emotion_core.face import FaceBox
from emotion_core.recognizer import EmotionRecognizer
from emotion_core.sample_model import write_sample_model
from emotion_core.tools.people_clip import backdrop, cut_patch, paste, soft_mask
from emotion_core.tracking import TrackingSettings

NS = 1_000_000_000
RATE_HZ = 10
SIDE = 170  # patch side: the face is ~95 px of it
W, H = 640, 480


@dataclass(frozen=True)
class Walker:
    """A person of a clip: a demo-photo face, where its patch's top-left corner is at time t
    (None: out of the frame), and the drawing order (higher = in front)."""

    name: str
    photo: str
    face: int  # index into the photo's hand-checked faces
    at: Callable[[float], Optional[tuple[float, float]]]
    depth: int = 0


@dataclass
class Frame:
    t_s: float
    ids: dict[str, int]  # person -> track id whose box is on their face
    visible: dict[str, tuple[int, int, int, int]]  # person -> visible part of the face box
    forgotten: list[int]


def edge_walk(t: float, y: float, x0: float = 300.0, speed: float = 150.0, away_s: float = 3.5,
              stop: float = 380.0) -> Optional[tuple[float, float]]:
    """Walk right from ``x0`` out of the frame's right edge, stay out ``away_s`` after the patch
    has fully left, walk back in from the right edge (partly outside the frame first) and stop
    at ``stop``."""
    out_t = (W - x0) / speed
    if t < out_t:
        return x0 + speed * t, y
    back_t = out_t + away_s
    if t < back_t:
        return None
    return max(stop, W - speed * (t - back_t)), y


@pytest.fixture(scope="module")
def fusion(tmp_path_factory):
    return load_model(write_sample_model(tmp_path_factory.mktemp("m") / "fusion.onnx"), "onnxruntime",
                      intra_op_threads=1)


@pytest.fixture(scope="module")
def photos(demo_faces) -> dict[str, tuple[np.ndarray, list[FaceBox]]]:
    return {name: (image, boxes) for name, image, boxes in demo_faces}


def patches(photos, walkers: list[Walker]) -> dict[str, tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Each walker's square patch (people_clip.cut_patch) and its face box in patch pixels."""
    out = {}
    for w in walkers:
        image, boxes = photos[w.photo]
        b = boxes[w.face]
        patch, x0, y0, s = cut_patch(image, (b.x, b.y, b.w, b.h), SIDE)
        out[w.name] = patch, ((b.x - x0) * s, (b.y - y0) * s, b.w * s, b.h * s)
    return out


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def run_clip(rec: EmotionRecognizer, photos, walkers: list[Walker], seconds: float) -> list[Frame]:
    """The clip through the recognizer, frame by frame, with each person's id."""
    looks = patches(photos, walkers)
    alpha, room = soft_mask(SIDE), backdrop((W, H))
    frames = []
    for i in range(int(round(seconds * RATE_HZ))):
        t = i / RATE_HZ
        canvas = room.copy()
        visible = {}
        for w in sorted(walkers, key=lambda w: w.depth):
            at = w.at(t)
            if at is None:
                continue
            x, y = round(at[0]), round(at[1])
            patch, (fx, fy, fw, fh) = looks[w.name]
            paste(canvas, patch, x, y, alpha)
            x0, y0 = max(0, round(x + fx)), max(0, round(y + fy))
            x1, y1 = min(W, round(x + fx + fw)), min(H, round(y + fy + fh))
            if x1 - x0 > 10 and y1 - y0 > 10:
                visible[w.name] = (x0, y0, x1 - x0, y1 - y0)
        result = rec.process_frame(canvas, None, 16000, 100 * NS + i * NS // RATE_HZ)
        ids = {}
        for f in result.faces:
            b = f.recognition.face_box
            box = (b.x, b.y, b.w, b.h)
            who = max(visible, key=lambda k: iou(box, visible[k]), default=None)
            assert who is not None and iou(box, visible[who]) > 0.2, (t, box, visible)
            assert who not in ids, f"two tracks on {who} at {t:.1f} s"
            ids[who] = f.track_id
        frames.append(Frame(t, ids, visible, list(result.forgotten)))
    return frames


def sequence(frames: list[Frame], who: str) -> list[int]:
    """``who``'s ids over the frames they were tracked in, repeats collapsed."""
    out: list[int] = []
    for f in frames:
        tid = f.ids.get(who)
        if tid is not None and (not out or out[-1] != tid):
            out.append(tid)
    return out


def recognizer(fusion, tiny, descriptor, landmarker, **tracking) -> EmotionRecognizer:
    backend, contract = fusion
    return EmotionRecognizer(backend, contract, tiny, tracking=TrackingSettings(frame_rate_hz=RATE_HZ, **tracking),
                             embedder=descriptor, landmarker=landmarker)


def three(c_photo: str, c_face: int) -> list[Walker]:
    """Three people from different photos: A stands, B passes behind A twice (hidden for ~1.5 s,
    longer than track_lost_s), C walks out at the right edge at 250 px/s and is back 3.5 s later,
    well inside remember_s."""
    return [
        Walker("A", "sample1.jpg", 2, lambda t: (150.0, 30 + 4 * math.sin(t)), depth=1),
        Walker("B", "sample2.jpg", 0, lambda t: (10 + 320 * (1 - abs(1 - t / 4.5)), 40.0)),
        Walker("C", c_photo, c_face, lambda t: edge_walk(t, 290.0, speed=250.0)),
    ]


# C: the demo faces that got a new id on their return before good views (their first
# descriptor, of the face cut by the edge, was too far from the one taken before they left).
@pytest.mark.parametrize("c_photo, c_face", [("sample4.jpg", 2), ("sample5.jpg", 4), ("sample6.jpg", 0)])
def test_a_person_returning_at_the_edge_keeps_their_id(fusion, tiny, descriptor, landmarker, photos,
                                                        c_photo, c_face):
    rec = recognizer(fusion, tiny, descriptor, landmarker)
    frames = run_clip(rec, photos, three(c_photo, c_face), 10.0)
    seqs = {who: sequence(frames, who) for who in "ABC"}
    print(f"\n[edge clip] id sequences {seqs}; merges {getattr(rec.tracker, 'reid_merges', None)}; "
          f"people ever numbered {rec.tracker.next_id}")
    # C really left (no face of C in view for 3.5 s) and came back partly outside the frame.
    away = [f.t_s for f in frames if "C" not in f.visible]
    assert away and max(away) - min(away) >= 3.0
    back = next(f for f in frames if f.t_s > max(away) and "C" in f.ids)
    x, _, w, _ = back.visible["C"]
    assert x + w == W, back.visible  # first seen again with the face cut by the right edge
    # Each person ends with the id they started with: three ids for three people.
    first = {who: seqs[who][0] for who in "ABC"}
    last = {who: seqs[who][-1] for who in "ABC"}
    assert last == first and len(set(first.values())) == 3, seqs
    # C's return: at most one short-lived id (while the face was cut by the edge), merged back.
    assert seqs["C"][0] == seqs["C"][-1] and len(seqs["C"]) <= 3, seqs["C"]
    # B's occlusions: each time B comes out from behind A, at most a short-lived id, merged back.
    young = [tid for who in "BC" for tid in seqs[who] if tid != first[who]]
    for tid in young:
        frames_young = [f for f in frames if tid in f.ids.values()]
        assert len(frames_young) <= 5, (tid, [f.t_s for f in frames_young])
        assert any(tid in f.forgotten for f in frames)  # its per-person outputs are released
    # The merges are counted and map ids onto the person they belong to.
    merges = rec.tracker.pop_merges()
    assert rec.tracker.reid_merges == len(merges) >= len(young)
    owner = {tid: who for f in frames for who, tid in f.ids.items()}
    for m in merges:
        assert owner.get(m.young, owner[m.person]) == owner[m.person], (m, owner)
    # Never a person under another's id.
    for f in frames:
        assert all(first[who] == tid or tid not in first.values() for who, tid in f.ids.items()), f


# Two look-alikes: the two closest faces of the demo photos, from the same photo (sample4's
# faces 0 and 3; landmark-aligned descriptor distance 0.29 at the closest of 7x7 views, ~0.32
# here). Under face_descriptor's 0.4 they were one person.
LOOK_ALIKES = ("sample4.jpg", 0, 3)


def test_a_look_alike_entering_at_the_edge_is_someone_else(fusion, tiny, descriptor, landmarker, photos):
    """X walks out at the right edge; 3.5 s later Y, who looks like X, walks in there. Y is a
    new person: no merge, two ids."""
    photo, fx, fy = LOOK_ALIKES
    x_leaves = Walker("X", photo, fx, lambda t: edge_walk(t, 150.0) if t < 3.0 else None)
    y_enters = Walker("Y", photo, fy, lambda t: edge_walk(t, 150.0) if t >= 3.0 else None)
    rec = recognizer(fusion, tiny, descriptor, landmarker)
    frames = run_clip(rec, photos, [x_leaves, y_enters], 9.0)
    seqs = {who: sequence(frames, who) for who in "XY"}
    print(f"\n[look-alikes at the edge] id sequences {seqs}; merges {getattr(rec.tracker, 'reid_merges', None)}")
    assert seqs["X"] and seqs["Y"] and len(seqs["X"]) == 1 and len(seqs["Y"]) == 1, seqs
    assert seqs["X"] != seqs["Y"]
    assert rec.tracker.reid_merges == 0


def test_a_look_alike_appearing_in_full_view_is_someone_else(fusion, tiny, descriptor, landmarker, photos):
    """X stands, walks out at the right edge; 2 s later Y, who looks like X, stands where X
    stood, in full view from their first frame: a new id, not X's."""
    photo, fx, fy = LOOK_ALIKES
    x_leaves = Walker("X", photo, fx, lambda t: (250.0, 150.0) if t < 2.0 else edge_walk(t - 2.0, 150.0, 250.0)
                      if t < 4.5 else None)
    y_appears = Walker("Y", photo, fy, lambda t: (250.0, 150.0) if t >= 6.0 else None)
    rec = recognizer(fusion, tiny, descriptor, landmarker)
    frames = run_clip(rec, photos, [x_leaves, y_appears], 9.0)
    seqs = {who: sequence(frames, who) for who in "XY"}
    print(f"\n[look-alikes in full view] id sequences {seqs}; merges {getattr(rec.tracker, 'reid_merges', None)}")
    assert seqs["X"] and seqs["Y"] and seqs["X"] != seqs["Y"], seqs
    assert len(seqs["Y"]) == 1 and rec.tracker.reid_merges == 0
