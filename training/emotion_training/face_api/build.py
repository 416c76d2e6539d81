"""Write the face stack as ONNX, without torch: the expression model, the tiny and SSD face
detectors, the 68-point landmark nets (full and tiny) and the 128-d face descriptor net.

    python -m emotion_training.face_api.build --cache .cache/npm --out data/models

Reads the face-api npm tarball that ``scripts/fetch_face_api.sh`` put in the cache. A second run
with the outputs present and up to date does nothing (it reads one small stamp file).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from .manifest import ManifestError, load_manifest
from .nets import (EXPRESSION_MANIFEST, LANDMARK_MANIFEST, LANDMARK_TINY_MANIFEST, PACKAGE_VERSION,
                   RECOGNITION_MANIFEST, SSD_MANIFEST, TINY_MANIFEST)
from .package import TARBALL, package_dir

log = logging.getLogger("emotion_training.face_api.build")

EXPRESSION_ONNX = "face_expression.onnx"
DETECTOR_ONNX = "face_detector_tiny.onnx"
SSD_ONNX = "face_detector_ssd.onnx"
LANDMARKS_ONNX = "face_landmarks_68.onnx"
LANDMARKS_TINY_ONNX = "face_landmarks_68_tiny.onnx"
DESCRIPTOR_ONNX = "face_descriptor.onnx"
STAMP = "face_api.stamp.json"
#: Bump when the graphs or their metadata change, so existing outputs are rebuilt.
BUILDER_VERSION = 3


def _stamp(cache: Path) -> dict:
    """What the outputs were built from: the tarball's digest and this builder's version."""
    tgz = cache / TARBALL
    digest = hashlib.sha256(tgz.read_bytes()).hexdigest() if tgz.is_file() else "unpacked"
    return {"package_version": PACKAGE_VERSION, "tarball_sha256": digest, "builder": BUILDER_VERSION}


def _save(model, path: Path) -> None:
    """Write atomically: a crash never leaves a truncated model the node would try to load."""
    import onnx

    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)


def build(cache: str | Path, out: str | Path, force: bool = False) -> dict[str, Path]:
    """Build the ONNX files into ``out`` unless they are up to date; returns their paths."""
    from .onnx_build import (build_expression_onnx, build_landmark_onnx, build_recognition_onnx,
                             build_ssd_onnx, build_tiny_detector_onnx)

    cache, out = Path(cache), Path(out)
    #: name -> (output file, manifest, graph builder)
    targets = {
        "expression": (EXPRESSION_ONNX, EXPRESSION_MANIFEST, build_expression_onnx),
        "detector": (DETECTOR_ONNX, TINY_MANIFEST, build_tiny_detector_onnx),
        "ssd": (SSD_ONNX, SSD_MANIFEST, build_ssd_onnx),
        "landmarks": (LANDMARKS_ONNX, LANDMARK_MANIFEST, build_landmark_onnx),
        "landmarks_tiny": (LANDMARKS_TINY_ONNX, LANDMARK_TINY_MANIFEST,
                           lambda w: build_landmark_onnx(w, tiny=True)),
        "descriptor": (DESCRIPTOR_ONNX, RECOGNITION_MANIFEST, build_recognition_onnx),
    }
    paths = {name: out / file for name, (file, _, _) in targets.items()}
    stamp_path = out / STAMP
    pkg = package_dir(cache)  # raises with the fetch command when the tarball is missing
    stamp = _stamp(cache)
    current = all(p.is_file() for p in paths.values()) and stamp_path.is_file()
    if current and not force and json.loads(stamp_path.read_text()) == stamp:
        log.info("face stack up to date in %s", out)
        return paths
    out.mkdir(parents=True, exist_ok=True)
    for name, (_, manifest, builder) in targets.items():
        _save(builder(load_manifest(pkg / "model" / manifest)), paths[name])
    stamp_path.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    for path in paths.values():
        log.info("wrote %s (%.0f KB)", path, path.stat().st_size / 1024)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build face-api's expression, face detector, "
                                                 "landmark and descriptor nets as ONNX (no torch needed).")
    parser.add_argument("--cache", type=Path, default=Path(".cache/npm"),
                        help="folder holding the npm tarball (scripts/fetch_face_api.sh)")
    parser.add_argument("--out", type=Path, default=Path("data/models"))
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[face-api] %(message)s")
    try:
        paths = build(args.cache, args.out, args.force)
    except ManifestError as exc:
        log.error("%s", exc)
        return 1
    for name, path in paths.items():
        print(f"{name:14s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
