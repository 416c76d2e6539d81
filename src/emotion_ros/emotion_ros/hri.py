"""REP-155 (ROS4HRI) output: ``hri_msgs/Expression`` on ``/humans/faces/<id>/expression``.

The label -> expression / valence / arousal mapping is ``emotion_core.labels.rep155``; this
module only builds and publishes the message, so ROS4HRI behaviour stacks can consume the
estimates unchanged.
"""
from __future__ import annotations

import re
from typing import Sequence

from hri_msgs.msg import Expression
from rclpy.node import Node
from std_msgs.msg import Header

from emotion_core.labels import rep155

_FACE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def expression_topic(face_id: str) -> str:
    if not _FACE_ID.match(face_id):
        raise ValueError(f"face id {face_id!r} is not a valid ROS name token "
                         "(a letter, then letters, digits or '_')")
    return f"/humans/faces/{face_id}/expression"


class ExpressionPublisher:
    """Publishes one Expression per estimate of a face; silent for labels without an
    expression (logged once per label)."""

    def __init__(self, node: Node, face_id: str) -> None:
        self._node = node
        self.topic = expression_topic(face_id)
        self._pub = node.create_publisher(Expression, self.topic, 10)
        self._unmapped: set[str] = set()

    def subscription_count(self) -> int:
        return self._pub.get_subscription_count()

    def publish(self, header: Header, labels: Sequence[str], probabilities: Sequence[float]) -> bool:
        estimate = rep155(labels, probabilities)
        if estimate is None:
            best = labels[max(range(len(probabilities)), key=lambda i: probabilities[i])] if len(probabilities) else ""
            if best not in self._unmapped:
                self._unmapped.add(best)
                self._node.get_logger().warning(f"label {best!r} has no REP-155 expression: not published")
            return False
        self._pub.publish(Expression(header=header, expression=estimate.expression,
                                     valence=estimate.valence, arousal=estimate.arousal,
                                     confidence=estimate.confidence))
        return True
