"""The graph runner as users start it: clean start/stop under CPU load (no node may exit non-zero
or print a traceback when stopped), and a node killed mid-stream is restarted while the others
keep running, so /emotion comes back."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from emotion_msgs.msg import Emotion

from emotion_ros.graph import COMPOSED_EXECUTABLE, ros_environment

from rosutil import RosPeer, wait_for

pytestmark = pytest.mark.graph
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from repeat_graph import CpuLoad, run_once, synthetic_spec  # noqa: E402


def test_graph_starts_and_stops_cleanly_under_cpu_load():
    spec = synthetic_spec()
    with CpuLoad(2):
        results = [run_once(spec, duration_s=6.0) for _ in range(3)]
    for result in results:
        assert set(result.codes) == set(spec.nodes)
        assert not result.deaths, (result.codes, result.tracebacks)


def test_one_process_graph_starts_and_stops_cleanly_under_cpu_load():
    """Ctrl-C reaches the four nodes of one process at once: their close() and destroy run in
    turn and the process exits 0 without a traceback."""
    spec = synthetic_spec(one_process=True)
    with CpuLoad(2):
        results = [run_once(spec, duration_s=6.0) for _ in range(3)]
    for result in results:
        assert set(result.codes) == {COMPOSED_EXECUTABLE}
        assert not result.deaths, (result.codes, result.tracebacks)


def node_pids(runner: psutil.Process) -> dict[str, int]:
    pids = {}
    for child in runner.children():
        try:
            cmd = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        for name in ("camera_node", "audio_node", "av_sync_node", "emotion_node"):
            if f"emotion_ros.{name}" in cmd:
                pids[name] = child.pid
    return pids


def test_runner_restarts_a_killed_node_and_emotion_comes_back():
    peer = RosPeer("supervision_peer")
    emotions = peer.listen(Emotion, "/emotion")
    runner = subprocess.Popen(
        [sys.executable, "-m", "emotion_ros.graph", "--no-monitor", "--quiet-nodes",
         "--camera", "synthetic", "--audio", "synthetic"],
        cwd=ROOT, env=ros_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(runner.stdout), daemon=True).start()  # type: ignore[arg-type]
    try:
        assert wait_for(lambda: len(emotions) >= 5, 90), "".join(output)
        proc = psutil.Process(runner.pid)
        assert wait_for(lambda: len(node_pids(proc)) == 4, 10)
        before = node_pids(proc)

        os.kill(before["emotion_node"], signal.SIGKILL)
        killed_at = time.monotonic()
        n_at_kill = len(emotions)
        assert wait_for(lambda: any("emotion_node exited with -9; restarting" in line for line in output), 10), \
            "".join(output)
        # /emotion comes back from the new process.
        assert wait_for(lambda: len(emotions) >= n_at_kill + 5, 90), "".join(output)
        after = node_pids(proc)
        assert after["emotion_node"] != before["emotion_node"]
        assert {n: p for n, p in after.items() if n != "emotion_node"} == \
               {n: p for n, p in before.items() if n != "emotion_node"}, "the other nodes must keep running"
        assert runner.poll() is None
        assert time.monotonic() - killed_at < 120
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            code = runner.wait(60)
        except subprocess.TimeoutExpired:
            runner.kill()
            code = runner.wait()
        peer.close()
    assert code == 0, "".join(output)
    assert any("restarts: {'emotion_node': 1}" in line for line in output), "".join(output)
