"""Tells systemd how the service is doing: READY, STATUS, STOPPING and the watchdog.

The sd_notify protocol is one datagram per notification, `KEY=value` lines, sent to the
Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket). Without
that variable (run by hand, in tests, in the demo) every call does nothing.

The watchdog is fed by a task on the asyncio loop that owns the runtime, every half of
`$WATCHDOG_USEC`: a loop that hangs (a blocking call, a deadlock in a callback) stops
feeding it, and systemd kills and restarts the process. A thread would keep feeding a
hung loop, which is why the pings are never sent from one.

A process that starts again under an armed watchdog (the kiosk re-executes itself after
an enrolment) loads its configuration and catalog before its loop can feed it:
`starting()` pings at once and stretches the watchdog (and the start timeout) for the
start, and the loop's first ping sets the watchdog back to the unit's value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Mapping

log = logging.getLogger(__name__)

START_GRACE = 180.0  # seconds a starting process may take before its loop feeds the watchdog


class ServiceNotifier:
    """sd_notify over `$NOTIFY_SOCKET`; every call is a no-op when there is none.

    A notification that cannot be sent is logged once and never raised: a service
    manager that went away is no reason to stop serving shoppers.
    """

    def __init__(self, address: str = "", watchdog_usec: int = 0) -> None:
        # An abstract socket's name begins with a NUL byte; systemd writes it as "@".
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()  # the hub says how its link is from paho's thread
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceNotifier:
        """The notifier systemd asked for (`NOTIFY_SOCKET`, `WATCHDOG_USEC`)."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        usec = 0
        try:
            usec = int(env.get("WATCHDOG_USEC", "0"))
        except ValueError:
            log.warning("WATCHDOG_USEC is not a number: the watchdog is not fed")
        # WATCHDOG_PID is not checked: in the kiosk's unit it names cage, the main
        # process, and the kiosk it starts is the one that must feed the watchdog
        # (NotifyAccess=all lets it).
        return cls(address, max(usec, 0))

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return bool(self._address)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two pings (half the manager's timeout), None if no watchdog."""
        if not self.enabled or self._watchdog_usec <= 0:
            return None
        return self._watchdog_usec / 2_000_000

    def notify(self, *lines: str) -> bool:
        """Send `KEY=value` lines in one datagram; whether it was sent."""
        if not self._address:
            return False
        try:
            with self._lock:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.sendto("\n".join(lines).encode(), self._address)
        except OSError as error:
            if not self._failed:
                self._failed = True
                log.warning("cannot notify the service manager (logged once): %s", error)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """The service is up: systemd considers the start done."""
        return self.notify("READY=1", *((f"STATUS={status}",) if status else ()))

    def status(self, text: str) -> bool:
        """A one-line state shown by `systemctl status`."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """The service is shutting down on purpose."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """The loop is alive."""
        return self.notify("WATCHDOG=1")

    def starting(self, grace: float = START_GRACE) -> bool:
        """This process is starting and its loop does not feed the watchdog yet: ping it
        now and give the start `grace` seconds; whether it was sent (nothing is sent
        without a watchdog).

        After an enrolment the kiosk re-executes itself while systemd's watchdog is
        armed (WatchdogSec=30) and loads its configuration and catalog before its loop
        runs: without this, a slow start is killed as a hang. The watchdog's timeout is
        stretched (`WATCHDOG_USEC`), as is the start timeout (`EXTEND_TIMEOUT_USEC`, for
        a first start); `feed_watchdog` sets the watchdog back to the unit's value.
        """
        if self.watchdog_interval is None:
            return False
        usec = round(grace * 1_000_000)
        return self.notify("WATCHDOG=1", f"WATCHDOG_USEC={usec}", f"EXTEND_TIMEOUT_USEC={usec}")

    async def feed_watchdog(self) -> None:
        """Ping the watchdog from this loop every `watchdog_interval` until cancelled;
        returns at once when there is no watchdog."""
        interval = self.watchdog_interval
        if interval is None:
            return
        # The first ping also ends a start's grace (`starting`), in this process or the
        # one it replaced: the unit's own timeout again, as the environment gives it.
        self.notify("WATCHDOG=1", f"WATCHDOG_USEC={self._watchdog_usec}")
        while True:
            await asyncio.sleep(interval)
            self.watchdog()

    @contextlib.asynccontextmanager
    async def watchdog_fed(self) -> AsyncIterator[None]:
        """Feed the watchdog from the running loop while the block runs."""
        feeder = asyncio.create_task(self.feed_watchdog(), name="watchdog")
        try:
            yield
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    def close(self) -> None:
        """Close the socket (a later notification opens it again)."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
