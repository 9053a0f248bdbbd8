"""Telling a second connection with this device id from an ordinary drop.

Two kiosks left on the same device id take the broker session from each other: each
connect throws the other out, and both reconnecting at once makes dozens of takeovers
a second. A broker that speaks MQTT 5 fully says so (DISCONNECT 0x8E, "Session taken
over"); mosquitto 2.0.11 only closes the socket, as it does when it shuts down. What
tells them apart then is what follows: after a takeover the broker lets us back at the
first try, and the connection we get is soon closed again. A takeover, or such a close,
is worth nothing once; a second within the window means another live connection: the
uplink then waits long between tries instead of fighting for the session.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class TakeoverWatch:
    """Counts takeovers (said by the broker, or inferred) within a window."""

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._clock = clock
        self._seen: deque[float] = deque()  # when a takeover happened (clock)
        self._closed_at: float | None = None  # an unexplained close, waiting for the reconnect

    def dropped(self, *, taken_over: bool, unexplained: bool, short: bool) -> bool:
        """A connection ended; True when another connection with our id is most likely
        live (the second takeover within the window).

        `taken_over`: the broker said 0x8E. `unexplained`: it closed the socket without
        a word. `short`: the connection lasted less than a stable link does.
        """
        now = self._clock()
        self._forget_before(now - self._window)
        self._closed_at = None
        if taken_over:
            self._seen.append(now)
            return len(self._seen) >= 2
        if unexplained:
            if short and self._seen:
                return True
            self._closed_at = now  # a takeover if the broker lets us back at once
        return False

    def connected(self, *, first_try: bool) -> None:
        """A connection is up; `first_try`: no attempt failed since the last drop."""
        if self._closed_at is not None and first_try:
            self._seen.append(self._closed_at)
        self._closed_at = None

    def _forget_before(self, moment: float) -> None:
        while self._seen and self._seen[0] < moment:
            self._seen.popleft()
