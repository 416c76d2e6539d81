"""The launch file, the graph runner and the parameter YAMLs agree with the nodes they start."""
from __future__ import annotations

import ast
import configparser
import importlib
import re
from pathlib import Path

import pytest
import yaml

from emotion_ros.graph import MODULES, GraphSpec, build_parser, spec_from_args

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


def test_launch_file_and_runner_describe_the_same_graph(repo_root):
    """launch_ros cannot run here, so its source is held to the runner's: it builds its nodes
    from emotion_ros.graph.GRAPH, declares every argument and condition the entries use, and each
    entry's executable (and the one-process form's) is a console script that runs the module the
    runner starts."""
    from emotion_ros.graph import (CLI_ARGUMENTS, COMPOSED_EXECUTABLE, COMPOSED_MODULE, GRAPH,
                                   parameter_for)

    text = (repo_root / "launch" / "emotion.launch.py").read_text()
    assert "from emotion_ros.graph import COMPOSED_EXECUTABLE, GRAPH" in text
    assert "executable=entry.name" in text and "executable=COMPOSED_EXECUTABLE" in text
    assert 'executable="' not in text  # no second node list
    assert "get_package_share_directory" in text and "parents[" not in text  # the install, not the checkout
    declared = {a[0] for a in launch_arguments(repo_root)}
    used = {arg for e in GRAPH for arg, _ in e.arguments} | {e.condition for e in GRAPH if e.condition}
    assert used | {"one_process"} <= declared, used - declared
    setup = (repo_root / "src" / "emotion_ros" / "setup.py").read_text()
    scripts = dict(re.findall(r'"([a-z_]+) = (emotion_ros\.[a-z_]+):main"', setup))
    for entry in GRAPH:
        assert scripts.get(entry.name) == entry.module, entry
        assert hasattr(importlib.import_module(entry.module), entry.node_class), entry
    assert scripts.get(COMPOSED_EXECUTABLE) == COMPOSED_MODULE
    # The runner's options set the parameters the launch arguments of the same meaning set.
    args = build_parser().parse_args(["--camera", "cam0", "--audio", "mic", "--rate", "7", "--model", "m.onnx"])
    spec = spec_from_args(args)
    for option, argument in CLI_ARGUMENTS.items():
        node, param = parameter_for(argument)
        assert param in spec.overrides[node], (option, argument)


def _launch_module(repo_root: Path):
    pytest.importorskip("launch_ros", reason="launch_ros has no PyPI wheel; runs on apt ROS 2")
    spec = importlib.util.spec_from_file_location("emotion_launch", repo_root / "launch" / "emotion.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _evaluated_nodes(module, **arguments: str) -> list:
    """The node actions the launch file produces for ``arguments`` (the rest at their defaults)."""
    from launch import LaunchContext

    context = LaunchContext()
    for name, default, _ in module.ARGUMENTS:
        context.launch_configurations[name] = arguments.get(name, default)
    return module._nodes(context)


def test_launch_description_builds_where_launch_ros_exists(repo_root):
    module = _launch_module(repo_root)
    description = module.generate_launch_description()
    assert len(description.entities) >= len(module.ARGUMENTS) + 1
    assert Path(module.ARGUMENTS[0][1]).is_file(), "params_file default must be the installed profile"

    from emotion_ros.graph import COMPOSED_EXECUTABLE, GRAPH

    nodes = _evaluated_nodes(module)
    assert [n.node_executable for n in nodes] == [e.name for e in GRAPH]
    nodes = _evaluated_nodes(module, start_camera="false", camera_source="0")
    assert "camera_node" not in [n.node_executable for n in nodes]
    (one,) = _evaluated_nodes(module, one_process="true", camera_source="0", rate_hz="15")
    assert one.node_executable == COMPOSED_EXECUTABLE
    cmd = " ".join(sub.text for part in one.cmd[1:] for sub in part)  # TextSubstitutions after the executable
    assert "camera_node:source='0'" in cmd and "av_sync_node:rate_hz=15.0" in cmd, cmd


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
    assert "source:='0'" in cam and "__ns:=/robot1" in cam and "use_sim_time:=true" in cam
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
