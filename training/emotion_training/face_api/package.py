"""The face-api npm tarball in the local cache: find it, unpack the few files we use, once.

``scripts/fetch_face_api.sh`` runs ``npm pack`` (pinned version) into ``.cache/npm``; everything
else reads the unpacked copy, so nothing is downloaded at build, test or run time.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

from .manifest import ManifestError
from .nets import (EXPRESSION_MANIFEST, LANDMARK_MANIFEST, LANDMARK_TINY_MANIFEST, PACKAGE_NAME,
                   PACKAGE_VERSION, RECOGNITION_MANIFEST, SSD_MANIFEST, TINY_MANIFEST)

TARBALL = f"vladmandic-face-api-{PACKAGE_VERSION}.tgz"
DEMO_PHOTOS = tuple(f"demo/sample{i}.jpg" for i in range(1, 7))
#: Members of the tarball (below ``package/``) the build, the tests and the benchmark use.
MANIFESTS = (EXPRESSION_MANIFEST, TINY_MANIFEST, LANDMARK_MANIFEST, LANDMARK_TINY_MANIFEST,
             RECOGNITION_MANIFEST, SSD_MANIFEST)
#: Each manifest and its one weights shard (``x-weights_manifest.json`` -> ``x.bin``).
_MODEL_FILES = set(MANIFESTS) | {m.replace("-weights_manifest.json", ".bin") for m in MANIFESTS}
NEEDED = ("LICENSE", "package.json") + tuple(sorted(_MODEL_FILES)) + DEMO_PHOTOS
FETCH_HINT = "run scripts/setup.sh (or scripts/fetch_face_api.sh) to fetch it with npm"


def _relative(name: str) -> str:
    """Path of a needed file inside the package folder."""
    return f"model/{name}" if name in _MODEL_FILES else name


def package_dir(cache: str | Path) -> Path:
    """Unpacked ``package/`` folder of the pinned face-api release inside ``cache``.

    Unpacks the needed members from the tarball on first use; raises ``ManifestError`` with the
    command to run when the tarball is absent or is another version.
    """
    cache = Path(cache)
    root = cache / f"face-api-{PACKAGE_VERSION}"
    pkg = root / "package"
    if not all((pkg / _relative(n)).is_file() for n in NEEDED):
        tgz = cache / TARBALL
        if not tgz.is_file():
            raise ManifestError(f"{PACKAGE_NAME}@{PACKAGE_VERSION} not found: no {tgz}; {FETCH_HINT}")
        try:
            with tarfile.open(tgz, "r:gz") as tar:
                members = [tar.getmember(f"package/{_relative(n)}") for n in NEEDED]
                tar.extractall(root, members=members, filter="data")
        except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
            raise ManifestError(f"cannot unpack {tgz} ({exc}); delete it and {FETCH_HINT}") from exc
    version = json.loads((pkg / "package.json").read_text()).get("version")
    if version != PACKAGE_VERSION:
        raise ManifestError(f"{pkg} holds face-api {version}, expected {PACKAGE_VERSION}; {FETCH_HINT}")
    return pkg


def model_file(cache: str | Path, name: str) -> Path:
    """Path of a file of the package's ``model/`` folder."""
    return package_dir(cache) / "model" / name


def demo_photos(cache: str | Path) -> list[Path]:
    """The six demo photos of the package (21 faces in all)."""
    pkg = package_dir(cache)
    return [pkg / p for p in DEMO_PHOTOS]
