"""Recorded-data tools of the emotion graph, kept apart from the robot's nodes.

- ``bag_record`` / ``bag_play``: record the graph's topics, replay a bag on its recorded stamps;
- ``bagio`` / ``bag_messages``: rosbags-based reading/writing and the input topics' messages;
- ``evaluate``: replay bags through the graph and score /emotion against labels;
- ``dataset_bags``: RAVDESS / CREMA-D / manifest clips -> one labelled bag per clip.

It depends on ``emotion_ros`` (the graph runner, message helpers) and ``emotion_core``; neither
of them imports it, and nothing here imports the training workspace.
"""

__version__ = "0.1.0"
