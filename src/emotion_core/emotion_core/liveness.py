"""Liveness of a node's inputs, and keeping a capture source open.

A node that stops receiving must say so, and say which input went quiet: silence on /emotion
with every node reporting OK is the failure this module exists to prevent. ``InputWatch`` holds
the last arrival time of each named input and judges it against two thresholds;
``Reconnector`` reopens a camera, microphone or file that failed, with exponential back-off, so
a device that disappears and returns is picked up again without a restart. Plain logic (no ROS),
with an injectable clock so both are tested without waiting.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Generic, Optional, TypeVar

OK, WARN, ERROR = 0, 1, 2  # the levels of diagnostic_msgs/DiagnosticStatus

Clock = Callable[[], float]


@dataclass
class _Input:
    description: str
    optional: bool
    since: float  # when watching began: the age of an input that never arrived
    last: Optional[float] = None
    count: int = 0


@dataclass(frozen=True)
class InputStatus:
    key: str
    level: int
    age_s: float
    count: int
    message: str  # empty when OK


class InputWatch:
    """Last-arrival times of named inputs, judged WARN after ``warn_s`` without a message and
    ERROR after ``error_s``. An ``optional`` input (one the node can work without, e.g. audio
    for a face-only graph) is never worse than WARN. Thread-safe enough for one writer per key
    (a float assignment) and a reader on the diagnostics timer."""

    def __init__(self, warn_s: float, error_s: float, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._inputs: dict[str, _Input] = {}
        self.warn_s = self.error_s = 0.0
        self.set_thresholds(warn_s, error_s)

    def set_thresholds(self, warn_s: float, error_s: float) -> None:
        """``error_s`` below ``warn_s`` is read as equal to it (ERROR without a WARN stage)."""
        if warn_s <= 0:
            raise ValueError(f"warn_s must be > 0, got {warn_s}")
        self.warn_s, self.error_s = float(warn_s), float(max(error_s, warn_s))

    def watch(self, key: str, description: str, optional: bool = False) -> None:
        """Start watching ``key``; ``description`` names it in messages (a topic, a device)."""
        self._inputs[key] = _Input(description, optional, self._clock())

    def arrived(self, key: str) -> None:
        entry = self._inputs[key]
        entry.last = self._clock()
        entry.count += 1

    def restart(self, key: str) -> None:
        """Count silence from now (e.g. after the source was reopened on purpose)."""
        entry = self._inputs[key]
        entry.since, entry.last = self._clock(), None

    def status(self, key: str) -> InputStatus:
        entry = self._inputs[key]
        now = self._clock()
        age = now - (entry.last if entry.last is not None else entry.since)
        level = OK
        if age > self.error_s and not entry.optional:
            level = ERROR
        elif age > self.warn_s:
            level = WARN
        message = ""
        if level != OK:
            if entry.last is None:
                message = f"nothing received on {entry.description} since start ({age:.1f} s)"
            else:
                message = f"nothing received on {entry.description} for {age:.1f} s"
        return InputStatus(key, level, age, entry.count, message)

    def check(self) -> tuple[int, str, dict[str, float]]:
        """Worst level, the messages of every quiet input (worst first), and ``<key>_age_s``."""
        statuses = [self.status(k) for k in self._inputs]
        values = {f"{s.key}_age_s": round(s.age_s, 3) for s in statuses}
        bad = sorted((s for s in statuses if s.level != OK), key=lambda s: -s.level)
        level = bad[0].level if bad else OK
        return level, "; ".join(s.message for s in bad), values


def merge_status(own: tuple[int, str], *others: tuple[int, str]) -> tuple[int, str]:
    """One diagnostic status from several judgements: the worst level, and the messages of
    every non-OK part, worst first (the node's own message leads on a tie). With nothing
    wrong, the node's own message stands."""
    parts = [own, *others]
    level = max(p[0] for p in parts)
    if level == OK:
        return OK, own[1]
    bad = sorted((p for p in parts if p[0] != OK and p[1]), key=lambda p: -p[0])
    return level, "; ".join(p[1] for p in bad)


S = TypeVar("S")


class Reconnector(Generic[S]):
    """Keeps a source open: opens it through ``open_fn`` and, after ``failed()``, closes it and
    tries again after ``initial_s``, doubling per consecutive failure up to ``max_s``. The
    back-off resets only when the source delivers (``delivered()``), not when it merely opens:
    a device that opens but never yields a frame must still back off.

    ``log(level, message)`` hears every failure and recovery (the node's logger)."""

    def __init__(self, open_fn: Callable[[], S], description: str, initial_s: float = 1.0,
                 max_s: float = 30.0, log: Optional[Callable[[int, str], None]] = None,
                 clock: Clock = time.monotonic) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        self._open = open_fn
        self.description = description
        self.initial_s, self.max_s = initial_s, max_s
        self._log = log or (lambda level, message: None)
        self._clock = clock
        self.source: Optional[S] = None
        self.attempts = 0      # open attempts, all together
        self.failures = 0      # failed opens and failed reads
        self.reconnects = 0    # successful opens after a failure
        self.consecutive = 0   # failures since the source last delivered
        self.last_error = ""
        self._next_attempt = clock()
        self._delivered_since_open = False

    @property
    def retry_in_s(self) -> float:
        return max(0.0, self._next_attempt - self._clock())

    def poll(self) -> Optional[S]:
        """The open source; opens it when an attempt is due. None while waiting to retry."""
        if self.source is not None:
            return self.source
        if self._clock() < self._next_attempt:
            return None
        self.attempts += 1
        try:
            self.source = self._open()
        except Exception as exc:  # whatever a driver raises, the node keeps trying
            self._schedule(f"cannot open {self.description}: {exc}")
            return None
        self._delivered_since_open = False
        if self.failures:
            self.reconnects += 1
            self._log(OK, f"{self.description} open again after {self.consecutive} failed "
                          f"attempt{'s' if self.consecutive != 1 else ''}")
        return self.source

    def delivered(self) -> None:
        """The source produced data: it works, so the next failure starts a fresh back-off."""
        if not self._delivered_since_open:
            self._delivered_since_open = True
            self.consecutive = 0
            self.last_error = ""

    def failed(self, reason: str) -> None:
        """The open source failed (a read error, a device that stopped delivering): close it
        and schedule the next open."""
        source, self.source = self.source, None
        if source is not None:
            close = getattr(source, "close", None)
            try:
                if close is not None:
                    close()
            except Exception:  # a dead device may fail to close too; it is gone either way
                pass
        self._schedule(f"{self.description} failed: {reason}")

    def _schedule(self, error: str) -> None:
        self.failures += 1
        self.consecutive += 1
        self.last_error = error
        delay = min(self.max_s, self.initial_s * 2 ** (self.consecutive - 1))
        self._next_attempt = self._clock() + delay
        self._log(ERROR, f"{error}; retry {self.consecutive} in {delay:.1f} s")

    def status(self) -> tuple[int, str]:
        """ERROR while the source is not open (with why and when the next try is), else OK."""
        if self.source is None and self.last_error:
            return ERROR, f"{self.last_error}; retry {self.consecutive} in {self.retry_in_s:.1f} s"
        return OK, ""

    def close(self) -> None:
        source, self.source = self.source, None
        close = getattr(source, "close", None)
        if close is not None:
            close()
