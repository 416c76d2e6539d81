"""emotion_behavior_example: react to a *sustained* emotion on /emotion — copy this to start your
own integration.

Per-frame estimates flicker, so the node feeds them to ``emotion_core.hysteresis``: an emotion
starts after it held ``hold_s`` at ``enter_confidence``, and ends after ``release_s`` below
``exit_confidence``. Each start/end is logged and published as a ``std_msgs/String``
("start happy" / "end happy") on ``behavior/reaction``; replace ``react()`` with what your
robot should do (speak, change its face, call an action). Time comes from the message
stamps, so replayed bags behave like live data at any speed.
"""
from __future__ import annotations

from emotion_msgs.msg import Emotion
from rclpy.node import Node
from std_msgs.msg import String

from emotion_core.hysteresis import EmotionEvent, SustainedEmotion

from .common import run, stamp_ns
from .params import Param, declare

PARAMS = [
    Param("enter_confidence", 0.6, "confidence an emotion needs to start being sustained",
          range=(0.0, 1.0), read_only=True),
    Param("exit_confidence", 0.4, "confidence below which a sustained emotion starts to end "
          "(<= enter_confidence)", range=(0.0, 1.0), read_only=True),
    Param("hold_s", 1.0, "how long an emotion must hold before it starts [s]", range=(0.0, 60.0),
          read_only=True),
    Param("release_s", 1.0, "how long it must be absent before it ends [s]", range=(0.0, 60.0),
          read_only=True),
    Param("labels", ["happy", "sad", "angry", "surprise", "fear", "disgust"],
          "labels to react to (others, e.g. neutral, are ignored)", read_only=True),
]


class BehaviorExample(Node):
    def __init__(self) -> None:
        super().__init__("emotion_behavior_example")
        self.p = declare(self, PARAMS)
        enter = self.p["enter_confidence"]
        exit_ = min(self.p["exit_confidence"], enter)
        self.detector = SustainedEmotion(enter, exit_, self.p["hold_s"], self.p["release_s"],
                                         labels=self.p["labels"])
        self.reaction_pub = self.create_publisher(String, "behavior/reaction", 10)
        # Deep enough for a paced bag replay's bursts: every estimate counts for the timing.
        self.create_subscription(Emotion, "emotion", self._on_emotion, 100)

    def _on_emotion(self, msg: Emotion) -> None:
        for event in self.detector.update(msg.label, msg.confidence, stamp_ns(msg.header.stamp)):
            self.react(event)

    def react(self, event: EmotionEvent) -> None:
        """What the robot does. Here: log it and publish it."""
        if event.kind == "start":
            self.get_logger().info(f"the person looks {event.label} (for {event.duration_s:.1f} s)")
        else:
            self.get_logger().info(f"no longer {event.label} (it lasted {event.duration_s:.1f} s)")
        self.reaction_pub.publish(String(data=f"{event.kind} {event.label}"))


def main(args=None) -> None:
    run(BehaviorExample, args)


if __name__ == "__main__":
    main()
