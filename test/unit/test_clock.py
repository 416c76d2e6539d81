"""SampleClock: stamps from the sample count, immune to arrival jitter, re-anchored when the
device's sample clock drifts from the system clock.

The simulated device captures ``CHUNK`` samples per chunk at ``RATE * speed`` real samples per
second; a chunk is delivered ``LATENCY`` plus up to ``JITTER`` after its last sample was captured.
"""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.clock import NS, SampleClock

RATE = 16000
CHUNK = 1600          # 100 ms of nominal sample time
LATENCY = 5_000_000   # 5 ms
JITTER = 30_000_000   # arrival jitter up to 30 ms (below the 50 ms default max drift)
T0 = 1_000 * NS


def simulate(clock: SampleClock, chunks: int, speed: float = 1.0, seed: int = 0,
             sizes=None) -> tuple[np.ndarray, np.ndarray]:
    """Stamps given by the clock and the true capture times of each chunk's first sample."""
    rng = np.random.default_rng(seed)
    stamps, truth = [], []
    captured = 0
    for k in range(chunks):
        n = CHUNK if sizes is None else sizes[k % len(sizes)]
        truth.append(T0 + captured * NS / (RATE * speed))
        captured += n
        arrival = T0 + captured * NS / (RATE * speed) + LATENCY + rng.uniform(0, JITTER)
        stamps.append(clock.stamp(n, int(arrival)))
    return np.array(stamps, np.int64), np.array(truth)


def test_stamps_are_the_sample_count_whatever_the_jitter():
    clock = SampleClock(RATE)
    stamps, _ = simulate(clock, 600)
    assert clock.reanchors == 0
    np.testing.assert_array_equal(np.diff(stamps), CHUNK * NS // RATE)  # exactly 100 ms apart
    # A second run with other jitter draws differs only by the first chunk's own delay.
    other, _ = simulate(SampleClock(RATE), 600, seed=7)
    assert len(set((other - stamps).tolist())) == 1


def test_first_stamp_is_arrival_minus_chunk_duration():
    clock = SampleClock(RATE)
    assert clock.stamp(CHUNK, 5 * NS) == 5 * NS - 100_000_000
    assert clock.stamp(CHUNK, 5 * NS + 123_000_000) == 5 * NS  # the next chunk: + 100 ms


def test_stamps_do_not_accumulate_rounding_error():
    # 1024 samples at 44.1 kHz last 23219954.648... ns. The stamp of chunk k is anchor +
    # floor(k * 1024 * 1e9 / 44100), not k times a rounded chunk duration.
    rate, n = 44100, 1024
    clock = SampleClock(rate)
    period = n / rate
    stamps = [clock.stamp(n, int(T0 + (k + 1) * period * NS)) for k in range(2000)]
    for k in (1, 999, 1999):
        assert stamps[k] - stamps[0] == k * n * NS // rate


def test_variable_chunk_sizes_follow_the_cumulative_count():
    clock = SampleClock(RATE)
    sizes = [160, 1600, 333, 4000]
    stamps, _ = simulate(clock, 40, sizes=sizes)
    counts = np.cumsum([0] + [sizes[k % 4] for k in range(39)])
    np.testing.assert_array_equal(stamps - stamps[0], counts * NS // RATE)


def error_bound_ns(speed: float, clock: SampleClock) -> float:
    """Worst stamp error the design allows: the first chunk's delay (it anchors the clock),
    the drift of the first window (it becomes the baseline), the drift tolerated before a
    correction, one chunk of drift, and jitter left in a windowed minimum."""
    window_s = clock._lags.maxlen * CHUNK / RATE
    drift_rate = abs(1.0 - 1.0 / speed)
    return (LATENCY + JITTER) + window_s * drift_rate * NS + clock.max_drift_ns \
        + CHUNK / RATE * drift_rate * NS + JITTER


@pytest.mark.parametrize("speed", [1.01, 0.99])
def test_drifting_device_is_reanchored_and_the_error_stays_bounded(speed):
    clock = SampleClock(RATE)
    stamps, truth = simulate(clock, 3000, speed=speed)  # 300 s of audio
    err = stamps - truth
    bound = error_bound_ns(speed, clock)
    assert np.abs(err).max() < bound
    # Bounded means it does not grow: the last minute is no worse than the bound either.
    assert np.abs(err[-600:]).max() < bound
    # The drift to remove is 1% of 300 s = ~3 s, minus the first window's 50 ms that the baseline
    # absorbs; each correction removes a bit more than max_drift (50 ms) and at most max_drift +
    # one chunk's drift + jitter.
    total = abs(1.0 - 1.0 / speed) * 300 * NS - 0.05 * NS
    assert total / (clock.max_drift_ns + 1_000_000 + JITTER) <= clock.reanchors <= total / clock.max_drift_ns
    # Between corrections stamps stay exactly sample-spaced; each correction is one step of the
    # drift's sign (a fast device's stamps run ahead, so they move back).
    steps = np.diff(stamps) - CHUNK * NS // RATE
    jumps = steps[steps != 0]
    assert jumps.size == clock.reanchors
    assert np.all(np.sign(jumps) == (-1 if speed > 1 else 1))
    assert np.all(np.abs(jumps) > clock.max_drift_ns)


def test_fast_device_without_correction_measures_its_drift():
    # max_drift so large it never re-anchors: drift_ns reports what accumulated after the
    # baseline window: 1% of (300 s - 5 s) of sample time, negative (samples arrive early).
    clock = SampleClock(RATE, max_drift_s=100.0)
    simulate(clock, 3000, speed=1.01)
    expected = -(1 - 1 / 1.01) * (300 - 5) * NS
    assert clock.reanchors == 0
    assert clock.drift_ns == pytest.approx(expected, abs=JITTER + 2_000_000)


def test_reset_anchors_again_at_the_next_chunk():
    clock = SampleClock(RATE)
    simulate(clock, 10)
    clock.reset()
    assert clock.stamp(CHUNK, 50 * NS) == 50 * NS - 100_000_000
    assert clock.drift_ns == 0


def test_sample_rate_must_be_positive():
    with pytest.raises(ValueError, match="sample_rate"):
        SampleClock(0)
