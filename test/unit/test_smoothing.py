"""ProbabilitySmoother: an exponential moving average in stamp time, not in calls.

With weight ``1 - exp(-dt / tau)`` per update, a constant input ``p`` after a start ``q`` gives
``exp(-T / tau) q + (1 - exp(-T / tau)) p`` after total time ``T``, however T was cut into steps.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from emotion_core.smoothing import ProbabilitySmoother

NS = 1_000_000_000
Q = np.array([0.7, 0.2, 0.1])
P = np.array([0.1, 0.1, 0.8])


def run(steps_s, tau=0.5) -> np.ndarray:
    s = ProbabilitySmoother(tau_s=tau)
    t = 10 * NS
    s.update(Q, t)
    out = None
    for dt in steps_s:
        t += int(round(dt * NS))
        out = s.update(P, t)
    return out


@pytest.mark.parametrize("steps", [[1 / 30] * 30, [0.1] * 10, [0.5, 0.25, 0.25],
                                   [0.013, 0.4, 0.087, 0.3, 0.2]])
def test_result_depends_on_elapsed_time_only(steps):
    total = sum(steps)
    w = math.exp(-total / 0.5)
    np.testing.assert_allclose(run(steps), w * Q + (1 - w) * P, rtol=1e-5)


def test_first_update_passes_through_and_output_is_normalised():
    s = ProbabilitySmoother()
    out = s.update(np.array([2.0, 1.0, 1.0]), 0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.5, 0.25, 0.25])


def test_same_stamp_changes_nothing():
    s = ProbabilitySmoother()
    s.update(Q, NS)
    np.testing.assert_allclose(s.update(P, NS), Q, rtol=1e-6)  # dt = 0: weight 0


def test_gap_longer_than_reset_after_restarts():
    s = ProbabilitySmoother(tau_s=0.5, reset_after_s=2.0)
    s.update(Q, 0)
    np.testing.assert_allclose(s.update(P, int(2.5 * NS)), P, rtol=1e-6)


def test_stamp_going_backwards_restarts():
    s = ProbabilitySmoother(tau_s=0.5)
    s.update(Q, 5 * NS)
    np.testing.assert_allclose(s.update(P, 4 * NS), P, rtol=1e-6)


def test_zero_tau_is_no_smoothing():
    s = ProbabilitySmoother(tau_s=0.0)
    s.update(Q, 0)
    np.testing.assert_allclose(s.update(P, NS // 100), P, rtol=1e-6)


def test_label_set_change_restarts_and_reset_forgets():
    s = ProbabilitySmoother()
    s.update(Q, 0)
    np.testing.assert_allclose(s.update(np.array([0.5, 0.5]), NS // 10), [0.5, 0.5])
    s.reset()
    np.testing.assert_allclose(s.update(P, NS // 5), P, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{"tau_s": -1.0}, {"reset_after_s": 0.0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        ProbabilitySmoother(**kwargs)
