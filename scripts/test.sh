#!/usr/bin/env bash
# Everything CI runs: set up from scratch (idempotent), then the whole test suite.
#   scripts/test.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh --with-training
set +u
# shellcheck disable=SC1091
source scripts/env.sh
set -u
# Tests keep DDS on loopback and pick their own ROS_DOMAIN_ID (see test/conftest.py).
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# Lint first (seconds): ruff (ruff.toml) on all Python, hadolint (.hadolint.yaml) on the images.
ruff check src test training scripts launch
hadolint docker/Dockerfile.*
exec python -m pytest "${@:-test}"
