"""Session-wide test settings: DDS stays on loopback and every run gets its own domain."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from emotion_ros.graph import ros_environment  # imports no rclpy: safe before the env is set

ROOT = Path(__file__).resolve().parents[1]

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# The same RMW and Fast DDS profile the node processes get from the graph runner.
os.environ.update(ros_environment())
# Valid Fast DDS domains are 0..101 and 215..232; derive one from the pid so parallel runs
# (two developers, CI beside a demo) do not hear each other.
os.environ["ROS_DOMAIN_ID"] = os.environ.get("EMOTION_TEST_DOMAIN_ID", str(10 + os.getpid() % 90))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
