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
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
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
from emotion_core.recognizer import EmotionRecognizer  # noqa: E402
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
    args = parser.parse_args(argv)
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
