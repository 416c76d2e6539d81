"""InputWatch, merge_status, Reconnector and RepeatLimiter with a fake clock: no ROS, no sleeping."""
from __future__ import annotations

import pytest

from emotion_core.liveness import ERROR, OK, WARN, InputWatch, Reconnector, merge_status
from emotion_core.ratelimit import RepeatLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- InputWatch ------------------------------------------------------------------------------
def test_input_goes_warn_then_error_and_names_itself(clock):
    watch = InputWatch(2.0, 5.0, clock)
    watch.watch("frames", "/camera/image_raw")
    watch.arrived("frames")
    clock.t += 1.9
    assert watch.check()[0] == OK
    clock.t += 0.2
    level, message, values = watch.check()
    assert level == WARN and "/camera/image_raw" in message and "2.1 s" in message
    assert values["frames_age_s"] == pytest.approx(2.1)
    clock.t += 3.0
    level, message, _ = watch.check()
    assert level == ERROR and "nothing received on /camera/image_raw for 5.1 s" == message
    watch.arrived("frames")  # input back: OK at once
    assert watch.check()[:2] == (OK, "")


def test_input_that_never_arrived_counts_from_start(clock):
    watch = InputWatch(1.0, 3.0, clock)
    watch.watch("pairs", "/emotion/av_pair")
    clock.t += 3.5
    level, message, _ = watch.check()
    assert level == ERROR and "since start (3.5 s)" in message


def test_optional_input_never_worse_than_warn_and_worst_input_leads(clock):
    watch = InputWatch(1.0, 2.0, clock)
    watch.watch("audio", "/audio/audio", optional=True)
    watch.watch("frames", "/camera/image_raw")
    clock.t += 5
    watch.arrived("frames")
    assert watch.check()[0] == WARN  # only audio is quiet, and it is optional
    clock.t += 5
    level, message, _ = watch.check()
    assert level == ERROR
    assert message.index("/camera/image_raw") < message.index("/audio/audio")


def test_thresholds_change_at_run_time_and_error_below_warn_is_read_as_warn(clock):
    watch = InputWatch(10.0, 20.0, clock)
    watch.watch("x", "x")
    clock.t += 3
    assert watch.check()[0] == OK
    watch.set_thresholds(2.0, 1.0)
    assert watch.error_s == 2.0 and watch.check()[0] == ERROR
    with pytest.raises(ValueError):
        watch.set_thresholds(0.0, 1.0)


def test_restart_counts_silence_from_now(clock):
    watch = InputWatch(1.0, 2.0, clock)
    watch.watch("src", "camera")
    clock.t += 5
    watch.restart("src")
    assert watch.check()[0] == OK


def test_merge_status_keeps_every_problem_worst_first():
    assert merge_status((OK, "running"), (OK, "")) == (OK, "running")
    assert merge_status((WARN, "over budget"), (ERROR, "nothing on /x")) == (ERROR, "nothing on /x; over budget")
    assert merge_status((ERROR, "no model"), (WARN, "quiet")) == (ERROR, "no model; quiet")
    assert merge_status((OK, "running"), (WARN, "quiet")) == (WARN, "quiet")


# -- Reconnector -----------------------------------------------------------------------------
class FlakyDevice:
    """Opens only while ``present``; records closes."""

    def __init__(self) -> None:
        self.present = False
        self.opened = 0
        self.closed = 0

    def open(self) -> "FlakyDevice":
        if not self.present:
            raise OSError("no such device /dev/video9")
        self.opened += 1
        return self

    def close(self) -> None:
        self.closed += 1


def test_reconnector_backs_off_exponentially_up_to_the_cap_and_logs(clock):
    dev, logged = FlakyDevice(), []
    keeper = Reconnector(dev.open, "camera /dev/video9", 1.0, 8.0,
                         log=lambda level, msg: logged.append((level, msg)), clock=clock)
    delays = []
    for _ in range(6):
        assert keeper.poll() is None
        delays.append(keeper.retry_in_s)
        assert keeper.poll() is None  # not due yet: no new attempt
        clock.t += keeper.retry_in_s
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert keeper.attempts == keeper.failures == 6
    assert all(level == ERROR and "/dev/video9" in msg for level, msg in logged)
    level, message = keeper.status()
    assert level == ERROR and "no such device" in message and "retry 6" in message

    dev.present = True
    assert keeper.poll() is dev
    assert keeper.reconnects == 1 and keeper.status() == (OK, "")
    assert logged[-1][0] == OK and "open again" in logged[-1][1]


def test_back_off_resets_only_once_the_source_delivers(clock):
    dev = FlakyDevice()
    dev.present = True
    keeper = Reconnector(dev.open, "mic", 1.0, 30.0, clock=clock)
    # Opens, then fails at once, three times: a device that never delivers keeps backing off.
    for expected in (1.0, 2.0, 4.0):
        assert keeper.poll() is dev
        keeper.failed("no data for 5 s")
        assert keeper.retry_in_s == expected and dev.closed == dev.opened
        clock.t += expected
    assert keeper.poll() is dev
    keeper.delivered()
    keeper.failed("stopped")
    assert keeper.retry_in_s == 1.0  # it had worked: a fresh back-off


def test_reconnector_rejects_a_nonsense_back_off(clock):
    with pytest.raises(ValueError):
        Reconnector(lambda: None, "x", 5.0, 1.0, clock=clock)


# -- RepeatLimiter ---------------------------------------------------------------------------
def test_repeats_are_swallowed_then_reported_with_their_count(clock):
    limiter = RepeatLimiter(10.0, clock)
    first = limiter.hit("bad.png", "skipped unreadable image bad.png")
    assert first is not None and first.text() == "skipped unreadable image bad.png"
    for _ in range(60):  # 61 in 18 s as in the issue: 3 per second
        clock.t += 0.3
        out = limiter.hit("bad.png", "skipped unreadable image bad.png")
        if out is not None:
            break
    assert out is not None and out.suppressed == 33
    assert out.text() == "skipped unreadable image bad.png (33 more in the last 10 s)"
    assert limiter.total_suppressed == 33


def test_keys_are_independent_and_a_burst_that_stops_is_still_reported(clock):
    limiter = RepeatLimiter(5.0, clock)
    assert limiter.hit("a", "A") is not None
    assert limiter.hit("b", "B") is not None
    assert limiter.hit("a", "A again") is None
    assert limiter.pending() == []  # period not over
    clock.t += 6
    summaries = limiter.pending()
    assert [(r.key, r.text()) for r in summaries] == [("a", "A again (1 more in the last 6 s)")]
    assert limiter.pending() == []  # reported once
    assert limiter.hit("a", "A") is None  # a new period began with the report: still counted
    clock.t += 6
    assert [r.suppressed for r in limiter.pending()] == [1]
    clock.t += 6
    assert limiter.pending() == []  # a whole period without one: forgotten
    assert limiter.hit("a", "A").suppressed == 0  # ... so the next is a first occurrence again


def test_a_repeat_that_goes_on_is_logged_once_per_period_with_a_timer_flushing(clock):
    limiter = RepeatLimiter(10.0, clock)
    logged = []
    for step in range(300):  # 30 s at 10 per second, the timer flushing once a second
        clock.t += 0.1
        out = limiter.hit("k", "same")
        if out is not None:
            logged.append(out.text())
        if step % 10 == 0:
            logged += [r.text() for r in limiter.pending()]
    assert len(logged) == 3, logged  # the first, then one per 10 s with its count
    assert all("more in the last 10 s" in line for line in logged[1:]), logged
