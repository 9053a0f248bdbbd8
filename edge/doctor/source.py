"""What the checks ask of the devices, whoever opened them (`DoctorSource`).

Two sources exist: `edge.doctor.device_source.DeviceSource` opens the configured
devices itself (`borne doctor`), `edge.doctor.runtime_source.RuntimeSource` borrows a
running kiosk's (the installer screen). Readings go to a `ReadingLog`, never to a
shopper session: test taps and scans are the installer's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from devices.readings import Reading
from devices.status import DeviceState, DeviceStatus
from edge.doctor.frames import FrameMeter
from edge.doctor.report import Report

R = TypeVar("R", bound=Reading)
SETTLED = (DeviceState.OK, DeviceState.MISSING, DeviceState.FAILING, DeviceState.STOPPED)


@dataclass(frozen=True, slots=True)
class Output:
    """A connected display output and its current (or preferred) mode."""

    name: str  # e.g. "HDMI-A-1"
    mode: str  # e.g. "1920x1080", "" when the driver lists none


@dataclass(frozen=True, slots=True)
class DisplayObservation:
    """What the display check judges.

    From the CLI: the outputs and touch devices the system lists, and the touches read
    from them (None: not watched). From the kiosk's screen: its window's size and
    rotation, and the touches it saw during the test.
    """

    outputs: tuple[Output, ...] = ()
    touch_devices: tuple[str, ...] = ()
    touches: int | None = None
    window: tuple[int, int] | None = None
    rotation: int = 0


@dataclass(frozen=True, slots=True)
class Sending:
    """What became of the report's event."""

    queued: bool
    sequence: int | None
    note: str  # a sentence for the installer


class ReadingLog:
    """Readings kept in arrival order, and waits for the first one of a kind.

    Used on the event loop only (sources hand readings over thread-safely).
    """

    def __init__(self) -> None:
        self._readings: list[Reading] = []
        self._changed = asyncio.Event()

    def add(self, reading: Reading) -> None:
        """Keep a reading and wake whoever waits (on the loop)."""
        self._readings.append(reading)
        self._changed.set()

    def notify(self) -> None:
        """Wake whoever waits: something else they wait on changed (a status, a touch)."""
        self._changed.set()

    def of(self, kind: type[R]) -> list[R]:
        """The readings of `kind` so far."""
        return [reading for reading in self._readings if isinstance(reading, kind)]

    async def wait_for(self, done: Callable[[], bool], deadline: float) -> bool:
        """Wait until `done()` holds or the monotonic `deadline` passes; whether it holds."""
        while not done():
            self._changed.clear()  # set() wakes every waiter: a clear only affects later waits
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                return done()
        return True


class DoctorSource(Protocol):
    """The devices as the checks see them."""

    readings: ReadingLog
    simulated: frozenset[str]  # the device kinds that are simulated (demo, tests)

    async def start(self) -> None:
        """Begin: devices open (or are borrowed) and readings come to `readings`."""

    async def stop(self) -> None:
        """End: devices closed (or given back)."""

    def configured(self, kind: str) -> str:
        """The configured address of a device kind ("" when none is configured)."""

    async def status(self, kind: str, deadline: float) -> DeviceStatus | None:
        """The device's status once settled (open, missing or failing), or as it is at
        `deadline`; None when no such device runs."""

    def frames(self) -> FrameMeter | None:
        """The camera's frame counter, when there is one to read."""

    async def display(self, deadline: float) -> DisplayObservation:
        """The display and touch as observed until a touch is seen or `deadline`."""

    def calibrated(self, power_at_1m: int) -> None:
        """The store app's power at 1 m was measured and saved: use it from now on."""

    async def send(self, report: Report) -> Sending:
        """Queue the report's event for the platform, or say why it was not."""
