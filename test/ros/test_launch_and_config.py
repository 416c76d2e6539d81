"""The launch file, the graph runner and the parameter YAMLs agree with the nodes they start."""
from __future__ import annotations

import ast
import configparser
import importlib
import re
from pathlib import Path

import pytest
import yaml

from emotion_ros.graph import MODULES, NODES, GraphSpec, build_parser, spec_from_args

NODE_MODULES = {
    "camera_node": "emotion_ros.camera_node",
    "audio_node": "emotion_ros.audio_node",
    "av_sync_node": "emotion_ros.av_sync_node",
    "emotion_node": "emotion_ros.emotion_node",
    "emotion_monitor": "emotion_ros.monitor_node",
}
REQUIRED_ARGS = {"camera_source", "audio_source", "model_path", "namespace", "use_sim_time", "log_level"}


def launch_arguments(repo_root: Path) -> list[tuple[str, str, str]]:
    tree = ast.parse((repo_root / "launch" / "emotion.launch.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            out = []
            for elt in node.value.elts:  # type: ignore[attr-defined]
                name, _default, desc = elt.elts
                out.append((name.value, "", desc.value if isinstance(desc, ast.Constant) else "?"))
            return out
    raise AssertionError("launch file has no ARGUMENTS table")


def test_launch_arguments_are_described(repo_root):
    args = launch_arguments(repo_root)
    names = {a[0] for a in args}
    assert REQUIRED_ARGS <= names, REQUIRED_ARGS - names
    for name, _, desc in args:
        assert len(desc) > 15, f"launch argument {name} lacks a description"


def test_launch_executables_exist_as_console_scripts(repo_root):
    text = (repo_root / "launch" / "emotion.launch.py").read_text()
    executables = set(re.findall(r'executable="([a-z_]+)"', text))
    setup = (repo_root / "src" / "emotion_ros" / "setup.py").read_text()
    scripts = set(re.findall(r'"([a-z_]+) = emotion_ros\.', setup))
    assert executables == set(NODES)
    assert executables <= scripts


def test_launch_description_builds_where_launch_ros_exists(repo_root):
    pytest.importorskip("launch_ros", reason="launch_ros has no PyPI wheel; runs on apt ROS 2")
    spec = importlib.util.spec_from_file_location("emotion_launch", repo_root / "launch" / "emotion.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    description = module.generate_launch_description()
    assert len(description.entities) == len(module.ARGUMENTS) + 4


@pytest.mark.parametrize("profile", ["desktop_cpu.yaml", "desktop_cpu_30hz.yaml", "jetson.yaml"])
def test_param_files_only_set_declared_parameters_within_range(repo_root, profile):
    data = yaml.safe_load((repo_root / "config" / profile).read_text())
    for key, section in data.items():
        node = key.split("/")[-1]
        assert node in NODE_MODULES, f"{profile}: unknown node {key}"
        params = {p.name: p for p in importlib.import_module(NODE_MODULES[node]).PARAMS}
        for name, value in section["ros__parameters"].items():
            assert name in params, f"{profile}: {node} declares no parameter {name}"
            spec = params[name]
            assert type(value) is type(spec.default), f"{profile}: {node}.{name} has type {type(value).__name__}"
            assert spec.problem(value) is None, spec.problem(value)


def test_graph_runner_passes_overrides_and_ros_arguments(repo_root, tmp_path):
    args = build_parser().parse_args(["--camera", "0", "--audio", "microphone", "--model", "m.onnx",
                                      "--rate", "5", "--namespace", "robot1", "--use-sim-time",
                                      "--log-level", "warn", "--output-dir", str(tmp_path)])
    spec = spec_from_args(args)
    cam = spec.command("camera_node", python="py")
    assert cam[:3] == ["py", "-m", MODULES["camera_node"]]
    assert "source:=0" in cam and "__ns:=/robot1" in cam and "use_sim_time:=true" in cam
    assert cam[cam.index("--log-level") + 1] == "warn"
    emo = spec.command("emotion_node")
    assert f"model_path:={(Path.cwd() / 'm.onnx').resolve()}" in emo
    assert "rate_hz:=5.0" in spec.command("av_sync_node")
    assert f"output_dir:={tmp_path.resolve()}" in spec.command("emotion_monitor")
    assert isinstance(spec, GraphSpec)


def test_colcon_meta_and_setup_cfg_are_valid(repo_root):
    import json

    meta = json.loads((repo_root / "colcon.meta").read_text())
    assert set(meta["names"]) <= {"audio_common_msgs", "emotion_msgs", "emotion_core", "emotion_ros"}
    for pkg in ("emotion_core", "emotion_ros"):
        cfg = configparser.ConfigParser()
        cfg.read(repo_root / "src" / pkg / "setup.cfg")
        assert cfg["install"]["install_scripts"] == f"$base/lib/{pkg}"
