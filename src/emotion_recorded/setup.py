from setuptools import find_packages, setup

package_name = "emotion_recorded"

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
    description="Recorded-data tools of the emotion graph: record, replay, evaluate, dataset to bags.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "emotion_bag_record = emotion_recorded.bag_record:main",
            "emotion_bag_play = emotion_recorded.bag_play:main",
            "emotion_evaluate = emotion_recorded.evaluate:main",
            "emotion_dataset_bags = emotion_recorded.dataset_bags:main",
        ],
    },
)
