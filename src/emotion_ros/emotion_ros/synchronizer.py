"""message_filters' ApproximateTimeSynchronizer behind the core pairer's ``Matcher`` interface,
where message_filters is installed (apt ROS 2); elsewhere the core's identical policy is used
(message_filters has no PyPI wheel)."""
from __future__ import annotations

from typing import Any, Callable, Optional

from std_msgs.msg import Header

from emotion_core.pairing import Matcher
from emotion_core.sync import ApproximateTimePolicy

from .common import ns_to_msg


class _Stamped:
    """What message_filters reads of a message: ``header.stamp``."""

    __slots__ = ("header", "item")

    def __init__(self, stamp_ns: int, item: Any) -> None:
        self.header = Header(stamp=ns_to_msg(stamp_ns))
        self.item = item


class FilterInput:
    """A message_filters-style input that the pairer feeds by hand, after its own gating."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., None], tuple]] = {}

    def registerCallback(self, cb: Callable[..., None], *args: Any) -> int:  # noqa: N802 (message_filters API)
        key = len(self.callbacks)
        self.callbacks[key] = (cb, args)
        return key

    def signalMessage(self, msg: Any) -> None:  # noqa: N802
        for cb, args in list(self.callbacks.values()):
            cb(msg, *args)


class MessageFiltersMatcher:
    """``message_filters.ApproximateTimeSynchronizer`` over two hand-fed inputs."""

    def __init__(self, queue_size: int, slop_s: float) -> None:
        import message_filters

        self._inputs = [FilterInput(), FilterInput()]
        self._sync = message_filters.ApproximateTimeSynchronizer(self._inputs, queue_size, slop_s)
        self._sync.registerCallback(self._on_match)
        self._matched: Optional[tuple[Any, ...]] = None

    def _on_match(self, *msgs: _Stamped) -> None:
        self._matched = tuple(m.item for m in msgs)

    def add(self, index: int, stamp_ns: int, item: Any) -> Optional[tuple[Any, ...]]:
        self._matched = None
        self._inputs[index].signalMessage(_Stamped(stamp_ns, item))
        matched, self._matched = self._matched, None
        return matched

    def clear(self) -> None:
        for queue in self._sync.queues:
            queue.clear()


def make_matcher(prefer: str = "auto") -> tuple[Callable[[int, float], Matcher], str]:
    """(factory(queue_size, slop_s), implementation name); ``prefer``: auto, message_filters
    or emotion_core."""
    if prefer in ("auto", "message_filters"):
        try:
            import message_filters  # noqa: F401

            return MessageFiltersMatcher, "message_filters"
        except ImportError:
            if prefer == "message_filters":
                raise
    return (lambda q, slop: ApproximateTimePolicy(2, q, slop)), "emotion_core"
