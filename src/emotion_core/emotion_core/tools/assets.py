"""Build the embedded default input and the sample model at setup, from freely licensed media
that installed packages ship (nothing is downloaded):

- video: scikit-image's ``astronaut.png`` (public domain, NASA) animated with a slow pan/zoom;
- speech: LibriVox read speech (public domain) from Debian's ``pocketsphinx-testdata``, else
  ``espeak-ng`` speech, else a synthetic voiced signal (logged as such);
- the default demo clip ``people.mp4`` + ``people.wav`` + ``people.json`` (ground truth): three
  people from the face-api package's demo photos (MIT; in the npm cache setup fills) crossing,
  two of them taking turns to speak (``emotion_core.tools.people_clip``). Without the package it
  is a copy of the astronaut clip and its speech, and setup says so.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
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
    """Where the demo media live. ``video``/``audio``: the one-person astronaut clip (tests and
    benchmarks rely on it); ``people_*``: the default demo clip, its speech and ground truth."""
    return {
        "video": data_dir / "demo" / "astronaut.mp4",
        "audio": data_dir / "demo" / "speech.wav",
        "frames": data_dir / "demo" / "frames",
        "model": data_dir / "models" / "sample_fusion.onnx",
        "people_video": data_dir / "demo" / "people.mp4",
        "people_audio": data_dir / "demo" / "people.wav",
        "people_truth": data_dir / "demo" / "people.json",
    }


def default_npm_cache(data_dir: Path) -> Path:
    """The npm cache setup fetches face-api into (``<repo>/.cache/npm`` beside ``<repo>/data``);
    ``FACE_API_CACHE`` overrides it, as for the face-stack tests."""
    env = os.environ.get("FACE_API_CACHE")
    return Path(env) if env else data_dir.resolve().parent / ".cache" / "npm"


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


def build_people(paths: dict[str, Path], npm_cache: Path, data_dir: Path) -> str:
    """The default demo clip: three people from the face-api demo photos, or -- without the
    package -- a copy of the astronaut clip marked as a fallback in its truth file (so a later
    setup with npm builds the real one). Returns what was written."""
    from . import people_clip

    import soundfile as sf

    source, name = speech_samples(30.0)
    clip = people_clip.build_people_clip(npm_cache, data_dir / "models" / "face_landmarks_68.onnx", source, name)
    if clip is not None:
        write_video(paths["people_video"], clip.frames(), people_clip.FPS)
        sf.write(str(paths["people_audio"]), clip.speech, people_clip.SAMPLE_RATE, subtype="PCM_16")
        people_clip.write_truth(clip, paths["people_truth"])
        _note_source(paths, "people: face-api@1.7.15 demo photos demo/sample1,2,5.jpg (MIT, "
                            f"@vladmandic/face-api), animated by emotion_core.tools.people_clip; speech: {name}")
        return f"three people from the face-api demo photos, speech: {name}"
    log.warning("face-api package not in %s (setup without npm): the demo clip %s is the one-person "
                "astronaut clip; install Node.js/npm and re-run scripts/setup.sh for the people clip",
                npm_cache, paths["people_video"].name)
    shutil.copyfile(paths["video"], paths["people_video"])
    shutil.copyfile(paths["audio"], paths["people_audio"])
    paths["people_truth"].write_text(json.dumps({
        "version": people_clip.CLIP_VERSION, "fallback": "astronaut",
        "description": f"face-api package not found in {npm_cache}: people.mp4 is a copy of astronaut.mp4",
        "people": [], "frames": []}, indent=1) + "\n")
    _note_source(paths, "people: copy of the astronaut clip (face-api package absent at setup)")
    return "fallback: copy of the astronaut clip (face-api package absent)"


def _note_source(paths: dict[str, Path], line: str) -> None:
    """Record the people clip's provenance in SOURCES.txt (replacing an older people line)."""
    sources = paths["people_video"].parent / "SOURCES.txt"
    lines = sources.read_text().splitlines() if sources.is_file() else []
    sources.write_text("\n".join([x for x in lines if not x.startswith("people:")] + [line]) + "\n")


def build_assets(data_dir: Path, force: bool = False, npm_cache: Path | None = None) -> dict[str, Path]:
    """Create whatever is missing under ``data_dir``; returns the paths. ``npm_cache``: where
    setup put the face-api package (default: ``default_npm_cache``)."""
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
    cache = npm_cache if npm_cache is not None else default_npm_cache(data_dir)
    if force or _people_clip_due(paths, cache):
        what = build_people(paths, cache, data_dir)
        log.info("wrote %s (%s)", paths["people_video"], what)
    return paths


def _people_clip_due(paths: dict[str, Path], npm_cache: Path) -> bool:
    """Build the people clip when a file is missing, when it is from another code version, or
    when it is the astronaut fallback and the face-api package has arrived since."""
    from . import people_clip

    if not all(paths[k].is_file() for k in ("people_video", "people_audio", "people_truth")):
        return True
    if people_clip.truth_is_current(paths["people_truth"]):
        return False
    try:
        fallback = bool(json.loads(paths["people_truth"].read_text()).get("fallback"))
    except (OSError, ValueError):
        return True
    return not fallback or people_clip.load_people(npm_cache) is not None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Create the demo clip and the sample model.")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    parser.add_argument("--npm-cache", type=Path, default=None,
                        help="npm cache holding face-api (default: <data-dir>/../.cache/npm)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[assets] %(message)s")
    for name, path in build_assets(args.data_dir, args.force, args.npm_cache).items():
        print(f"{name:12s} {path}")


if __name__ == "__main__":
    main()
