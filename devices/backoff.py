"""Jittered exponential backoff for anything that reconnects or reopens."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Full-jitter exponential backoff (a delay drawn in [0, min(cap, base * 2**n)]).

    Jitter matters at fleet scale: thousands of kiosks that lost the same broker must
    not all come back in the same second.
    """

    base: float = 0.5
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        ceiling = min(self.cap, self.base * 2**self.attempts)
        self.attempts = min(self.attempts + 1, 32)
        # A floor of a tenth of the base keeps a failing device from spinning.
        return max(self.base / 10, self.rng.uniform(0, ceiling))

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.attempts = 0
