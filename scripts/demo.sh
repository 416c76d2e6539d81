#!/usr/bin/env bash
# Set up (idempotent) and run the whole graph on the embedded demo clip: prints the /emotion
# stream as a table with latency and writes runs/demo/summary.png + summary.json.
#   scripts/demo.sh                         # embedded clip, 15 s
#   scripts/demo.sh --camera 0 --audio microphone --duration 0   # real camera + mic, Ctrl-C to stop
# Any option of `python -m emotion_ros.graph --help` can be added.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
set +u
# shellcheck disable=SC1091
source scripts/env.sh
set -u
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( $$ % 90 + 10 ))}"
exec python -m emotion_ros.graph --camera data/demo/astronaut.mp4 --audio data/demo/speech.wav \
  --duration 15 --output-dir runs/demo --quiet-nodes "$@"
