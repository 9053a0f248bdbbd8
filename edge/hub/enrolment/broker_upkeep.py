"""Keeping the broker's CRL fresh while `borne hub serve` runs.

The CRL the hub writes is valid `certificate_days`; once past its next update OpenSSL
refuses every client certificate, so a hub that enrolled no one for that long would cut
off the whole fleet. The hub writes the ACL and CRL again (then runs `broker_reload`)
when it starts and once a day, from a thread of its own: the writes and the reload
command never block the hub's event loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["UPKEEP_EVERY", "BrokerUpkeep"]

log = logging.getLogger(__name__)

UPKEEP_EVERY = 86_400.0  # seconds between two rewrites of the CRL: once a day


class BrokerUpkeep:
    """Runs `refresh` at `start` and then every `every` seconds until `stop`."""

    def __init__(self, refresh: Callable[[], None], every: float = UPKEEP_EVERY) -> None:
        self._refresh = refresh
        self.every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-upkeep", daemon=True)

    def start(self) -> None:
        """Refresh now (the broker starts with a fresh CRL), then daily in a thread."""
        self._refresh_once()
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing; waits for a refresh under way."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            self._refresh_once()

    def _refresh_once(self) -> None:
        try:
            self._refresh()
        except Exception:  # the next day tries again; the hub must keep serving
            log.exception("enrolment: the broker's CRL cannot be written again")
