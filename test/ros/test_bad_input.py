"""Node-level tests with bad input: av_sync_node and emotion_node run as real processes; this
process publishes camera frames and audio like a driver would, broken in known ways, and reads
the nodes' counters on /diagnostics. No node may die, and good input must still work after."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray
from emotion_msgs.msg import AudioVisualPair, Emotion
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from sensor_msgs.msg import Image

from emotion_core.audio import encode_pcm
from emotion_core.sample_model import write_sample_model
from emotion_core.sync import AUDIO_MISSING
from emotion_ros.common import fill_image, latched_qos, ns_to_msg, sensor_qos, stamp_ns
from emotion_ros.graph import Graph, GraphSpec

from rosutil import RosPeer, latest_diagnostics, wait_for

pytestmark = pytest.mark.graph
RATE = 16000
CHUNK = 1600  # 100 ms


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return write_sample_model(tmp_path_factory.mktemp("model") / "sample.onnx")


class Driver:
    """Publishes frames and audio chunks with consistent capture stamps from the peer's clock."""

    def __init__(self, peer: RosPeer, n_subscribers: int = 1) -> None:
        self.peer = peer
        self.info_pub = peer.node.create_publisher(AudioInfo, "/audio/audio_info", latched_qos())
        self.audio_pub = peer.publisher(AudioDataStamped, "/audio/audio", sensor_qos(), n_subscribers)
        self.image_pub = peer.publisher(Image, "/camera/image_raw", sensor_qos(), n_subscribers)
        self.audio_end = 0  # stamp where the last tone chunk ended

    def info(self, fmt: str = "S16LE", rate: int = RATE) -> None:
        self.info_pub.publish(AudioInfo(channels=1, sample_rate=rate, sample_format=fmt,
                                        bitrate=rate * 16, coding_format="WAVE"))

    def audio(self, data: bytes, start_ns: int) -> None:
        msg = AudioDataStamped()
        msg.header.stamp = ns_to_msg(start_ns)
        msg.audio = AudioData(data=data)
        self.audio_pub.publish(msg)

    def speech_until(self, end_ns: int, fmt: str = "S16LE") -> None:
        """Audio chunks covering the 2.5 s before ``end_ns`` (a tone: voice activity)."""
        step = CHUNK * 10**9 // RATE
        start = max(end_ns - int(2.5e9), self.audio_end)  # continue the stream, never overlap
        t = np.arange(CHUNK) / RATE
        while start < end_ns:
            tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            self.audio(encode_pcm(tone, fmt), start)
            start += step
        self.audio_end = start

    def frame(self, image: np.ndarray | None, stamp_ns_: int, encoding: str = "bgr8",
              raw: dict | None = None) -> None:
        msg = Image()
        msg.header.stamp = ns_to_msg(stamp_ns_)
        msg.header.frame_id = "camera"
        if image is not None:
            fill_image(msg, image, encoding)
        if raw:
            for k, v in raw.items():
                setattr(msg, k, v)
        self.image_pub.publish(msg)


def start(nodes, model_path: str, peer: RosPeer, repo_root: Path, model_loads: bool = True) -> Graph:
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", nodes,
                     # the driver's "speech" is a tone: the energy VAD takes it for voice, Silero rightly not
                     overrides={"emotion_node": {"model_path": model_path, "vad": "energy"},
                                # the test publishes audio in bursts: keep them all
                                "av_sync_node": {"rate_hz": 0.0, "max_wait_s": 0.2, "qos_depth": 100}})
    graph = Graph(spec, echo=False).start()
    if "emotion_node" in nodes:  # ready = model loaded (active: /emotion exists) and the pair topic matched
        ready = wait_for(lambda: (peer.node.count_publishers("/emotion") >= 1 or not model_loads)
                         and peer.node.count_subscribers("/emotion/av_pair") >= 1
                         and peer.node.count_publishers("/emotion/av_pair") >= 1, 60)
        assert ready, graph.logs
        if model_loads:
            # /emotion exists from configure on, but pairs count only once the node is active
            # (after the model's warm-up).
            diags = peer.received.get("/diagnostics") or peer.listen(DiagnosticArray, "/diagnostics")
            assert wait_for(lambda: (latest_diagnostics(diags, "emotion_node") or {}).get("lifecycle_state")
                            == "active", 60), graph.logs
        if model_loads and "/emotion" in peer.received:
            # Discovery is not symmetric in time: wait until emotion_node itself has matched our
            # /emotion subscription, or the first estimates could go out before it has.
            assert wait_for(lambda: counter(diags, "emotion_node", "emotion_subscribers") >= 1, 60), graph.logs
    return graph


def good_cycle(driver: Driver, emotions: list, timeout: float = 20.0, voice: bool = True) -> Emotion:
    """A well-formed frame (+ audio up to it), sent again with a new stamp every 2 s until one is
    answered; returns that /emotion. Best-effort frames sent before av_sync_node has matched the
    driver's publishers are lost (discovery is not symmetric in time: the driver can see the
    subscriber before the subscriber sees the driver). With ``voice``, an answer paired with no
    audio at all (``AUDIO_MISSING``: the audio publisher was not matched yet, for the same reason)
    is sent again too."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    answered: list[Emotion] = []

    def attempt() -> bool:
        before = len(emotions)
        stamp = driver.peer.now_ns()
        if voice:
            driver.speech_until(stamp + int(0.1e9))
        driver.frame(image, stamp)
        if wait_for(lambda: any(stamp_ns(m.header.stamp) == stamp for _, m in emotions[before:]), 2.0):
            answer = next(m for _, m in emotions[before:] if stamp_ns(m.header.stamp) == stamp)
            if not (voice and answer.audio_status == AUDIO_MISSING):
                answered.append(answer)
        return bool(answered)

    assert wait_for(attempt, timeout, interval=0.0), "no /emotion for a good frame"
    return answered[0]


def counter(diags: list, node: str, key: str) -> int:
    d = latest_diagnostics(diags, node)
    return int(d[key]) if d and key in d else -1


def test_bad_images_and_audio_are_counted_and_nodes_survive(repo_root, model):
    peer = RosPeer("bad_input_peer")
    emotions = peer.listen(Emotion, "/emotion")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(("av_sync_node", "emotion_node"), str(model), peer, repo_root)
    try:
        driver = Driver(peer)
        driver.info("S16LE")
        first = good_cycle(driver, emotions, timeout=40.0)
        assert first.voice_present and first.audio_status == 0

        # Odd sizes are valid images and must be processed.
        stamp = peer.now_ns()
        driver.speech_until(stamp)
        driver.frame(np.full((481, 641, 3), 128, np.uint8), stamp)
        assert wait_for(lambda: any(stamp_ns(m.header.stamp) == stamp for _, m in emotions), 10)

        # Unsupported encoding, empty buffer, truncated buffer: each counted as a bad image.
        # One at a time: emotion_node keeps only the latest pair, so a burst would be "dropped".
        bad_frames = [
            {"encoding": "yuv422", "width": 640, "height": 480, "step": 1280, "data": bytes(1280 * 480)},
            {"encoding": "bgr8", "width": 640, "height": 480, "step": 1920, "data": b""},
            {"encoding": "bgr8", "width": 640, "height": 480, "step": 1920, "data": bytes(1000)},
        ]
        for i, raw in enumerate(bad_frames, start=1):
            stamp = peer.now_ns()
            driver.speech_until(stamp)
            driver.frame(None, stamp, raw=raw)
            assert wait_for(lambda: counter(diags, "emotion_node", "bad_images") >= i, 15), \
                (raw["encoding"], latest_diagnostics(diags, "emotion_node"))

        # Audio: a chunk that is not a whole number of S16LE samples.
        driver.audio(b"\x01\x02\x03", peer.now_ns())
        assert wait_for(lambda: counter(diags, "av_sync_node", "audio_bad_chunks") >= 1, 10), (latest_diagnostics(diags, "av_sync_node"), graph.logs["av_sync_node"][-5:])

        # Audio whose stamps advance twice as fast as its samples: wrong rate in AudioInfo.
        t0 = peer.now_ns() + int(5e9)
        for k in range(30):
            driver.audio(encode_pcm(np.zeros(CHUNK, np.float32), "S16LE"), t0 + k * int(0.2e9))
        assert wait_for(lambda: counter(diags, "av_sync_node", "audio_rate_mismatch") >= 1, 10)
        d = latest_diagnostics(diags, "av_sync_node")
        assert d["_level"] == "2" and "AudioInfo says 16000 Hz" in d["_message"]

        # Float audio with NaN samples (after the format switches to F32LE).
        driver.info("F32LE")
        assert wait_for(lambda: any("F32LE" in line for line in graph.logs["av_sync_node"]), 10)
        bad = np.zeros(CHUNK, np.float32)
        bad[10] = np.nan
        driver.audio(bad.tobytes(), peer.now_ns() + int(30e9))
        assert wait_for(lambda: counter(diags, "av_sync_node", "audio_bad_chunks") >= 2, 10)

        # Both nodes are alive and good input still works.
        assert all(graph.alive().values()), graph.logs
        ok = good_cycle(driver, emotions, timeout=20.0, voice=False)
        assert ok.label  # a result was published for the good frame
    finally:
        graph.stop()
        peer.close()


def set_param(peer: RosPeer, node: str, name: str, value: str):
    client = peer.node.create_client(SetParameters, f"/{node}/set_parameters")
    assert client.wait_for_service(timeout_sec=20)
    req = SetParameters.Request(parameters=[ParameterMsg(
        name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value))])
    for _ in range(3):  # a request sent before the server matched the client is never answered
        future = client.call_async(req)
        if wait_for(future.done, 20):
            return future.result().results[0]
        client.remove_pending_request(future)
    raise AssertionError(f"no answer from /{node}/set_parameters")


def get_param(peer: RosPeer, node: str, name: str):
    client = peer.node.create_client(GetParameters, f"/{node}/get_parameters")
    assert client.wait_for_service(timeout_sec=20)
    future = client.call_async(GetParameters.Request(names=[name]))
    assert wait_for(future.done, 30)
    return future.result().values[0]


def mismatched_model(model: Path, out: Path) -> Path:
    """A model whose contract reads fine but names an input the graph does not have: only a
    full load finds out."""
    import onnx

    from emotion_core.contract import CONTRACT_KEY, ModelContract, write_onnx_contract

    proto = onnx.load(str(model))
    meta = {p.key: p.value for p in proto.metadata_props}
    contract = ModelContract.from_json(meta[CONTRACT_KEY])
    data = contract.to_dict()
    data["inputs"] = {**data["inputs"], "face": "no_such_tensor"}
    write_onnx_contract(proto, ModelContract.from_dict(data))
    onnx.save(proto, str(out))
    return out


def test_missing_and_corrupt_model_keep_node_running_until_a_good_model_is_set(repo_root, model, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not an onnx file" * 10)
    peer = RosPeer("model_peer")
    emotions = peer.listen(Emotion, "/emotion")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    graph = start(("av_sync_node", "emotion_node"), str(tmp_path / "missing.onnx"), peer, repo_root,
                  model_loads=False)
    try:
        assert wait_for(lambda: latest_diagnostics(diags, "emotion_node") is not None, 30)
        d = latest_diagnostics(diags, "emotion_node")
        assert d["_level"] == "2" and "not found" in d["_message"], d

        # A corrupt file is refused inside the set request, with the reason.
        result = set_param(peer, "emotion_node", "model_path", str(corrupt))
        assert not result.successful and "cannot load ONNX" in result.reason, result.reason
        assert graph.alive()["emotion_node"]

        driver = Driver(peer)
        driver.info()
        # Without a model the lifecycle node stays unconfigured: pairs are counted, not processed.
        # (Frames until one is counted: best-effort frames sent before av_sync_node has matched
        # the driver are lost.)
        def counted() -> bool:
            driver.frame(np.zeros((480, 640, 3), np.uint8), peer.now_ns())
            return wait_for(lambda: counter(diags, "emotion_node", "inactive") >= 1, 2.0)

        assert wait_for(counted, 45, interval=0.0)
        assert latest_diagnostics(diags, "emotion_node")["lifecycle_state"] == "unconfigured"

        # A loadable model brings it up (configure + activate, off the parameter service thread).
        assert set_param(peer, "emotion_node", "model_path", str(model)).successful
        # Loading and warming every net up takes seconds, more on a busy machine. (Not "level 0":
        # its input has been quiet since the one frame, which is a WARN of its own.)
        assert wait_for(lambda: (latest_diagnostics(diags, "emotion_node") or {}).get("lifecycle_state") == "active", 60)
        d = latest_diagnostics(diags, "emotion_node")
        assert d["model"] == "sample-fusion-untrained" and d["_level"] != "2", d
        # /emotion was created by configure: wait until emotion_node itself sees our subscription.
        assert wait_for(lambda: counter(diags, "emotion_node", "emotion_subscribers") >= 1, 60)
        good_cycle(driver, emotions)
    finally:
        graph.stop()
        peer.close()


def test_a_model_that_cannot_be_loaded_never_replaces_the_running_one(repo_root, model, tmp_path):
    peer = RosPeer("model_swap_peer")
    emotions = peer.listen(Emotion, "/emotion")
    graph = start(("av_sync_node", "emotion_node"), str(model), peer, repo_root)
    try:
        driver = Driver(peer)
        driver.info()
        good_cycle(driver, emotions, timeout=40.0)

        # A path that does not exist, an empty path, an unavailable backend: refused at once.
        for name, value in (("model_path", str(tmp_path / "missing.onnx")), ("model_path", ""),
                            ("backend", "tensorrt")):
            result = set_param(peer, "emotion_node", name, value)
            assert not result.successful and result.reason, (name, value)
            assert get_param(peer, "emotion_node", name).string_value != value
        assert get_param(peer, "emotion_node", "model_path").string_value == str(model)
        good_cycle(driver, emotions)

        # A contract that reads but a graph that disagrees with it: accepted, loaded beside the
        # running model, found broken, and the parameter goes back; the old model keeps working.
        broken = mismatched_model(model, tmp_path / "mismatched.onnx")
        assert set_param(peer, "emotion_node", "model_path", str(broken)).successful
        assert wait_for(lambda: any("keeping" in line and "no_such_tensor" in line
                                    for line in graph.logs["emotion_node"]), 30), graph.logs["emotion_node"]
        assert wait_for(lambda: get_param(peer, "emotion_node", "model_path").string_value == str(model), 10)
        good_cycle(driver, emotions)

        # A good model given at run time is swapped in.
        other = write_sample_model(tmp_path / "other.onnx")
        loads = lambda: sum("model 'sample" in line for line in graph.logs["emotion_node"])  # noqa: E731
        assert loads() == 1
        assert set_param(peer, "emotion_node", "model_path", str(other)).successful
        assert wait_for(lambda: loads() == 2, 30), graph.logs["emotion_node"]
        good_cycle(driver, emotions)
        assert graph.alive()["emotion_node"]
    finally:
        graph.stop()
        peer.close()


def test_out_of_range_parameters_are_rejected_with_a_reason(repo_root, model):
    peer = RosPeer("param_peer")
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", ("av_sync_node",),
                     overrides={"av_sync_node": {"rate_hz": 1000.0}})
    graph = Graph(spec, echo=False).start()
    try:
        # Start-up value out of range: logged, default used, node up.
        assert wait_for(lambda: any("rate_hz" in line and "using default" in line
                                    for line in graph.logs["av_sync_node"]), 30), graph.logs
        client = peer.node.create_client(SetParameters, "/av_sync_node/set_parameters")
        assert client.wait_for_service(timeout_sec=20)
        bad = ParameterMsg(name="rate_hz", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=-5.0))
        future = client.call_async(SetParameters.Request(parameters=[bad]))
        assert wait_for(future.done, 20)
        res = future.result().results[0]
        assert not res.successful and res.reason
        good = ParameterMsg(name="rate_hz", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=5.0))
        future = client.call_async(SetParameters.Request(parameters=[good]))
        assert wait_for(future.done, 20) and future.result().results[0].successful
        assert graph.alive()["av_sync_node"]
    finally:
        graph.stop()
        peer.close()


def test_audio_info_published_volatile_is_heard_and_sets_the_rate(repo_root, model):
    """Bags written by other tools replay AudioInfo without QoS metadata, i.e. volatile: a
    transient-local subscription alone cannot match such a publisher. av_sync_node hears it on
    its volatile subscription too, and a 44.1 kHz AudioInfo sets the pairs' sample rate."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    peer = RosPeer("volatile_info_peer")
    pairs = peer.listen(AudioVisualPair, "/emotion/av_pair", sensor_qos(depth=50))
    graph = start(("av_sync_node",), str(model), peer, repo_root)
    try:
        volatile = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)
        info_pub = peer.publisher(AudioInfo, "/audio/audio_info", volatile)
        info_pub.publish(AudioInfo(channels=1, sample_rate=44100, sample_format="S16LE",
                                   bitrate=44100 * 16, coding_format="WAVE"))
        assert wait_for(lambda: any("44100 Hz" in line for line in graph.logs["av_sync_node"]), 15), \
            graph.logs["av_sync_node"]
        driver = Driver(peer)
        tone = encode_pcm((0.3 * np.sin(2 * np.pi * 220 * np.arange(4410) / 44100)).astype(np.float32), "S16LE")

        def send_pair() -> bool:
            """Audio up to a frame, then the frame; True once a pair came back (best-effort pairs
            sent before av_sync_node matched this listener are lost, so keep sending)."""
            stamp = peer.now_ns()
            driver.audio(tone, stamp - int(0.1e9))
            driver.frame(np.zeros((120, 160, 3), np.uint8), stamp)
            return bool(pairs)

        assert wait_for(send_pair, 30, interval=0.5)
        assert all(m.audio_info.sample_rate == 44100 for _, m in pairs)
        assert not any("incompatible" in line.lower() for line in graph.logs["av_sync_node"])
    finally:
        graph.stop()
        peer.close()


def test_repeated_input_faults_are_logged_once_per_period_with_their_count(repo_root, model):
    """A driver that stamps nothing, or a camera that sends an encoding nobody decodes, does so
    at 30 Hz: av_sync_node and emotion_node say it once per ``log_repeat_s``, with the count of
    the repeats, instead of a line per frame."""
    peer = RosPeer("repeat_log_peer")
    diags = peer.listen(DiagnosticArray, "/diagnostics")
    spec = GraphSpec(repo_root / "config" / "desktop_cpu.yaml", ("av_sync_node", "emotion_node"),
                     overrides={"emotion_node": {"model_path": str(model), "vad": "energy", "log_repeat_s": 1.0},
                                "av_sync_node": {"rate_hz": 0.0, "max_wait_s": 0.0, "qos_depth": 100,
                                                 "log_repeat_s": 1.0}})
    graph = Graph(spec, echo=False).start()
    try:
        assert wait_for(lambda: peer.node.count_subscribers("/emotion/av_pair") >= 1
                        and counter(diags, "emotion_node", "suppressed_log_lines") >= 0
                        and counter(diags, "av_sync_node", "suppressed_log_lines") >= 0, 60), graph.logs
        driver = Driver(peer)
        assert wait_for(lambda: peer.node.count_subscribers("/camera/image_raw") >= 1, 30)
        yuv = {"encoding": "yuv422", "width": 64, "height": 48, "step": 128, "data": bytes(128 * 48)}
        began = time.monotonic()
        for _ in range(45):  # 1.5 s at 30 Hz of each fault
            driver.frame(np.zeros((48, 64, 3), np.uint8), 0)
            driver.frame(None, peer.now_ns(), raw=yuv)
            wait_for(lambda: False, 1 / 30)
        assert wait_for(lambda: counter(diags, "av_sync_node", "frames_unstamped") >= 30
                        and counter(diags, "emotion_node", "bad_images") >= 20, 20), \
            (latest_diagnostics(diags, "av_sync_node"), latest_diagnostics(diags, "emotion_node"))
        # the repeats of the last period are reported when it ends, by the timer
        assert wait_for(lambda: counter(diags, "av_sync_node", "suppressed_log_lines") >= 20
                        and counter(diags, "emotion_node", "suppressed_log_lines") >= 10, 10)
        assert wait_for(lambda: any("more in the last" in line for line in graph.logs["av_sync_node"])
                        and any("more in the last" in line for line in graph.logs["emotion_node"]), 5), graph.logs
        elapsed = time.monotonic() - began  # periods in which lines could go out, with the last
    finally:
        graph.stop()
        peer.close()
    for node, text, count in (("av_sync_node", "stamped 0", "frames_unstamped"),
                              ("emotion_node", "bad image", "bad_images")):
        lines = [line for line in graph.logs[node] if text in line]
        n = counter(diags, node, count)
        assert 1 <= len(lines) <= min(elapsed / 1.0 + 2, n / 5), (elapsed, n, lines)  # a line per second
        repeats = [int(line.split("(")[-1].split(" more")[0]) for line in lines if "more in the last" in line]
        assert repeats and sum(repeats) + len(lines) >= 0.5 * n, (lines, repeats)
