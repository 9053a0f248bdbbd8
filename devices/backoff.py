"""Jittered exponential backoff for anything that reconnects or reopens."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """ "Equal jitter" exponential backoff: a delay drawn in [ceiling / 2, ceiling], where
    ceiling = min(cap, base * 2**n) after n failed attempts.

    Jitter matters at fleet scale: thousands of kiosks that lost the same broker must
    not all come back in the same second. Half the ceiling is kept as a floor so the
    delay still grows with the failures, and the cap bounds what a device waits once
    the other side is back (full jitter's draws in [0, cap] spread the same fleet, but
    leave single devices with a cap-long wait as often as a short one, and none
    shorter after a long outage than after a blip).
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
        return max(self.base / 10, self.rng.uniform(ceiling / 2, ceiling))

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.attempts = 0
