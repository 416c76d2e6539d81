"""emotion_core.stamp_order: out-of-order stamps vs. jumps back in time."""
from __future__ import annotations

import pytest

from emotion_core.stamp_order import IN_ORDER, JUMP_BACK, OUT_OF_ORDER, StampOrder

MS = 1_000_000


def test_small_steps_back_are_out_of_order_large_ones_restart():
    order = StampOrder(jump_s=0.5)
    assert [order.check(t * MS) for t in (0, 100, 200)] == [IN_ORDER] * 3
    assert order.check(150 * MS) == OUT_OF_ORDER and order.newest_ns == 200 * MS  # newest kept
    assert order.check(200 * MS) == OUT_OF_ORDER  # a duplicate stamp
    assert order.check(250 * MS) == IN_ORDER
    assert order.check(-1000 * MS) == JUMP_BACK  # a looping bag
    assert order.check(-900 * MS) == IN_ORDER  # the new timeline continues


def test_threshold_must_be_positive():
    with pytest.raises(ValueError):
        StampOrder(0.0)
