"""The exported model runs on the robot with no other configuration: av_sync_node and
emotion_node start as real processes with ``model_path`` set to the deployed ONNX, a frame and
audio are fed, and /emotion carries the model's own class names; switching ``model_path`` to the
int8 model at run time works the same way."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="node tests need the ROS 2 workspace (scripts/setup.sh)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ros"))  # rosutil, the node drivers

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from emotion_msgs.msg import Emotion  # noqa: E402

from emotion_core.contract import read_contract  # noqa: E402
from rosutil import RosPeer, latest_diagnostics, wait_for  # noqa: E402
from test_bad_input import Driver, good_cycle, set_param, start  # noqa: E402

pytestmark = pytest.mark.graph


def fresh_level(diags: list, node: str, after: int, timeout: float = 15.0) -> str:
    """Diagnostics level of ``node`` from a message received after index ``after``."""
    assert wait_for(lambda: latest_diagnostics(diags[after:], node) is not None, timeout)
    return latest_diagnostics(diags[after:], node)["_level"]


def test_emotion_node_runs_the_exported_onnx_and_its_int8_version(deployed, trained_run, repo_root):
    onnx, int8 = trained_run.with_name("model.onnx"), trained_run.with_name("model.int8.onnx")
    contract = read_contract(onnx)
    peer = RosPeer("deploy_peer")
    emotions = peer.listen(Emotion, "/emotion")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(("av_sync_node", "emotion_node"), str(onnx), peer, repo_root)
    try:
        driver = Driver(peer)
        driver.info("S16LE")
        msg = good_cycle(driver, emotions, timeout=40.0)
        assert list(msg.class_names) == list(contract.labels)
        assert msg.model_name == contract.name
        assert len(msg.probabilities) == len(contract.labels)
        assert abs(sum(msg.probabilities) - 1.0) < 1e-3
        assert msg.voice_present and msg.voice_used  # the fusion model's voice branch ran

        mark = len(diags)
        assert set_param(peer, "emotion_node", "model_path", str(int8)).successful
        assert fresh_level(diags, "emotion_node", mark) == "0", latest_diagnostics(diags, "emotion_node")
        assert not any("cannot use model" in line for line in graph.logs["emotion_node"]), graph.logs
        msg = good_cycle(driver, emotions, timeout=20.0)
        assert list(msg.class_names) == list(contract.labels)
        assert graph.alive()["emotion_node"]
    finally:
        graph.stop()
        peer.close()
