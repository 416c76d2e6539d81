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
exec python -m pytest "${@:-test}"
