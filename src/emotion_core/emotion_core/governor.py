"""Load shedding for the inference node: when its own time per pair (arrival -> publish: queue
and processing) exceeds the budget, process only every (skip+1)-th pair; step back towards every
pair once it recovers. Upstream waiting (audio, a jumped clock) is not the node's to shed for.

Shedding whole frames keeps each estimate's latency low, which matters more to a robot reacting
to a person than the estimate rate; the latest-only buffer alone would still process stale pairs.
"""
from __future__ import annotations

from collections import deque


class LoadGovernor:
    """Decides per incoming pair whether to process it, from the latencies of recent results.

    Every ``window`` results the median latency is compared with the budget: above it the skip
    factor grows by one (up to ``max_skip``), below ``recover_ratio`` x budget it shrinks by one.
    Between the two thresholds it holds, so the rate does not oscillate.
    """

    def __init__(self, budget_ms: float, window: int = 10, max_skip: int = 4,
                 recover_ratio: float = 0.7) -> None:
        if budget_ms <= 0 or window < 1 or max_skip < 0 or not 0 < recover_ratio < 1:
            raise ValueError("budget_ms > 0, window >= 1, max_skip >= 0, 0 < recover_ratio < 1")
        self.budget_ms = budget_ms
        self.max_skip = max_skip
        self.recover_ratio = recover_ratio
        self.skip = 0
        self._latencies: deque[float] = deque(maxlen=window)
        self._since_decision = 0
        self._count = 0

    @property
    def median_ms(self) -> float:
        """Median own time of the last ``window`` results: the statistic every over-budget
        judgement uses (shedding here, the WARN on /diagnostics)."""
        if not self._latencies:
            return 0.0
        return sorted(self._latencies)[len(self._latencies) // 2]

    def admit(self) -> bool:
        """True for the pairs to process: one in every ``skip + 1``."""
        admitted = self._count % (self.skip + 1) == 0
        self._count += 1
        return admitted

    def record(self, latency_ms: float) -> None:
        """The node's own time (arrival -> publish) for one processed pair [ms]."""
        self._latencies.append(latency_ms)
        self._since_decision += 1
        if self._since_decision < self._latencies.maxlen:  # type: ignore[operator]
            return
        self._since_decision = 0
        median = self.median_ms
        if median > self.budget_ms and self.skip < self.max_skip:
            self.skip += 1
            self._count = 0
        elif median < self.recover_ratio * self.budget_ms and self.skip > 0:
            self.skip -= 1
            self._count = 0
