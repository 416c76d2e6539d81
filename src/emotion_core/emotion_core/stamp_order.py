"""Order of a stream's stamps: in order, out of order, or a jump back in time.

Recorded data breaks both ways: a bag written from several sources can hold a few messages out
of order (a small step back), and a looping bag or a restarted driver makes time jump back by
much more. The first is a bad message to drop and count; the second means every buffer keyed
by time must restart. One threshold tells them apart.
"""
from __future__ import annotations

from typing import Optional

IN_ORDER = "in_order"
OUT_OF_ORDER = "out_of_order"
JUMP_BACK = "jump_back"


class StampOrder:
    """Classifies each stamp against the newest one seen so far."""

    def __init__(self, jump_s: float) -> None:
        if jump_s <= 0:
            raise ValueError("jump_s must be > 0")
        self.jump_ns = int(jump_s * 1e9)
        self.newest_ns: Optional[int] = None

    def check(self, stamp_ns: int) -> str:
        """IN_ORDER (newer than every stamp so far), OUT_OF_ORDER (not newer, but by less than
        the jump threshold: the newest stamp is kept), or JUMP_BACK (the stream restarts here)."""
        newest = self.newest_ns
        if newest is None or stamp_ns > newest:
            self.newest_ns = stamp_ns
            return IN_ORDER
        if stamp_ns < newest - self.jump_ns:
            self.newest_ns = stamp_ns
            return JUMP_BACK
        return OUT_OF_ORDER

    def reset(self) -> None:
        self.newest_ns = None
