"""UUIDv7 event ids (RFC 9562): time-ordered, so the platform's indexes stay compact."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

_COUNTER_MAX = 0xFFF


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def uuid7_millis(event_id: str) -> int:
    """The Unix milliseconds a UUIDv7 carries (its first 48 bits)."""
    return uuid.UUID(event_id).int >> 80


class UUIDv7Generator:
    """Monotonic UUIDv7s: 48-bit Unix milliseconds, 12-bit counter, 62 random bits.

    Within one millisecond the counter (rand_a, RFC 9562 method 1) keeps ids ordered;
    if it overflows, the timestamp is advanced by one, as the RFC allows. When the
    clock goes back, the last timestamp is kept and the counter goes on, so ids never
    go backwards. `last_ms` (the last timestamp of an earlier run, kept by the outbox)
    carries that guarantee across restarts.
    """

    def __init__(
        self,
        clock_ms: Callable[[], int] = _now_ms,
        random_bytes: Callable[[int], bytes] = os.urandom,
        *,
        last_ms: int | None = None,
    ) -> None:
        self._clock_ms = clock_ms
        self._random_bytes = random_bytes
        self._last_ms = -1
        self._counter = 0
        self._lock = threading.Lock()
        if last_ms is not None:
            self.resume_after(last_ms)

    @property
    def last_ms(self) -> int:
        """The timestamp of the last id made (or resumed after); -1 before any."""
        return self._last_ms

    def resume_after(self, last_ms: int) -> None:
        """Make every later id sort after any id of millisecond `last_ms`.

        The counter an earlier run reached within that millisecond is not known, so
        the next id that falls in it (or before it) moves on to the next millisecond.
        """
        with self._lock:
            if last_ms >= self._last_ms:
                self._last_ms = last_ms
                self._counter = _COUNTER_MAX

    def __call__(self) -> uuid.UUID:
        with self._lock:
            now = self._clock_ms()
            if now > self._last_ms:
                self._last_ms = now
                self._counter = 0
            else:
                self._counter += 1
                if self._counter > _COUNTER_MAX:
                    self._last_ms += 1
                    self._counter = 0
            millis, counter = self._last_ms, self._counter
        rand_b = int.from_bytes(self._random_bytes(8)) & ((1 << 62) - 1)
        value = (millis & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
        return uuid.UUID(int=value)
