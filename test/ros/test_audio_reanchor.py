"""av_sync_node as a real process beside two CPU burners: audio whose sample clock re-anchored
(one step of its stamps, as audio_node's clock makes when its process was starved) is a counted
clock step with no ERROR; audio at 44.1 kHz declared 16 kHz is still an ERROR with its real rate."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray

from emotion_core.audio import encode_pcm
from emotion_ros.common import latched_qos, ns_to_msg, sensor_qos
from emotion_ros.graph import Graph, GraphSpec

from rosutil import RosPeer, latest_diagnostics, wait_for

pytestmark = pytest.mark.graph
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from repeat_graph import CpuLoad  # noqa: E402

RATE = 16000
CHUNK_NS = 50_000_000


def _levels(diags: list, node: str, since: int) -> list[int]:
    """Levels ``node`` reported in ``diags[since:]``."""
    return [s.level[0] if isinstance(s.level, bytes) else int(s.level)
            for _, arr in diags[since:] for s in arr.status if s.hardware_id == node]


@pytest.fixture
def peer():
    """Closed even when the test fails: a latched AudioInfo left behind would reach later tests."""
    p = RosPeer("reanchor_peer")
    yield p
    p.close()


def test_reanchor_is_a_clock_step_and_a_wrong_rate_still_an_error(repo_root, peer):
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", ["av_sync_node"])
    info_pub = peer.node.create_publisher(AudioInfo, "/audio/audio_info", latched_qos())
    audio_pub = peer.publisher(AudioDataStamped, "/audio/audio", sensor_qos(), 0)

    def send(n_samples: int, start_ns: int) -> None:
        msg = AudioDataStamped()
        msg.header.stamp = ns_to_msg(start_ns)
        msg.audio = AudioData(data=encode_pcm(np.zeros(n_samples, np.float32), "S16LE"))
        audio_pub.publish(msg)

    with CpuLoad(2), Graph(spec, echo=False) as graph:
        assert wait_for(lambda: audio_pub.get_subscription_count() >= 1, 60), graph.logs
        info_pub.publish(AudioInfo(channels=1, sample_rate=RATE, sample_format="S16LE",
                                   bitrate=RATE * 16, coding_format="WAVE"))
        assert wait_for(lambda: any("16000 Hz" in line for line in graph.logs["av_sync_node"]), 30)
        started = len(diags)
        # 8 s of clean 16 kHz audio, paced like a microphone; after 3 s the sender's sample
        # clock re-anchors by +320 ms (the starved audio_node: 1.10x over 64 chunks).
        t = peer.now_ns()
        for k in range(160):
            if k == 60:
                t += 320_000_000
            send(RATE * CHUNK_NS // 10**9, t)
            t += CHUNK_NS
            time.sleep(0.05)
        assert wait_for(lambda: int((latest_diagnostics(diags, "av_sync_node") or {})
                                    .get("audio_clock_steps", 0)) >= 1, 10), latest_diagnostics(diags, "av_sync_node")
        d = latest_diagnostics(diags, "av_sync_node")
        assert int(d["audio_rate_mismatch"]) == 0, d
        assert 300 <= float(d["last_audio_clock_step_ms"]) <= 340, d
        assert 2 not in _levels(diags, "av_sync_node", started), d  # never ERROR
        assert any("clock step, not a rate change" in line for line in graph.logs["av_sync_node"])
        assert not any("audio stamps advance" in line for line in graph.logs["av_sync_node"])

        # 44.1 kHz audio declared 16 kHz: each 50 ms chunk holds 2205 samples.
        for _ in range(80):
            send(2205, t)
            t += CHUNK_NS
            time.sleep(0.02)
        assert wait_for(lambda: int((latest_diagnostics(diags, "av_sync_node") or {})
                                    .get("audio_rate_mismatch", 0)) >= 1, 10)
        assert wait_for(lambda: (latest_diagnostics(diags, "av_sync_node") or {}).get("_level") == "2", 10)
        # The estimate settles once the 63-chunk window holds only the 44.1 kHz chunks.
        assert wait_for(lambda: "~44100 Hz" in (latest_diagnostics(diags, "av_sync_node") or {})
                        .get("_message", ""), 10), latest_diagnostics(diags, "av_sync_node")
        d = latest_diagnostics(diags, "av_sync_node")
        assert d["_level"] == "2" and "AudioInfo says 16000 Hz" in d["_message"], d
