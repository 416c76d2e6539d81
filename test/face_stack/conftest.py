"""Fixtures of the face-stack tests: the face-api npm cache (fetched by scripts/setup.sh), the
ONNX models built from it into a temporary folder, and the committed parity fixture."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT / "training", ROOT / "src" / "emotion_core"):
    if str(extra) not in sys.path:
        sys.path.append(str(extra))

FIXTURE_DIR = ROOT / "test" / "fixtures" / "face_api"


@pytest.fixture(scope="session")
def npm_cache() -> Path:
    """The npm cache holding face-api; CI runs scripts/setup.sh, so its absence is an error."""
    from emotion_training.face_api.package import TARBALL, package_dir

    cache = Path(os.environ.get("FACE_API_CACHE", ROOT / ".cache" / "npm"))
    if not (cache / TARBALL).is_file():
        pytest.fail(f"{cache / TARBALL} is missing: run scripts/setup.sh (or scripts/fetch_face_api.sh) "
                    "to fetch face-api with npm", pytrace=False)
    package_dir(cache)
    return cache


@pytest.fixture(scope="session")
def models(npm_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Freshly built ``expression`` and ``detector`` ONNX files."""
    from emotion_training.face_api.build import build

    return build(npm_cache, tmp_path_factory.mktemp("face_models"))


@pytest.fixture(scope="session")
def demo(npm_cache: Path) -> tuple[list[Path], dict]:
    """The six demo photos and their hand-checked faces."""
    from emotion_training.face_api.demo import load_ground_truth
    from emotion_training.face_api.package import demo_photos

    return demo_photos(npm_cache), load_ground_truth(FIXTURE_DIR / "demo_faces.json")


@pytest.fixture(scope="session")
def tiny(models: dict[str, Path]):
    """The default detector as the node builds it (defaults from the model's metadata)."""
    from emotion_core.face import create_detector

    return create_detector("tiny", model_path=models["detector"], intra_op_threads=1)


@pytest.fixture(scope="session")
def landmarker(models: dict[str, Path]):
    """The full 68-point landmark net (the default variant)."""
    from emotion_core.face_landmarks import FaceLandmarker

    return FaceLandmarker(models["landmarks"], intra_op_threads=1)


@pytest.fixture(scope="session")
def landmarker_tiny(models: dict[str, Path]):
    from emotion_core.face_landmarks import FaceLandmarker

    return FaceLandmarker(models["landmarks_tiny"], intra_op_threads=1)


@pytest.fixture(scope="session")
def descriptor(models: dict[str, Path]):
    from emotion_core.face_descriptor import FaceDescriptor

    return FaceDescriptor(models["descriptor"], intra_op_threads=1)


@pytest.fixture(scope="session")
def ssd(models: dict[str, Path]):
    from emotion_core.face import create_detector

    return create_detector("ssd", model_path=models["ssd"], intra_op_threads=1)


@pytest.fixture(scope="session")
def demo_faces(demo: tuple[list[Path], dict]) -> list[tuple]:
    """(photo name, BGR image, hand-checked FaceBoxes) of the six demo photos."""
    import cv2

    from emotion_core.face import FaceBox

    photos, truth = demo
    return [(p.name, cv2.imread(str(p)), [FaceBox(*b) for b in truth["photos"][p.name]["faces"]])
            for p in photos]
