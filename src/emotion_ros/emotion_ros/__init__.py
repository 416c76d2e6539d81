"""ROS 2 adapters of the emotion recognition stack; the logic lives in emotion_core."""
