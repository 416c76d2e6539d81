"""Build the embedded default input and the sample model at setup, from freely licensed media
that installed packages ship (nothing is downloaded):

- video: scikit-image's ``astronaut.png`` (public domain, NASA) animated with a slow pan/zoom;
- speech: LibriVox read speech (public domain) from Debian's ``pocketsphinx-testdata``, else
  ``espeak-ng`` speech, else a synthetic voiced signal (logged as such).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..audio import load_audio
from ..contract import ContractError, read_contract
from .sample_model import sample_contract, write_sample_model

log = logging.getLogger("emotion_core.tools.assets")

POCKETSPHINX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
DEMO_SECONDS = 10.0
DEMO_FPS = 30
DEMO_SIZE = (640, 480)
SAMPLE_RATE = 16000


def demo_paths(data_dir: Path) -> dict[str, Path]:
    return {
        "video": data_dir / "demo" / "astronaut.mp4",
        "audio": data_dir / "demo" / "speech.wav",
        "frames": data_dir / "demo" / "frames",
        "model": data_dir / "models" / "sample_fusion.onnx",
    }


def astronaut_frames(seconds: float = DEMO_SECONDS, fps: int = DEMO_FPS,
                     size: tuple[int, int] = DEMO_SIZE):
    """Yield BGR frames: the astronaut portrait drifting and zooming slowly on a grey field."""
    import cv2
    from skimage import data

    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    w, h = size
    n = int(round(seconds * fps))
    for i in range(n):
        t = i / fps
        side = int(h * (0.80 + 0.06 * np.sin(2 * np.pi * t / 5.0)))
        img = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
        frame = np.full((h, w, 3), 96, np.uint8)
        x = int((w - side) / 2 + 40 * np.sin(2 * np.pi * t / 4.0))
        y = (h - side) // 2
        frame[y:y + side, x:x + side] = img
        yield frame


def write_video(path: Path, frames, fps: int = DEMO_FPS) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for frame in frames:
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {path}")
        writer.write(frame)
    if writer is not None:
        writer.release()
    return path


def synthetic_voice(seconds: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Speech-like signal: a gliding harmonic source shaped into 4 Hz syllables, with pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2
    phrases = (np.sin(2 * np.pi * 0.25 * t) > -0.3).astype(float)
    x = voice * syllables * phrases + 0.003 * rng.standard_normal(t.size)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def speech_samples(seconds: float = DEMO_SECONDS, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, str]:
    """Real read speech where a package ships it; the source is returned for the provenance."""
    clips = sorted(POCKETSPHINX_DIR.glob("*.wav")) if POCKETSPHINX_DIR.is_dir() else []
    if clips:
        parts, total = [], 0
        for clip in clips:
            x = load_audio(clip, sample_rate)
            parts += [x, np.zeros(int(0.3 * sample_rate), np.float32)]
            total += x.size
            if total >= seconds * sample_rate:
                break
        wav = np.concatenate(parts)[: int(seconds * sample_rate)]
        return wav, f"LibriVox read speech (public domain) from pocketsphinx-testdata: {POCKETSPHINX_DIR}"
    espeak = shutil.which("espeak-ng")
    if espeak:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "speech.wav"
            text = ("Hello! I am so happy to see you today. What a wonderful surprise. "
                    "Shall we go for a walk together?")
            subprocess.run([espeak, "-w", str(out), text], check=True, capture_output=True)
            wav = load_audio(out, sample_rate)
        reps = int(np.ceil(seconds * sample_rate / wav.size))
        return np.tile(wav, reps)[: int(seconds * sample_rate)], "espeak-ng synthetic speech"
    log.warning("no speech recordings found (apt install pocketsphinx-testdata): using a synthetic voice")
    return synthetic_voice(seconds, sample_rate), "synthetic voiced signal (emotion_core.tools.assets)"


def _current_sample_model(path: Path) -> bool:
    """True when ``path`` holds the sample model this code version writes."""
    try:
        return read_contract(path).model_version == sample_contract().model_version
    except ContractError:
        return False


def build_assets(data_dir: Path, force: bool = False) -> dict[str, Path]:
    """Create whatever is missing under ``data_dir``; returns the paths."""
    import cv2
    import soundfile as sf

    paths = demo_paths(data_dir)
    if force or not _current_sample_model(paths["model"]):
        write_sample_model(paths["model"])
        log.info("wrote %s", paths["model"])
    if force or not paths["video"].is_file() or not paths["frames"].is_dir():
        frames = list(astronaut_frames())
        write_video(paths["video"], frames)
        paths["frames"].mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames[::DEMO_FPS]):  # one still a second, for folder sources
            cv2.imwrite(str(paths["frames"] / f"frame_{i:03d}.jpg"), frame)
        log.info("wrote %s", paths["video"])
    if force or not paths["audio"].is_file():
        wav, source = speech_samples()
        paths["audio"].parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(paths["audio"]), wav, SAMPLE_RATE, subtype="PCM_16")
        (paths["audio"].parent / "SOURCES.txt").write_text(
            "Demo media assembled by emotion_core.tools.assets at setup.\n"
            "video: scikit-image astronaut.png (Eileen Collins, NASA; public domain)\n"
            f"audio: {source}\n")
        log.info("wrote %s (%s)", paths["audio"], source)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Create the demo clip and the sample model.")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[assets] %(message)s")
    for name, path in build_assets(args.data_dir, args.force).items():
        print(f"{name:6s} {path}")


if __name__ == "__main__":
    main()
