"""People across frames: a stable id per face, from a multi-object tracker for motion and a face
descriptor for someone who comes back.

Motion is Roboflow ``trackers``' ByteTrack (Kalman filter + two-stage IoU association, fed the
detection frames with their stamps): it keeps an id while a face moves. On frames where the
detector does not run, each person's box moves along the velocity of their last two detections.
ByteTrack forgets a face that is occluded or leaves the frame for longer than its buffer; when it
then starts a new track, the face's 128-d descriptor is compared with the people seen in the last
``remember_s`` seconds who are not in view, and a match gives the person back their old id.
The ids this module hands out are those person ids, the same on every topic.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence

import numpy as np

from .face import FaceBox
from .face_descriptor import SAME_PERSON_DISTANCE
from .settings import setting

NS = 1_000_000_000


@dataclass(frozen=True)
class TrackingSettings:
    """Defaults and ranges of the people layer (emotion_node's parameters are made from it)."""

    frame_rate_hz: float = setting(10.0, "rate at which frames reach the recognizer (av_sync_node's "
                                   "rate_hz): sizes the tracker's motion model", range=(0.1, 240.0))
    max_faces: int = setting(4, "most faces recognised per frame (the largest first), as one batch",
                             range=(1, 16))
    detect_every: int = setting(1, "run the face detector on every N-th processed frame; the tracker "
                                "carries the boxes in between", range=(1, 30))
    track_lost_s: float = setting(1.0, "how long the tracker keeps predicting a face it no longer "
                                  "detects before the track ends [s]", range=(0.1, 30.0))
    confirm_score: float = setting(0.6, "a face detected with at least this score is tracked from its "
                                   "first frame; weaker detections must be seen twice (filters one-off "
                                   "false detections)", range=(0.0, 1.0))
    remember_s: float = setting(10.0, "how long a person who left is remembered, so that they get "
                                "their old id back when they return (0 = never) [s]", range=(0.0, 3600.0))
    reid_distance: float = setting(SAME_PERSON_DISTANCE, "largest face-descriptor distance "
                                   "(L2-normalised) at which a returning face is the same person",
                                   range=(0.05, 2.0))


class Embedder(Protocol):
    """Face descriptors (``face_descriptor.FaceDescriptor``)."""

    def embed(self, bgr: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray: ...


@dataclass
class Track:
    """A person in the current frame."""

    track_id: int
    box: FaceBox
    detected: bool  # the box comes from this frame's detector (else the tracker predicted it)


@dataclass
class _Person:
    descriptor: Optional[np.ndarray]
    last_seen_ns: int
    n_desc: int = 0
    bytetrack_ids: set[int] = field(default_factory=set)


class FaceTracker:
    """Detections (or None on frames without detection) in, tracks with person ids out."""

    def __init__(self, settings: TrackingSettings = TrackingSettings(),
                 embedder: Optional[Embedder] = None) -> None:
        from trackers import ByteTrackTracker  # imported here: the core imports it only when used

        self.settings = settings
        self.embedder = embedder
        frame_rate = settings.frame_rate_hz
        self._bytetrack = ByteTrackTracker(
            lost_track_buffer=max(1, int(round(settings.track_lost_s * frame_rate))),
            frame_rate=frame_rate, track_activation_threshold=0.3, minimum_consecutive_frames=1,
            high_conf_det_threshold=0.5)
        self._person_of: dict[int, int] = {}  # ByteTrack id -> person id
        self._people: dict[int, _Person] = {}
        self._next_person = 0
        self._forgotten: list[int] = []
        self._next_early = 1 << 30
        self._seen: dict[int, deque[tuple[int, FaceBox]]] = {}  # person -> last two detections
        self.active: list[int] = []

    def update(self, bgr: np.ndarray, boxes: Optional[Sequence[FaceBox]], stamp_ns: int) -> list[Track]:
        """Tracks of this frame; ``boxes`` None = no detection ran: the people of the last
        detection frame are carried forward along their recent motion."""
        import supervision as sv

        if boxes is None:
            return self._carried(stamp_ns)
        xyxy = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes], np.float32).reshape(-1, 4)
        detections = sv.Detections(xyxy=xyxy, confidence=np.array([b.score for b in boxes], np.float32),
                                   class_id=np.zeros(len(boxes), int))
        out = self._bytetrack.update(detections, timestamp=stamp_ns / NS)
        confidence = out.confidence if out.confidence is not None else np.ones(len(out))
        tracks = []
        for box_xyxy, tid, conf in zip(out.xyxy, out.tracker_id, confidence):
            if tid < 0 and conf >= self.settings.confirm_score:
                tid = self._confirm_new(box_xyxy)
            if tid >= 0:
                tracks.append(Track(int(tid), _box(box_xyxy, float(conf)), True))
        tracks = self._to_people(bgr, tracks, stamp_ns)
        self.active = [t.track_id for t in tracks]
        for t in tracks:
            seen = self._seen.setdefault(t.track_id, deque(maxlen=2))
            if seen and stamp_ns <= seen[-1][0]:
                seen.clear()
            seen.append((stamp_ns, t.box))
        self._expire(stamp_ns)
        return tracks

    def _carried(self, stamp_ns: int) -> list[Track]:
        """The people of the last detection frame, each moved along the velocity of its last
        two detections (not beyond ``track_lost_s`` after the last one)."""
        out = []
        for pid in self.active:
            seen = self._seen.get(pid)
            if not seen:
                continue
            t1, b1 = seen[-1]
            if stamp_ns - t1 > self.settings.track_lost_s * NS:
                continue
            box = b1
            if len(seen) == 2 and seen[1][0] > seen[0][0] and stamp_ns > t1:
                t0, b0 = seen[0]
                k = (stamp_ns - t1) / (t1 - t0)
                box = FaceBox(int(round(b1.x + k * (b1.x - b0.x))), int(round(b1.y + k * (b1.y - b0.y))),
                              max(1, int(round(b1.w + k * (b1.w - b0.w)))),
                              max(1, int(round(b1.h + k * (b1.h - b0.h)))), b1.score)
            out.append(Track(pid, box, False))
            self._people[pid].last_seen_ns = stamp_ns
        return out

    def _confirm_new(self, xyxy: np.ndarray) -> int:
        """An id for a confidently detected face on the frame it first appears. ByteTrack
        confirms a new track on its second detection; a robot should answer a face at once, so
        the tracklet just spawned for this detection gets an id now, from a range ByteTrack's own allocator never reaches
        (ByteTrack keeps an id it finds set). -1 when no tracklet was spawned (a weak detection)."""
        for tracklet in self._bytetrack.tracks:
            if getattr(tracklet, "tracker_id", 0) == -1 and _iou(tracklet.get_state_bbox(), xyxy) > 0.9:
                tracklet.tracker_id = self._next_early
                self._next_early += 1
                return tracklet.tracker_id
        return -1

    def _to_people(self, bgr: np.ndarray, tracks: list[Track], stamp_ns: int) -> list[Track]:
        new = [t for t in tracks if t.track_id not in self._person_of]
        if new:
            descriptors = self._embed(bgr, [t.box for t in new])
            in_view = {self._person_of[t.track_id] for t in tracks if t.track_id in self._person_of}
            for track, desc in zip(new, descriptors):
                person = self._returning(desc, stamp_ns, in_view)
                if person is None:
                    person = self._next_person
                    self._next_person += 1
                    self._people[person] = _Person(None, stamp_ns)
                self._person_of[track.track_id] = person
                self._people[person].bytetrack_ids.add(track.track_id)
                self._remember(person, desc)
                in_view.add(person)
        out = []
        for t in tracks:
            person = self._person_of[t.track_id]
            self._people[person].last_seen_ns = stamp_ns
            out.append(Track(person, t.box, t.detected))
        return out

    def _embed(self, bgr: np.ndarray, boxes: list[FaceBox]) -> list[Optional[np.ndarray]]:
        if self.embedder is None or self.settings.remember_s <= 0:
            return [None] * len(boxes)
        desc = self.embedder.embed(bgr, boxes)
        return [None if not np.isfinite(d).all() else d for d in desc]

    def _returning(self, desc: Optional[np.ndarray], stamp_ns: int, in_view: set[int]) -> Optional[int]:
        """The remembered person (not in view) nearest to ``desc``, if near enough."""
        if desc is None:
            return None
        best, best_d = None, self.settings.reid_distance
        for pid, p in self._people.items():
            if pid in in_view or p.descriptor is None:
                continue
            if stamp_ns - p.last_seen_ns > self.settings.remember_s * NS:
                continue
            d = float(np.linalg.norm(p.descriptor - desc))
            if d < best_d:
                best, best_d = pid, d
        return best

    def _remember(self, person: int, desc: Optional[np.ndarray]) -> None:
        if desc is None:
            return
        p = self._people[person]
        mean = desc if p.descriptor is None else (p.descriptor * p.n_desc + desc) / (p.n_desc + 1)
        p.descriptor = mean / max(float(np.linalg.norm(mean)), 1e-12)
        p.n_desc += 1

    def _expire(self, stamp_ns: int) -> None:
        horizon = max(self.settings.remember_s, self.settings.track_lost_s) * NS
        for pid in [pid for pid, p in self._people.items()
                    if pid not in self.active and stamp_ns - p.last_seen_ns > horizon]:
            for bt in self._people.pop(pid).bytetrack_ids:
                self._person_of.pop(bt, None)
            self._seen.pop(pid, None)
            self._forgotten.append(pid)

    @property
    def next_id(self) -> int:
        """The id the next new person will get (REP-155 output opens its topic in advance)."""
        return self._next_person

    def pop_forgotten(self) -> list[int]:
        """Person ids forgotten since the last call (their per-person state can go)."""
        out, self._forgotten = self._forgotten, []
        return out

    def reset(self) -> None:
        """Forget everyone (a clock jump: a new recording starts)."""
        self._bytetrack.reset()
        self._forgotten.extend(self._people)
        self._people.clear()
        self._person_of.clear()
        self._seen.clear()
        self.active = []


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box(xyxy: np.ndarray, score: float) -> FaceBox:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return FaceBox(int(round(x0)), int(round(y0)), max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0))), score)
