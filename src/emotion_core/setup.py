from setuptools import find_packages, setup

package_name = "emotion_core"

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
    description="ROS-free core of the multimodal emotion recognition stack.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "emotion-assets = emotion_core.tools.assets:main",
            "emotion-sample-model = emotion_core.tools.sample_model:main",
        ],
    },
)
