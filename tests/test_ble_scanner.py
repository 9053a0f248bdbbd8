"""The beacon scanner on bleak's own front end, fed by the replay backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from devices.backoff import Backoff
from devices.ble.replay import ReplayScannerBackend, load_recording, shopper_visit
from devices.ble.scanner import BeaconScanner
from devices.readings import BeaconSighting
from devices.status import DeviceState, DeviceStatus
from tests.conftest import TESTDATA

APP = "426c7565-4368-6172-6d42-6561636f6e73"


def scan(
    replay: Any, seconds: float, **options: Any
) -> tuple[list[BeaconSighting], list[DeviceStatus], BeaconScanner]:
    found: list[BeaconSighting] = []
    statuses: list[DeviceStatus] = []

    async def run() -> BeaconScanner:
        scanner = BeaconScanner(
            found.append,
            on_status=statuses.append,
            backend=options.pop("backend", ReplayScannerBackend),
            backend_options={"replay": replay, **options.pop("backend_options", {})},
            backoff=Backoff(base=0.02, cap=0.05),
            **options,
        )
        scanner.start()
        await asyncio.sleep(seconds)
        scanner.stop()
        await asyncio.sleep(0.05)
        return scanner

    scanner = asyncio.run(run())
    return found, statuses, scanner


def test_recorded_advertisements_become_sightings() -> None:
    recording = [
        replace(advert, after=0.001)
        for advert in load_recording(TESTDATA / "ble" / "ble_adverts.json")
    ]

    found, statuses, scanner = scan(recording, 0.5)

    ids = {s.beacon_id for s in found}
    assert f"{APP}/3838/4949" in ids  # BlueCharm iBeacon
    assert "12345678901234678901/000000000001" in ids  # Eddystone-UID
    assert "2f234454-cf6d-4a0f-adf2-f4911ba9ffa6/1/2" in ids  # AltBeacon
    assert not any(i.startswith("74278bda") for i in ids)  # the transient Tesla iBeacon
    assert scanner.corrupt_adverts == 1  # the truncated encrypted TLM
    assert [s.state for s in statuses][:2] == [DeviceState.STARTING, DeviceState.OK]
    assert statuses[-1].state is DeviceState.STOPPED


def test_a_phone_rotating_its_address_is_one_beacon() -> None:
    visit = shopper_visit(APP, 7, 42, seconds=2, rate_hz=50)

    found, _, _ = scan(visit, 2.4)

    assert len({a.address for a in visit}) > 1
    assert {s.beacon_id for s in found} == {f"{APP}/7/42"}
    assert len(found) >= 90


def test_a_silent_scanner_is_restarted_and_reported() -> None:
    visit = shopper_visit(APP, 1, 1, seconds=0.2, rate_hz=50)

    _, statuses, _ = scan(visit, 1.0, silence_restart=0.3)

    states = [s.state for s in statuses]
    assert DeviceState.FAILING in states
    assert states.count(DeviceState.OK) >= 2  # started again after the silence


class _NoAdapter(BaseBleakScanner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(None, None)

    async def start(self) -> None:
        raise BleakError("No Bluetooth adapters found.")

    async def stop(self) -> None:
        pass


def test_a_missing_adapter_is_reported_and_retried() -> None:
    _, statuses, _ = scan([], 0.3, backend=_NoAdapter)

    missing = [s for s in statuses if s.state is DeviceState.MISSING]
    assert len(missing) >= 2
    assert "No Bluetooth adapters found" in missing[0].detail
