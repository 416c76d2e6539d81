"""Reading clips: video frames at chosen instants, and the clip's audio on the same time axis.

Audio comes from a separate file of the same take where one exists (read with
``emotion_core.audio.load_audio``, as the robot reads files), else from the container's own
audio track through PyAV. Both are indexed from the clip's t = 0, which is what lets
``prepare`` cut the audio window that ends exactly at the chosen frame.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from emotion_core.audio import AudioFormatError, load_audio
from emotion_core.datasets.media import MediaError, container_audio  # noqa: F401  (re-exported)


def video_info(path: str | Path) -> tuple[float, int]:
    """(fps, frame count) of a video, via OpenCV."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaError(f"cannot open video {path}")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return fps, count
    finally:
        cap.release()


def read_frames_at(path: str | Path, times_s: Sequence[float]) -> list[np.ndarray]:
    """For each time ``t``, the BGR frame on screen just before ``t`` (index ``round(t*fps) - 1``,
    the newest frame a camera stamped at or before ``t`` would have delivered). Decodes
    sequentially: seeking is inexact in many containers, and clips are short."""
    import cv2

    if not Path(path).is_file():
        raise MediaError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise MediaError(f"cannot open video {path}")
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 10 ** 9
        wanted = [min(max(int(round(t * fps)) - 1, 0), count - 1) for t in times_s]
        frames: dict[int, np.ndarray] = {}
        index, target = 0, max(wanted)
        while index <= target and cap.grab():
            if index in wanted:
                ok, frame = cap.retrieve()
                if ok:
                    frames[index] = frame
            index += 1
        if not frames:
            raise MediaError(f"{path}: no decodable frame at the requested times")
        # A clip shorter than its header says: use the nearest frame that did decode.
        return [frames.get(w, frames[min(frames, key=lambda k: abs(k - w))]) for w in wanted]
    finally:
        cap.release()


def clip_audio(audio_path: Optional[str], video_path: Optional[str], sample_rate: int) -> np.ndarray:
    """The take's whole audio at ``sample_rate``, from t = 0 of the clip."""
    if audio_path:
        try:
            return load_audio(audio_path, sample_rate)
        except AudioFormatError as exc:
            raise MediaError(str(exc)) from exc
    if video_path:
        return container_audio(video_path, sample_rate)
    raise MediaError("clip has neither audio nor video")
