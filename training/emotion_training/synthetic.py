"""Tiny generated datasets in the real RAVDESS and CREMA-D layouts, for tests and CI.

Each take is a short video (OpenCV) of scikit-image's public-domain astronaut portrait, tinted
with a class colour so the runtime's face detector finds a face and the image branch has
something to learn, and a wav (soundfile) whose pitch depends on the class, a learnable
voice. Names, folders and field codes follow the real datasets so the same loaders run.

    python -m emotion_training.synthetic ravdess data/synth-ravdess --actors 6
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

FPS = 15
FRAME_SIZE = (160, 120)  # (width, height)
#: Colour (BGR) blended into the portrait per class, and the pitch of its tone.
TINTS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0),
         (128, 128, 255), (255, 128, 0)]


def class_tone(label: int, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A tone of 220 x 1.35^label Hz (classes a few mel bands apart, no shared harmonics) with a
    syllable-rate envelope and a little noise, loud enough for the runtime's voice check."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 220.0 * 1.35 ** label
    wave = np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 2 * np.pi))
    return (0.3 * envelope * wave + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def _portrait() -> np.ndarray:
    import cv2
    from skimage import data

    # The head and shoulders only: at these small frame sizes the face stays big enough for the
    # runtime's Haar detector under every class tint.
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 93:353]


def class_frames(label: int, seconds: float, rng: np.random.Generator,
                 portrait: Optional[np.ndarray] = None) -> list[np.ndarray]:
    """BGR frames: the tinted portrait drifting a few pixels on a grey field."""
    import cv2

    portrait = _portrait() if portrait is None else portrait
    w, h = FRAME_SIZE
    side = h - 8  # 112 px portrait
    face = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    tint = np.array(TINTS[label % len(TINTS)], np.float32)
    face = np.clip(0.65 * face + 0.35 * tint, 0, 255).astype(np.uint8)
    frames = []
    for i in range(int(round(seconds * FPS))):
        frame = np.full((h, w, 3), 90, np.uint8)
        x = (w - side) // 2 + int(round(4 * np.sin(i / 3.0 + rng.uniform(0, 0.5))))
        frame[4:4 + side, x:x + side] = face
        frames.append(frame)
    return frames


def write_video(path: Path, frames: Sequence[np.ndarray], fourcc: str) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with codec {fourcc}")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sample_rate, subtype="PCM_16")
    return path


def make_ravdess(root: str | Path, actors: Sequence[int] = range(1, 7),
                 emotions: Sequence[int] = (1, 3, 4, 5), statements: Sequence[int] = (1, 2),
                 seconds: float = 1.6, sample_rate: int = 48000, seed: int = 0,
                 channels: Sequence[int] = (1,)) -> Path:
    """``Actor_XX/01-CC-EE-01-SS-01-XX.mp4`` plus its ``03-…wav``; emotions are 1-based codes,
    vocal channels 1 (speech) and 2 (song) as in RAVDESS."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    portrait = _portrait()
    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        for channel in channels:
            for emotion in emotions:
                for statement in statements:
                    tail = f"{channel:02d}-{emotion:02d}-01-{statement:02d}-01-{actor:02d}"
                    label = emotion - 1
                    write_video(folder / f"01-{tail}.mp4", class_frames(label, seconds, rng, portrait), "mp4v")
                    write_wav(folder / f"03-{tail}.wav", class_tone(label, seconds, sample_rate, rng), sample_rate)
    return root


CREMA_EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def make_cremad(root: str | Path, actors: Sequence[int] = range(1001, 1007),
                emotions: Sequence[str] = CREMA_EMOTIONS, sentences: Sequence[str] = ("DFA", "IEO"),
                seconds: float = 1.6, sample_rate: int = 16000, seed: int = 0) -> Path:
    """``VideoFlash/1001_DFA_ANG_XX.flv`` plus ``AudioWAV/1001_DFA_ANG_XX.wav``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    portrait = _portrait()
    for actor in actors:
        for emotion in emotions:
            for sentence in sentences:
                name = f"{actor}_{sentence}_{emotion}_XX"
                label = CREMA_EMOTIONS.index(emotion)
                write_video(root / "VideoFlash" / f"{name}.flv",
                            class_frames(label, seconds, rng, portrait), "FLV1")
                write_wav(root / "AudioWAV" / f"{name}.wav",
                          class_tone(label, seconds, sample_rate, rng), sample_rate)
    return root


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("ravdess", "cremad"))
    parser.add_argument("output", type=Path)
    parser.add_argument("--actors", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--songs", action="store_true", help="RAVDESS: song takes as well as speech")
    args = parser.parse_args(argv)
    if args.dataset == "ravdess":
        make_ravdess(args.output, range(1, args.actors + 1), seconds=args.seconds, seed=args.seed,
                     channels=(1, 2) if args.songs else (1,))
    else:
        make_cremad(args.output, range(1001, 1001 + args.actors), seconds=args.seconds, seed=args.seed)
    print(args.output)


if __name__ == "__main__":
    main()
