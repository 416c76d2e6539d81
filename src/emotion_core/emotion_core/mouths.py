"""Mouth openings of the tracked faces, for active-speaker scoring.

A reading takes two landmark passes per face: one on the tracker's box to find the eyes, one on
a box anchored to them that reads the mouth (``eye_anchored_box``: the tracker's box jitters by
about as much as a syllable moves the jaw, the eyes do not). The passes are most of a frame's
cost after the expression net, and the scorer does not need them at the camera's rate: each
face is read at most ``rate_hz`` times a second, the faces taking turns so that every frame
reads about the same number of them (an even cost per frame, not every other frame twice).
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .face_landmarks import eye_anchored_box, mouth_opening
from .tracking import Landmarker, Track

NS = 1_000_000_000


class MouthReader:
    """Each track's mouth opening on the frames it is due (NaN otherwise, and where the
    landmarks fail); ``rate_hz`` >= ``frame_rate_hz`` reads every face on every frame."""

    def __init__(self, landmarker: Landmarker, rate_hz: float = 10.0, frame_rate_hz: float = 30.0) -> None:
        if rate_hz <= 0 or frame_rate_hz <= 0:
            raise ValueError(f"mouth rate {rate_hz} Hz and frame rate {frame_rate_hz} Hz must be positive")
        self.landmarker = landmarker
        self.share = min(1.0, rate_hz / frame_rate_hz)  # of the faces read per frame
        #: Time between two readings of a face (the speech envelope's bin).
        self.interval_ns = int(NS / min(rate_hz, frame_rate_hz))
        # Due once a period has passed, less half a frame interval (frame stamps jitter).
        self._due_ns = int(NS / rate_hz - 0.5 * NS / frame_rate_hz) if self.share < 1 else 0
        self._last: dict[int, int] = {}  # track id -> stamp of its last reading
        #: Faces read since start (a benchmark divides it by frames x faces).
        self.faces_read = 0

    def reset(self) -> None:
        """Forget when each face was read (a pause, a new clip): all are due again."""
        self._last.clear()

    def forget(self, track_id: int) -> None:
        self._last.pop(track_id, None)

    def due(self, tracks: Sequence[Track], stamp_ns: int) -> list[int]:
        """Indices into ``tracks`` of the faces to read at ``stamp_ns``: those whose period has
        passed (never read first, then the longest ago), at most ``share`` of the faces."""
        waiting = []
        for i, t in enumerate(tracks):
            last = self._last.get(t.track_id)
            if last is None or stamp_ns <= last:  # new, or time went back
                waiting.append((0, -1, i))
            elif stamp_ns - last >= self._due_ns:
                waiting.append((1, last, i))
        waiting.sort()
        cap = math.ceil(len(tracks) * self.share - 1e-9)
        return sorted(i for _, _, i in waiting[:cap])

    def read(self, bgr: np.ndarray, tracks: Sequence[Track], stamp_ns: int,
             timings: dict[str, float] | None = None) -> np.ndarray:
        """``(len(tracks),)`` mouth openings, NaN for faces not due. ``timings`` gets the ms of
        the two passes added under ``landmarks`` and ``landmarks_mouth``."""
        tic = time.perf_counter()
        openings = np.full(len(tracks), np.nan)
        read = self.due(tracks, stamp_ns)
        for i in read:
            self._last[tracks[i].track_id] = stamp_ns
        self.faces_read += len(read)
        anchors: list[tuple[int, object]] = []
        if read:
            first = self.landmarker.landmarks(bgr, [tracks[i].box for i in read])
            anchors = [(i, eye_anchored_box(p)) for i, p in zip(read, first) if np.isfinite(p).all()]
        mid = time.perf_counter()
        if anchors:
            points = self.landmarker.landmarks(bgr, [box for _, box in anchors])  # type: ignore[misc]
            openings[[i for i, _ in anchors]] = mouth_opening(points)
        if timings is not None:
            end = time.perf_counter()
            timings["landmarks"] = timings.get("landmarks", 0.0) + (mid - tic) * 1e3
            timings["landmarks_mouth"] = timings.get("landmarks_mouth", 0.0) + (end - mid) * 1e3
        return openings
