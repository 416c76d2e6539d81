# Source me: activates the workspace (venv + colcon overlay) and keeps DDS on this machine.
#   source scripts/env.sh
_EMOTION_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
# shellcheck disable=SC1091
source "${EMOTION_VENV:-$_EMOTION_ROOT/.venv}/bin/activate"
# shellcheck disable=SC1091
source "$_EMOTION_ROOT/install/setup.bash"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Large frames need a large shared-memory segment (see config/fastdds_shm.xml).
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_EMOTION_ROOT/config/fastdds_shm.xml}"
# Discovery stays on loopback unless the caller chose otherwise (set SUBNET on a real robot).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
export EMOTION_ROOT="$_EMOTION_ROOT"
unset _EMOTION_ROOT
