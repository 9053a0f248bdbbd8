"""Events the broker refused (reason code >= 0x80), each retried on its own backoff.

A refusal is about one event (an ACL that denies its topic, a packet too large for
the broker), not about the link: the other events go on, and the refused one waits
for a retry whose delay doubles at each refusal, with jitter, up to a cap. It stays
in the outbox meanwhile, so only its sequence number is held here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable

from devices.backoff import Backoff
from edge.log_once import RepeatedCondition

log = logging.getLogger("edge.uplink")


class Refusals:
    """The refused events of one uplink: when each is due again, and the log of it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        base: float,
        cap: float,
        on_due: Callable[[], None],
        report_after: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._loop = loop
        self._base = base
        self._cap = cap
        self._on_due = on_due
        self._report_after = report_after
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._backoffs: dict[int, Backoff] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._due: list[int] = []
        self._report: asyncio.TimerHandle | None = None
        self._reason = ""
        self.total = 0  # refusals since start, every retry counted
        self._condition = RepeatedCondition(
            log, "broker refused events; each is retried with backoff", "events"
        )

    def __len__(self) -> int:
        return len(self._backoffs)

    def __contains__(self, sequence: object) -> bool:
        return sequence in self._backoffs

    def refuse(self, sequence: int, reason: str) -> None:
        """The broker (or its announced limits) refused `sequence`: retry it later."""
        self.total += 1
        self._reason = reason
        backoff = self._backoffs.setdefault(
            sequence, Backoff(base=self._base, cap=self._cap, rng=self._rng)
        )
        self._timers[sequence] = self._loop.call_later(
            backoff.next_delay(), self._became_due, sequence
        )
        if not self._condition.active and self._report is None:
            # Refusals come in bursts: wait a moment so the one log line counts them all.
            self._report = self._loop.call_later(self._report_after, self.report)

    def accepted(self, sequence: int) -> None:
        """A retried event went through."""
        if self._backoffs.pop(sequence, None) is not None and not self._backoffs:
            self._condition.cleared()

    def forget(self, sequences: Iterable[int]) -> None:
        """The outbox shed these: never retry them."""
        gone = set(sequences)
        for sequence in gone & self._backoffs.keys():
            del self._backoffs[sequence]
            timer = self._timers.pop(sequence, None)
            if timer is not None:
                timer.cancel()
        self._due = [s for s in self._due if s not in gone]

    def has_due(self) -> bool:
        """Whether a refused event's time to retry has come (it goes before newer ones)."""
        return bool(self._due)

    def take_due(self, limit: int) -> list[int]:
        """Up to `limit` refused events whose time to retry has come, oldest first."""
        self._due.sort()
        batch, self._due = self._due[:limit], self._due[limit:]
        return batch

    def requeue(self, sequences: Iterable[int]) -> None:
        """Retries that did not reach the broker (the link dropped): due again at once."""
        for sequence in sequences:
            if sequence in self._backoffs and sequence not in self._timers:
                self._due.append(sequence)

    def _became_due(self, sequence: int) -> None:
        self._timers.pop(sequence, None)
        if sequence in self._backoffs:
            self._due.append(sequence)
            self._on_due()

    def report(self) -> None:
        """Log the refusals so far, once, with their count."""
        self._report = None
        if self._backoffs:
            self._condition.occurred(len(self._backoffs), self._reason)

    def close(self) -> None:
        """Cancel the timers; say what was refused if it was not said yet."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._report is not None:
            self._report.cancel()
            self.report()
