"""LoadGovernor: sheds frames while latency is over budget, restores them when it recovers."""
import pytest

from emotion_core.governor import LoadGovernor


def admitted(gov: LoadGovernor, n: int) -> list[bool]:
    return [gov.admit() for _ in range(n)]


def test_within_budget_every_pair_is_processed():
    gov = LoadGovernor(budget_ms=100, window=5)
    for _ in range(50):
        gov.record(60.0)
    assert gov.skip == 0 and all(admitted(gov, 20))


def test_over_budget_skips_grow_one_step_per_window_up_to_the_limit():
    gov = LoadGovernor(budget_ms=100, window=5, max_skip=3)
    steps = []
    for _ in range(6):
        for _ in range(5):
            gov.record(150.0)
        steps.append(gov.skip)
    assert steps == [1, 2, 3, 3, 3, 3]
    # skip 3: exactly one pair in four is processed, starting with the next one.
    assert admitted(gov, 12) == [True, False, False, False] * 3


def test_recovery_restores_the_rate_but_the_band_between_thresholds_holds():
    gov = LoadGovernor(budget_ms=100, window=4, max_skip=4, recover_ratio=0.7)
    for _ in range(8):
        gov.record(200.0)
    assert gov.skip == 2
    for _ in range(8):
        gov.record(85.0)  # between 70 and 100 ms: neither worse nor clearly better
    assert gov.skip == 2
    for _ in range(8):
        gov.record(40.0)
    assert gov.skip == 0 and all(admitted(gov, 10))


def test_decision_uses_the_median_so_one_outlier_does_not_shed():
    gov = LoadGovernor(budget_ms=100, window=5)
    for latency in (50, 50, 900, 50, 50):
        gov.record(latency)
    assert gov.skip == 0


@pytest.mark.parametrize("kwargs", [dict(budget_ms=0), dict(budget_ms=10, window=0),
                                    dict(budget_ms=10, recover_ratio=1.0)])
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        LoadGovernor(**kwargs)
