"""emotion_dataset_bags: a dataset folder (RAVDESS, CREMA-D or a CSV manifest, parsed by
``emotion_core.datasets``, the parsers training uses too) -> one labelled bag per clip, so the
robot runtime is evaluated on exactly the clips training evaluates, without the training
workspace installed.

Each bag holds the clip as camera_node and audio_node would have published it (bgr8 frames at
the video's rate, mono audio chunks with sample-count stamps, latched AudioInfo) and carries in
its metadata.yaml ``custom_data`` its label segment and where it came from (media, timing), so
``emotion_evaluate`` needs no labels file and can recompute the clip offline. Clips sit on one
time axis with gaps longer than every buffer and smoothing interval: a folder of bags replays
as one session and no clip leaks into the next.

    python -m emotion_recorded.dataset_bags ravdess data/RAVDESS runs/ravdess_bags --limit 40
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from emotion_core.audio import load_audio
from emotion_core.datasets import ClipRecord, DatasetError, label_names, read_manifest, scan_cremad, scan_ravdess
from emotion_core.datasets.media import MediaError, container_audio
from emotion_core.labels_timeline import METADATA_KEY, LabelSegment, LabelTimeline
from emotion_core.offline import ClipTiming

from .bag_messages import IMAGE_TOPIC, INFO_TOPIC, Item, audio_items, image_msg, info_msg, write_bag
from .bagio import BagError

log = logging.getLogger("emotion_recorded.dataset_bags")
NS = 1_000_000_000
#: ``custom_data`` key of the clip's provenance and timing (its value predates this package's
#: name and is kept, so bags converted before still evaluate).
CLIP_KEY = "emotion_ros.clip"
DEFAULT_START_S = 1_700_000_000  # a fixed epoch: the same dataset converts to the same stamps


@dataclass
class ClipMedia:
    frames: list[np.ndarray]
    fps: float
    audio: Optional[np.ndarray]


def _container_audio(video: str, sample_rate: int) -> Optional[np.ndarray]:
    """A video's own audio track (PyAV); None, with a warning saying why, when it cannot be
    read (no PyAV, no audio stream, corrupt), so the clip still converts face only."""
    try:
        return container_audio(video, sample_rate)
    except MediaError as exc:
        log.warning("%s: %s: face only", video, exc)
        return None


def load_clip(video: Optional[str], audio: Optional[str], start_s: float, end_s: Optional[float],
              sample_rate: int, max_width: int = 640) -> ClipMedia:
    """All frames of ``[start_s, end_s)`` (downscaled to ``max_width``) and the audio of the same
    interval at ``sample_rate``. The converter and the offline reference both read clips here,
    so they see the same pixels and samples."""
    import cv2

    frames: list[np.ndarray] = []
    fps = 30.0
    if video:
        cap = cv2.VideoCapture(str(video))
        if not cap.isOpened():
            raise BagError(f"cannot open video {video}")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            t = i / fps
            i += 1
            if t < start_s or (end_s is not None and t >= end_s):
                continue
            if frame.shape[1] > max_width:
                h = round(frame.shape[0] * max_width / frame.shape[1])
                frame = cv2.resize(frame, (max_width, h), interpolation=cv2.INTER_AREA)
            frames.append(frame)
        cap.release()
    samples = load_audio(audio, sample_rate) if audio else (
        _container_audio(video, sample_rate) if video else None)
    if samples is not None:
        lo = int(round(start_s * sample_rate))
        hi = samples.size if end_s is None else int(round(end_s * sample_rate))
        samples = samples[lo:hi]
    return ClipMedia(frames, fps, samples)


def clip_items(media: ClipMedia, timing: ClipTiming, sample_format: str) -> list[Item]:
    items: list[Item] = [(INFO_TOPIC, timing.base_ns, info_msg(timing.sample_rate, sample_format))]
    items += [(IMAGE_TOPIC, timing.frame_stamp(i), image_msg(timing.frame_stamp(i), f))
              for i, f in enumerate(media.frames)]
    if media.audio is not None:
        items += audio_items(timing.chunks(media.audio), timing.sample_rate, sample_format)
    return items


@dataclass(frozen=True)
class ConvertOptions:
    storage: str = "mcap"
    sample_rate: int = 16000
    chunk_ms: int = 50
    sample_format: str = "S16LE"
    max_width: int = 640
    gap_s: float = 5.0
    start_s: float = DEFAULT_START_S


def convert_records(records: Sequence[ClipRecord], out_dir: str | Path, opts: ConvertOptions = ConvertOptions()
                    ) -> list[dict[str, Any]]:
    """One bag per record (``emotion_core.datasets.ClipRecord``) under ``out_dir``; returns
    the index rows (also written to ``out_dir/index.csv``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chunk = opts.sample_rate * opts.chunk_ms // 1000
    base = int(opts.start_s * NS)
    rows = []
    for rec in records:
        if not rec.video:
            log.warning("%s is audio-only: skipped (the graph runs on camera frames)", rec.clip_id)
            continue
        media = load_clip(rec.video, rec.audio, rec.start_s, rec.end_s, opts.sample_rate, opts.max_width)
        if not media.frames:
            log.warning("%s: no decodable frames: skipped", rec.clip_id)
            continue
        timing = ClipTiming(base, media.fps, opts.sample_rate, chunk)
        end = base + timing.duration_ns(len(media.frames), 0 if media.audio is None else media.audio.size)
        segment = LabelSegment(base, end, rec.label_name, rec.clip_id)
        clip = {"clip_id": rec.clip_id, "label": rec.label_name, "speaker": rec.speaker,
                "video": rec.video, "audio": rec.audio, "start_s": rec.start_s, "end_s": rec.end_s,
                "base_ns": base, "fps": media.fps, "sample_rate": opts.sample_rate,
                "chunk_samples": chunk, "sample_format": opts.sample_format, "max_width": opts.max_width}
        bag = out / rec.clip_id
        write_bag(bag, clip_items(media, timing, opts.sample_format), opts.storage,
                  {METADATA_KEY: LabelTimeline([segment]).to_json(), CLIP_KEY: json.dumps(clip)})
        rows.append({"clip_id": rec.clip_id, "bag": bag.name, "label": rec.label_name,
                     "speaker": rec.speaker, "start_stamp": base / NS, "end_stamp": end / NS,
                     "frames": len(media.frames), "audio": media.audio is not None})
        base = end + int(opts.gap_s * NS)
    if rows:
        with (out / "index.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


def scan_dataset(dataset: str, root: Path, label_set: Optional[str], manifest: Optional[Path]
                 ) -> list[ClipRecord]:
    """Records of a dataset folder, mapped to ``label_set`` (default: the dataset's own)."""
    names = {"ravdess": "ravdess8", "cremad": "cremad6", "manifest": "ekman7"}
    labels = label_names(label_set or names[dataset])
    if dataset == "ravdess":
        return scan_ravdess(root, labels)
    if dataset == "cremad":
        return scan_cremad(root, labels)
    return read_manifest(manifest or root / "manifest.csv", labels)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Convert a dataset folder into labelled bags, one per clip.")
    p.add_argument("dataset", choices=("ravdess", "cremad", "manifest"))
    p.add_argument("root", type=Path, help="dataset folder")
    p.add_argument("output", type=Path, help="folder for the bags (+ index.csv)")
    p.add_argument("--manifest", type=Path, help="manifest CSV (default: ROOT/manifest.csv)")
    p.add_argument("--label-set", help="ekman7, ravdess8 or cremad6 (default: the dataset's own)")
    p.add_argument("--speakers", nargs="*", help="only these speakers (e.g. a test split)")
    p.add_argument("--limit", type=int, default=0, help="at most this many clips (0 = all)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--chunk-ms", type=int, default=50)
    p.add_argument("--sample-format", choices=("S16LE", "F32LE"), default="S16LE")
    p.add_argument("--max-width", type=int, default=640, help="downscale wider frames to this width")
    p.add_argument("--gap-s", type=float, default=5.0, help="silence between clips on the time axis")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[dataset_bags] %(message)s")
    try:
        records = scan_dataset(args.dataset, args.root, args.label_set, args.manifest)
        if args.speakers:
            records = [r for r in records if r.speaker in set(args.speakers)]
        if args.limit:
            records = records[: args.limit]
        opts = ConvertOptions(args.storage, args.sample_rate, args.chunk_ms, args.sample_format,
                              args.max_width, max(args.gap_s, 3.0))
        rows = convert_records(records, args.output, opts)
    except (BagError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(rows)} labelled bags in {args.output} (index.csv lists them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
