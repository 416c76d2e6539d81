"""emotion_node's debug image marks the speaker: every box keeps its id and label, and the face
whose speaking probability is >= 0.5 also gets a filled red dot on its box corner and a
"speaking" tag; a quiet or unscored (NaN) face gets neither. The drawing method runs on a
stand-in node (no DDS): what it publishes is decoded back into pixels."""
from __future__ import annotations

import types

import numpy as np

from emotion_core.face import FaceBox
from emotion_core.recognizer import FaceEstimate, FrameResult, Recognition
from emotion_msgs.msg import AudioVisualPair
from emotion_ros.common import image_to_bgr
from emotion_ros.emotion_node import EmotionNode

RED = np.array([0, 0, 255])


def face(track_id: int, x: int, speaking: float) -> FaceEstimate:
    rec = Recognition(labels=("neutral", "happy"), label="happy", confidence=0.9, face_box=FaceBox(x, 150, 100, 100))
    return FaceEstimate(track_id, rec, speaking)


def draw(frame: FrameResult) -> np.ndarray:
    published = []
    stand_in = types.SimpleNamespace(hri=None, debug_pub=types.SimpleNamespace(publish=published.append))
    stand_in._face_id = types.MethodType(EmotionNode._face_id, stand_in)
    EmotionNode._publish_debug(stand_in, AudioVisualPair(), np.full((480, 640, 3), 128, np.uint8), frame)
    assert len(published) == 1
    return image_to_bgr(published[0])


def red_near(img: np.ndarray, x: int, y: int, r: int = 4) -> bool:
    patch = img[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3)
    return bool((np.abs(patch.astype(int) - RED) < 40).all(axis=1).sum() >= 9)


def test_only_the_speaking_face_gets_the_dot_and_tag():
    faces = [face(0, 40, 0.92), face(1, 260, 0.1), face(2, 480, float("nan"))]
    img = draw(FrameResult(faces, faces[0].recognition, primary_track=0))
    assert red_near(img, 140, 150)  # corner dot of the speaker's box (x + w, y)
    assert not red_near(img, 360, 150) and not red_near(img, 580, 150)
    below = img[255:275]  # the tag under the boxes
    red = (np.abs(below.astype(int) - RED) < 40).all(axis=2)
    assert red[:, 40:240].sum() > 50 and red[:, 260:].sum() == 0
    # every box is still drawn: green for the primary, orange for the others
    assert (img[150, 60] == (0, 255, 0)).all() and (img[150, 280] == (0, 200, 255)).all()
