"""The example behaviour node as a real process: it reacts to an emotion that lasts, not to one
that flickers, and lets go only after the emotion has been gone for a while."""
from __future__ import annotations

import sys

import pytest
from emotion_msgs.msg import Emotion
from std_msgs.msg import String

from emotion_ros.common import ns_to_msg
from emotion_ros.graph import Graph, GraphSpec

from bagutil import ROOT
from rosutil import RosPeer, wait_for

pytestmark = pytest.mark.graph
MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000


def emotion(t_ms: int, label: str, confidence: float) -> Emotion:
    msg = Emotion(label=label, confidence=confidence)
    msg.header.stamp = ns_to_msg(T0 + t_ms * MS)
    return msg


def test_behavior_example_reacts_to_sustained_emotions_only():
    node = ("emotion_behavior_example", [sys.executable, "-m", "emotion_ros.behavior_example", "--ros-args",
                                         "-p", "hold_s:=0.5", "-p", "release_s:=0.5"])
    spec = GraphSpec(ROOT / "config" / "desktop_cpu.yaml", ())
    peer = RosPeer("behavior_peer")
    reactions = peer.listen(String, "/behavior/reaction")
    graph = Graph(spec, extra=[node], echo=False).start()
    try:
        pub = peer.publisher(Emotion, "/emotion", 100, subscribers=1, timeout=30)
        assert wait_for(lambda: peer.node.count_publishers("/behavior/reaction") >= 1, 30)
        t = 0
        for k in range(10):  # flicker: never 0.5 s of the same label
            pub.publish(emotion(t, "happy" if k % 2 else "sad", 0.9))
            t += 100
        for _ in range(8):  # neutral is not watched
            pub.publish(emotion(t, "neutral", 0.95))
            t += 100
        for _ in range(8):  # sustained happy: starts after 0.5 s
            pub.publish(emotion(t, "happy", 0.8))
            t += 100
        for _ in range(3):  # a short dip: still happy
            pub.publish(emotion(t, "neutral", 0.9))
            t += 100
        for _ in range(8):  # gone for good: ends after 0.5 s
            pub.publish(emotion(t, "neutral", 0.9))
            t += 100
        assert wait_for(lambda: len(reactions) >= 2, 15), [m.data for _, m in reactions]
        assert [m.data for _, m in reactions] == ["start happy", "end happy"]
        assert graph.alive()["emotion_behavior_example"]
        assert any("looks happy" in line for line in graph.logs["emotion_behavior_example"])
    finally:
        graph.stop()
        peer.close()
