"""Full emotion recognition pipeline: camera, audio, A/V sync and emotion nodes.

    ros2 launch launch/emotion.launch.py                                   # synthetic sources
    ros2 launch launch/emotion.launch.py camera_source:=0 audio_source:=microphone
    ros2 launch launch/emotion.launch.py start_camera:=false start_audio:=false use_sim_time:=true
        # nodes for a replayed bag that provides /camera/image_raw and /audio/audio

Where launch_ros is not installed (PyPI wheels), `python -m emotion_ros.graph` starts the same
nodes with the same YAML.
"""
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ROOT = Path(__file__).resolve().parents[1]
RESPAWN_DELAY_S = 2.0  # launch's respawn_delay takes a number, not a substitution

ARGUMENTS = [
    ("params_file", str(ROOT / "config" / "desktop_cpu.yaml"),
     "parameter YAML keyed by node name (config/desktop_cpu.yaml, config/jetson.yaml)"),
    ("camera_source", "synthetic",
     "camera_node source: synthetic, a device index, /dev/videoN, a video file or an image folder"),
    ("audio_source", "synthetic", "audio_node source: synthetic, microphone, or an audio file"),
    ("model_path", str(ROOT / "data" / "models" / "face_expression.onnx"),
     "ONNX model or TensorRT engine for emotion_node (its contract sets the preprocessing)"),
    ("rate_hz", "10.0", "inference rate of av_sync_node [Hz]"),
    ("start_camera", "true", "start camera_node (false when a bag or another driver publishes frames)"),
    ("start_audio", "true", "start audio_node (false when a bag or another driver publishes audio)"),
    ("publish_hri", "false", "also publish REP-155 hri_msgs/Expression on /humans/faces/<id>/expression"),
    ("namespace", "", "namespace of all nodes"),
    ("use_sim_time", "false", "follow /clock (replayed bags)"),
    ("log_level", "info", "log level of all nodes: debug, info, warn, error, fatal"),
    ("respawn", "true", "restart a node that dies, 2 s later (RESPAWN_DELAY_S)"),
]


def generate_launch_description() -> LaunchDescription:
    from emotion_ros.graph import GRAPH  # the graph the runner starts too: one description

    args = [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in ARGUMENTS]
    params = LaunchConfiguration("params_file")
    sim = {"use_sim_time": LaunchConfiguration("use_sim_time")}
    common = dict(package="emotion_ros", namespace=LaunchConfiguration("namespace"), output="screen",
                  arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
                  respawn=LaunchConfiguration("respawn"), respawn_delay=RESPAWN_DELAY_S)
    nodes = []
    for entry in GRAPH:
        overrides = {param: LaunchConfiguration(arg) for arg, param in entry.arguments}
        condition = IfCondition(LaunchConfiguration(entry.condition)) if entry.condition else None
        nodes.append(Node(executable=entry.name, name=entry.name, parameters=[params, sim, overrides],
                          condition=condition, **common))
    return LaunchDescription(args + nodes)
