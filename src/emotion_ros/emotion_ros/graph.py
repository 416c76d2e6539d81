"""emotion_graph: start the whole graph with one params YAML.

The same job as ``ros2 launch emotion_ros emotion.launch.py`` for machines without launch_ros
(PyPI wheels): every node reads its parameters from the YAML keyed by node name and gets the
namespace, log level and use_sim_time as ROS arguments. By default every node is its own
process; ``--one-process`` composes them all in one (``emotion_ros.composed``), so a small
computer pays the interpreter and rclpy once.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from emotion_core import data_paths


@dataclass(frozen=True)
class NodeEntry:
    """One node of the graph, as both starters see it: ``launch/emotion.launch.py`` builds its
    ``Node`` actions from these entries and this runner builds its commands from them, so the two
    describe the same graph (test/ros/test_launch_and_config.py holds them to it)."""

    name: str
    module: str  # python -m <module>; the console script (launch executable) is ``name``
    node_class: str  # the Node subclass in ``module`` (composed in one process)
    #: launch argument -> the parameter of this node it sets.
    arguments: tuple[tuple[str, str], ...] = ()
    #: launch argument ("true"/"false") that starts the node; None = always.
    condition: Optional[str] = None


GRAPH: tuple[NodeEntry, ...] = (
    NodeEntry("camera_node", "emotion_ros.camera_node", "CameraNode", (("camera_source", "source"),),
              "start_camera"),
    NodeEntry("audio_node", "emotion_ros.audio_node", "AudioNode", (("audio_source", "source"),),
              "start_audio"),
    NodeEntry("av_sync_node", "emotion_ros.av_sync_node", "AvSyncNode", (("rate_hz", "rate_hz"),)),
    NodeEntry("emotion_node", "emotion_ros.emotion_node", "EmotionNode",
              (("model_path", "model_path"), ("publish_hri", "publish_hri"))),
)
#: The runner's own extra: the /emotion table printer (not part of the launch file's graph).
MONITOR = NodeEntry("emotion_monitor", "emotion_ros.monitor_node", "MonitorNode")
#: The one-process form: its module and console script (launch executable).
COMPOSED_MODULE, COMPOSED_EXECUTABLE = "emotion_ros.composed", "emotion_graph_process"

NODES = tuple(e.name for e in GRAPH)
MODULES = {e.name: e.module for e in (*GRAPH, MONITOR)}
ENTRIES = {e.name: e for e in (*GRAPH, MONITOR)}
#: graph runner option -> launch argument it stands for.
CLI_ARGUMENTS = {"camera": "camera_source", "audio": "audio_source", "rate": "rate_hz", "model": "model_path"}


def parameter_for(argument: str) -> tuple[str, str]:
    """(node, parameter) a launch argument sets."""
    for entry in GRAPH:
        for arg, param in entry.arguments:
            if arg == argument:
                return entry.name, param
    raise KeyError(f"no node takes the launch argument {argument!r}")


def repo_root() -> Path:
    """The source checkout (``$EMOTION_ROOT``, else the folder above this file that holds
    config/), for tools that work on a checkout; installed files are found by ``config_file``
    and ``emotion_core.data_paths``."""
    env = os.environ.get("EMOTION_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "config" / "fastdds_shm.xml").is_file():
            return parent
    return Path.cwd()


def config_file(name: str) -> Path:
    """``config/<name>`` by the data path rule (the installed share folder from any folder),
    else the checkout's."""
    return data_paths.find(Path("config") / name) or repo_root() / "config" / name


@dataclass
class GraphSpec:
    """What to start: nodes, shared ROS arguments and per-node parameter overrides."""

    params_file: Path
    nodes: Sequence[str] = NODES
    namespace: str = ""
    log_level: str = "info"
    use_sim_time: bool = False
    overrides: dict[str, dict[str, object]] = field(default_factory=dict)

    one_process: bool = False

    def ros_arguments(self) -> list[str]:
        """ROS arguments every node of the graph gets."""
        args = ["--ros-args", "--params-file", str(self.params_file), "--log-level", self.log_level,
                "-p", f"use_sim_time:={str(self.use_sim_time).lower()}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        return args

    def command(self, node: str, python: str = sys.executable) -> list[str]:
        """The node as its own process."""
        cmd = [python, "-m", MODULES[node], *self.ros_arguments()]
        for key, value in self.overrides.get(node, {}).items():
            cmd += ["-p", f"{key}:={ros_value(value)}"]
        return cmd

    def composed_command(self, python: str = sys.executable) -> list[str]:
        """All of ``nodes`` in one process: each node's overrides become its own ``--set``."""
        cmd = [python, "-m", COMPOSED_MODULE, "--nodes", *self.nodes]
        for node in self.nodes:
            for key, value in self.overrides.get(node, {}).items():
                cmd += ["--set", f"{node}:{key}={ros_value(value)}"]
        return cmd + self.ros_arguments()

    def processes(self, python: str = sys.executable) -> list[tuple[str, list[str]]]:
        """(process name, command) of what to start."""
        if self.one_process:
            return [(COMPOSED_EXECUTABLE, self.composed_command(python))]
        return [(n, self.command(n, python)) for n in self.nodes]


def parameter_type(node: str, param: str) -> type:
    """The type of a node's parameter (its declared default's), for launch arguments that
    arrive as text."""
    import importlib

    params = {p.name: p for p in importlib.import_module(MODULES[node]).PARAMS}
    if param not in params:
        raise KeyError(f"{node} declares no parameter {param!r}")
    return type(params[param].default)


def ros_value(value: object, kind: Optional[type] = None) -> str:
    """``value`` as ROS parses ``-p name:=value`` (YAML) into ``kind`` (the parameter's type,
    when known): a string that YAML would read as something else (camera source ``0``) is
    quoted and a whole number for a float parameter gets its ``.0``, else the node would refuse
    the type."""
    if kind is bool or isinstance(value, bool):
        return "true" if str(value).strip().lower() in ("1", "true", "yes", "on") else "false"
    if kind in (int, float):
        return str(kind(value))
    if isinstance(value, str):
        import yaml

        try:
            plain = isinstance(yaml.safe_load(value), str)
        except yaml.YAMLError:
            plain = False
        if not plain:
            return "'" + value.replace("'", "''") + "'"
    return str(value)


def ros_environment(base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment every node gets: loopback discovery unless told otherwise, the large
    shared-memory Fast DDS profile, unbuffered output."""
    env = dict(os.environ if base is None else base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(config_file("fastdds_shm.xml")))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RestartPolicy:
    """How the runner restarts a node that dies: after ``delay_s``, doubling per consecutive
    death up to ``max_delay_s``; a node that stayed up ``stable_s`` starts again from
    ``delay_s``. After ``max_restarts`` consecutive deaths the runner gives up on it."""

    max_restarts: int = 5
    delay_s: float = 1.0
    max_delay_s: float = 30.0
    stable_s: float = 60.0

    def delay(self, consecutive: int) -> float:
        return min(self.max_delay_s, self.delay_s * 2 ** max(0, consecutive - 1))


class Graph:
    """Running node processes; stops them with SIGINT (clean shutdown), then SIGKILL.

    ``supervise()``, called periodically, restarts nodes that died (``RestartPolicy``) while
    the others keep running."""

    def __init__(self, spec: GraphSpec, env: Optional[dict[str, str]] = None,
                 extra: Sequence[tuple[str, list[str]]] = (), echo: bool = True,
                 restart: Optional[RestartPolicy] = None) -> None:
        self.spec = spec
        self.env = ros_environment(env)
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, list[str]] = {}
        self.restarts: dict[str, int] = {}
        self.given_up: list[str] = []
        self.restart_policy = restart or RestartPolicy()
        self._commands: dict[str, list[str]] = {}
        self._started_at: dict[str, float] = {}
        self._consecutive: dict[str, int] = {}
        self._restart_due: dict[str, float] = {}
        self._extra = list(extra)
        self._echo = echo

    def start(self) -> "Graph":
        commands = self.spec.processes() + self._extra
        for name, cmd in commands:
            self._commands[name] = cmd
            self.logs[name] = []
            self.restarts[name] = 0
            self._spawn(name)
        return self

    def _spawn(self, name: str) -> None:
        proc = subprocess.Popen(self._commands[name], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.procs[name] = proc
        self._started_at[name] = time.monotonic()
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    def _say(self, message: str) -> None:
        print(f"[graph] {message}", file=sys.stderr, flush=True)

    def supervise(self) -> list[str]:
        """Restart dead nodes whose back-off has passed; returns the nodes given up on."""
        now = time.monotonic()
        policy = self.restart_policy
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is None or name in self.given_up:
                continue
            if name not in self._restart_due:
                if now - self._started_at[name] >= policy.stable_s:
                    self._consecutive[name] = 0
                self._consecutive[name] = self._consecutive.get(name, 0) + 1
                if self._consecutive[name] > policy.max_restarts:
                    self.given_up.append(name)
                    self._say(f"{name} exited with {code} {policy.max_restarts + 1} times in a row: "
                              "giving up on it")
                    continue
                delay = policy.delay(self._consecutive[name])
                self._restart_due[name] = now + delay
                self._say(f"{name} exited with {code}; restarting it in {delay:.1f} s "
                          f"(restart {self._consecutive[name]} of at most {policy.max_restarts})")
            elif now >= self._restart_due[name]:
                del self._restart_due[name]
                self.restarts[name] += 1
                self.logs[name].append(f"[graph] restart {self.restarts[name]}")
                self._spawn(name)
        return list(self.given_up)

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.logs[name].append(line.rstrip("\n"))
            important = any(k in line for k in ("[WARN", "[ERROR", "[FATAL", "Traceback", "Error"))
            if self._echo or important or name == "emotion_monitor":
                prefix = "" if name == "emotion_monitor" else f"[{name}] "
                sys.stdout.write(prefix + line)
                sys.stdout.flush()

    def alive(self) -> dict[str, bool]:
        return {n: p.poll() is None for n, p in self.procs.items()}

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        codes = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes

    def __enter__(self) -> "Graph":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Run the emotion recognition graph (camera, audio, av_sync, emotion nodes "
                    "as separate processes, or in one with --one-process) and print the /emotion "
                    "stream. Relative paths in the YAML (models, the demo clip) are found under "
                    "$EMOTION_DATA_DIR, the current folder, the installed share/emotion_ros and "
                    "$ROS_HOME/emotion_ros, in that order.")
    p.add_argument("--params-file", type=Path, default=config_file("desktop_cpu.yaml"),
                   help="parameter YAML keyed by node name (default: config/desktop_cpu.yaml, "
                        "installed in share/emotion_ros)")
    p.add_argument("--camera", help="camera source: synthetic, a device index, /dev/videoN, a video "
                                    "file or an image folder (default: from the YAML)")
    p.add_argument("--audio", help="audio source: synthetic, microphone, or an audio file")
    p.add_argument("--model", help="model (.onnx or TensorRT engine) for emotion_node")
    p.add_argument("--fps", type=float, help="camera frame rate")
    p.add_argument("--rate", type=float, help="inference rate of av_sync_node [Hz]")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = Ctrl-C)")
    p.add_argument("--output-dir", type=Path, help="write summary.json / summary.png here on exit")
    p.add_argument("--namespace", default="", help="namespace of all nodes")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warn", "error", "fatal"))
    p.add_argument("--use-sim-time", action="store_true", help="nodes follow /clock")
    p.add_argument("--one-process", action="store_true",
                   help="run every node in one process on one executor (one interpreter: less "
                        "memory on a small computer; a node that dies restarts them all)")
    p.add_argument("--no-monitor", action="store_true", help="do not print the /emotion table")
    p.add_argument("--quiet-nodes", action="store_true", help="hide the nodes' own log lines")
    p.add_argument("--no-restart", action="store_true",
                   help="stop the graph when a node dies instead of restarting it (restarts back "
                        "off from 1 s to 30 s; after 5 deaths in a row the runner gives up)")
    return p


def spec_from_args(args: argparse.Namespace) -> GraphSpec:
    overrides: dict[str, dict[str, object]] = {n: {} for n in NODES}
    values = {"camera": args.camera, "audio": args.audio,
              "rate": float(args.rate) if args.rate is not None else None,
              "model": str(Path(args.model).resolve()) if args.model else None}
    for option, argument in CLI_ARGUMENTS.items():
        if values[option] not in (None, ""):
            node, param = parameter_for(argument)
            overrides[node][param] = values[option]
    if args.fps:
        overrides["camera_node"]["fps"] = float(args.fps)
    # An empty value would be "-p output_dir:=", which rcl refuses: leave the default instead.
    overrides["emotion_monitor"] = {"output_dir": str(args.output_dir.resolve())} if args.output_dir else {}
    return GraphSpec(args.params_file.resolve(), NODES, args.namespace, args.log_level,
                     args.use_sim_time, overrides, args.one_process)


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.params_file.is_file() and config_file(str(args.params_file)).is_file():
        args.params_file = config_file(str(args.params_file))  # --params-file jetson.yaml: an installed profile
    if not args.params_file.is_file():
        print(f"params file not found: {args.params_file}", file=sys.stderr)
        return 2
    spec = spec_from_args(args)
    extra = [] if args.no_monitor else [("emotion_monitor", spec.command("emotion_monitor"))]
    graph = Graph(spec, extra=extra, echo=not args.quiet_nodes)
    env = graph.env
    form = "in one process" if spec.one_process else "as separate processes"
    print(f"starting {', '.join(spec.nodes)} {form} (ROS_DOMAIN_ID={env.get('ROS_DOMAIN_ID', '0')}, "
          f"discovery {env['ROS_AUTOMATIC_DISCOVERY_RANGE']})", flush=True)
    # Ctrl-C / SIGTERM only set a flag: an exception raised wherever the runner happens to be
    # (inside Popen while it restarts a node, say) could leave a half-started child behind.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    graph.start()
    try:
        start = time.monotonic()
        while not stop.is_set() and (args.duration <= 0 or time.monotonic() - start < args.duration):
            if args.no_restart:
                dead = [n for n, ok in graph.alive().items() if not ok]
                if dead:
                    print(f"node(s) exited early: {', '.join(dead)}", file=sys.stderr)
                    break
            elif graph.supervise():
                break
            stop.wait(0.2)
    except KeyboardInterrupt:  # a signal before the handlers were installed
        pass
    codes = graph.stop()
    failed = {n: c for n, c in codes.items() if c not in (0, -signal.SIGINT, 130)}
    if failed:
        print(f"exit codes: {failed}", file=sys.stderr)
    restarted = {n: k for n, k in graph.restarts.items() if k}
    if restarted:
        print(f"restarts: {restarted}", file=sys.stderr)
    return 1 if failed or graph.given_up else 0


if __name__ == "__main__":
    sys.exit(main())
