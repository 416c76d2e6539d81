"""The multi-person demo clip, assembled at setup from media already on the machine.

Three people cut from the demo photos of the face-api npm package that setup fetches (MIT; the
tarball or its extracted copy under ``.cache/npm``) move across a plain room and cross each
other; two of them take turns speaking, with LibriVox read speech cut into turns with silences
between. The speaking person's jaw drops in time with the speech envelope (a remap of the mouth
region below the lip line, driven by the 68 face landmarks found once at build time), so the
landmark path of the active-speaker scoring sees a real talking mouth. The per-frame ground
truth (face boxes, who speaks, how far each jaw is open) is written beside the clip, so tests
can score the tracker and the speaker scoring on exactly what the demo plays.

Nothing here is imported at run time: setup (``emotion_core.tools.assets``) calls it.
"""
from __future__ import annotations

import json
import logging
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

log = logging.getLogger("emotion_core.tools.people_clip")

#: Bumped whenever the clip or its truth changes: setup rebuilds an older one.
CLIP_VERSION = 1
FPS = 30
SIZE = (640, 480)
SECONDS = 15.0
SAMPLE_RATE = 16000
PATCH = 170  # px: side of each person's square patch (the face is ~90 px of it)
#: Largest jaw drop, in mouth widths (a wide-open mouth while reading aloud).
MAX_JAW = 0.5
#: Envelope below this share of the turn's loud level keeps the mouth closed.
CLOSED_BELOW = 0.08
ENVELOPE_S = 0.1  # RMS window of the mouth drive, ending at the frame time


@dataclass(frozen=True)
class Person:
    """One person of the clip: a hand-checked face of a demo photo (box from
    test/fixtures/face_api/demo_faces.json, [x, y, w, h] in photo pixels)."""

    name: str
    photo: str
    box: tuple[int, int, int, int]
    expression: str  # what the face shows (the expression net reads it so on the still face)


#: A and B take turns speaking (closed mouths at rest, so a moving jaw is clearly visible); C
#: laughs and never speaks: an open mouth that does not move with the voice.
PEOPLE = (
    Person("A", "sample1.jpg", (405, 409, 236, 226), "neutral"),
    Person("B", "sample2.jpg", (1429, 192, 252, 232), "sad"),
    Person("C", "sample5.jpg", (325, 919, 266, 275), "happy"),
)


@dataclass(frozen=True)
class Turn:
    """``person`` speaks from ``start_s`` to ``end_s`` (clip time); the audio is cut from the
    source speech at ``source_s``."""

    person: str
    start_s: float
    end_s: float
    source_s: float


#: Speech with gaps: A, a 2.5 s silence, B, a 1 s silence, A again, a short silence to the end
#: (the demo loops the clip, so B -> A also happens across the loop).
TURNS = (
    Turn("A", 0.5, 5.0, 0.2),
    Turn("B", 7.5, 12.0, 8.0),
    Turn("A", 13.0, 14.6, 17.6),
)


# -- the photos ------------------------------------------------------------------------------
def find_photo(npm_cache: Path, name: str) -> Optional[bytes]:
    """The bytes of ``demo/<name>`` of the face-api package in the npm cache: the extracted
    package when present, else the tarball itself; None when neither is there."""
    if not npm_cache.is_dir():
        return None
    for path in sorted(npm_cache.glob(f"*/package/demo/{name}")):
        return path.read_bytes()
    for tgz in sorted(npm_cache.glob("*face-api*.tgz")):
        try:
            with tarfile.open(tgz, "r:gz") as tar:
                member = tar.extractfile(f"package/demo/{name}")
                if member is not None:
                    return member.read()
        except (OSError, KeyError, tarfile.TarError):
            continue
    return None


def load_people(npm_cache: Path) -> Optional[dict[str, np.ndarray]]:
    """BGR photo of every person's source image, or None when the package is not in the cache."""
    import cv2

    images: dict[str, np.ndarray] = {}
    for person in PEOPLE:
        raw = find_photo(npm_cache, person.photo)
        if raw is None:
            return None
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        images[person.name] = image
    return images


@dataclass
class Patch:
    """A person's square patch and where things are in it (patch pixels)."""

    image: np.ndarray
    face: tuple[float, float, float, float]  # the hand-checked box, x y w h
    mouth_left: tuple[float, float]
    mouth_right: tuple[float, float]
    lip_y: float  # where the lips meet
    chin_y: float


def cut_patch(photo: np.ndarray, box: Sequence[int], side: int = PATCH) -> tuple[np.ndarray, float, float, float]:
    """A square around the face with 45 % of its size as margin, resized to ``side``; the photo
    is edge-padded where the square reaches past it. Returns (patch, x0, y0, scale): photo point
    p maps to (p - (x0, y0)) * scale."""
    import cv2

    x, y, w, h = box
    m = 0.45 * max(w, h)
    cx, cy, half = x + w / 2, y + h / 2, max(w, h) / 2 + m
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    n = int(round(2 * half))
    pad = max(0, -x0, -y0, x0 + n - photo.shape[1], y0 + n - photo.shape[0])
    padded = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else photo
    crop = padded[y0 + pad:y0 + pad + n, x0 + pad:x0 + pad + n]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA), float(x0), float(y0), side / n


def mouth_geometry(points: Optional[np.ndarray], box: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float], float, float]:
    """(left corner, right corner, lip line y, chin y) from 68 landmarks (iBUG layout: 48/54
    the mouth corners, 60-67 the inner lips, 8 the chin), or from the box's proportions where no
    landmark net is built (a frontal face: mouth at ~78 % of its height, a third of its width)."""
    if points is not None and np.isfinite(points).all():
        left, right = tuple(map(float, points[48])), tuple(map(float, points[54]))
        lip_y = float(points[60:68, 1].mean())
        return left, right, lip_y, float(points[8, 1])  # type: ignore[return-value]
    x, y, w, h = box
    lip_y = y + 0.78 * h
    return (x + 0.33 * w, lip_y), (x + 0.67 * w, lip_y), lip_y, y + 1.02 * h


def build_patches(photos: dict[str, np.ndarray], landmarks_model: Optional[Path]) -> dict[str, Patch]:
    """Each person's patch with the mouth located by the landmark net where it is built."""
    landmarker = None
    if landmarks_model is not None and landmarks_model.is_file():
        from ..face import FaceBox
        from ..face_landmarks import FaceLandmarker

        landmarker = FaceLandmarker(landmarks_model, intra_op_threads=1)
    else:
        log.warning("no landmark model at %s: the mouth is placed from the face box", landmarks_model)
    out: dict[str, Patch] = {}
    for person in PEOPLE:
        image, x0, y0, s = cut_patch(photos[person.name], person.box)
        bx, by, bw, bh = person.box
        face = ((bx - x0) * s, (by - y0) * s, bw * s, bh * s)
        points = None
        if landmarker is not None:  # on the photo (full resolution), mapped into the patch
            points = (landmarker.landmarks(photos[person.name], [FaceBox(*person.box)])[0]
                      - np.array([x0, y0], np.float32)) * s
        left, right, lip_y, chin_y = mouth_geometry(points, face)
        out[person.name] = Patch(image, face, left, right, lip_y, chin_y)
    return out


# -- the talking mouth -----------------------------------------------------------------------
def drop_jaw(patch: Patch, amount: float) -> np.ndarray:
    """The patch with the lower face pulled down by ``amount`` mouth widths at the mouth's
    centre line: the displacement is largest just below the lips, falls off along a Gaussian
    across the mouth and linearly to nothing a little below the chin, and the opened gap between
    the lips is a dark mouth cavity with a soft edge. ``amount`` 0 returns the patch unchanged."""
    import cv2

    img = patch.image
    if amount <= 0:
        return img
    (lx, ly), (rx, ry) = patch.mouth_left, patch.mouth_right
    width = math.hypot(rx - lx, ry - ly)
    cx = 0.5 * (lx + rx)
    h, w = img.shape[:2]
    y_top = patch.lip_y
    y_end = min(float(h), patch.chin_y + 0.35 * width)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    across = np.exp(-0.5 * ((xs - cx) / (0.42 * width)) ** 2)
    below = np.clip((y_end - ys) / max(y_end - y_top, 1.0), 0.0, 1.0) * (ys >= y_top)
    shift = (amount * width) * across * below
    map_x = np.broadcast_to(xs, (h, w)).astype(np.float32)
    map_y = (ys - shift).astype(np.float32)
    out = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Pixels that came from above the lip line are the opened gap: the mouth cavity.
    depth = np.clip((y_top - map_y) / 1.5, 0.0, 1.0)[..., None] * (ys >= y_top)[..., None]
    cavity = np.array((28, 18, 48), np.float32)  # BGR: dark red-brown
    return np.rint(out * (1.0 - depth) + cavity * depth).astype(np.uint8)


def envelope(speech: np.ndarray, times_s: np.ndarray, window_s: float = ENVELOPE_S,
             sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RMS of ``speech`` over ``window_s`` ending at each time (0 before the start)."""
    out = np.zeros(len(times_s))
    for i, t in enumerate(times_s):
        hi, lo = int(t * sample_rate), int((t - window_s) * sample_rate)
        lo, hi = max(lo, 0), min(hi, speech.size)
        if hi > lo:
            out[i] = float(np.sqrt(np.mean(np.square(speech[lo:hi], dtype=np.float64))))
    return out


def jaw_drive(env: np.ndarray, loud: float, max_jaw: float = MAX_JAW) -> np.ndarray:
    """Jaw drop per frame from the speech envelope: closed below ``CLOSED_BELOW`` of the loud
    level, then rising with a compressive curve (lips saturate) to ``max_jaw``."""
    if loud <= 0:
        return np.zeros_like(env)
    level = np.clip(env / loud, 0.0, 1.0)
    return np.where(level < CLOSED_BELOW, 0.0, max_jaw * level ** 0.6)


# -- speech ---------------------------------------------------------------------------------
def speech_track(source: np.ndarray, turns: Sequence[Turn] = TURNS, seconds: float = SECONDS,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Silence with each turn's speech cut from ``source`` (at ``source_s``) placed at its
    time, faded in and out over 20 ms so the cuts do not click. B's turns are pitched down a
    little (resampled) so the two voices differ."""
    from scipy.signal import resample_poly

    out = np.zeros(int(round(seconds * sample_rate)), np.float32)
    fade = int(0.02 * sample_rate)
    for turn in turns:
        n = int(round((turn.end_s - turn.start_s) * sample_rate))
        start = int(round(turn.source_s * sample_rate))
        if turn.person == "B":  # 10 % lower and slower: read 0.9 n samples, stretch to n
            seg = resample_poly(source[start:start + int(0.9 * n) + 1], 10, 9).astype(np.float32)[:n]
        else:
            seg = source[start:start + n].astype(np.float32)
        seg = seg[:n].copy()
        ramp = np.linspace(0.0, 1.0, min(fade, seg.size // 2), dtype=np.float32)
        if ramp.size:
            seg[:ramp.size] *= ramp
            seg[seg.size - ramp.size:] *= ramp[::-1]
        at = int(round(turn.start_s * sample_rate))
        out[at:at + seg.size] = seg[:max(0, out.size - at)]
    return out


def speaker_at(t_s: float, turns: Sequence[Turn] = TURNS) -> Optional[str]:
    """Who speaks at clip time ``t_s`` (None in a silence)."""
    return next((turn.person for turn in turns if turn.start_s <= t_s < turn.end_s), None)


# -- motion ---------------------------------------------------------------------------------
def positions(t_s: float, seconds: float = SECONDS, size: tuple[int, int] = SIZE,
              side: int = PATCH) -> dict[str, tuple[float, float]]:
    """Top-left corner of each person's patch at ``t_s``: A walks left to right along the top,
    B right to left along the bottom (they cross mid-clip), C sways across the middle (crossing
    both); each bobs a little. Lanes are far enough apart that faces never cover each other."""
    w, h = size
    span = w - side - 60
    u = 0.5 - 0.5 * math.cos(math.pi * min(max(t_s / seconds, 0.0), 1.0))  # ease in and out
    lane = (h - side) / 2
    return {
        "A": (30 + span * u, 12 + 8 * math.sin(2 * math.pi * t_s / 3.0)),
        "B": (30 + span * (1 - u), h - side - 12 + 8 * math.sin(2 * math.pi * t_s / 3.5 + 1.0)),
        "C": ((w - side) / 2 + 0.4 * span * math.sin(2 * math.pi * t_s / 7.5), lane + 5 * math.sin(2 * math.pi * t_s / 2.5)),
    }


def crossings(centres: dict[str, list[float]], times: Sequence[float]) -> list[dict]:
    """Every time two people's horizontal order swaps: ``{"t_s", "pair"}``."""
    names = sorted(centres)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            last = 0.0  # sign of the last frame where they were not level
            for k, d in enumerate(np.sign(np.subtract(centres[a], centres[b]))):
                if d != 0 and last != 0 and d != last:
                    out.append({"t_s": round(float(times[k]), 4), "pair": [a, b]})
                last = d if d != 0 else last
    return sorted(out, key=lambda c: c["t_s"])


def backdrop(size: tuple[int, int] = SIZE) -> np.ndarray:
    """A plain room: a wall with a soft vertical gradient over a darker floor band."""
    w, h = size
    wall = np.linspace(150, 110, h, dtype=np.float32)[:, None, None] * np.array([1.0, 0.97, 0.9], np.float32)
    img = np.broadcast_to(wall, (h, w, 3)).copy()
    img[int(0.86 * h):] *= 0.6
    return img.astype(np.uint8)


def soft_mask(side: int = PATCH) -> np.ndarray:
    """Alpha of a patch: an ellipse filling the square, feathered at its rim."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    r = np.hypot((x - side / 2 + 0.5) / (side / 2), (y - side / 2 + 0.5) / (side / 2))
    return np.clip((1.02 - r) / 0.12, 0.0, 1.0)[..., None]


def paste(canvas: np.ndarray, patch: np.ndarray, x: float, y: float, alpha: np.ndarray) -> None:
    """Blend ``patch`` into ``canvas`` at integer position (x, y), clipped at the borders."""
    xi, yi = int(round(x)), int(round(y))
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(xi, 0), max(yi, 0), min(xi + w, canvas.shape[1]), min(yi + h, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    p = patch[y0 - yi:y1 - yi, x0 - xi:x1 - xi].astype(np.float32)
    a = alpha[y0 - yi:y1 - yi, x0 - xi:x1 - xi]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.rint(region * (1 - a) + p * a).astype(np.uint8)


# -- the clip --------------------------------------------------------------------------------
@dataclass
class Clip:
    """Frames (a generator), the speech track and the per-frame ground truth."""

    frames: Callable[[], Iterator[np.ndarray]]
    speech: np.ndarray
    truth: dict


def assemble(patches: dict[str, Patch], source_speech: np.ndarray, speech_source: str,
             seconds: float = SECONDS, fps: int = FPS) -> Clip:
    """The clip from the people's patches and the source speech (see the module docstring)."""
    speech = speech_track(source_speech, TURNS, seconds)
    n = int(round(seconds * fps))
    times = np.arange(n) / fps
    env = envelope(speech, times)
    jaws: dict[str, np.ndarray] = {p.name: np.zeros(n) for p in PEOPLE}
    for turn in TURNS:
        inside = (times >= turn.start_s) & (times < turn.end_s)
        loud = float(np.percentile(env[inside], 95)) if inside.any() else 0.0
        jaws[turn.person][inside] = jaw_drive(env[inside], loud)
    order = ("C", "A", "B")  # drawn back to front
    frames_truth, centres = [], {p.name: [] for p in PEOPLE}
    for i, t in enumerate(times):
        pos = positions(float(t), seconds)
        boxes = {}
        for name in order:
            fx, fy, fw, fh = patches[name].face
            x, y = round(pos[name][0]), round(pos[name][1])
            boxes[name] = [int(round(x + fx)), int(round(y + fy)), int(round(fw)), int(round(fh))]
            centres[name].append(x + fx + fw / 2)
        frames_truth.append({"t_s": round(float(t), 4), "speaking": speaker_at(float(t)),
                             "boxes": boxes,
                             "jaw": {k: round(float(v[i]), 4) for k, v in jaws.items()}})
    truth = {
        "version": CLIP_VERSION,
        "description": "Ground truth of data/demo/people.mp4 (built by emotion_core.tools.people_clip): "
                       "per frame, each person's hand-checked face box [x, y, w, h] in frame pixels, "
                       "who speaks (null in a silence) and each jaw drop in mouth widths.",
        "fps": fps, "size": list(SIZE), "n_frames": n, "sample_rate": SAMPLE_RATE,
        "people": [{"name": p.name, "photo": f"face-api demo/{p.photo}", "photo_box": list(p.box),
                    "expression": p.expression,
                    "speaks": any(t.person == p.name for t in TURNS)} for p in PEOPLE],
        "turns": [{"person": t.person, "start_s": t.start_s, "end_s": t.end_s} for t in TURNS],
        "crossings": crossings(centres, list(times)),
        "speech_source": speech_source,
        "frames": frames_truth,
    }
    alpha = soft_mask()
    room = backdrop()

    def frames() -> Iterator[np.ndarray]:
        for i, t in enumerate(times):
            canvas = room.copy()
            pos = positions(float(t), seconds)
            for name in order:
                paste(canvas, drop_jaw(patches[name], float(jaws[name][i])),
                      round(pos[name][0]), round(pos[name][1]), alpha)
            yield canvas

    return Clip(frames, speech, truth)


def build_people_clip(npm_cache: Path, landmarks_model: Optional[Path], source_speech: np.ndarray,
                      speech_source: str) -> Optional[Clip]:
    """The clip (assets writes it), or None when the face-api package is not in ``npm_cache``."""
    photos = load_people(npm_cache)
    if photos is None:
        return None
    return assemble(build_patches(photos, landmarks_model), source_speech, speech_source)


def write_truth(clip: Clip, path: Path) -> None:
    path.write_text(json.dumps(clip.truth, separators=(",", ":")) + "\n")


def read_truth(path: Path) -> dict:
    """The truth JSON (what tests score against)."""
    return json.loads(Path(path).read_text())


def truth_is_current(path: Path) -> bool:
    """True when ``path`` holds a people clip's truth of this code version (not a fallback)."""
    try:
        truth = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return truth.get("version") == CLIP_VERSION and not truth.get("fallback")


__all__ = ["PEOPLE", "TURNS", "Person", "Turn", "assemble", "build_people_clip", "crossings", "drop_jaw",
           "envelope", "find_photo", "jaw_drive", "positions", "read_truth", "speaker_at", "speech_track",
           "truth_is_current", "write_truth"]
