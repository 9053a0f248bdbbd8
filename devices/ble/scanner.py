"""The BLE beacon scanner: bleak's `BleakScanner` with a detection callback and a watchdog.

bleak is asyncio-native, so the scanner runs as a task on the runtime's loop. Every
advertisement is parsed into beacon frames and handed on as `BeaconSighting`s. A
scanner that falls silent (BlueZ sometimes stops reporting while saying it scans)
is restarted and reported; an adapter that is missing is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from devices.backoff import Backoff
from devices.ble.frames import parse_advertisement
from devices.ble.sightings import sightings
from devices.readings import BeaconSighting
from devices.status import DeviceState, DeviceStatus

log = logging.getLogger(__name__)

# Passive scanning on BlueZ needs advertisement-monitor patterns: Apple manufacturer
# data (iBeacon) and the Eddystone service. AltBeacons of other companies need active
# scanning, or a pattern for their company id.
PASSIVE_PATTERNS = BlueZScannerArgs(
    or_patterns=[
        OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00"),
        OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"),
    ]
)


class BeaconScanner:
    """Scans for beacons until stopped; reports sightings and its own status."""

    kind = "ble"

    def __init__(
        self,
        on_sighting: Callable[[BeaconSighting], None],
        *,
        on_status: Callable[[DeviceStatus], None] = lambda status: None,
        backend: type[BaseBleakScanner] | None = None,
        backend_options: dict[str, Any] | None = None,
        passive: bool = True,
        silence_restart: float = 30.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_sighting = on_sighting
        self._on_status = on_status
        self._backend = backend
        self._options = backend_options or {}
        self._passive = passive
        self.silence_restart = silence_restart
        self._backoff = backoff or Backoff(base=2.0, cap=60.0)
        self._clock = clock
        self.name = backend.__name__ if backend else "bleak"
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._stopped = threading.Event()
        self._last_advert = 0.0
        self._last_reading_at: float | None = None
        self.corrupt_adverts = 0

    def start(self) -> None:
        """Start scanning on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopped.clear()
        self._task = self._loop.create_task(self._run(), name="ble-scanner")
        self._task.add_done_callback(lambda _: self._stopped.set())

    def stop(self) -> None:
        """Stop scanning; safe from any thread."""
        if self._task is None or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._task.cancel)
        if threading.get_ident() != self._loop_thread:  # never block the loop on itself
            self._stopped.wait(5)

    def _report(self, state: DeviceState, detail: str = "") -> None:
        self._on_status(DeviceStatus(self.kind, self.name, state, detail, self._last_reading_at))

    def _detected(self, _: BLEDevice, advertisement: AdvertisementData) -> None:
        now = self._clock()
        self._last_advert = now
        parsed = parse_advertisement(
            advertisement.manufacturer_data, advertisement.service_data, advertisement.local_name
        )
        self.corrupt_adverts += parsed.corrupt
        for sighting in sightings(parsed.frames, advertisement.rssi, self.name, now):
            self._last_reading_at = now
            self._on_sighting(sighting)

    def _scanner(self) -> BleakScanner:
        options = dict(self._options)
        if not self._passive:
            return BleakScanner(
                self._detected, scanning_mode="active", backend=self._backend, **options
            )
        if self._backend is None:
            options.setdefault("bluez", PASSIVE_PATTERNS)
        return BleakScanner(
            self._detected, scanning_mode="passive", backend=self._backend, **options
        )

    async def _run(self) -> None:
        self._report(DeviceState.STARTING)
        try:
            while True:
                scanner = self._scanner()
                try:
                    await scanner.start()
                except (BleakError, OSError, ValueError) as error:
                    self._report(DeviceState.MISSING, f"no BLE adapter: {error}")
                    await asyncio.sleep(self._backoff.next_delay())
                    continue
                self._report(DeviceState.OK)
                try:
                    await self._until_silent()
                    log.warning(
                        "BLE scanner silent for %.0f s: restarting it", self.silence_restart
                    )
                    self._report(DeviceState.FAILING, "silent: restarted")
                finally:
                    with contextlib.suppress(BleakError, OSError):
                        await scanner.stop()
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self._report(DeviceState.STOPPED)

    async def _until_silent(self) -> None:
        """Return once no advertisement has come for `silence_restart` seconds."""
        self._last_advert = self._clock()
        while True:
            quiet = self._clock() - self._last_advert
            if quiet >= self.silence_restart:
                return
            if quiet < 1.0:
                self._backoff.reset()  # adverts are flowing: the adapter is healthy
            await asyncio.sleep(self.silence_restart - quiet)
