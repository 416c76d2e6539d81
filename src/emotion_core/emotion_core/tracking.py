"""People across frames: a stable id per face, from a multi-object tracker for motion and a face
descriptor for someone who comes back.

Motion is Roboflow ``trackers``' ByteTrack (Kalman filter + two-stage IoU association, fed the
detection frames with their stamps): it keeps an id while a face moves. On frames where the
detector does not run, each person's box moves along the velocity of their last two detections.
ByteTrack forgets a face that is occluded or leaves the frame for longer than its buffer; when it
then starts a new track, the face's 128-d descriptor is compared with the people seen in the last
``remember_s`` seconds who are not in view, and a match gives the person back their old id.

Descriptors are taken only from **good views** (the face inside the frame with a margin, large
enough, confidently detected, not overlapping another face): a face cut by the frame's edge or
half behind someone describes part of a face, and matching on it gives a returning person a new
id or, worse, someone else's. Each person keeps a small gallery of good-view descriptors (one
when the track starts, one every ``reid_sample_s`` while in view, only views that agree with the
gallery) and a face is matched on its nearest gallery entry. A track that starts on a bad view
(someone walking back in at the edge) gets a new id at once, so the robot can answer them, and is
re-checked on its first good view: if it is a remembered person, it is **merged** into their id
(the young id is forgotten; ``reid_merges`` counts merges, ``pop_merges`` says which ids).
The ids this module hands out are those person ids, the same on every topic.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence

import numpy as np

from .face import FaceBox
from .settings import setting

NS = 1_000_000_000
#: Default ``reid_distance`` (below face_descriptor's 0.4 because a face is matched on the
#: nearest of several views, which brings different people closer too). Measured on the demo
#: faces with landmark-aligned crops at 80-170 px (test/face_stack): the same face at another
#: size, place, brightness, blur or JPEG <= 0.24, back in at the edge <= 0.15; the closest two
#: different people (sample4's faces 0 and 3) >= 0.29 over 7x7 views, 0.32 in the edge clip.
REID_DISTANCE = 0.28


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
    reid_distance: float = setting(REID_DISTANCE, "largest face-descriptor distance (L2-normalised, "
                                   "to the nearest of a person's good views) at which a face is that "
                                   "person", range=(0.05, 2.0))
    reid_edge_margin: float = setting(0.1, "a face is a good view for re-identification only when its "
                                      "box keeps this share of its size from every frame edge (and "
                                      "from other faces): a face cut by the edge describes part of "
                                      "a face", range=(0.0, 1.0))
    reid_min_face_px: int = setting(40, "smallest face (box side, px) that is a good view for "
                                    "re-identification (the descriptor net reads 150 px)",
                                    range=(1, 4096))
    reid_min_score: float = setting(0.5, "smallest detector score of a good view for "
                                    "re-identification", range=(0.0, 1.0))
    reid_gallery: int = setting(5, "good-view descriptors kept per person (newest); a face is "
                                "matched on the nearest", range=(1, 50))
    reid_sample_s: float = setting(2.0, "a person in view adds a good-view descriptor to their "
                                   "gallery at most this often, one person per frame (0 = only when "
                                   "a track starts) [s]", range=(0.0, 3600.0))


class Embedder(Protocol):
    """Face descriptors (``face_descriptor.FaceDescriptor``)."""

    def embed(self, bgr: np.ndarray, boxes: Sequence[FaceBox],
              landmarks: Optional[np.ndarray] = None) -> np.ndarray: ...


class Landmarker(Protocol):
    """68 face landmarks per box (``face_landmarks.FaceLandmarker``): with them the descriptor
    reads face-api's aligned crop, much steadier than the detector box (same face at another
    size or place: <= 0.22 instead of <= 0.38 on the demo faces)."""

    def landmarks(self, bgr: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray: ...


@dataclass
class Track:
    """A person in the current frame."""

    track_id: int
    box: FaceBox
    detected: bool  # the box comes from this frame's detector (else the tracker predicted it)


@dataclass(frozen=True)
class Merge:
    """A young id found to be a remembered person on its first good view."""

    young: int  # the id the track had (now forgotten)
    person: int  # the id it carries from now on
    distance: float  # descriptor distance to the person's nearest good view
    stamp_ns: int


@dataclass
class _Person:
    last_seen_ns: int
    gallery: deque[np.ndarray]  # good-view descriptors, newest last
    #: A new id without a good view yet: re-checked against remembered people on its first one.
    young: bool = False
    sampled_ns: int = 0  # when the gallery last took (or refused) a descriptor
    bytetrack_ids: set[int] = field(default_factory=set)


class FaceTracker:
    """Detections (or None on frames without detection) in, tracks with person ids out."""

    def __init__(self, settings: TrackingSettings = TrackingSettings(),
                 embedder: Optional[Embedder] = None, landmarker: Optional[Landmarker] = None) -> None:
        from trackers import ByteTrackTracker  # imported here: the core imports it only when used

        self.settings = settings
        self.embedder = embedder
        self.landmarker = landmarker
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
        #: Young ids merged into a remembered person since start (for /diagnostics).
        self.reid_merges = 0
        self._merges: deque[Merge] = deque(maxlen=256)  # deque: popped from another thread

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
        tracks = self._to_people(bgr, tracks, list(boxes), stamp_ns)
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

    def _to_people(self, bgr: np.ndarray, tracks: list[Track], detections: list[FaceBox],
                   stamp_ns: int) -> list[Track]:
        """Person ids for this frame's ByteTrack tracks. Descriptors (one batch) are taken of good
        views only: a new track's, to find a returning person; a young person's, to merge them
        into a remembered one; and at most one person in view's, for their gallery."""
        reid = self.embedder is not None and self.settings.remember_s > 0
        good = {t.track_id: reid and self._good_view(t.box, detections, bgr.shape) for t in tracks}
        new = [t for t in tracks if t.track_id not in self._person_of]
        young = [t for t in tracks if t.track_id in self._person_of and good[t.track_id]
                 and self._people[self._person_of[t.track_id]].young]
        young_ids = {t.track_id for t in young}
        probes = [t for t in new if good[t.track_id]] + young
        sample = self._due_sample(tracks, good, stamp_ns)
        descriptors = self._embed(bgr, [t.box for t in probes + sample])
        found = self._returning(descriptors[:len(probes)], stamp_ns,
                                {self._person_of[t.track_id] for t in tracks if t.track_id in self._person_of})
        for i, track in enumerate(probes):
            desc = descriptors[i]
            person, distance = found.get(i, (None, 0.0))
            if track.track_id in young_ids:  # a young id on its first good view
                pid = self._person_of[track.track_id]
                if person is not None:
                    self._merge(pid, person, distance, stamp_ns)
                else:
                    person = pid
                    self._people[pid].young = desc is None
            elif person is None:
                person = self._new_person(stamp_ns, young=desc is None)
            self._person_of[track.track_id] = person
            self._people[person].bytetrack_ids.add(track.track_id)
            self._remember(person, desc, stamp_ns)
        for track in new:
            if track.track_id not in self._person_of:  # a bad view: a new id, checked again later
                person = self._new_person(stamp_ns, young=reid)
                self._person_of[track.track_id] = person
                self._people[person].bytetrack_ids.add(track.track_id)
        for track, desc in zip(sample, descriptors[len(probes):]):
            p = self._people[self._person_of[track.track_id]]
            p.sampled_ns = stamp_ns
            if desc is not None and self._nearest(p, desc) < self.settings.reid_distance:
                p.gallery.append(desc)  # a view unlike the gallery may be a track that jumped faces
        out = []
        for t in tracks:
            person = self._person_of[t.track_id]
            self._people[person].last_seen_ns = stamp_ns
            out.append(Track(person, t.box, t.detected))
        return out

    def _good_view(self, box: FaceBox, detections: list[FaceBox], shape: tuple[int, ...]) -> bool:
        """Inside the frame by ``reid_edge_margin`` of the face's size, not overlapping another
        detected face (grown by the same margin), large and confident enough."""
        s = self.settings
        if min(box.w, box.h) < s.reid_min_face_px or box.score < s.reid_min_score:
            return False
        mx, my = s.reid_edge_margin * box.w, s.reid_edge_margin * box.h
        x0, y0, x1, y1 = box.x - mx, box.y - my, box.x + box.w + mx, box.y + box.h + my
        if x0 < 0 or y0 < 0 or x1 > shape[1] or y1 > shape[0]:
            return False
        own = np.array([box.x, box.y, box.x + box.w, box.y + box.h], np.float64)
        for d in detections:
            other = np.array([d.x, d.y, d.x + d.w, d.y + d.h], np.float64)
            if _iou(own, other) > 0.5:
                continue  # this face's own detection
            if min(x1, other[2]) > max(x0, other[0]) and min(y1, other[3]) > max(y0, other[1]):
                return False
        return True

    def _due_sample(self, tracks: list[Track], good: dict[int, bool], stamp_ns: int) -> list[Track]:
        """The person in view (not young, in a good view) whose gallery waited longest, once
        ``reid_sample_s`` has passed since it last took a view: one descriptor per frame at most."""
        every = self.settings.reid_sample_s * NS
        if every <= 0:
            return []
        due = [t for t in tracks if good[t.track_id] and t.track_id in self._person_of
               and not self._people[self._person_of[t.track_id]].young
               and stamp_ns - self._people[self._person_of[t.track_id]].sampled_ns >= every]
        return [min(due, key=lambda t: self._people[self._person_of[t.track_id]].sampled_ns)] if due else []

    def _new_person(self, stamp_ns: int, young: bool) -> int:
        person = self._next_person
        self._next_person += 1
        self._people[person] = _Person(stamp_ns, deque(maxlen=self.settings.reid_gallery), young)
        return person

    def _embed(self, bgr: np.ndarray, boxes: list[FaceBox]) -> list[Optional[np.ndarray]]:
        if not boxes or self.embedder is None or self.settings.remember_s <= 0:
            return [None] * len(boxes)
        if self.landmarker is not None:
            desc = self.embedder.embed(bgr, boxes, self.landmarker.landmarks(bgr, boxes))
        else:
            desc = self.embedder.embed(bgr, boxes)
        return [None if not np.isfinite(d).all() else d for d in desc]

    def _returning(self, descriptors: list[Optional[np.ndarray]], stamp_ns: int,
                   in_view: set[int]) -> dict[int, tuple[int, float]]:
        """{probe index: (remembered person, distance)}: each probe's nearest remembered person
        (not in view, seen within ``remember_s``) within ``reid_distance``, nearest pairs first,
        each person to one probe at most."""
        pairs = []
        for pid, p in self._people.items():
            if pid in in_view or not p.gallery or stamp_ns - p.last_seen_ns > self.settings.remember_s * NS:
                continue
            for i, desc in enumerate(descriptors):
                if desc is not None:
                    d = self._nearest(p, desc)
                    if d < self.settings.reid_distance:
                        pairs.append((d, i, pid))
        out: dict[int, tuple[int, float]] = {}
        taken: set[int] = set()
        for d, i, pid in sorted(pairs):
            if i not in out and pid not in taken:
                out[i] = (pid, d)
                taken.add(pid)
        return out

    @staticmethod
    def _nearest(p: _Person, desc: np.ndarray) -> float:
        """Distance from ``desc`` to the nearest of the person's good views (inf: none)."""
        if not p.gallery:
            return float("inf")
        return float(np.min(np.linalg.norm(np.stack(p.gallery) - desc, axis=1)))

    def _remember(self, person: int, desc: Optional[np.ndarray], stamp_ns: int) -> None:
        if desc is not None:
            p = self._people[person]
            p.gallery.append(desc)
            p.sampled_ns = stamp_ns

    def _merge(self, young: int, person: int, distance: float, stamp_ns: int) -> None:
        """The young person is ``person``: their tracks carry ``person``'s id from now on and the
        young id is forgotten (its per-person outputs go)."""
        gone = self._people.pop(young)
        self._people[person].bytetrack_ids |= gone.bytetrack_ids
        for bt in gone.bytetrack_ids:
            self._person_of[bt] = person
        seen = self._seen.pop(young, None)
        if seen is not None:
            self._seen[person] = seen
        self._forgotten.append(young)
        self.reid_merges += 1
        self._merges.append(Merge(young, person, distance, stamp_ns))

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

    def pop_merges(self) -> list[Merge]:
        """Merges since the last call, oldest first (emotion_node logs each; safe to call from
        another thread than ``update``'s)."""
        out = []
        while self._merges:
            out.append(self._merges.popleft())
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
