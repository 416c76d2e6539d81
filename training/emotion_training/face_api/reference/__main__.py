"""Regenerate the parity fixture with the original face-api running in Node (tfjs CPU backend).

    python -m emotion_training.face_api.reference [--cache .cache/npm] [--fixture-dir test/fixtures/face_api]

Installs the pinned npm packages into ``.cache/face_api_js`` once, writes the inputs as raw files,
runs ``record_reference.js`` and writes ``faces.png`` + ``reference.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..nets import PACKAGE_VERSION
from ..package import TARBALL, demo_photos, package_dir
from . import (FACES_PNG, GROUND_TRUTH_JSON, MOSAIC_COLUMNS, REFERENCE_JSON, TILE, expression_inputs,
               recognition_inputs)

TFJS_VERSION = "4.22.0"
DETECTOR_SIZES = (224, 320, 416, 512, 608)
SCORE_THRESHOLD = 0.5
SSD_MIN_CONFIDENCES = (0.3, 0.5)
SCRIPT = Path(__file__).with_name("record_reference.js")


def write_face_mosaic(cache: Path, fixture_dir: Path) -> Path:
    """Square crops of the hand-checked demo faces, 56 px, as a lossless 7-column mosaic."""
    import cv2

    from emotion_core.face import FaceBox, crop_square

    truth = json.loads((fixture_dir / GROUND_TRUTH_JSON).read_text())["photos"]
    tiles = []
    for photo in demo_photos(cache):
        image = cv2.imread(str(photo))
        for box in truth[photo.name]["faces"]:
            crop = crop_square(image, FaceBox(*box), margin=0.0, pad=True)
            tiles.append(cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA))
    if len(tiles) % MOSAIC_COLUMNS:
        raise ValueError(f"{len(tiles)} faces do not fill {MOSAIC_COLUMNS}-column rows")
    rows = [np.concatenate(tiles[i:i + MOSAIC_COLUMNS], axis=1) for i in range(0, len(tiles), MOSAIC_COLUMNS)]
    path = fixture_dir / FACES_PNG
    cv2.imwrite(str(path), np.concatenate(rows, axis=0), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def ensure_node_packages(cache: Path, node_dir: Path) -> Path:
    """``node_modules`` with tfjs (pure JS) and face-api from the cached tarball; npm runs once."""
    modules = node_dir / "node_modules"
    if (modules / "@vladmandic" / "face-api" / "package.json").is_file() and \
            (modules / "@tensorflow" / "tfjs" / "package.json").is_file():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: the reference is recorded with Node.js 18+ and npm")
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "package.json").write_text('{"name": "face-api-reference", "private": true}\n')
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent",
                    f"@tensorflow/tfjs@{TFJS_VERSION}", f"@tensorflow/tfjs-backend-wasm@{TFJS_VERSION}",
                    str((cache / TARBALL).resolve())], cwd=node_dir, check=True)
    return modules


def write_job(cache: Path, fixture_dir: Path, job_dir: Path) -> Path:
    """Raw input files + job.json for record_reference.js."""
    import cv2

    job_dir.mkdir(parents=True, exist_ok=True)
    names, inputs = expression_inputs(fixture_dir)
    inputs.astype("<f4").tofile(job_dir / "expression.f32")
    _, faces150 = recognition_inputs(fixture_dir)
    faces150.astype("<f4").tofile(job_dir / "recognition.f32")
    truth = json.loads((fixture_dir / GROUND_TRUTH_JSON).read_text())["photos"]
    photos = []
    for photo in demo_photos(cache):
        rgb = np.ascontiguousarray(cv2.imread(str(photo))[:, :, ::-1])
        rgb.tofile(job_dir / f"{photo.stem}.rgb")
        photos.append({"name": photo.name, "file": f"{photo.stem}.rgb",
                       "height": rgb.shape[0], "width": rgb.shape[1]})
    job = {
        "model_dir": str(package_dir(cache) / "model"),
        "names": names,
        "expression": {"file": "expression.f32", "count": len(names), "size": inputs.shape[1]},
        "detector": {"input_sizes": list(DETECTOR_SIZES), "score_threshold": SCORE_THRESHOLD,
                     "photos": photos},
        "landmarks": {"file": "expression.f32", "count": len(names), "size": inputs.shape[1]},
        "recognition": {"file": "recognition.f32", "count": len(faces150), "size": faces150.shape[1]},
        "ssd": {"min_confidences": list(SSD_MIN_CONFIDENCES)},
        "faces": {p["name"]: truth[p["name"]]["faces"] for p in photos},
    }
    path = job_dir / "job.json"
    path.write_text(json.dumps(job, indent=1))
    return path


def rounded(value, digits: int):
    """Nested lists of floats rounded to ``digits`` decimals (keeps the fixture small)."""
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return round(value, digits) if isinstance(value, float) else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/npm"))
    parser.add_argument("--node-dir", type=Path, default=Path(".cache/face_api_js"))
    parser.add_argument("--fixture-dir", type=Path, default=Path("test/fixtures/face_api"))
    args = parser.parse_args(argv)
    write_face_mosaic(args.cache, args.fixture_dir)
    modules = ensure_node_packages(args.cache, args.node_dir)
    job = write_job(args.cache, args.fixture_dir, args.node_dir / "job")
    raw_out = job.with_name("out.json")
    env = dict(os.environ, NODE_PATH=str(modules.resolve()))
    subprocess.run(["node", str(SCRIPT), str(job), str(raw_out)], check=True, env=env)
    recorded = json.loads(raw_out.read_text())
    names = json.loads(job.read_text())["names"]
    reference = {
        "generated_by": "python -m emotion_training.face_api.reference (record_reference.js)",
        "package": f"@vladmandic/face-api@{PACKAGE_VERSION}",
        "versions": recorded["versions"],
        "inputs": names,
        "expression": recorded["expression"],
        "detector": {"score_threshold": SCORE_THRESHOLD, "photos": recorded["detector"]},
        "landmarks": rounded(recorded["landmarks"], 6),
        "descriptor": rounded(recorded["descriptor"], 6),
        "ssd": {"photos": rounded(recorded["ssd"], 3)},
        "faces": {photo: [{"landmarks": rounded(f["landmarks"], 3),
                           "landmarks_tiny": rounded(f["landmarks_tiny"], 3),
                           "aligned_box": f["aligned_box"],
                           "descriptor": rounded(f["descriptor"], 6)} for f in found]
                  for photo, found in recorded["faces"].items()},
    }
    out = args.fixture_dir / REFERENCE_JSON
    out.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    print(f"wrote {out} and {args.fixture_dir / FACES_PNG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
