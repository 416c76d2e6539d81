"""Latency of one inference call, measured the same way for every runtime (eager PyTorch, ONNX
Runtime fp32 / int8, TensorRT), so the rows of a comparison differ only by the runtime."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class Latency:
    batch: int
    p50_ms: float  # per call
    mean_ms: float  # per call
    runs: int

    @property
    def per_sample_ms(self) -> float:
        """Median call time divided by the batch: the cost of one face + audio window."""
        return self.p50_ms / self.batch


def measure_interleaved(calls: Mapping[str, Callable[[], Any]], batch: int, warmup: int = 3,
                        runs: int = 20, block: int = 5) -> dict[str, Latency]:
    """Median and mean wall time of ``runs`` timed calls of each runtime, taken in rounds of
    ``block`` consecutive calls per runtime. On a shared machine the load drifts over seconds:
    rounds expose every runtime to the same drift, so their ratio stays meaningful. Within a
    round each runtime first makes one untimed call, because the runtime before it leaves its
    thread pool spinning for a while (ONNX Runtime, OpenMP) and would bill its neighbour.
    A call must return only when its results are on the host (synchronise GPU work inside it)."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    while min(len(t) for t in times.values()) < runs:
        for name, call in calls.items():
            call()
            for _ in range(min(block, runs - len(times[name]))):
                tic = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - tic)
    return {name: Latency(batch, 1e3 * float(np.median(t)), 1e3 * float(np.mean(t)), len(t))
            for name, t in times.items()}


def backend_call(backend, feeds: Mapping[str, np.ndarray]) -> Callable[[], Any]:
    """A no-argument call of an ``emotion_core`` backend on fixed feeds."""
    feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
    return lambda: backend.run(feeds)


def speedup(baseline: Latency, other: Latency) -> float:
    return baseline.per_sample_ms / other.per_sample_ms if other.per_sample_ms > 0 else float("nan")
