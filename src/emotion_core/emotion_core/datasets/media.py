"""A clip's audio when it has no separate audio file: the video container's own track.

Shared by training (``emotion_training.media`` reads clips for ``prepare``) and the dataset ->
bag converter, so both hear the same samples of a take. PyAV is imported only when needed and
its absence is a ``MediaError`` that says how to get it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import resample


class MediaError(RuntimeError):
    """A clip that cannot be decoded (missing, corrupt or without the needed stream)."""


def container_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 audio track of a video container (mp4, flv) through PyAV."""
    try:
        import av
    except ImportError as exc:
        raise MediaError(f"{path} has no separate audio file and PyAV is not installed "
                         "(pip install av) to read its audio track") from exc
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path} has no audio stream")
            stream = container.streams.audio[0]
            chunks = []
            rate = stream.rate
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                if arr.dtype.kind == "i":
                    arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)
                if frame.format.is_planar:
                    arr = arr.mean(axis=0)
                else:
                    arr = arr.reshape(-1, len(frame.layout.channels)).mean(axis=1)
                chunks.append(arr.astype(np.float32))
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises many error types for corrupt files
        raise MediaError(f"cannot decode the audio of {path}: {exc}") from exc
    if not chunks:
        raise MediaError(f"{path}: empty audio stream")
    return resample(np.concatenate(chunks), rate, sample_rate)
