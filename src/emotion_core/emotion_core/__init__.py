"""ROS-free core of the multimodal emotion recognition stack (no rclpy, no torch)."""

__version__ = "0.1.0"
