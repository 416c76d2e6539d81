"""Where a relative data path (a model, the demo clip, a parameter profile) is found.

One rule for the nodes, the face stack and the tools, so a graph started from any folder finds
what setup installed: an absolute path is taken as it is; a relative one is looked up, in order,
under

1. ``$EMOTION_DATA_DIR`` (one folder, for a deployment that keeps its models elsewhere),
2. the current folder (a path typed relative to where you are, a source checkout),
3. the installed share folder of ``emotion_ros`` (``colcon build`` installs ``data/models`` and
   ``data/demo`` there, and ``config/`` beside them),
4. ``$ROS_HOME/emotion_ros`` (``~/.ros/emotion_ros``: the user cache for models fetched or
   trained on the robot itself).

``data/models/face_expression.onnx`` in a parameter YAML therefore means
``<root>/data/models/face_expression.onnx`` under the first root that has it, and a missing file
is reported with every place that was searched. Plain Python: ament_index_python (no rclpy) is
used where it is installed, so training machines without ROS still resolve roots 1, 2 and 4.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

#: A folder searched first for every relative data path.
DATA_DIR_ENV = "EMOTION_DATA_DIR"
#: The ROS package whose share folder holds the installed data.
SHARE_PACKAGE = "emotion_ros"

PathLike = Union[str, Path]


def ros_home() -> Path:
    """``$ROS_HOME``, else ``~/.ros``: where ROS 2 tools keep per-user state."""
    return Path(os.environ.get("ROS_HOME") or Path.home() / ".ros").expanduser()


def share_dir(package: str = SHARE_PACKAGE) -> Optional[Path]:
    """The package's installed share folder, or None where it is not installed (or no ament
    index is on this machine)."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(package))
    except (PackageNotFoundError, ValueError, LookupError, OSError):  # OSError: no AMENT_PREFIX_PATH
        return None


def search_roots() -> list[Path]:
    """The folders a relative data path is looked up under, first match wins."""
    roots: list[Path] = []
    if os.environ.get(DATA_DIR_ENV):
        roots.append(Path(os.environ[DATA_DIR_ENV]).expanduser())
    roots.append(Path.cwd())
    share = share_dir()
    if share is not None:
        roots.append(share)
    roots.append(ros_home() / SHARE_PACKAGE)
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def find(path: PathLike) -> Optional[Path]:
    """The existing file or folder ``path`` names under the search roots, or None."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p if p.exists() else None
    for root in search_roots():
        candidate = root / p
        if candidate.exists():
            return candidate
    return None


def resolve(path: PathLike, what: str = "file", hint: str = "") -> Path:
    """``find(path)``, or FileNotFoundError naming every place searched (and ``hint``: how to
    get the file)."""
    found = find(path)
    if found is not None:
        return found
    p = Path(path).expanduser()
    looked = [str(p)] if p.is_absolute() else [str(root / p) for root in search_roots()]
    message = f"{what} not found: {path}; looked in: {', '.join(looked)}"
    if not p.is_absolute():
        message += f" (set ${DATA_DIR_ENV} to add a folder)"
    raise FileNotFoundError(message + (f"; {hint}" if hint else ""))

