"""emotion_graph_process: the graph's nodes in one process, on one executor.

Each node process costs an interpreter, rclpy and a DDS participant (~90 MB); on a Jetson that
is most of what camera_node, audio_node and av_sync_node cost. Composed here, the nodes share
them, talk through Fast DDS's intra-process delivery, and keep everything else: their own
parameters (from the same YAML, keyed by node name), /diagnostics, and emotion_node its
lifecycle (its work runs on its own worker thread, as in its own process).

    python -m emotion_ros.composed --nodes camera_node audio_node av_sync_node emotion_node \\
        --set camera_node:source=0 --ros-args --params-file config/desktop_cpu.yaml

ROS arguments after ``--ros-args`` (params file, namespace, log level, use_sim_time) apply to
every node, as launch_ros passes them; ``--set NODE:PARAM=VALUE`` sets one node's parameter
(camera_node and audio_node both have a ``source``, so a process-wide ``-p`` cannot; and not
``:=``, which rcl would take outside ``--ros-args`` for an old-style remapping).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import sys
from typing import Callable, Optional, Sequence

from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from .common import run_nodes
from .graph import ENTRIES, NODES


def parse_sets(items: Sequence[str]) -> dict[str, list[str]]:
    """``NODE:PARAM=VALUE`` items -> node -> ["PARAM:=VALUE", ...]; ValueError names a bad one."""
    out: dict[str, list[str]] = {}
    for item in items:
        node, sep, assignment = item.partition(":")
        param, eq, value = assignment.partition("=")
        if not sep or not eq or not param:
            raise ValueError(f"--set {item!r}: expected NODE:PARAM=VALUE")
        if node not in ENTRIES:
            raise ValueError(f"--set {item!r}: no node {node!r} (nodes: {', '.join(ENTRIES)})")
        out.setdefault(node, []).append(f"{param}:={value}")
    return out


def node_factory(name: str, assignments: Sequence[str]) -> Callable[[], Node]:
    """A constructor of node ``name`` with its own ``-p`` arguments (node-local: they override
    the process-wide params file for this node only)."""
    entry = ENTRIES[name]
    cls = getattr(importlib.import_module(entry.module), entry.node_class)
    cli_args = ["--ros-args"] + [a for assignment in assignments for a in ("-p", assignment)]
    return functools.partial(cls, cli_args=cli_args) if assignments else cls


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Run the emotion graph's nodes in one process.")
    p.add_argument("--nodes", nargs="+", default=list(NODES), choices=list(ENTRIES),
                   help="nodes to compose (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="NODE:PARAM=VALUE",
                   help="a parameter of one node (repeatable)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(remove_ros_args(argv)[1:])
    try:
        sets = parse_sets(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    missing = set(sets) - set(args.nodes)
    if missing:
        parser.error(f"--set for node(s) not started: {', '.join(sorted(missing))}")
    run_nodes([node_factory(n, sets.get(n, [])) for n in args.nodes], argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
