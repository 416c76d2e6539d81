from setuptools import find_packages, setup

package_name = "emotion_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="emotion_ros developers",
    maintainer_email="dev@emotion-ros.invalid",
    description="ROS 2 nodes of the multimodal emotion recognition graph.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "camera_node = emotion_ros.camera_node:main",
            "audio_node = emotion_ros.audio_node:main",
            "av_sync_node = emotion_ros.av_sync_node:main",
            "emotion_node = emotion_ros.emotion_node:main",
            "emotion_monitor = emotion_ros.monitor_node:main",
            "emotion_graph = emotion_ros.graph:main",
            "emotion_behavior_example = emotion_ros.behavior_example:main",
        ],
    },
)
