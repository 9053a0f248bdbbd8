"""A condition that recurs (a full outbox, refused events) logged once, with a count.

Delivery problems repeat many times a second while they last; a warning per
occurrence floods the log shared with installers and hides what changed. The first
occurrence is logged, the rest are counted, and the end says how many there were.
"""

from __future__ import annotations

import logging


class RepeatedCondition:
    """Logs a condition when it starts and when it ends, counting what came between."""

    def __init__(
        self, logger: logging.Logger, what: str, unit: str, level: int = logging.WARNING
    ) -> None:
        self._log = logger
        self._level = level
        self.what = what  # "outbox full: shedding presence samples"
        self.unit = unit  # what is counted: "events"
        self.active = False
        self.count = 0  # occurrences since the condition started

    def occurred(
        self, count: int = 1, detail: str = "", error: BaseException | None = None
    ) -> None:
        """Count `count` more occurrences; log only if the condition was not on already.

        `error`, when given, is logged with its traceback (the first time only).
        """
        self.count += count
        if not self.active:
            self.active = True
            suffix = f" ({detail})" if detail else ""
            self._log.log(
                self._level, "%s: %d %s%s", self.what, count, self.unit, suffix, exc_info=error
            )

    def cleared(self) -> None:
        """The condition is over: say so with how many occurrences it lasted."""
        if self.active:
            self._log.info("over after %d %s: %s", self.count, self.unit, self.what)
        self.active = False
        self.count = 0
