#!/usr/bin/env bash
# Fetch the pinned face-api npm package (MIT; pretrained face detectors, expression, 68-point
# landmark and face descriptor weights, and demo photos) into the cache, once, and check it is the
# exact tarball the stack was built for.
# The ONNX models are then built from it without torch:
#   python -m emotion_training.face_api.build --cache .cache/npm --out data/models
#
# Usage: scripts/fetch_face_api.sh [CACHE_DIR]      (default: <repo>/.cache/npm)
# Env:   FACE_API_TGZ   use this local copy of the tarball instead of asking the npm registry
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-$ROOT/.cache/npm}"
PACKAGE="@vladmandic/face-api"
VERSION="1.7.15"
TARBALL="vladmandic-face-api-$VERSION.tgz"
# npm's dist.integrity of $PACKAGE@$VERSION.
INTEGRITY="sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=="

log() { printf '\033[1;34m[face-api]\033[0m %s\n' "$*"; }
integrity() {  # npm's format: sha512-<base64 digest>
  python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}

mkdir -p "$CACHE"
target="$CACHE/$TARBALL"
if [[ -f "$target" && "$(integrity "$target")" == "$INTEGRITY" ]]; then
  log "$PACKAGE@$VERSION already in $CACHE"
  exit 0
fi
rm -f "$target"
if [[ -n "${FACE_API_TGZ:-}" ]]; then
  log "copying $FACE_API_TGZ"
  cp "$FACE_API_TGZ" "$target"
else
  if ! command -v npm >/dev/null; then
    echo "npm not found: install Node.js (18+) and npm, or set FACE_API_TGZ to a copy of $TARBALL" >&2
    exit 1
  fi
  log "npm pack $PACKAGE@$VERSION -> $CACHE"
  (cd "$CACHE" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
fi
if [[ ! -f "$target" || "$(integrity "$target")" != "$INTEGRITY" ]]; then
  rm -f "$target"
  echo "$TARBALL does not match the pinned integrity $INTEGRITY: refusing it" >&2
  exit 1
fi
log "fetched $TARBALL ($(du -h "$target" | cut -f1))"
