"""Full emotion recognition pipeline: camera, audio, A/V sync and emotion nodes.

    ros2 launch emotion_ros emotion.launch.py                              # the demo clip
    ros2 launch emotion_ros emotion.launch.py camera_source:=0 audio_source:=microphone
    ros2 launch emotion_ros emotion.launch.py one_process:=true            # one process, one executor
    ros2 launch emotion_ros emotion.launch.py start_camera:=false start_audio:=false use_sim_time:=true
        # nodes for a replayed bag that provides /camera/image_raw and /audio/audio

Installed into share/emotion_ros with the parameter profiles and the Fast DDS profile; it finds
them there, so it runs from any folder. Relative paths in a profile (models, the demo clip) are
resolved by the nodes (emotion_core.data_paths: $EMOTION_DATA_DIR, the current folder, this
share folder, $ROS_HOME/emotion_ros). Where launch_ros is not installed (PyPI wheels),
`python -m emotion_ros.graph` starts the same nodes with the same YAML.
"""
import os
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

SHARE = Path(get_package_share_directory("emotion_ros"))
RESPAWN_DELAY_S = 2.0  # launch's respawn_delay takes a number, not a substitution
#: Empty: the value of the parameter file (the profile), not an override.
FROM_PROFILE = ""

ARGUMENTS = [
    ("params_file", str(SHARE / "config" / "desktop_cpu.yaml"),
     "parameter YAML keyed by node name: a path, or the name of an installed profile "
     "(desktop_cpu.yaml, desktop_cpu_30hz.yaml, jetson.yaml)"),
    ("camera_source", FROM_PROFILE,
     "camera_node source: synthetic, a device index, /dev/videoN, a video file or an image folder "
     "(empty: the profile's)"),
    ("audio_source", FROM_PROFILE,
     "audio_node source: synthetic, microphone, or an audio file (empty: the profile's)"),
    ("model_path", FROM_PROFILE,
     "ONNX model or TensorRT engine for emotion_node; its contract sets the preprocessing "
     "(empty: the profile's)"),
    ("rate_hz", FROM_PROFILE, "inference rate of av_sync_node [Hz] (empty: the profile's)"),
    ("publish_hri", FROM_PROFILE,
     "also publish REP-155 hri_msgs/Expression on /humans/faces/<id>/expression (true/false; "
     "empty: the profile's)"),
    ("start_camera", "true", "start camera_node (false when a bag or another driver publishes frames)"),
    ("start_audio", "true", "start audio_node (false when a bag or another driver publishes audio)"),
    ("one_process", "false",
     "run all nodes in one process on one executor (one interpreter: less memory on a Jetson; "
     "respawn then restarts them together)"),
    ("namespace", "", "namespace of all nodes"),
    ("use_sim_time", "false", "follow /clock (replayed bags)"),
    ("log_level", "info", "log level of all nodes: debug, info, warn, error, fatal"),
    ("respawn", "true", "restart a node (or the one process) that dies, 2 s later (RESPAWN_DELAY_S)"),
]


def _truth(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _nodes(context) -> list:
    """The node actions for the evaluated arguments: one per node, or one composed process."""
    from emotion_ros.graph import COMPOSED_EXECUTABLE, GRAPH, parameter_type, ros_value

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    entries = [e for e in GRAPH if not e.condition or _truth(arg(e.condition))]
    overrides = {e.name: {param: arg(name) for name, param in e.arguments if arg(name) != FROM_PROFILE}
                 for e in entries}
    profile = arg("params_file")
    if not Path(profile).is_file() and (SHARE / "config" / profile).is_file():
        profile = str(SHARE / "config" / profile)  # params_file:=jetson.yaml names an installed profile
    parameters = [profile, {"use_sim_time": _truth(arg("use_sim_time"))}]
    common = dict(package="emotion_ros", namespace=arg("namespace"), output="screen",
                  respawn=_truth(arg("respawn")), respawn_delay=RESPAWN_DELAY_S)
    log_level = ["--ros-args", "--log-level", arg("log_level")]
    if _truth(arg("one_process")):
        sets = [item for e in entries for param, value in overrides[e.name].items()
                for item in ("--set", f"{e.name}:{param}={ros_value(value, parameter_type(e.name, param))}")]
        return [Node(executable=COMPOSED_EXECUTABLE, parameters=parameters,
                     arguments=["--nodes", *(e.name for e in entries), *sets, *log_level], **common)]
    return [Node(executable=entry.name, name=entry.name,
                 parameters=[*parameters, {param: ParameterValue(value, value_type=parameter_type(entry.name, param))
                                           for param, value in overrides[entry.name].items()}],
                 arguments=log_level, **common)
            for entry in entries]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in ARGUMENTS]
    # Frames above Fast DDS's default shared-memory segment are dropped: the installed profile
    # sets a large one, unless the caller chose a profile of their own.
    dds = [] if os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE") else [
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", str(SHARE / "config" / "fastdds_shm.xml"))]
    return LaunchDescription(args + dds + [OpaqueFunction(function=_nodes)])
