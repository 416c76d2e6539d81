"""A/V alignment: the approximate-time policy (hand-derived pairs, invariants, and parity with
the real message_filters where it is installed), the audio ring buffer, audio status, the rate
limiter.

The pairing rule (sync.py, after message_filters.ApproximateTimeSynchronizer): when a message
arrives it joins its queue (oldest stamp dropped beyond queue_size); every other queue offers its
stamps within slop of it (|dt| <= slop), nearest first, ties in queue order; the first
combination whose spread (max - min) is strictly below slop is emitted and removed.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from emotion_core.sync import (AUDIO_MISSING, AUDIO_OK, AUDIO_PARTIAL, AUDIO_STALE, NS,
                               ApproximateTimePolicy, AudioRingBuffer, RateLimiter, audio_status,
                               pair_streams)

try:  # apt ros-<distro>-message-filters; there is no PyPI wheel
    import message_filters
    from rclpy.time import Time as RosTime
except ImportError:
    message_filters = None

MS = 1_000_000
FRAME, AUDIO = 0, 1


def feed(policy: ApproximateTimePolicy, events):
    """Feed ``(input, stamp_ms)`` in arrival order; items are the stamps in ms."""
    out = []
    for index, stamp_ms in events:
        m = policy.add(index, stamp_ms * MS, stamp_ms)
        if m is not None:
            out.append(m)
    return out


# -- the pairing rule on crafted streams ---------------------------------------------------------
def test_in_order_streams_pair_each_frame_with_its_nearby_chunk():
    # slop 50 ms. f0 waits; a10 arrives: |10-0| <= 50, spread 10 < 50 -> (0, 10). a90 has no
    # frame queued; f100 finds a90 (10 ms) -> (100, 90). f200 waits; a215 -> (200, 215).
    p = ApproximateTimePolicy(2, 10, 0.05)
    events = [(FRAME, 0), (AUDIO, 10), (AUDIO, 90), (FRAME, 100), (FRAME, 200), (AUDIO, 215)]
    assert feed(p, events) == [(0, 10), (100, 90), (200, 215)]


def test_nearest_candidate_is_taken_and_the_others_stay_queued():
    # Three chunks wait; f100 sees 60 (40), 80 (20), 95 (5): nearest first -> (100, 95).
    # f130 then sees 80 (|dt| = 50 <= slop, a candidate) but spread 50 is not < 50: no pair;
    # 60 is 70 away, not a candidate. a125 arrives: frames within slop: 130 (5) -> (130, 125).
    # f75 (late) then finds 80 (5) -> (75, 80); 60 stays unmatched.
    p = ApproximateTimePolicy(2, 10, 0.05)
    events = [(AUDIO, 60), (AUDIO, 80), (AUDIO, 95), (FRAME, 100), (FRAME, 130), (AUDIO, 125),
              (FRAME, 75)]
    assert feed(p, events) == [(100, 95), (130, 125), (75, 80)]
    assert sorted(p.queues[AUDIO]) == [60 * MS]
    assert p.queues[FRAME] == {}


def test_spread_equal_to_slop_never_pairs():
    p = ApproximateTimePolicy(2, 10, 0.05)
    assert feed(p, [(FRAME, 0), (AUDIO, 50), (FRAME, 100)]) == []
    assert feed(p, [(AUDIO, 149)]) == [(100, 149)]


def test_queue_size_drops_the_oldest_stamp():
    # queue_size 2: a10 is dropped when a30 arrives. f12 takes a20 (8 ms, nearer than a30).
    # f5 then sees only a30 (25 ms) -- had a10 survived, |5-10| = 5 would have won.
    p = ApproximateTimePolicy(2, 2, 0.05)
    assert feed(p, [(AUDIO, 10), (AUDIO, 20), (AUDIO, 30), (FRAME, 12), (FRAME, 5)]) == [(12, 20), (5, 30)]


def test_equal_distance_ties_go_to_the_earlier_arrival():
    # a110 arrives before a90; both are 10 ms from f100. message_filters sorts the candidates by
    # |dt| alone with Python's stable sort, so the tie keeps queue (arrival) order: a110.
    p = ApproximateTimePolicy(2, 10, 0.05)
    assert feed(p, [(AUDIO, 110), (AUDIO, 90), (FRAME, 100)]) == [(100, 110)]
    p = ApproximateTimePolicy(2, 10, 0.05)
    assert feed(p, [(AUDIO, 90), (AUDIO, 110), (FRAME, 100)]) == [(100, 90)]


def test_a_late_message_dropped_by_its_own_queue_is_not_paired():
    # queue_size 1: f5000 is queued; f990 arrives late, is the oldest of its queue and is dropped
    # at once. a1000 is within slop of it, but a dropped message cannot be emitted (message_filters
    # checks every stamp is still queued): no pair, no error, both survivors stay queued.
    p = ApproximateTimePolicy(2, 1, 0.05)
    assert feed(p, [(AUDIO, 1000), (FRAME, 5000), (FRAME, 990)]) == []
    assert list(p.queues[FRAME]) == [5000 * MS]
    assert list(p.queues[AUDIO]) == [1000 * MS]
    assert feed(p, [(AUDIO, 5010)]) == [(5000, 5010)]


def test_three_inputs_need_a_mutually_close_set():
    # slop 50: c160 sees a100? 60 > 50, no candidate -> wait. a140 arrives: b130 (10), c160 (20):
    # spread 160 - 130 = 30 < 50 -> (140, 130, 160).
    p = ApproximateTimePolicy(3, 10, 0.05)
    got = feed(p, [(0, 100), (1, 130), (2, 160), (0, 140)])
    assert got == [(140, 130, 160)]
    assert list(p.queues[0]) == [100 * MS]


def test_callbacks_receive_the_matched_items():
    p = ApproximateTimePolicy(2, 5, 0.02)
    seen = []
    p.register_callback(lambda f, a: seen.append((f, a)))
    p.add(FRAME, 1_000 * MS, "frame")
    assert seen == []
    assert p.add(AUDIO, 1_010 * MS, "chunk") == ("frame", "chunk")
    assert seen == [("frame", "chunk")]


def test_clear_forgets_queued_messages():
    p = ApproximateTimePolicy(2, 5, 0.05)
    p.add(FRAME, 0, "f")
    p.clear()
    assert p.add(AUDIO, 10 * MS, "a") is None


@pytest.mark.parametrize("args, fragment", [((1, 10, 0.1), "two inputs"), ((2, 0, 0.1), "queue_size"),
                                            ((2, 10, 0.0), "slop")])
def test_policy_arguments_are_checked(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        ApproximateTimePolicy(*args)


def test_pair_streams_merges_by_stamp():
    # Merged order: f0, a10, a90, f100, f200, a215 -- the first crafted case again.
    frames = [0, 100 * MS, 200 * MS]
    audio = [10 * MS, 90 * MS, 215 * MS]
    assert pair_streams(frames, audio, 10, 0.05) == [(0, 10 * MS), (100 * MS, 90 * MS), (200 * MS, 215 * MS)]


# -- invariants on random streams ----------------------------------------------------------------
def random_events(seed: int, seconds: float = 6.0, fps: float = 30.0, chunk_s: float = 0.1,
                  grid_ms: bool = False):
    """Frame and chunk stamps with jitter, drops and random delivery latency, in arrival order
    (so the two streams interleave out of stamp order, and now and then within a stream)."""
    rng = np.random.default_rng(seed)
    events = []
    for index, period in ((FRAME, 1.0 / fps), (AUDIO, chunk_s)):
        n = int(seconds / period)
        stamps = np.arange(n) * period + rng.normal(0, 0.004, n)
        keep = rng.random(n) > 0.1
        latency = rng.exponential(0.03, n) + (0.05 if index == AUDIO else 0.0)
        for s, lat, k in zip(stamps, latency, keep):
            if k:
                stamp_ns = int(round(s * 1000)) * MS if grid_ms else int(s * NS)
                events.append((s + lat, index, max(stamp_ns, 0)))
    events.sort()
    deduped, seen = [], set()
    for _, index, stamp in events:  # one message per (input, stamp)
        if (index, stamp) not in seen:
            seen.add((index, stamp))
            deduped.append((index, stamp))
    return deduped


@pytest.mark.parametrize("seed", range(4))
def test_pairs_respect_slop_and_use_each_message_once(seed):
    slop = 0.04
    p = ApproximateTimePolicy(2, 8, slop)
    pairs = [m for index, stamp in random_events(seed) if (m := p.add(index, stamp, stamp))]
    assert len(pairs) > 20
    assert all(abs(f - a) < slop * NS for f, a in pairs)
    assert len({f for f, _ in pairs}) == len(pairs) and len({a for _, a in pairs}) == len(pairs)
    assert all(len(q) <= 8 for q in p.queues)


# -- parity with the real message_filters ----------------------------------------------------------
def run_message_filters(events, queue_size: int, slop: float):
    inputs = [message_filters.SimpleFilter(), message_filters.SimpleFilter()]
    sync = message_filters.ApproximateTimeSynchronizer(inputs, queue_size, slop)
    out = []
    sync.registerCallback(lambda f, a: out.append((f.stamp_ns, a.stamp_ns)))
    for index, stamp in events:
        msg = SimpleNamespace(header=SimpleNamespace(stamp=RosTime(nanoseconds=stamp)), stamp_ns=stamp)
        inputs[index].signalMessage(msg)
    return out


def run_policy(events, queue_size: int, slop: float):
    p = ApproximateTimePolicy(2, queue_size, slop)
    return [m for index, stamp in events if (m := p.add(index, stamp, stamp))]


@pytest.mark.skipif(message_filters is None,
                    reason="message_filters is not importable (no PyPI wheel; apt ros-<distro>-"
                           "message-filters provides it): parity checked only where installed")
def test_same_pairs_as_message_filters():
    compared = 0
    for queue_size, slop in [(1, 0.05), (3, 0.02), (10, 0.05), (10, 0.2)]:
        for seed in range(6):
            events = random_events(seed, grid_ms=seed % 2 == 1)  # ms grid: many equal-distance ties
            expected = run_message_filters(events, queue_size, slop)
            assert run_policy(events, queue_size, slop) == expected, (queue_size, slop, seed)
            compared += len(expected)
    assert compared > 100


# -- audio ring buffer -----------------------------------------------------------------------------
RATE = 16000
CHUNK = 1600  # 100 ms


def filled_buffer(first_s: float = 1.0, chunks: int = 10, **kwargs) -> AudioRingBuffer:
    """Chunk k holds the constant value k + 1 and starts at first_s + 0.1 k."""
    buf = AudioRingBuffer(RATE, **kwargs)
    for k in range(chunks):
        assert buf.add(int(round((first_s + 0.1 * k) * NS)), np.full(CHUNK, k + 1, np.float32))
    return buf


def test_window_fully_inside_the_buffer():
    buf = filled_buffer()  # covers [1.0, 2.0)
    w = buf.window(int(1.8 * NS), 0.5)  # [1.3, 1.8): chunks 3..7, 1600 samples each
    assert (w.start_ns, w.end_ns) == (int(1.3 * NS), int(1.8 * NS))
    assert w.samples.size == 8000 and w.coverage == 1.0
    np.testing.assert_array_equal(w.samples, np.repeat(np.arange(4, 9), CHUNK).astype(np.float32))
    assert w.newest_ns == 2 * NS
    assert audio_status(w, stale_s=0.5) == AUDIO_OK


def test_window_reaching_past_the_newest_sample():
    buf = filled_buffer()
    w = buf.window(int(2.5 * NS), 1.0)  # [1.5, 2.5): audio up to 2.0 -> half covered
    assert w.coverage == pytest.approx(0.5)
    np.testing.assert_array_equal(w.samples[:8000], np.repeat(np.arange(6, 11), CHUNK))
    np.testing.assert_array_equal(w.samples[8000:], 0)
    assert audio_status(w, stale_s=1.0) == AUDIO_PARTIAL  # 0.5 s behind, tolerated: partial
    assert audio_status(w, stale_s=0.3) == AUDIO_STALE    # 0.5 s behind > 0.3 s: stale


def test_gap_in_the_stream_lowers_coverage():
    buf = AudioRingBuffer(RATE)
    for k in (0, 1, 2, 5, 6, 7, 8, 9):  # chunks 3 and 4 never arrived
        buf.add(int(round((1.0 + 0.1 * k) * NS)), np.ones(CHUNK, np.float32))
    w = buf.window(2 * NS, 1.0)
    assert w.coverage == pytest.approx(0.8)
    np.testing.assert_array_equal(w.samples[4800:8000], 0)
    assert audio_status(w, stale_s=0.5) == AUDIO_PARTIAL
    assert audio_status(w, stale_s=0.5, min_coverage=0.8) == AUDIO_OK


def test_empty_buffer_is_missing_and_old_audio_is_stale():
    buf = AudioRingBuffer(RATE)
    w = buf.window(5 * NS, 1.0)
    assert w.coverage == 0.0 and w.newest_ns is None and not w.samples.any()
    assert audio_status(w, stale_s=0.5) == AUDIO_MISSING
    buf = filled_buffer()  # ends at 2.0 s
    assert audio_status(buf.window(5 * NS, 1.0), stale_s=0.5) == AUDIO_STALE
    # A frame older than all the audio: nothing covers it but the stream is alive.
    assert audio_status(buf.window(int(0.5 * NS), 0.3), stale_s=0.5) == AUDIO_MISSING


def test_chunk_offsets_are_placed_to_the_sample():
    buf = AudioRingBuffer(RATE)
    # A chunk starting 37 samples after the window start lands at index 37.
    start = 10 * NS
    buf.add(start + 37 * NS // RATE, np.arange(1, 101, dtype=np.float32))
    w = buf.window(start + 200 * NS // RATE, 200 / RATE)
    assert w.start_ns == start
    np.testing.assert_array_equal(w.samples[:37], 0)
    np.testing.assert_array_equal(w.samples[37:137], np.arange(1, 101))
    assert w.coverage == pytest.approx(100 / 200)


def test_clock_jump_backwards_resets_the_buffer():
    buf = filled_buffer(first_s=10.0)  # [10.0, 11.0)
    assert buf.add(2 * NS, np.full(CHUNK, -1.0, np.float32)) is False  # the bag looped
    assert buf.resets == 1
    assert buf.newest_ns == int(2.1 * NS)
    assert buf.window(11 * NS, 0.5).coverage == 0.0  # the old audio is gone, never glued on
    w = buf.window(int(2.1 * NS), 0.6)
    assert w.coverage == pytest.approx(1 / 6)
    np.testing.assert_array_equal(w.samples[-CHUNK:], -1.0)


def test_small_overlap_within_tolerance_is_kept():
    buf = filled_buffer()  # ends at 2.0 s
    # Starts 0.1 s before the previous end: inside the 0.25 s tolerance, no reset.
    assert buf.add(int(1.9 * NS), np.full(CHUNK, 99.0, np.float32)) is True
    assert buf.resets == 0
    w = buf.window(2 * NS, 0.2)
    np.testing.assert_array_equal(w.samples[:CHUNK], 9.0)
    np.testing.assert_array_equal(w.samples[CHUNK:], 99.0)  # the newer chunk wins the overlap


def test_capacity_drops_chunks_that_ended_too_long_ago():
    buf = filled_buffer(first_s=0.0, chunks=30, capacity_s=1.0)  # newest end 3.0 s
    # Kept: chunks whose end >= 3.0 - 1.0, i.e. [1.9, 2.0) .. [2.9, 3.0): 11 chunks.
    assert buf.window(int(1.9 * NS), 1.9).coverage == 0.0
    assert buf.window(3 * NS, 1.1).coverage == 1.0
    assert buf.window(3 * NS, 1.2).coverage == pytest.approx(1.1 / 1.2)


def test_ring_buffer_arguments():
    with pytest.raises(ValueError, match="sample_rate"):
        AudioRingBuffer(0)
    buf = filled_buffer()
    buf.clear()
    assert buf.newest_ns is None


# -- rate limiter ----------------------------------------------------------------------------------
def frame_stamps(fps: float, n: int, jitter_ms: float = 0.0, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(round(i * NS / fps + rng.uniform(-jitter_ms, jitter_ms) * MS)) for i in range(n)]


@pytest.mark.parametrize("jitter_ms", [0.0, 0.9])
def test_thirty_fps_at_ten_hz_gives_every_third_frame(jitter_ms):
    # Accepted frames are >= 80 ms apart (10 Hz less 20% slack): 3 frames = 100 ms +- 1.8 ms
    # pass, 2 frames = 66.7 ms do not.
    limiter = RateLimiter(10.0)
    stamps = frame_stamps(30.0, 90, jitter_ms)
    accepted = [i for i, s in enumerate(stamps) if limiter.accept(s)]
    assert accepted == list(range(0, 90, 3))


@pytest.mark.parametrize("jitter_ms", [0.3, 3.0])
def test_limit_equal_to_the_frame_rate_passes_jittered_frames(jitter_ms):
    # A 30 fps camera timer jitters by milliseconds: none of its frames may be lost at 30 Hz.
    limiter = RateLimiter(30.0)
    stamps = frame_stamps(30.0, 300, jitter_ms=jitter_ms, seed=3)
    assert all(limiter.accept(s) for s in stamps)


def test_twice_the_rate_is_halved_and_spacing_never_drops_below_the_slack():
    limiter = RateLimiter(30.0)
    stamps = frame_stamps(60.0, 600, jitter_ms=2.0)  # 10 s at 60 fps
    accepted = [s for s in stamps if limiter.accept(s)]
    assert 295 <= len(accepted) <= 301
    assert min(np.diff(accepted)) >= 0.8 * NS / 30


def test_zero_rate_is_unlimited():
    limiter = RateLimiter(0.0)
    assert all(limiter.accept(s) for s in [0, 0, 1, 1, 2])


def test_stamp_going_backwards_restarts_the_limiter():
    limiter = RateLimiter(10.0)
    assert limiter.accept(5 * NS)
    assert not limiter.accept(5 * NS + 50 * MS)
    assert limiter.accept(1 * NS)  # looped bag: accepted at once
    assert not limiter.accept(1 * NS + 50 * MS)
    assert limiter.accept(1 * NS + 100 * MS)


def test_set_rate_changes_the_period_and_rejects_negative():
    limiter = RateLimiter(10.0)
    limiter.set_rate(5.0)
    assert limiter.accept(0)
    assert not limiter.accept(150 * MS)
    assert limiter.accept(200 * MS)
    with pytest.raises(ValueError, match=">= 0"):
        limiter.set_rate(-1.0)
