"""Frame and audio sources behind the camera and audio nodes: devices, files and synthetic
generators, so the whole graph runs in tests and demos with no camera or microphone."""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Optional, Protocol

import numpy as np

from . import data_paths
from .audio import load_audio

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


class SourceError(RuntimeError):
    """A source that cannot be opened or read."""


class FrameSource(Protocol):
    def read(self) -> Optional[np.ndarray]:
        """Next BGR frame, or None at the end of a finite source."""

    def close(self) -> None: ...


class SyntheticFrames:
    """Moving colour bars with a frame counter: deterministic, no face."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        self.width, self.height = width, height
        self._i = 0
        x = np.linspace(0, 255, width, dtype=np.float32)
        self._ramp = np.broadcast_to(x, (height, width))

    def read(self) -> np.ndarray:
        import cv2

        i = self._i
        self._i += 1
        frame = np.empty((self.height, self.width, 3), np.uint8)
        frame[..., 0] = (self._ramp + 4 * i) % 256
        frame[..., 1] = (self._ramp[:, ::-1] + 2 * i) % 256
        frame[..., 2] = (64 + 32 * np.sin(i / 15.0))
        cv2.putText(frame, f"frame {i}", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        return frame

    def close(self) -> None:
        pass


class VideoFrames:
    """A camera device (integer index or /dev/videoN), a stream URL (rtsp://, http://...) or a
    video file, through OpenCV.

    A live source (device or stream) that yields no frame raises ``SourceError``: it failed
    (unplugged, stopped delivering) and the node reopens it; only a finite file ends (None).
    """

    def __init__(self, source: str, loop: bool = False, width: int = 0, height: int = 0) -> None:
        import cv2

        self.source, self.loop = source, loop
        self.live = is_live(source)
        if not self.live and not Path(source).is_file():
            raise SourceError(f"video file not found: {source}")
        self._open_args = (int(source) if source.isdigit() else source,)
        self._cap = cv2.VideoCapture(*self._open_args)
        if not self._cap.isOpened():
            kind = "camera" if self.live else "video"
            raise SourceError(f"OpenCV cannot open {kind} {source}")
        if self.live and width and height:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> Optional[np.ndarray]:
        ok, frame = self._cap.read()
        if not ok and self.live:
            raise SourceError(f"camera {self.source} delivered no frame")
        if not ok and self.loop:
            import cv2

            self._cap.release()
            self._cap = cv2.VideoCapture(*self._open_args)
            ok, frame = self._cap.read()
        return frame if ok else None

    def close(self) -> None:
        self._cap.release()


def is_live(source: str) -> bool:
    """A device index, /dev/videoN or a stream URL: a source that can fail and come back."""
    return source.isdigit() or source.startswith("/dev/video") or "://" in source


class FolderFrames:
    """Images of a folder in name order (one frame each).

    A looping folder in which a whole pass finds no readable image raises ``SourceError``
    (the node reopens it with back-off: the files may be restored); without looping it ends."""

    def __init__(self, folder: str, loop: bool = False) -> None:
        self.paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        self.loop = loop
        self._i = 0
        self.skipped: list[str] = []  # unreadable files, for the node to report

    def read(self) -> Optional[np.ndarray]:
        import cv2

        # At most one pass over the folder: when no file is readable, a looping source would
        # otherwise spin forever.
        for _ in range(len(self.paths)):
            if self._i >= len(self.paths):
                if not self.loop:
                    return None
                self._i = 0
            path = self.paths[self._i]
            self._i += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame
            self.skipped.append(str(path))
        if self.loop:
            raise SourceError(f"no readable image in a whole pass over {len(self.paths)} files")
        return None

    def close(self) -> None:
        pass


def open_frames(source: str, loop: bool = False, width: int = 640, height: int = 480) -> FrameSource:
    """``synthetic``, a device index / ``/dev/videoN``, a video file, or an image folder."""
    if source == "synthetic":
        return SyntheticFrames(width, height)
    source = _local_file(source, "video file")
    if Path(source).is_dir():
        return FolderFrames(source, loop)
    return VideoFrames(source, loop, width, height)


class AudioSource(Protocol):
    sample_rate: int

    def read(self, n: int) -> Optional[np.ndarray]:
        """Next ``n`` mono float32 samples; None at the end of a finite source. A live source
        blocks until they were captured."""

    def close(self) -> None: ...


class SyntheticAudio:
    """A voiced tone with syllable-rate bursts and pauses plus a little noise; deterministic."""

    def __init__(self, sample_rate: int = 16000, seed: int = 0) -> None:
        self.sample_rate = sample_rate
        self._n = 0
        self._rng = np.random.default_rng(seed)

    def read(self, n: int) -> np.ndarray:
        t = (self._n + np.arange(n)) / self.sample_rate
        self._n += n
        f0 = 150.0 + 20.0 * np.sin(2 * np.pi * 0.5 * t)
        phase = 2 * np.pi * f0 * t
        voice = np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)
        env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) * (np.sin(2 * np.pi * 0.2 * t) > -0.5)
        x = 0.2 * voice * env + 0.002 * self._rng.standard_normal(n)
        return x.astype(np.float32)

    def close(self) -> None:
        pass


class FileAudio:
    """A whole audio file decoded and resampled to mono ``sample_rate`` up front."""

    def __init__(self, path: str, sample_rate: int, loop: bool = False) -> None:
        self.sample_rate = sample_rate
        self.samples = load_audio(path, sample_rate)
        if self.samples.size == 0:
            raise SourceError(f"audio file {path} holds no samples")
        self.loop = loop
        self._pos = 0

    def read(self, n: int) -> Optional[np.ndarray]:
        if self._pos >= self.samples.size:
            if not self.loop:
                return None
            self._pos = 0
        out = self.samples[self._pos:self._pos + n]
        self._pos += n
        if out.size < n:
            if self.loop:
                self._pos = 0
                return np.concatenate([out, self.read(n - out.size)])  # type: ignore[list-item]
            out = np.concatenate([out, np.zeros(n - out.size, np.float32)])
        return out

    def close(self) -> None:
        pass


class MicrophoneAudio:
    """PortAudio capture through ``sounddevice``; blocks are queued by the audio callback."""

    def __init__(self, sample_rate: int, device: str = "", block: int = 1600) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise SourceError(f"microphone needs sounddevice + PortAudio (apt install libportaudio2): {exc}") from exc
        self.sample_rate = sample_rate
        self._queue: "queue.Queue[np.ndarray]" = queue.Queue(maxsize=256)
        self._pending = np.zeros(0, np.float32)
        self.overflows = 0
        self.timeout_s = 5.0  # no block for this long: the device stopped (unplugged, taken)
        self._lock = threading.Lock()
        dev = int(device) if device.isdigit() else (device or None)
        try:
            self._stream = sd.InputStream(samplerate=sample_rate, channels=1, dtype="float32",
                                          blocksize=block, device=dev, callback=self._callback)
            self._stream.start()
        except Exception as exc:
            raise SourceError(f"cannot open microphone {device or '(default)'} at {sample_rate} Hz: {exc}") from exc

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio thread
        if status:
            self.overflows += 1
        try:
            self._queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.overflows += 1

    def read(self, n: int) -> Optional[np.ndarray]:
        while self._pending.size < n:
            try:
                block = self._queue.get(timeout=self.timeout_s)
            except queue.Empty:
                raise SourceError(f"microphone delivered nothing for {self.timeout_s:.0f} s") from None
            self._pending = np.concatenate([self._pending, block])
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_audio(source: str, sample_rate: int, loop: bool = False, device: str = "",
               block: int = 1600) -> AudioSource:
    """``synthetic``, ``microphone``, or an audio file path."""
    if source == "synthetic":
        return SyntheticAudio(sample_rate)
    if source == "microphone":
        return MicrophoneAudio(sample_rate, device, block)
    source = _local_file(source, "audio file")
    if not Path(source).is_file():
        raise SourceError(f"audio file {source} is not a file")
    return FileAudio(source, sample_rate, loop)


def _local_file(source: str, what: str) -> str:
    """A file source found by the data path rule (a relative path works from any folder once
    installed), or SourceError naming where it looked; live sources pass unchanged."""
    if is_live(source):
        return source
    try:
        return str(data_paths.resolve(source, what))
    except FileNotFoundError as exc:
        raise SourceError(str(exc)) from None
