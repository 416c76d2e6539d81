"""emotion_evaluate: replay labelled bags through the running graph and report how it did.

The graph (av_sync_node + emotion_node, separate processes, ``use_sim_time``) is started with
the deployment's parameter YAML; this process plays the bags' camera and audio topics with their
recorded stamps and ``/clock``, collects ``/emotion`` and ``/diagnostics``, and scores the
estimates against labels (a CSV of time ranges, or the segments the converter stored in each
bag). Output in ``--out``: ``report.json`` (everything), ``report.txt`` (the summary),
``confusion_clips.png``, ``confusion_frames.png``, ``latency.png``, ``estimates.jsonl``,
``node_logs.txt``.

With ``--offline-check`` every converted clip is also run through ``emotion_core`` in-process
(same model, same parameters) and the two evaluations must agree within the tolerance: the
proof that the preprocessing contract holds from the dataset files to ``/emotion``.

    python -m emotion_recorded.evaluate runs/ravdess_bags --out runs/eval --offline-check
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from emotion_core.evaluation import (Estimate, compare_frames, compare_segments, format_report,
                                     latency_of, modality_shares, score_estimates)
from emotion_core.labels_timeline import METADATA_KEY, LabelError, LabelTimeline, read_labels_csv
from emotion_core.metrics import plot_confusion, plot_latency
from emotion_ros.graph import Graph, GraphSpec, config_file, repo_root

from .bag_messages import AUDIO_TOPIC, IMAGE_TOPIC, INFO_TOPIC
from .bag_play import BagPlayer, PlayConfig, parse_remap
from .bagio import BagError, BagInfo, bag_info, find_bags

NS = 1_000_000_000
GRAPH_NODES = ("av_sync_node", "emotion_node")
SETTLE_ROUNDS = 10  # after the replay: up to ~10 s more for the last answers
#: Counters that mean input was skipped, and the node that counts them.
SKIP_COUNTERS = {
    "av_sync_node": ("frames_out_of_order", "audio_out_of_order", "audio_bad_chunks",
                     "audio_rate_mismatch", "clock_jumps", "audio_buffer_resets"),
    "emotion_node": ("bad_images", "bad_audio", "errors", "no_model"),
}


class EvaluationError(RuntimeError):
    """The evaluation cannot run or finish (no labels, model refused, graph silent...)."""


@dataclass
class EvalConfig:
    bags: Sequence[Path]
    out_dir: Path
    labels_csv: Optional[Path] = None
    model: Optional[Path] = None
    params_file: Path = field(default_factory=lambda: config_file("desktop_cpu.yaml"))
    paced: bool = True
    rate: float = 1.0
    rate_hz: Optional[float] = None
    remap: dict[str, str] = field(default_factory=dict)
    loops: int = 1
    offline_check: bool = False
    tolerance_prob: float = 0.02
    tolerance_agreement: float = 1.0
    node_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    startup_timeout_s: float = 60.0
    #: Subscribers of emotion_node's REP-155 expression topic that must be connected (as
    #: emotion_node counts them) before the replay starts, e.g. a test listening beside it.
    hri_listeners: int = 0


# -- inputs ---------------------------------------------------------------------------------
def load_timeline(infos: Sequence[BagInfo], labels_csv: Optional[Path]) -> LabelTimeline:
    """Labels from the CSV, else from every bag's metadata."""
    if labels_csv is not None:
        return read_labels_csv(labels_csv, {i.path.name: i.start_ns for i in infos})
    timeline = LabelTimeline()
    for info in infos:
        if METADATA_KEY in info.custom:
            timeline = timeline.merged(LabelTimeline.from_json(info.custom[METADATA_KEY]))
    if not len(timeline):
        raise LabelError("no labels: pass --labels (CSV of time ranges) or convert the clips with "
                         "emotion_recorded.dataset_bags (labels in the bag metadata)")
    return timeline


def node_params(params_file: Path, node: str, overrides: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """A node's parameters from a YAML keyed by node name (``/**/node`` or ``node``)."""
    doc = yaml.safe_load(Path(params_file).read_text()) or {}
    params: dict[str, Any] = {}
    for key in (node, f"/**/{node}", f"/{node}"):
        params.update((doc.get(key) or {}).get("ros__parameters", {}))
    params.update(overrides or {})
    return params


def model_path(cfg: EvalConfig) -> Path:
    """The model to evaluate: ``--model``, else the params file's (relative to the repository,
    as the YAML profiles are written, when it is not found relative to the working folder)."""
    path = Path(cfg.model or node_params(cfg.params_file, "emotion_node").get("model_path", ""))
    if not str(path) or str(path) == ".":
        raise EvaluationError(f"no model: pass --model or set emotion_node.model_path in {cfg.params_file}")
    if not path.is_absolute() and not path.exists() and (repo_root() / path).exists():
        path = repo_root() / path
    return path.resolve()


# -- collecting -----------------------------------------------------------------------------
class Collector:
    """/emotion estimates (with latency from the player's publish times) and /diagnostics."""

    def __init__(self, node, player: BagPlayer) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from emotion_msgs.msg import Emotion

        self.player = player
        self.estimates: list[Estimate] = []
        self.class_names: tuple[str, ...] = ()
        self.model_name = ""
        self.diags: dict[str, tuple[int, int, str, dict[str, str]]] = {}  # node -> stamp, level, msg, values
        self._lock = threading.Lock()
        node.create_subscription(Emotion, "/emotion", self._on_emotion, 1000)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 100)

    def _on_emotion(self, msg) -> None:
        now = time.monotonic()
        stamp = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        sent = self.player.published_at.get(stamp)
        with self._lock:
            self.class_names = tuple(msg.class_names) or self.class_names
            self.model_name = msg.model_name or self.model_name
            self.estimates.append(Estimate(stamp, msg.label, tuple(msg.probabilities), msg.face_present,
                                           msg.voice_present, msg.audio_status,
                                           (now - sent) * 1e3 if sent is not None else math.nan))

    def _on_diag(self, msg) -> None:
        stamp = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        for status in msg.status:
            level = status.level[0] if isinstance(status.level, bytes) else int(status.level)
            with self._lock:
                self.diags[status.hardware_id] = (stamp, level, status.message,
                                                  {kv.key: kv.value for kv in status.values})

    def diag_after(self, node: str, stamp: int) -> bool:
        with self._lock:
            return node in self.diags and self.diags[node][0] >= stamp

    def settled(self) -> bool:
        """Every pair av_sync_node sent has reached emotion_node and been handled, and every
        estimate it published is here (the last pair of a bag can still be in the worker when
        the other counters are final)."""
        with self._lock:
            have = len(self.estimates)
        return ("emotion_node" in self.diags and "av_sync_node" in self.diags
                and self.counter("av_sync_node", "pairs_out") == self.counter("emotion_node", "pairs_in")
                and self.counter("emotion_node", "pairs_waiting") == 0
                and have >= self.counter("emotion_node", "processed"))

    def counter(self, node: str, key: str) -> int:
        with self._lock:
            value = self.diags.get(node, (0, 0, "", {}))[3].get(key, "0")
        try:
            return int(float(value))
        except ValueError:
            return 0


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- the replay -----------------------------------------------------------------------------
def graph_spec(cfg: EvalConfig) -> GraphSpec:
    overrides: dict[str, dict[str, Any]] = {n: dict(cfg.node_overrides.get(n, {})) for n in GRAPH_NODES}
    overrides["emotion_node"]["model_path"] = str(model_path(cfg))
    if cfg.rate_hz is not None:
        overrides["av_sync_node"]["rate_hz"] = float(cfg.rate_hz)
    if cfg.paced:  # paced bursts: keep every input message on the way in
        overrides["av_sync_node"].setdefault("qos_reliability", "reliable")
        overrides["av_sync_node"].setdefault("qos_depth", 100)
    return GraphSpec(Path(cfg.params_file).resolve(), GRAPH_NODES, use_sim_time=True, overrides=overrides)


def _start_clock(player: BagPlayer, collector: Collector, t0: int, timeout: float,
                 hri_listeners: int = 0) -> None:
    """Run /clock up to the bag's start until emotion_node reports, with this process's /emotion
    subscription (and ``hri_listeners`` expression subscribers) matched on its side, and
    av_sync_node has matched emotion_node's pair subscription on its own: discovery is not
    symmetric in time, and under load a writer can learn of a reader seconds after the reader
    saw it (a pair published before that is lost). Refuse a broken model."""
    deadline = time.monotonic() + timeout
    # The nodes' diagnostics run on /clock: it advances in real time from ``timeout`` before the
    # bag's start, so that a fresh report comes every second for as long as the wait may last.
    start = max(t0 - int(timeout * NS), 1)  # a bag stamped from 0 s (simulation) starts the clock at 1 ns

    def ready() -> bool:
        return (collector.diag_after("emotion_node", start)
                and collector.counter("emotion_node", "emotion_subscribers") >= 1
                and collector.counter("emotion_node", "hri_subscribers") >= hri_listeners
                and collector.diag_after("av_sync_node", start)
                and collector.counter("av_sync_node", "pair_subscribers") >= 1)

    began, t = time.monotonic(), start
    while time.monotonic() < deadline and not ready():
        player.publish_clock(t, force=True)
        time.sleep(0.02)
        t = min(start + int((time.monotonic() - began) * NS), t0)
    if "emotion_node" not in collector.diags:
        raise EvaluationError("emotion_node published no /diagnostics: is it running with use_sim_time?")
    _, level, message, values = collector.diags["emotion_node"]
    # Only a node without a model cannot be evaluated; "nothing received yet" is an ERROR too
    # (its input is quiet until the replay starts), and not a reason to stop.
    if level >= 2 and (values.get("model", "none") == "none" or values.get("lifecycle_state") != "active"):
        raise EvaluationError(f"emotion_node reports: {message}")
    if not ready():
        raise EvaluationError(f"emotion_node did not see its subscribers within {timeout:.0f} s "
                              f"(/emotion: {collector.counter('emotion_node', 'emotion_subscribers')}, "
                              f"expressions: {collector.counter('emotion_node', 'hri_subscribers')} "
                              f"of {hri_listeners}; pairs at av_sync_node: "
                              f"{collector.counter('av_sync_node', 'pair_subscribers')})")


def replay(cfg: EvalConfig, infos: Sequence[BagInfo], log=print) -> tuple[Collector, BagPlayer, dict]:
    """Start the graph, play the bags through it, return what was collected."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    spec = graph_spec(cfg)
    started = time.monotonic()
    graph = Graph(spec, echo=False).start()
    context = rclpy.Context()
    rclpy.init(args=["emotion_evaluate"], context=context)  # our --remap is not a ROS remap
    node = Node("emotion_evaluator", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    inputs = [IMAGE_TOPIC, AUDIO_TOPIC, INFO_TOPIC]
    try:
        from emotion_core.pairing import PairingSettings
        from emotion_core.settings import from_mapping

        rate_hz = from_mapping(PairingSettings, node_params(
            cfg.params_file, "av_sync_node", spec.overrides.get("av_sync_node"))).rate_hz
        play_cfg = PlayConfig([i.path for i in infos], rate=cfg.rate, paced=cfg.paced, loops=cfg.loops,
                              remap=cfg.remap, topics=[t for i in infos for t in i.topics
                                                       if cfg.remap.get(t, t) in inputs],
                              pace_rate_hz=rate_hz, track_answers=True)
        player = BagPlayer(node, play_cfg)
        collector = Collector(node, player)
        ready = _wait(lambda: not player.wait_for_subscribers(
            [t for t in (IMAGE_TOPIC, AUDIO_TOPIC) if t in player.published_topics], 0.0)
            and node.count_subscribers("/emotion/av_pair") >= 1
            and node.count_publishers("/emotion") >= 1
            and node.count_subscribers("/clock") >= len(GRAPH_NODES), cfg.startup_timeout_s)
        if not ready or not all(graph.alive().values()):
            tails = "\n".join(f"[{n}] {line}" for n, lines in graph.logs.items() for line in lines[-10:])
            raise EvaluationError(f"the graph did not come up in {cfg.startup_timeout_s} s:\n{tails}")
        _start_clock(player, collector, min(i.start_ns for i in infos), 60.0, cfg.hri_listeners)
        pacing = "paced by /emotion" if cfg.paced else f"at {cfg.rate}x real time"
        log(f"graph up in {time.monotonic() - started:.1f} s; replaying {len(infos)} bag(s) {pacing}")
        stats = player.play()
        player.wait_idle(play_cfg.stall_timeout_s)
        # Final counters: diagnostics stamped after the clock moved on from the last message,
        # so they were taken after every answer arrived.
        after = (player.clock_ns or 0) + NS // 20
        player.advance_clock(1.5)
        _wait(lambda: all(collector.diag_after(n, after) for n in GRAPH_NODES), 10.0)
        # Then until the last pairs are answered; the clock runs on so diagnostics keep coming.
        for _ in range(SETTLE_ROUNDS):
            if _wait(collector.settled, 0.5):
                break
            player.advance_clock(1.0)
        alive = graph.alive()
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
        graph.stop()
    return collector, player, {"alive": alive, "stats": stats, "logs": dict(graph.logs)}


# -- the report -----------------------------------------------------------------------------
def missing_inputs(info: BagInfo, remap: dict[str, str]) -> list[str]:
    """The graph's input topics a bag does not have (after remapping)."""
    present = {remap.get(t, t) for t in info.topics}
    return [t for t in (IMAGE_TOPIC, AUDIO_TOPIC, INFO_TOPIC) if t not in present]


def build_report(cfg: EvalConfig, infos: Sequence[BagInfo], timeline: LabelTimeline,
                 collector: Collector, player: BagPlayer, run: dict) -> dict[str, Any]:
    stats = run["stats"]
    c = collector.counter
    class_names = collector.class_names
    if not class_names:
        raise EvaluationError("the graph published no /emotion with class names: nothing to score")
    estimates = sorted(collector.estimates, key=lambda e: e.stamp_ns)
    frames_in = c("av_sync_node", "frames_in")
    accepted = frames_in - c("av_sync_node", "frames_rate_limited") - c("av_sync_node", "frames_out_of_order")
    segments = len(timeline)
    return {
        "model": str(model_path(cfg)),
        "model_name": collector.model_name,
        "params_file": str(cfg.params_file),
        "bags": [{"path": str(i.path), "start_stamp": i.start_ns / NS,
                  "duration_s": (i.end_ns - i.start_ns) / NS, "storage": i.storage,
                  "messages": i.counts, "missing_topics": missing_inputs(i, cfg.remap)} for i in infos],
        "mode": "paced" if cfg.paced else f"real time x{cfg.rate}",
        "wall_s": stats.wall_s,
        "replay_speed_x": stats.speed_x,
        "clips_per_s": segments / stats.wall_s if stats.wall_s > 0 else 0.0,
        "scores": score_estimates(estimates, timeline, class_names),
        "latency_ms": latency_of(estimates),
        "latency_definition": "wall time from the player publishing a frame to /emotion for its stamp "
                              "arriving (stamp -> /emotion on a live robot)",
        "modalities": modality_shares(estimates),
        "frames": {"published": stats.frames, "received_by_graph": frames_in,
                   "rate_limited": c("av_sync_node", "frames_rate_limited"), "accepted": accepted,
                   "pairs_out": c("av_sync_node", "pairs_out"), "estimates": len(estimates)},
        "dropped": {"in_transport": max(0, stats.frames - frames_in),
                    "pairs_in_transport": max(0, c("av_sync_node", "pairs_out") - c("emotion_node", "pairs_in")),
                    "overwritten_in_emotion_node": c("emotion_node", "dropped"),
                    "player_stalls": stats.stalls},
        "skipped": {k: c(n, k) for n, keys in SKIP_COUNTERS.items() for k in keys},
        "bag_problems": {"bags_missing_topics": sum(bool(missing_inputs(i, cfg.remap)) for i in infos),
                         "out_of_order_stamps": dict(stats.out_of_order),
                         "stamp_jumps_back": dict(stats.jumps_back), "passes": stats.passes},
        "diagnostics": {n: {"level": d[1], "message": d[2], **d[3]} for n, d in collector.diags.items()},
        "nodes_alive": run["alive"],
    }


def offline_check(cfg: EvalConfig, infos: Sequence[BagInfo], timeline: LabelTimeline,
                  replayed: Sequence[Estimate], class_names: Sequence[str]) -> dict[str, Any]:
    """Run every converted clip through emotion_core in-process and compare with the replay."""
    from emotion_core.offline import ClipTiming, offline_estimates
    from emotion_core.pairing import PairingSettings
    from emotion_core.recognizer_settings import build_from_params
    from emotion_core.settings import from_mapping

    from .dataset_bags import CLIP_KEY, load_clip

    sync = node_params(cfg.params_file, "av_sync_node", cfg.node_overrides.get("av_sync_node"))
    if cfg.rate_hz is not None:
        sync["rate_hz"] = cfg.rate_hz
    pairing = from_mapping(PairingSettings, sync)
    emo = node_params(cfg.params_file, "emotion_node", cfg.node_overrides.get("emotion_node"))
    # The recognizer emotion_node builds from the same parameters (tracking, VAD, speaker included).
    recognizer, _ = build_from_params({**emo, "model_path": str(model_path(cfg)), "backend": "onnxruntime"})
    offline: list[Estimate] = []
    clips = [json.loads(i.custom[CLIP_KEY]) for i in infos if CLIP_KEY in i.custom]
    if not clips:
        raise EvaluationError("--offline-check needs bags written by emotion_recorded.dataset_bags")
    t0 = time.monotonic()
    for clip in clips:
        media = load_clip(clip["video"], clip["audio"], clip["start_s"], clip["end_s"],
                          clip["sample_rate"], clip["max_width"])
        timing = ClipTiming(clip["base_ns"], clip["fps"], clip["sample_rate"], clip["chunk_samples"])
        offline += offline_estimates(recognizer, timing, media.frames, media.audio, pairing)
    wall = time.monotonic() - t0
    ours = score_estimates(offline, timeline, class_names)
    theirs = score_estimates(replayed, timeline, class_names)
    seg = compare_segments(theirs["segments"], ours["segments"])
    within = (seg["clips_missing"] == 0 and seg["label_agreement"] >= cfg.tolerance_agreement
              and not seg["max_abs_prob_diff"] > cfg.tolerance_prob)
    return {**seg, "frames": compare_frames(replayed, offline),
            "tolerance": {"max_abs_prob_diff": cfg.tolerance_prob, "min_label_agreement": cfg.tolerance_agreement},
            "within_tolerance": bool(within), "offline_scores": {k: ours[k] for k in ("frame_level", "segment_level")},
            "offline_wall_s": wall, "offline_clips_per_s": len(clips) / wall if wall > 0 else 0.0}


def write_outputs(report: dict[str, Any], estimates: Sequence[Estimate], out_dir: Path,
                  logs: Optional[dict[str, list[str]]] = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if logs:  # the nodes' own account of what they skipped and why
        (out_dir / "node_logs.txt").write_text("".join(f"[{n}] {line}\n" for n, lines in logs.items()
                                                       for line in lines))
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (out_dir / "report.txt").write_text(format_report(report) + "\n")
    with (out_dir / "estimates.jsonl").open("w") as f:
        for e in estimates:
            f.write(json.dumps(asdict(e)) + "\n")
    scores = report["scores"]
    for level, name in (("segment_level", "clips"), ("frame_level", "frames")):
        m = scores[level]
        plot_confusion(m["confusion_matrix"], scores["labels"], out_dir / f"confusion_{name}.png",
                       f"{report['model_name']} · {name} · UAR {m['uar']:.3f}")
    timed = [e for e in estimates if not math.isnan(e.latency_ms)]
    plot_latency([e.stamp_ns / NS for e in timed], [e.latency_ms for e in timed], out_dir / "latency.png")


def evaluate(cfg: EvalConfig, log=print) -> dict[str, Any]:
    """The whole evaluation; returns the report (also written to ``cfg.out_dir``)."""
    infos = [bag_info(b) for b in cfg.bags]
    timeline = load_timeline(infos, cfg.labels_csv)
    for info in infos:
        missing = missing_inputs(info, cfg.remap)
        if missing:
            log(f"warning: {info.path.name} has no {', '.join(missing)}: counted in the report")
    collector, player, run = replay(cfg, infos, log)
    report = build_report(cfg, infos, timeline, collector, player, run)
    if cfg.offline_check:
        report["agreement"] = agree = offline_check(cfg, infos, timeline, collector.estimates,
                                                    collector.class_names)
        log(f"offline check: {agree['clips_compared']} clips in {agree['offline_wall_s']:.1f} s")
    write_outputs(report, sorted(collector.estimates, key=lambda e: e.stamp_ns), Path(cfg.out_dir),
                  run["logs"])
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Replay labelled bags through the emotion graph and "
                                            "report accuracy, F1, UAR, confusion, latency and drops.")
    p.add_argument("bags", nargs="+", type=Path, help="bag folders, or folders holding bags")
    p.add_argument("--labels", type=Path, help="CSV: label + start/end (s into the bag; 'bag' column "
                                               "with several bags) or start_stamp/end_stamp (absolute)")
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="report folder")
    p.add_argument("--model", type=Path, help="model for emotion_node (default: from the params file)")
    p.add_argument("--params-file", type=Path, default=config_file("desktop_cpu.yaml"))
    p.add_argument("--realtime", action="store_true", help="play at --rate x real time instead of paced")
    p.add_argument("--rate", type=float, default=1.0, help="rate factor with --realtime")
    p.add_argument("--rate-hz", type=float, help="inference rate of av_sync_node (default: params file)")
    p.add_argument("--remap", nargs="*", default=[], metavar="FROM:=TO",
                   help=f"map a robot bag's topics onto {IMAGE_TOPIC}, {AUDIO_TOPIC}, {INFO_TOPIC}")
    p.add_argument("--offline-check", action="store_true",
                   help="also run converted clips through emotion_core offline and compare")
    p.add_argument("--tolerance-prob", type=float, default=0.02,
                   help="largest allowed |clip probability difference| offline vs replay")
    p.add_argument("--tolerance-agreement", type=float, default=1.0,
                   help="smallest allowed share of clips with the same predicted label")
    p.add_argument("--hri", action="store_true", help="emotion_node also publishes REP-155 expressions")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        bags = [b for path in args.bags for b in find_bags(path)]
        cfg = EvalConfig(bags, args.out, args.labels, args.model, args.params_file, not args.realtime,
                         args.rate, args.rate_hz, parse_remap(args.remap), 1, args.offline_check,
                         args.tolerance_prob, args.tolerance_agreement,
                         {"emotion_node": {"publish_hri": True}} if args.hri else {})
        report = evaluate(cfg)
    except (BagError, LabelError, EvaluationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    print(f"report: {args.out / 'report.json'}")
    agree = report.get("agreement")
    return 0 if agree is None or agree["within_tolerance"] else 3


if __name__ == "__main__":
    sys.exit(main())
