"""The devices opened by `borne doctor` itself, with the kiosk's own drivers.

The drivers are built as `edge.bootstrap` builds them, but hand their readings to the
self-test's `ReadingLog`: no shopper session exists, so a test tap or scan can never
become a shopper's event. The report is queued in the kiosk's outbox. That is safe
while `borne kiosk` runs: every append takes SQLite's write lock (BEGIN IMMEDIATE)
and numbers its events from the outbox's own last sequence inside it, so the two
processes' sequences stay gapless and distinct. The running kiosk sends the report
the next time it reads its outbox (with its next event, or when it reconnects).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from devices.barcode.capture import FrameSource, OpenCVCapture
from devices.barcode.scanner import CameraScanner
from devices.barcode.simulated_camera import SimulatedCamera
from devices.ble.replay import RecordedAdvert, ReplayScannerBackend, shopper_visit
from devices.ble.scanner import BeaconScanner
from devices.nfc.reader import NfcReader
from devices.nfc.simulated_card import SimulatedCardPeer
from devices.readings import Reading
from devices.status import DeviceStatus
from edge.bootstrap import SIMULATED, Simulators, open_outbox
from edge.config import Config, check_data_dir
from edge.doctor.display import DRM_ROOT, observe_system_display
from edge.doctor.frames import FrameMeter
from edge.doctor.report import Report
from edge.doctor.source import SETTLED, DisplayObservation, ReadingLog, Sending
from edge.errors import ConfigError, OutboxError
from edge.runtime import Device

QUEUED_NOTE = (
    "queued in the outbox as event {sequence}: the kiosk sends it to the platform"
    " (a running kiosk with its next event, else when it starts)"
)


class DeviceSource:
    """Opens the configured camera, NFC reader and BLE adapter for the self-test."""

    def __init__(
        self,
        config: Config,
        *,
        drm_root: Path = DRM_ROOT,
        watch_touches: bool = False,
        ble_replay: Sequence[RecordedAdvert] | None = None,
    ) -> None:
        """`watch_touches`: count touches on the touch panels during the wait (an
        installer is there). `ble_replay`: what a simulated BLE adapter hears (the
        demo's shoppers walking by, when not given)."""
        self.config = config
        self.readings = ReadingLog()
        self.simulators = Simulators()
        self.simulated = frozenset(
            kind for kind in ("camera", "nfc", "ble") if getattr(config.devices, kind) == SIMULATED
        )
        self._drm_root = drm_root
        self._watch_touches = watch_touches
        self._ble_replay = ble_replay
        self._statuses: dict[str, DeviceStatus] = {}
        self._meter: FrameMeter | None = None
        self._devices: list[Device] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def configured(self, kind: str) -> str:
        """The configured address of a device kind ("" when none is configured)."""
        address: str = getattr(self.config.devices, kind, "")
        return address

    async def start(self) -> None:
        """Open the configured devices; their readings and statuses come to this source."""
        self._loop = asyncio.get_running_loop()
        self._devices = self._build()
        for device in self._devices:
            device.start()

    def _build(self) -> list[Device]:
        devices: list[Device] = []
        camera = self._camera()
        if camera is not None:
            self._meter = FrameMeter(camera)
            devices.append(CameraScanner(self._meter, self._hand_over, on_status=self._report))
        nfc = self.config.devices.nfc
        if nfc == SIMULATED:
            self.simulators.card = SimulatedCardPeer()
            nfc = self.simulators.card.path
        if nfc:
            devices.append(NfcReader(nfc, self._hand_over, on_status=self._report))
        ble = self.config.devices.ble
        if ble == SIMULATED:
            replay = self._ble_replay
            if replay is None:  # the demo's shoppers, walking by
                replay = shopper_visit(self.config.presence.store_app_uuid, 1, 101, seconds=30)
            devices.append(
                BeaconScanner(
                    self._hand_over,
                    on_status=self._report,
                    backend=ReplayScannerBackend,
                    backend_options={"replay": list(replay), "repeat": True},
                )
            )
        elif ble:
            passive = self.config.presence.passive_scan
            devices.append(BeaconScanner(self._hand_over, on_status=self._report, passive=passive))
        return devices

    def _camera(self) -> FrameSource | None:
        address = self.config.devices.camera
        if address == SIMULATED:
            self.simulators.camera = SimulatedCamera(fps=15.0)
            return self.simulators.camera
        if address:
            return OpenCVCapture(int(address) if address.isdigit() else address)
        return None

    def _hand_over(self, reading: Reading) -> None:
        """From a device's thread (or the loop): to the reading log, on the loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.readings.add, reading)

    def _report(self, status: DeviceStatus) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._status_changed, status)

    def _status_changed(self, status: DeviceStatus) -> None:
        self._statuses[status.kind] = status
        self.readings.notify()

    async def stop(self) -> None:
        """Close the devices (and the simulated peers)."""
        for device in self._devices:
            await asyncio.to_thread(device.stop)
        self._devices = []
        self.simulators.close()

    async def status(self, kind: str, deadline: float) -> DeviceStatus | None:
        """The device's status once it opened or failed to, or as it is at `deadline`."""

        def settled() -> bool:
            status = self._statuses.get(kind)
            return status is not None and status.state in SETTLED

        await self.readings.wait_for(settled, deadline)
        return self._statuses.get(kind)

    def frames(self) -> FrameMeter | None:
        """The camera's frame counter."""
        return self._meter

    async def display(self, deadline: float) -> DisplayObservation:
        """Outputs from the kernel, touch panels from evdev, touches if watched."""
        return await observe_system_display(
            deadline, drm_root=self._drm_root, watch_touches=self._watch_touches
        )

    def calibrated(self, power_at_1m: int) -> None:
        """Nothing to apply here: a running kiosk reads the saved value when it starts."""

    async def send(self, report: Report) -> Sending:
        """Queue the report's event in the kiosk's outbox (see the module's docstring)."""
        device = self.config.device
        if not device.device_id or not device.store_id:
            return Sending(
                False,
                None,
                "not sent: this kiosk has no [device] device_id and store_id yet (enrol it first)",
            )
        try:
            check_data_dir(self.config)
            outbox = await asyncio.to_thread(open_outbox, self.config)
        except (ConfigError, OutboxError) as error:
            return Sending(False, None, f"not sent: the outbox cannot be opened ({error})")
        try:
            (stored,) = await outbox.append(report.event())
        except OutboxError as error:
            return Sending(False, None, f"not sent: the outbox refused it ({error})")
        finally:
            await asyncio.to_thread(outbox.close)
        return Sending(True, stored.sequence, QUEUED_NOTE.format(sequence=stored.sequence))
