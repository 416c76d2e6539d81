"""AvPairer: the one pairing rule av_sync_node, offline evaluation and the bag player drive."""
from __future__ import annotations

import math

import numpy as np
import pytest

from emotion_core.audio import encode_pcm
from emotion_core.pairing import (ACCEPTED, BAD_CHUNK, CLOCK_JUMP, OUT_OF_ORDER_DROPPED, RATE_LIMITED,
                                  UNSTAMPED, AudioRateCheck, AvPairer, PairingSettings)
from emotion_core.settings import from_mapping, problems, specs, with_values
from emotion_core.sync import AUDIO_MISSING, AUDIO_OK, AUDIO_STALE

NS = 1_000_000_000
RATE = 16000
CHUNK = 800  # 50 ms
T0 = 100 * NS


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def pairer(**changes) -> tuple[AvPairer, FakeClock]:
    clock = FakeClock()
    p = AvPairer(with_values(PairingSettings(), **changes), clock=clock)
    p.set_audio_format("S16LE", 1, RATE)
    return p, clock


def chunk(k: int, amplitude: float = 0.3, n: int = CHUNK) -> tuple[int, bytes]:
    """Chunk k of a continuous tone: (start stamp, S16LE bytes)."""
    t = (np.arange(n) + k * CHUNK) / RATE
    return T0 + k * CHUNK * NS // RATE, encode_pcm((amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32), "S16LE")


def test_a_frame_goes_out_once_audio_reaches_its_stamp_with_the_window_ending_there():
    p, _ = pairer(rate_hz=0.0)
    for k in range(40):  # 2 s of audio
        p.add_audio(*chunk(k))
    frame_stamp = T0 + 2 * NS + 20_000_000  # 20 ms past the newest sample
    assert p.add_frame(frame_stamp, "f") == ACCEPTED
    assert p.release() == []  # waits: audio does not reach it yet
    p.add_audio(*chunk(40))
    (pair,) = p.release()
    assert pair.frame == "f" and pair.window.end_ns == frame_stamp
    assert pair.status == AUDIO_OK and pair.window.coverage > 0.95
    # message_filters' policy is greedy: the nearest chunk queued when the frame arrived (its
    # end 20 ms before the frame) is the match.
    assert abs(pair.sync_offset_s + 0.02) < 1e-6
    assert p.counters["pairs_synchronized"] == 1 and p.counters["pairs_ok"] == 1


def test_without_audio_a_frame_waits_at_most_max_wait():
    p, clock = pairer(rate_hz=0.0, max_wait_s=0.3)
    for k in range(10):
        p.add_audio(*chunk(k))
    p.add_frame(T0 + 3 * NS, "late")  # audio stopped 2.5 s earlier
    clock.t = 0.29
    assert p.release() == []
    clock.t = 0.31
    (pair,) = p.release()
    assert pair.status == AUDIO_STALE and math.isnan(pair.sync_offset_s)


def test_face_only_input_never_waits():
    p, clock = pairer(rate_hz=0.0, max_wait_s=0.3)
    p.add_frame(T0, "a")
    (pair,) = p.release()  # no audio has ever arrived: out at once
    assert pair.status == AUDIO_MISSING and clock.t == 0.0


def test_rate_limit_order_and_unstamped_frames():
    p, _ = pairer(rate_hz=10.0)
    outcomes = [p.add_frame(T0 + i * NS // 30, i) for i in range(9)]
    assert outcomes.count(ACCEPTED) == 3 and outcomes.count(RATE_LIMITED) == 6
    assert p.add_frame(T0 + NS // 30, "old") == OUT_OF_ORDER_DROPPED
    assert p.add_frame(0, "unstamped") == UNSTAMPED  # sensor_msgs/Image() default: not a jump
    assert p.counters["clock_jumps"] == 0 and p.counters["frames_unstamped"] == 1


def test_a_clock_jump_resets_buffers_and_pending_frames():
    p, _ = pairer(rate_hz=0.0, max_wait_s=5.0)
    for k in range(20):
        p.add_audio(*chunk(k))
    p.add_frame(T0 + 5 * NS, "waiting")
    assert p.add_frame(T0, "after the jump") == CLOCK_JUMP
    assert list(p.pending.values())[0][0] == "after the jump" and len(p.pending) == 1
    assert p.buffer.newest_ns is None and p.counters["clock_jumps"] == 1


def test_bad_chunks_are_counted_not_raised():
    p, _ = pairer()
    assert p.add_audio(T0, b"\x01\x02\x03")[0] == BAD_CHUNK
    assert p.add_audio(T0, b"")[0] == BAD_CHUNK
    assert p.counters["audio_bad_chunks"] == 2


@pytest.mark.parametrize("defect", ["lost", "odd", "clean"])
def test_one_lost_or_odd_chunk_is_not_a_wrong_sample_rate(defect):
    p, _ = pairer()
    start = T0
    for k in range(200):
        n = 733 if (defect == "odd" and k == 50) else CHUNK
        if not (defect == "lost" and k == 50):
            t = np.zeros(n, np.float32)
            t[::40] = 0.1
            p.add_audio(start, encode_pcm(t, "S16LE"))
        start += n * NS // RATE
    assert p.counters["audio_rate_mismatch"] == 0 and p.rate_problem == ""


def test_a_stream_at_the_wrong_rate_is_reported_with_its_real_rate():
    check = AudioRateCheck(tolerance=0.1)
    flagged = [check.add(T0 + k * NS // 10, CHUNK, RATE) for k in range(40)]  # 50 ms chunks every 100 ms
    assert flagged[-1] and "~8000 Hz" in check.problem and "AudioInfo says 16000 Hz" in check.problem


def _feed(p: AvPairer, starts: list[int], n: int = CHUNK) -> list[str]:
    """Offer silent chunks stamped ``starts``; returns the details the pairer gave."""
    return [p.add_audio(start, encode_pcm(np.zeros(n, np.float32), "S16LE"))[1] for start in starts]


def _sample_clock_stamps(arrivals_ns: list[int], rate: int = RATE, n: int = CHUNK) -> list[int]:
    """The stamps audio_node's SampleClock gives chunks of ``n`` samples that arrive at ``arrivals_ns``."""
    from emotion_core.clock import SampleClock

    clock = SampleClock(rate, max_drift_s=0.05)
    return [clock.stamp(n, t) for t in arrivals_ns]


@pytest.mark.parametrize("steps_ms", [[320], [-30], [320, 250, -40]])
def test_a_sample_clock_step_is_counted_not_taken_for_a_wrong_rate(steps_ms):
    """The issue's case: a starved audio_node re-anchored its clock by ~320 ms, and 64 chunks of
    3.2 s then read 1.10x (~14545 Hz): one step between chunks that otherwise agree."""
    p, _ = pairer()
    starts, t, step_at = [], T0, {40 + 80 * i: ms for i, ms in enumerate(steps_ms)}
    for k in range(40 + 80 * len(steps_ms)):
        t += step_at.get(k, 0) * 1_000_000
        starts.append(t)
        t += CHUNK * NS // RATE
    details = _feed(p, starts)
    assert p.counters["audio_rate_mismatch"] == 0 and p.rate_problem == "", p.rate_problem
    assert p.counters["audio_clock_steps"] == len(steps_ms)
    assert p.last_clock_step_ms == pytest.approx(steps_ms[-1], abs=1)
    assert sum("clock step, not a rate change" in d for d in details) == len(steps_ms)


def test_a_starved_sample_clock_re_anchors_without_a_rate_error():
    """The real SampleClock: the process falls 0.3 s behind for 4 s (its minimum lag rises, so
    it re-anchors forward), then catches up (and re-anchors back); both steps reach the pairer
    as counted clock steps, and the rate stays right."""
    period = CHUNK * NS // RATE
    arrivals = [T0 + k * period + 2_000_000 + (300_000_000 if 100 <= k < 180 else 0) for k in range(300)]
    stamps = _sample_clock_stamps(arrivals)
    steps = [b - a - period for a, b in zip(stamps, stamps[1:]) if b - a != period]
    assert len(steps) == 2 and steps[0] > 0 > steps[1], steps  # what audio_node's clock does
    p, _ = pairer()
    _feed(p, stamps)
    assert p.counters["audio_rate_mismatch"] == 0 and p.rate_problem == "", p.rate_problem
    assert p.counters["audio_clock_steps"] == 2


@pytest.mark.parametrize("real_rate", [12000, 20000])
def test_a_wrong_rate_behind_a_self_correcting_sample_clock_is_still_an_error(real_rate):
    """A device at ``real_rate`` declared 16 kHz: audio_node's clock keeps re-anchoring, always
    the same way, and those steps are the rate."""
    arrivals = [T0 + k * CHUNK * NS // real_rate for k in range(300)]
    p, _ = pairer()
    _feed(p, _sample_clock_stamps(arrivals))
    assert p.counters["audio_rate_mismatch"] > 0, p.rate_check.ratio
    assert "AudioInfo says 16000 Hz" in p.rate_problem


def test_44k_audio_declared_16k_is_reported_with_its_real_rate():
    p, _ = pairer()
    n = 2205  # 50 ms at 44.1 kHz, read as 138 ms at 16 kHz
    _feed(p, [T0 + k * 50_000_000 for k in range(80)], n=n)
    assert p.counters["audio_rate_mismatch"] > 0
    assert "~44100 Hz" in p.rate_problem and "AudioInfo says 16000 Hz" in p.rate_problem
    assert p.counters["audio_clock_steps"] == 0


def test_lost_chunks_are_steps_of_whole_chunks_not_a_rate():
    p, _ = pairer()
    _feed(p, [T0 + k * CHUNK * NS // RATE for k in range(200) if k not in (50, 51, 120)])
    assert p.counters["audio_rate_mismatch"] == 0 and p.counters["audio_clock_steps"] == 2
    assert p.last_clock_step_ms == pytest.approx(50)


def test_arrival_jitter_is_neither_a_rate_nor_clock_steps():
    """A driver that stamps chunks on arrival (±8 ms) is judged at its rate, with no steps."""
    rng = np.random.default_rng(3)
    p, _ = pairer()
    _feed(p, [T0 + k * 50_000_000 + int(rng.uniform(-8e6, 8e6)) for k in range(200)])
    assert p.counters["audio_rate_mismatch"] == 0 and p.counters["audio_clock_steps"] == 0


def test_a_new_sample_rate_restarts_the_buffer():
    p, _ = pairer()
    p.add_audio(*chunk(0))
    p.set_audio_format("F32LE", 1, 48000)
    assert p.sample_rate == 48000 and p.buffer.newest_ns is None
    with pytest.raises(ValueError):
        p.set_audio_format("F32LE", 0, 48000)


def test_settings_carry_their_ranges_and_load_from_yaml_values():
    assert specs(PairingSettings)["rate_hz"][0] == 10.0
    s = from_mapping(PairingSettings, {"rate_hz": 5, "window_s": 1.5, "not_ours": 1})
    assert s.rate_hz == 5.0 and isinstance(s.rate_hz, float) and s.window_s == 1.5
    with pytest.raises(ValueError, match="rate_hz=-1.0 is outside"):
        from_mapping(PairingSettings, {"rate_hz": -1.0})
    with pytest.raises(ValueError, match="unknown settings"):
        from_mapping(PairingSettings, {"rate_hzz": 1.0}, strict=True)
    assert problems(PairingSettings(default_sample_format="S24")) != []
