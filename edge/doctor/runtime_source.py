"""The devices of a running kiosk, borrowed for the installer screen's self-test.

While the test runs, every reading goes to the self-test (`Runtime.divert`), not to
the shopper session: test taps, scans and the phone held at 1 m are the installer's.
Whatever diverted readings before (the panel's enrolment-code scan) has them back
afterwards. The screen tells the source of each touch (`touched()`) and gives its
window's size and rotation.

One self-test at a time per runtime: a second one (the hub's `doctor` command while
the installer's panel tests, or the reverse) is refused with `SelfTestBusy`. Two that
overlapped would each give back what the other had taken, and the last to end could
leave the readings diverted to a finished test: every tap and scan swallowed until
the kiosk restarts.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import ClassVar

from devices.readings import Reading
from devices.status import DeviceStatus
from edge.config import Config
from edge.doctor.frames import FrameMeter
from edge.doctor.report import Report
from edge.doctor.source import SETTLED, DisplayObservation, ReadingLog, Sending
from edge.errors import BorneError, OutboxError
from edge.runtime import Runtime

SIMULATED = "simulated"
STATUS_POLL_SECONDS = 0.1


class SelfTestBusy(BorneError):
    """Another self-test has this kiosk's devices: one runs at a time."""

    def __init__(self) -> None:
        super().__init__("a self-test is already running on this kiosk")


class RuntimeSource:
    """A running `Runtime`'s devices, status and outbox, as the checks see them."""

    # The source testing each runtime now. Kept here, not on the runtime: the lock is the
    # self-test's business; weak keys, so a closed runtime leaves nothing behind.
    _testing: ClassVar[weakref.WeakKeyDictionary[Runtime, RuntimeSource]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(
        self,
        runtime: Runtime,
        config: Config,
        *,
        window: tuple[int, int] = (0, 0),
        rotation: int = 0,
    ) -> None:
        self.runtime = runtime
        self.config = config
        self.readings = ReadingLog()
        self.simulated = frozenset(
            kind for kind in ("camera", "nfc", "ble") if getattr(config.devices, kind) == SIMULATED
        )
        self.window = window  # the kiosk's window in pixels, as it draws it
        self.rotation = rotation  # degrees ([kiosk] rotation)
        self.touches = 0
        self._previous: Callable[[Reading], bool] | None = None

    def configured(self, kind: str) -> str:
        """The configured address of a device kind ("" when none is configured)."""
        address: str = getattr(self.config.devices, kind, "")
        return address

    async def start(self) -> None:
        """Take the runtime's readings away from the session until `stop()`.

        Raises SelfTestBusy when another self-test runs on this runtime.
        """
        holder = self._testing.get(self.runtime)
        if holder is not None and holder is not self:
            raise SelfTestBusy
        # No await from the check to the divert: nothing else on the loop runs between.
        self._testing[self.runtime] = self
        self._previous = self.runtime.divert
        self.runtime.divert = self._take

    def _take(self, reading: Reading) -> bool:
        self.readings.add(reading)
        return True  # every reading is the self-test's while it runs

    async def stop(self) -> None:
        """Give the readings back to whoever had them (nothing, if this never started)."""
        if self._testing.get(self.runtime) is not self:
            return
        self.runtime.divert = self._previous
        del self._testing[self.runtime]

    def touched(self) -> None:
        """The screen saw a touch (call it on the loop)."""
        self.touches += 1
        self.readings.notify()

    async def status(self, kind: str, deadline: float) -> DeviceStatus | None:
        """The device's status once it opened or failed to, or as it is at `deadline`: a
        kiosk that has just started (or restarted a device) may still be opening it."""
        while time.monotonic() < deadline:
            status = self.runtime.device_status.get(kind)
            if status is not None and status.state in SETTLED:
                return status
            # The runtime records statuses from the devices' threads, without an event.
            await asyncio.sleep(STATUS_POLL_SECONDS)
        return self.runtime.device_status.get(kind)

    def frames(self) -> FrameMeter | None:
        """The camera's frame counter, when the runtime's camera is metered."""
        for device in self.runtime.devices:
            source = getattr(device, "source", None)
            if getattr(device, "kind", "") == "camera" and isinstance(source, FrameMeter):
                return source
        return None

    async def display(self, deadline: float) -> DisplayObservation:
        """The window as the screen gave it, once touched or at `deadline`."""
        await self.readings.wait_for(lambda: self.touches > 0, deadline)
        return DisplayObservation(window=self.window, rotation=self.rotation, touches=self.touches)

    def calibrated(self, power_at_1m: int) -> None:
        """Presence uses the measured power at once, not only after a restart."""
        if self.runtime.presence is not None:
            self.runtime.presence.power_at_1m = power_at_1m

    async def send(self, report: Report) -> Sending:
        """Commit the report's event to the kiosk's outbox; it leaves with the others."""
        try:
            (stored,) = await self.runtime.outbox.append(report.event())
        except OutboxError as error:
            return Sending(False, None, f"not sent: the outbox refused it ({error})")
        note = f"queued in the outbox as event {stored.sequence}: it leaves with the kiosk's events"
        return Sending(True, stored.sequence, note)
