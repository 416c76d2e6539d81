"""emotion_node as a lifecycle node, driven over DDS through its lifecycle services like a
lifecycle manager would: the model is loaded in configure and freed in cleanup, estimates go
out only while active, and /diagnostics reports the state."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from emotion_msgs.msg import Emotion
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState

from emotion_core.sample_model import write_sample_model
from emotion_ros.common import stamp_ns
from emotion_ros.graph import Graph, GraphSpec

from rosutil import RosPeer, latest_diagnostics, wait_for
from test_bad_input import Driver

pytestmark = pytest.mark.graph


def call(peer: RosPeer, client, request, attempts: int = 2):
    """A service call that survives a lost request: a client can see the service before the
    server has matched the client's request writer, and a request sent then is never answered."""
    assert client.wait_for_service(timeout_sec=20)
    for _ in range(attempts):
        future = client.call_async(request)
        if wait_for(future.done, 45):
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f"no answer from {client.srv_name} in {attempts} attempts")


def test_transitions_load_the_model_gate_the_output_and_free_it(repo_root, tmp_path):
    model = write_sample_model(tmp_path / "sample.onnx")
    peer = RosPeer("lifecycle_peer")
    emotions = peer.listen(Emotion, "/emotion")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", ("av_sync_node", "emotion_node"),
                     overrides={"emotion_node": {"model_path": str(model), "autostart": False, "vad": "energy"},
                                "av_sync_node": {"rate_hz": 0.0, "max_wait_s": 0.1}})
    graph = Graph(spec, echo=False).start()
    get_state = peer.node.create_client(GetState, "/emotion_node/get_state")
    change = peer.node.create_client(ChangeState, "/emotion_node/change_state")

    def state() -> int:
        return call(peer, get_state, GetState.Request()).current_state.id

    def transition(tid: int) -> bool:
        return call(peer, change, ChangeState.Request(transition=Transition(id=tid))).success

    def diag(key: str) -> str:
        return (latest_diagnostics(diags, "emotion_node") or {}).get(key, "")

    def frame_answered(driver: Driver, timeout: float) -> bool:
        stamp = peer.now_ns()
        driver.frame(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8), stamp)
        return wait_for(lambda: any(stamp_ns(m.header.stamp) == stamp for _, m in emotions), timeout)

    try:
        assert state() == State.PRIMARY_STATE_UNCONFIGURED  # autostart off: it waits
        assert wait_for(lambda: diag("lifecycle_state") == "unconfigured", 20)
        assert diag("model") == "none" and diag("_level") == "1"
        driver = Driver(peer)

        assert transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        assert wait_for(lambda: diag("lifecycle_state") == "inactive" and diag("model") == "sample-fusion-untrained", 20)
        assert not frame_answered(driver, 3.0)  # configured but inactive: nothing goes out
        assert wait_for(lambda: int(diag("inactive") or 0) >= 1, 10)

        assert transition(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE
        # /emotion was created by configure: wait until emotion_node itself sees our subscription.
        assert wait_for(lambda: int(diag("emotion_subscribers") or 0) >= 1, 20)
        assert frame_answered(driver, 30.0)
        assert wait_for(lambda: diag("lifecycle_state") == "active" and diag("_level") in ("0", "1"), 20)

        assert transition(Transition.TRANSITION_DEACTIVATE)
        assert not frame_answered(driver, 3.0)

        assert transition(Transition.TRANSITION_CLEANUP)  # the model is freed
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        assert wait_for(lambda: diag("lifecycle_state") == "unconfigured" and diag("model") == "none", 20)

        assert transition(Transition.TRANSITION_CONFIGURE) and transition(Transition.TRANSITION_ACTIVATE)
        assert wait_for(lambda: diag("lifecycle_state") == "active" and int(diag("emotion_subscribers") or 0) >= 1, 20)
        assert frame_answered(driver, 30.0)  # back up with a fresh load

        assert transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert state() == State.PRIMARY_STATE_FINALIZED
        assert graph.alive()["emotion_node"]
    finally:
        graph.stop()
        peer.close()
