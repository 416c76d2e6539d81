#!/usr/bin/env bash
# Set up (idempotent) and run the whole graph on the embedded demo clip data/demo/people.mp4 +
# people.wav (three people from face-api's demo photos crossing, two taking turns to speak;
# built at setup, the astronaut clip when npm was missing): prints the /emotion stream and one
# row per person of /emotion/faces with latency, and writes runs/demo/summary.png + summary.json.
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
exec python -m emotion_ros.graph --camera data/demo/people.mp4 --audio data/demo/people.wav \
  --duration 15 --output-dir runs/demo --quiet-nodes "$@"
