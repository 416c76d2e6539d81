"""REP-155 (ROS4HRI) output: ``/humans/faces/tracked`` (hri_msgs/IdsList) and one
``hri_msgs/Expression`` topic per tracked face, ``/humans/faces/<id>/expression``.

The label -> expression / valence / arousal mapping is ``emotion_core.labels.rep155``; this
module only builds and publishes the messages. A face's publisher is created when its track
appears and kept until the person is forgotten (``remember_s`` after they were last seen), so a
subscriber that discovers an id on ``/humans/faces/tracked`` has a topic to match for the whole
time the person is around; the ids list is latched (transient-local) so late subscribers get it.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from hri_msgs.msg import Expression, IdsList
from rclpy.node import Node
from std_msgs.msg import Header

from emotion_core.labels import rep155

from .common import latched_qos

_FACE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def expression_topic(face_id: str) -> str:
    if not _FACE_ID.match(face_id):
        raise ValueError(f"face id {face_id!r} is not a valid ROS name token "
                         "(a letter, then letters, digits or '_')")
    return f"/humans/faces/{face_id}/expression"


def face_id(prefix: str, track_id: int) -> str:
    """REP-155 id of a track: ``<prefix><track_id>``, e.g. face0."""
    fid = f"{prefix}{track_id}"
    expression_topic(fid)  # validates
    return fid


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

    def destroy(self) -> None:
        self._node.destroy_publisher(self._pub)


class HriFaces:
    """The REP-155 face topics of every tracked person."""

    def __init__(self, node: Node, prefix: str = "face") -> None:
        face_id(prefix, 0)  # a bad prefix fails here, at start
        self._node = node
        self.prefix = prefix
        self._faces: dict[int, ExpressionPublisher] = {}
        self._tracked = node.create_publisher(IdsList, "/humans/faces/tracked", latched_qos())
        self._last_ids: list[str] | None = None

    def publisher(self, track_id: int) -> ExpressionPublisher:
        if track_id not in self._faces:
            self._faces[track_id] = ExpressionPublisher(self._node, face_id(self.prefix, track_id))
        return self._faces[track_id]

    def update(self, header: Header, tracked: Iterable[int], forgotten: Iterable[int]) -> None:
        """Publish the ids in view (on change, and with every frame's header otherwise not);
        drop the topics of forgotten people."""
        for tid in tracked:
            self.publisher(tid)
        for tid in forgotten:
            pub = self._faces.pop(tid, None)
            if pub is not None:
                pub.destroy()
        ids = [face_id(self.prefix, t) for t in sorted(tracked)]
        if ids != self._last_ids:
            self._tracked.publish(IdsList(header=header, ids=ids))
            self._last_ids = ids

    def destroy(self) -> None:
        """Remove every topic (the node's cleanup)."""
        for pub in self._faces.values():
            pub.destroy()
        self._faces.clear()
        self._node.destroy_publisher(self._tracked)

    def subscription_count(self) -> int:
        """Most matched subscribers of one face topic (0 when there is none)."""
        return max((p.subscription_count() for p in self._faces.values()), default=0)
