"""UUIDv7 event ids (RFC 9562): time-ordered, so the platform's indexes stay compact."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class UUIDv7Generator:
    """Monotonic UUIDv7s: 48-bit Unix milliseconds, 12-bit counter, 62 random bits.

    Within one millisecond the counter (rand_a, RFC 9562 method 1) keeps ids ordered;
    if it overflows, the timestamp is advanced by one, as the RFC allows.
    """

    def __init__(
        self,
        clock_ms: Callable[[], int] = _now_ms,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock_ms = clock_ms
        self._random_bytes = random_bytes
        self._last_ms = -1
        self._counter = 0
        self._lock = threading.Lock()

    def __call__(self) -> uuid.UUID:
        with self._lock:
            now = self._clock_ms()
            if now > self._last_ms:
                self._last_ms = now
                self._counter = 0
            else:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
            millis, counter = self._last_ms, self._counter
        rand_b = int.from_bytes(self._random_bytes(8)) & ((1 << 62) - 1)
        value = (millis & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
        return uuid.UUID(int=value)
