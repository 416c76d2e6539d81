#!/usr/bin/env python3
"""Benchmark of the face stack, every available backend side by side in one run.

    .venv/bin/python scripts/bench_face_stack.py [--models data/models] [--repeat 10] [--threads 0]

Prints four tables:
1. face detectors (Haar, tiny at several input sizes, SSD MobileNetV1): recall on the 21
   hand-checked faces of face-api's demo photos (full size), false positives, and ms per
   640x480 frame;
2. the expression net: ms per face at batch 1 and batch 8, per backend (ONNX Runtime CPU, CUDA
   when present, a TensorRT engine given with --engine, and the PyTorch module when torch is
   installed, for reference);
3. the people nets (68-point landmarks, full and tiny; 128-d descriptor): ms per face at batch
   1 and 4, crop and pre-processing included, as ``FaceLandmarker`` / ``FaceDescriptor`` run;
4. ``EmotionRecognizer.process`` (what the emotion node runs per frame) per backend x detector.

    .venv/bin/python scripts/bench_face_stack.py --people 1 2 4 8 [--seconds 15] [--profile config/desktop_cpu_30hz.yaml]

prints instead where a frame's time goes with N people in view: the recognizer emotion_node
builds from the profile (tracker, detector every ``detect_every`` frames, landmarks, VAD, speaker
scoring) runs over a generated 640x480 clip at 30 fps of N faces cut from the demo photos,
drifting, one of them talking (its jaw follows the speech) to the demo speech with its
silences, each frame with the audio window av_sync_node pairs with it. One row per stage of
``Recognition.timings_ms``, one column per N: mean / median / p90 ms per frame.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "training", ROOT / "src" / "emotion_core"):
    if str(extra) not in sys.path:
        sys.path.append(str(extra))

from emotion_core.backends import load_model, tensorrt_available  # noqa: E402
from emotion_core.face import FaceDetector, HaarFaceDetector, face_tensor  # noqa: E402
from emotion_core.face_descriptor import FaceDescriptor  # noqa: E402
from emotion_core.face_landmarks import FaceLandmarker  # noqa: E402
from emotion_core.face_onnx import TinyFaceDetector  # noqa: E402
from emotion_core.face_ssd import SsdFaceDetector  # noqa: E402
from emotion_core.recognizer import STAGES, EmotionRecognizer, FrameResult  # noqa: E402
from emotion_training.face_api.demo import demo_recall, load_ground_truth  # noqa: E402
from emotion_training.face_api.package import demo_photos  # noqa: E402

FRAME_SIZE = (640, 480)
TINY_SIZES = (320, 416, 512, 608)


def _stats(samples: list[float]) -> tuple[float, float, float]:
    """(median, 90th percentile, minimum): the minimum is the figure least disturbed by other
    processes on a shared machine."""
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.9 * len(samples)))], samples[0]


def timed(fn: Callable[[], object], repeat: int, warmup: int = 2) -> tuple[float, float, float]:
    """(median, 90th percentile, minimum) wall time of ``fn`` in ms."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return _stats(samples)


def round_robin(fns: dict[str, Callable[[np.ndarray], object]], frames: list[np.ndarray],
                repeat: int) -> dict[str, tuple[float, float, float]]:
    """(median, p90, min) ms per call of each function over all frames, the candidates interleaved
    call by call so that load from other processes spreads evenly over them."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn(frames[0])  # warm-up: first-run allocations
    for _ in range(repeat):
        for frame in frames:
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(frame)
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return {name: _stats(v) for name, v in samples.items()}


def onnx_providers() -> list[tuple[str, list[str]]]:
    import onnxruntime as ort

    out = [("onnxruntime-cpu", ["CPUExecutionProvider"])]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        out.append(("onnxruntime-cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]))
    return out


def detectors(models: Path, threads: int) -> dict[str, FaceDetector]:
    found: dict[str, FaceDetector] = {"haar": HaarFaceDetector()}
    for label, providers in onnx_providers():
        for size in TINY_SIZES:
            name = f"tiny@{size}" + ("" if label.endswith("cpu") else " cuda")
            found[name] = TinyFaceDetector(models / "face_detector_tiny.onnx", input_size=size,
                                           providers=providers, intra_op_threads=threads)
        found["ssd@512" + ("" if label.endswith("cpu") else " cuda")] = SsdFaceDetector(
            models / "face_detector_ssd.onnx", providers=providers, intra_op_threads=threads)
    return found


def people_rows(models: Path, frames: list[np.ndarray], finder: FaceDetector, threads: int,
                repeat: int) -> list[list[str]]:
    """ms per face of the landmark nets and the descriptor at batch 1 and 4 (4 faces of one
    frame, or the largest face repeated), pre-processing included, per ONNX Runtime provider."""
    frame = max(frames, key=lambda f: len(finder.detect(f)))
    faces = finder.detect(frame)
    four = (faces * 4)[:4]
    rows = []
    for label, providers in onnx_providers():
        nets: dict[str, Callable[[list], object]] = {}
        for variant in ("full", "tiny"):
            lm = FaceLandmarker(models / ("face_landmarks_68.onnx" if variant == "full" else
                                          "face_landmarks_68_tiny.onnx"), providers=providers,
                                intra_op_threads=threads)
            nets[f"landmarks {variant}"] = lambda boxes, lm=lm: lm.landmarks(frame, boxes)
        desc = FaceDescriptor(models / "face_descriptor.onnx", providers=providers, intra_op_threads=threads)
        nets["descriptor"] = lambda boxes: desc.embed(frame, boxes)
        for name, run in nets.items():
            b1 = timed(lambda: run(four[:1]), repeat * 6)
            b4 = timed(lambda: run(four), repeat * 2)
            rows.append([label, name, f"{b1[0]:.2f}", f"{b1[2]:.2f}", f"{b4[0] / 4:.2f}", f"{b4[2] / 4:.2f}"])
    return rows


def expression_backends(models: Path, engine: Path | None, threads: int) -> dict[str, object]:
    """name -> InferenceBackend (or a note why it is skipped)."""
    out: dict[str, object] = {}
    onnx_path = models / "face_expression.onnx"
    for label, _ in onnx_providers():
        backend = "onnxruntime" if label.endswith("cpu") else "onnxruntime-cuda"
        out[label] = load_model(onnx_path, backend, threads)[0]
    if engine is not None:
        out["tensorrt"] = load_model(engine, "tensorrt")[0] if tensorrt_available() else \
            "skipped: TensorRT / CUDA not available"
    else:
        out["tensorrt"] = "skipped: no --engine given" if tensorrt_available() else \
            "skipped: TensorRT / CUDA not available"
    return out


def torch_runner(cache: Path, threads: int) -> Callable[[np.ndarray], object] | str:
    try:
        import torch

        from emotion_training.face_api.torch_model import load_face_api_weights
    except ImportError as exc:
        return f"skipped: {exc}"
    if threads > 0:
        torch.set_num_threads(threads)
    model = load_face_api_weights(cache)

    def run(batch: np.ndarray) -> object:
        with torch.inference_mode():
            return model(torch.from_numpy(batch))

    return run


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


# -- where a frame's time goes with N people in view ------------------------------------------
STAGE_LABELS = {
    "detect": "face detector", "tracking": "tracker", "descriptor": "re-id descriptor",
    "landmarks": "landmarks (tracked boxes)", "landmarks_mouth": "landmarks (mouth, eye boxes)",
    "vad": "VAD", "features": "voice features", "speaker": "speaker scoring", "crops": "expression crops",
    "inference": "expression net (batch)", "smoothing": "softmax + smoothing", "total": "recognizer total",
}
CROWD_COLUMNS = {1: 1, 2: 2, 3: 3, 4: 2, 8: 4}
FPS = 30


class Crowd:
    """N drifting faces cut from the demo photos (people A, B, C of the demo clip in turn), the
    first of A and of B talking in the demo speech's turns, and that speech (with its silences).

    ``frame(i)`` is frame i (looped over the clip), ``window(i, s)`` the audio window of ``s``
    seconds ending at its time, ``speaking(i)`` the index of the talking face (None in a
    silence) and ``centres(i)`` each face's centre, to tell which track is whom."""

    def __init__(self, n: int, npm_cache: Path, models: Path, seconds: float) -> None:
        import cv2
        import soundfile as sf

        from emotion_core.tools import people_clip as pc
        from emotion_core.tools.assets import build_assets

        photos = pc.load_people(npm_cache)
        if photos is None:
            raise SystemExit(f"no face-api demo photos in {npm_cache}: run scripts/setup.sh")
        patches = pc.build_patches(photos, models / "face_landmarks_68.onnx")
        speech, rate = sf.read(str(build_assets(ROOT / "data", npm_cache=npm_cache)["people_audio"]),
                               dtype="float32")
        self.speech, self.rate, self.n = speech, rate, n
        self.n_frames = int(round(seconds * FPS))
        clip_frames = int(round(speech.size / rate * FPS))
        times = np.arange(clip_frames) / FPS
        env = pc.envelope(speech, times, sample_rate=rate)
        names = [pc.PEOPLE[i % len(pc.PEOPLE)].name for i in range(n)]
        talker = {who: names.index(who) for who in ("A", "B") if who in names}
        talker.setdefault("B", talker["A"])  # one face: it speaks every turn
        self._speaking = [None] * clip_frames
        jaws = np.zeros((n, clip_frames))
        for turn in pc.TURNS:
            inside = (times >= turn.start_s) & (times < turn.end_s)
            loud = float(np.percentile(env[inside], 95))
            jaws[talker[turn.person]][inside] = pc.jaw_drive(env[inside], loud)
            for k in np.nonzero(inside)[0]:
                self._speaking[k] = talker[turn.person]
        cols = CROWD_COLUMNS.get(n, int(np.ceil(np.sqrt(n))))
        rows = int(np.ceil(n / cols))
        cell_w, cell_h = 640 // cols, 480 // rows
        side = min(pc.PATCH, cell_w - 20, cell_h - 20)
        alpha = pc.soft_mask(side)
        room = pc.backdrop()
        self.frames: list[np.ndarray] = []
        self._centres: list[np.ndarray] = []
        for k in range(min(self.n_frames, clip_frames)):
            canvas, centres = room.copy(), []
            for i, name in enumerate(names):
                r, c = divmod(i, cols)
                x = c * cell_w + int((cell_w - side) / 2 * (1 + np.sin(2 * np.pi * k / (FPS * 3) + i)))
                y = r * cell_h + int((cell_h - side) / 2 * (1 + np.cos(2 * np.pi * k / (FPS * 4) + 2 * i)))
                face = cv2.resize(pc.drop_jaw(patches[name], float(jaws[i][k])), (side, side),
                                  interpolation=cv2.INTER_AREA)
                pc.paste(canvas, face, x, y, alpha)
                fx, fy, fw, fh = (v * side / pc.PATCH for v in patches[name].face)
                centres.append((x + fx + fw / 2, y + fy + fh / 2))
            self.frames.append(canvas)
            self._centres.append(np.array(centres))
        self.face_px = int(np.mean([p.face[2] for p in patches.values()]) * side / pc.PATCH)

    def frame(self, i: int) -> np.ndarray:
        return self.frames[i % len(self.frames)]

    def speaking(self, i: int) -> int | None:
        return self._speaking[i % len(self.frames)]

    def centres(self, i: int) -> np.ndarray:
        return self._centres[i % len(self.frames)]

    def window(self, i: int, window_s: float) -> np.ndarray:
        """The audio of the ``window_s`` before frame i (the speech loops with the frames)."""
        period = len(self.frames) * self.rate // FPS
        end = i * self.rate // FPS
        start = max(0, end - int(window_s * self.rate))
        idx = np.arange(start, end) % period
        return self.speech[idx]


def load_package(path: Path, name: str = "emotion_core_baseline") -> ModuleType:
    """Another copy of the ``emotion_core`` package (e.g. ``git worktree add /tmp/base HEAD``,
    then ``/tmp/base/src/emotion_core/emotion_core``) imported under ``name``, to run it side by
    side with this checkout in one process (its modules import each other relatively)."""
    import importlib
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path} holds no Python package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    importlib.import_module(f"{name}.recognizer_settings")
    return module


def profile_recognizer(profile: Path, models: Path, n_faces: int, package: str = "emotion_core",
                       overrides: dict[str, object] | None = None) -> tuple[EmotionRecognizer, float]:
    """(the recognizer emotion_node builds from ``profile`` with ``overrides``, built by
    ``package``'s ``build_from_params``; av_sync_node's audio window [s])."""
    import importlib

    import yaml

    doc = yaml.safe_load(profile.read_text())
    params = dict(doc["/**/emotion_node"]["ros__parameters"])
    params.update(model_path=str(models / "face_expression.onnx"), max_faces=max(4, n_faces))
    params.update(overrides or {})
    rec, _ = importlib.import_module(f"{package}.recognizer_settings").build_from_params(params)
    rec.warm_up()
    return rec, float(doc["/**/av_sync_node"]["ros__parameters"]["window_s"])


def speaker_hit(crowd: Crowd, i: int, result: FrameResult) -> bool | None:
    """In a frame with speech: whether exactly the talking face is marked speaking (p >= 0.5).
    None in silence."""
    who = crowd.speaking(i)
    if who is None:
        return None
    centres = crowd.centres(i)
    marked = set()
    for f in result.faces:
        b = f.recognition.face_box
        if b is None or not f.speaking_probability >= 0.5:
            continue
        marked.add(int(np.argmin(np.hypot(*(centres - (b.x + b.w / 2, b.y + b.h / 2)).T))))
    return marked == {who}


@dataclass
class StageRun:
    """Per-frame stage times and what the recognizer made of the crowd clip."""

    stages: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in STAGES})
    wall: list[float] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    descriptor_calls: int = 0
    mouth_reads: int | None = None  # faces whose mouth was read (None: a version without the count)
    frames: int = 0


def stage_profiles(n_faces: int, profile: Path, models: Path, npm_cache: Path, seconds: float,
                   candidates: dict[str, tuple[str, dict[str, object]]]) -> tuple[dict[str, StageRun], int]:
    """Every frame of the crowd clip through each candidate recognizer (name -> (package,
    parameter overrides)), the candidates taking turns frame by frame (in alternating order) so
    that load from other processes falls on all of them alike. Returns the runs and the face
    size in pixels."""
    crowd = Crowd(n_faces, npm_cache, models, seconds)
    recs = {name: profile_recognizer(profile, models, n_faces, package, overrides)
            for name, (package, overrides) in candidates.items()}
    runs = {name: StageRun() for name in candidates}
    # Count the tracker's descriptor calls through the recognizer's stopwatch where it has one.
    clocks = {name: next((c for c in getattr(rec, "_descriptor_clock", []) if c.method == "embed"), None)
              for name, (rec, _) in recs.items()}
    order = list(recs)
    for i in range(crowd.n_frames):
        for name in (order if i % 2 == 0 else order[::-1]):
            rec, window_s = recs[name]
            frame, audio = crowd.frame(i), crowd.window(i, window_s)
            clock, run = clocks[name], runs[name]
            calls = clock.calls if clock is not None else 0
            t0 = time.perf_counter()
            result = rec.process_frame(frame, audio, crowd.rate, 100 * 10**9 + i * 10**9 // FPS)
            run.wall.append((time.perf_counter() - t0) * 1e3)
            run.descriptor_calls += (clock.calls - calls) if clock is not None else 0
            run.frames += 1
            if getattr(rec, "mouths", None) is not None:
                run.mouth_reads = rec.mouths.faces_read
            for k in STAGES:
                run.stages[k].append(result.primary.timings_ms.get(k, float("nan")))
            run.faces.append(len(result.faces))
            # Scored once the scorer's window of the turn has passed, as test_demo_people does.
            back = i - int(1.5 * FPS)
            if back >= 0 and crowd.speaking(back) is not None and crowd.speaking(i) is not None:
                hit = speaker_hit(crowd, i, result)
                if hit is not None:
                    run.hits.append(hit)
    return runs, crowd.face_px


def _cell(samples: list[float]) -> str:
    a = np.asarray(samples, np.float64)
    if np.isnan(a).all():
        return "-"
    a = np.nan_to_num(a)  # a stage that did not run in a frame took 0 ms of it
    return f"{a.mean():.1f} / {np.median(a):.1f} / {np.percentile(a, 90):.1f}"


def _stage_rows(runs: list[StageRun], face_px: list[int]) -> list[list[str]]:
    rows = [[STAGE_LABELS[k]] + [_cell(r.stages[k]) for r in runs] for k in STAGES]
    rows.append(["process_frame wall"] + [_cell(r.wall) for r in runs])
    rows.append(["frames/s it allows (1000 / mean wall)"] + [f"{1e3 / np.mean(r.wall):.1f}" for r in runs])
    rows.append(["faces tracked per frame"] + [f"{np.mean(r.faces):.2f}" for r in runs])
    rows.append(["descriptor calls per frame"] + [f"{r.descriptor_calls / r.frames:.3f}" for r in runs])
    rows.append(["frames with landmark passes (share)"] +
                [f"{np.mean(np.asarray(r.stages['landmarks']) > 0):.2f}" for r in runs])
    rows.append(["mouth readings per face per s"] +
                [f"{r.mouth_reads / max(sum(r.faces), 1) * FPS:.1f}" if r.mouth_reads is not None else "every frame"
                 for r in runs])
    rows.append(["speaker found (speech frames)"] + [f"{sum(r.hits)}/{len(r.hits)}" for r in runs])
    rows.append(["face size (px)"] + [str(px) for px in face_px])
    return rows


def print_stage_profile(people: list[int], profile: Path, models: Path, npm_cache: Path, seconds: float,
                        baseline: Path | None = None, overrides: dict[str, object] | None = None) -> None:
    """The per-stage table: one column per face count, or with ``baseline`` one table per face
    count with the baseline package and this checkout side by side."""
    import onnxruntime as ort

    candidates: dict[str, tuple[str, dict[str, object]]] = {"this checkout": ("emotion_core", overrides or {})}
    if baseline is not None:
        load_package(baseline)
        candidates = {"baseline": ("emotion_core_baseline", overrides or {}), **candidates}
    title = (f"Where a frame's time goes ({profile.name}{' + ' + str(overrides) if overrides else ''}, "
             f"30 fps 640x480, {seconds:.0f} s with the demo speech; onnxruntime {ort.__version__}, "
             f"load average {os.getloadavg()[0]:.2f})")
    header = "stage (ms per frame: mean / median / p90)"
    if baseline is None:
        results = {n: stage_profiles(n, profile, models, npm_cache, seconds, candidates) for n in people}
        print_table(title, [header] + [f"{n} faces" for n in people],
                    _stage_rows([r["this checkout"] for r, _ in results.values()], [px for _, px in results.values()]))
        return
    for n in people:
        runs, px = stage_profiles(n, profile, models, npm_cache, seconds, candidates)
        print_table(f"{title}: {n} faces; baseline {baseline}", [header] + list(runs),
                    _stage_rows(list(runs.values()), [px] * len(runs)))


def main(argv: list[str] | None = None) -> int:
    import cv2
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "data" / "models")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "npm")
    parser.add_argument("--ground-truth", type=Path,
                        default=ROOT / "test" / "fixtures" / "face_api" / "demo_faces.json")
    parser.add_argument("--engine", type=Path, help="TensorRT engine of face_expression.onnx (+ .json contract)")
    parser.add_argument("--repeat", type=int, default=10, help="passes over the 6 test frames")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: library default)")
    parser.add_argument("--people", type=int, nargs="+",
                        help="only the per-stage profile of the node's recognizer with these many faces in view")
    parser.add_argument("--seconds", type=float, default=15.0, help="--people: clip length (the demo speech loops)")
    parser.add_argument("--profile", type=Path, default=ROOT / "config" / "desktop_cpu_30hz.yaml",
                        help="--people: the parameter file whose emotion_node and av_sync_node settings are used")
    parser.add_argument("--set", type=json.loads, default={}, metavar="JSON",
                        help='--people: emotion_node parameters over the profile\'s, e.g. \'{"intra_op_threads": 2}\'')
    parser.add_argument("--baseline", type=Path,
                        help="--people: an emotion_core package folder (another checkout's "
                             "src/emotion_core/emotion_core) profiled side by side with this one, frame by frame")
    args = parser.parse_args(argv)
    if args.people:
        print_stage_profile(args.people, args.profile, args.models, args.cache, args.seconds, args.baseline,
                            args.set)
        return 0
    if args.threads > 0:
        cv2.setNumThreads(args.threads)  # Haar and the resizes, as ONNX Runtime and torch

    photos = demo_photos(args.cache)
    truth = load_ground_truth(args.ground_truth)
    frames = [cv2.resize(cv2.imread(str(p)), FRAME_SIZE, interpolation=cv2.INTER_AREA) for p in photos]
    print(f"onnxruntime {ort.__version__}, opencv {cv2.__version__}, providers {ort.get_available_providers()}, "
          f"frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]} x{len(frames)}, repeat {args.repeat}, "
          f"threads {args.threads or 'default'}")

    dets = detectors(args.models, args.threads)
    times = round_robin({name: det.detect for name, det in dets.items()}, frames, args.repeat)
    rows = []
    for name, det in dets.items():
        def boxes(img: np.ndarray, d: FaceDetector = det) -> list[tuple[int, int, int, int]]:
            return [(b.x, b.y, b.w, b.h) for b in d.detect(img)]

        full = demo_recall(boxes, photos, truth)
        small = demo_recall(boxes, photos, truth, resize_to=FRAME_SIZE)
        rows.append([name, f"{full.hits}/{full.faces}", full.false_positives,
                     f"{small.hits}/{small.faces}", small.false_positives,
                     *(f"{t:.1f}" for t in times[name])])
    print_table("Face detectors: faces found of the 21 in the demo photos (full size, and shrunk to "
                "640x480), false positives, ms per 640x480 frame",
                ["detector", "full", "false pos", "640x480", "false pos", "ms median", "ms p90", "ms min"], rows)

    print_table("People nets (ms per face, 640x480 frame; crop + pre-processing included)",
                ["backend", "net", "batch 1", "batch 1 min", "batch 4", "batch 4 min"],
                people_rows(args.models, frames, dets["tiny@416"], args.threads, args.repeat))

    contract = load_model(args.models / "face_expression.onnx")[1]
    face = contract.face
    assert face is not None
    crops = [face_tensor(f, dets["tiny@416"].detect(f)[:1], face) for f in frames]
    one = next(c for c in crops if len(c))
    eight = np.concatenate([one] * 8)
    backends = expression_backends(args.models, args.engine, args.threads)
    runners: dict[str, Callable[[np.ndarray], object] | str] = {
        name: (b if isinstance(b, str) else (lambda x, b=b: b.run({"face": x}))) for name, b in backends.items()}
    runners["torch (training reference)"] = torch_runner(args.cache, args.threads)
    rows = []
    for name, run in runners.items():
        if isinstance(run, str):
            rows.append([name, run, "", ""])
            continue
        b1 = timed(lambda: run(one), args.repeat * 6)
        b8 = timed(lambda: run(eight), args.repeat * 2)[0] / 8
        rows.append([name, f"{b1[0]:.2f}", f"{b1[2]:.2f}", f"{b8:.2f}"])
    print_table("Expression net (ms per face)", ["backend", "batch 1", "batch 1 min", "batch 8"], rows)

    recognizers: dict[str, EmotionRecognizer] = {}
    rows, skipped = [], []
    for name, backend in backends.items():
        if isinstance(backend, str):
            skipped.append([name, "-", backend, "", "", "", ""])
            continue
        for det_name in ("haar", "tiny@416", "ssd@512"):
            recognizers[f"{name} {det_name}"] = EmotionRecognizer(
                backend, contract, dets[det_name])  # type: ignore[arg-type]
    clock = {"stamp": 0}

    def step(rec: EmotionRecognizer) -> Callable[[np.ndarray], object]:
        def run(frame: np.ndarray) -> object:
            clock["stamp"] += 33_000_000
            return rec.process(frame, None, 16000, clock["stamp"])
        return run

    times = round_robin({k: step(r) for k, r in recognizers.items()}, frames, args.repeat)
    for key, rec in recognizers.items():
        labels = []
        for frame in frames:  # unsmoothed top class of each frame
            raw = rec.process(frame, None, 16000, 0).raw_probabilities
            labels.append(rec.labels[int(np.argmax(raw))] if raw.size else "no face")
        med, p90, best = times[key]
        rows.append([*key.split(" "), f"{med:.1f}", f"{p90:.1f}", f"{best:.1f}", f"{1e3 / med:.0f}",
                     ",".join(labels)])
    rows += skipped
    print_table("EmotionRecognizer.process per 640x480 frame (face only, largest face)",
                ["backend", "detector", "ms median", "ms p90", "ms min", "fps", "labels of the 6 frames"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
