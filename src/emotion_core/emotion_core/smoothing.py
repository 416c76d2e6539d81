"""Temporal smoothing of class probabilities, driven by stamps rather than call counts."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np


class ProbabilitySmoother:
    """Exponential moving average with time constant ``tau_s``.

    The weight of a new estimate is ``1 - exp(-dt / tau)``, so the result does not depend on the
    frame rate. A gap longer than ``reset_after_s`` or a stamp that goes backwards (a looping bag)
    restarts from the new estimate.
    """

    def __init__(self, tau_s: float = 0.5, reset_after_s: float = 2.0) -> None:
        if tau_s < 0 or reset_after_s <= 0:
            raise ValueError("tau_s must be >= 0 and reset_after_s > 0")
        self.tau_s = tau_s
        self.reset_after_s = reset_after_s
        self._state: Optional[np.ndarray] = None
        self._last_ns: Optional[int] = None

    def reset(self) -> None:
        self._state = None
        self._last_ns = None

    def update(self, probabilities: np.ndarray, stamp_ns: int) -> np.ndarray:
        p = np.asarray(probabilities, dtype=np.float64)
        if self._state is None or self._last_ns is None or self._state.shape != p.shape:
            self._state = p.copy()
        else:
            dt = (stamp_ns - self._last_ns) / 1e9
            if dt < 0 or dt > self.reset_after_s:
                self._state = p.copy()
            elif self.tau_s == 0:
                self._state = p.copy()
            else:
                alpha = 1.0 - math.exp(-dt / self.tau_s)
                self._state = (1.0 - alpha) * self._state + alpha * p
        self._last_ns = stamp_ns
        total = self._state.sum()
        return (self._state / total if total > 0 else self._state).astype(np.float32)
