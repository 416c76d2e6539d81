"""ApproximateTimeSynchronizer from message_filters where installed, else the equivalent policy
from emotion_core behind the same interface (message_filters has no PyPI wheel)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from emotion_core.sync import ApproximateTimePolicy

from .common import stamp_ns


class FilterInput:
    """A message_filters-style input that the node feeds by hand, after its own gating
    (rate limit), so the synchronizer only sees frames that will be processed."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., None], tuple]] = {}

    def registerCallback(self, cb: Callable[..., None], *args: Any) -> int:  # noqa: N802 (message_filters API)
        key = len(self.callbacks)
        self.callbacks[key] = (cb, args)
        return key

    def signalMessage(self, msg: Any) -> None:  # noqa: N802
        for cb, args in list(self.callbacks.values()):
            cb(msg, *args)


class PolicySynchronizer:
    """Same constructor and callbacks as ``message_filters.ApproximateTimeSynchronizer``."""

    def __init__(self, fs: Sequence[FilterInput], queue_size: int, slop: float) -> None:
        self.policy = ApproximateTimePolicy(len(fs), queue_size, slop)
        #: Per-input {stamp: msg} queues, the attribute message_filters' synchronizer has too.
        self.queues = self.policy.queues
        for i, f in enumerate(fs):
            f.registerCallback(self.add, i)

    def registerCallback(self, cb: Callable[..., None]) -> None:  # noqa: N802
        self.policy.register_callback(cb)

    def add(self, msg: Any, index: int) -> None:
        self.policy.add(index, stamp_ns(msg.header.stamp), msg)


def make_synchronizer(fs: Sequence[FilterInput], queue_size: int, slop: float,
                      prefer: str = "auto") -> tuple[Any, str]:
    """(synchronizer, implementation name); ``prefer``: auto, message_filters or emotion_core."""
    if prefer in ("auto", "message_filters"):
        try:
            import message_filters

            return message_filters.ApproximateTimeSynchronizer(fs, queue_size, slop), "message_filters"
        except ImportError:
            if prefer == "message_filters":
                raise
    return PolicySynchronizer(fs, queue_size, slop), "emotion_core"
