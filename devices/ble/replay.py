"""A bleak scanner backend that replays recorded or scripted advertisements.

It is a `BaseBleakScanner`: `BleakScanner(callback, backend=ReplayScannerBackend,
replay=[...])` runs bleak's own front end, device bookkeeping and `AdvertisementData`,
so everything above the radio is exercised as with BlueZ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)

from devices.errors import InputError


@dataclass(frozen=True, slots=True)
class RecordedAdvert:
    """One advertisement to replay, `after` seconds after the previous one."""

    address: str
    rssi: int
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()
    local_name: str | None = None
    tx_power: int | None = None
    after: float = 0.0

    def advertisement(self) -> AdvertisementData:
        """As bleak hands it to detection callbacks."""
        return AdvertisementData(
            local_name=self.local_name,
            manufacturer_data=dict(self.manufacturer_data),
            service_data=dict(self.service_data),
            service_uuids=list(self.service_uuids),
            tx_power=self.tx_power,
            rssi=self.rssi,
            platform_data=(),
        )


def load_recording(path: Path) -> list[RecordedAdvert]:
    """Adverts from a JSON file: a list of adverts, or {"fixtures": [...]} as in testdata.

    Each advert: manufacturer_data {company id (decimal string): hex}, service_data
    {uuid: hex}, optional service_uuids, local_name, rssi, address, after (s).
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        items = document["fixtures"] if isinstance(document, dict) else document
        return [
            RecordedAdvert(
                address=str(
                    item.get("address", f"02:00:00:00:{index // 256:02X}:{index % 256:02X}")
                ),
                rssi=int(item.get("rssi") or -60),
                manufacturer_data={
                    int(k): bytes.fromhex(v) for k, v in item.get("manufacturer_data", {}).items()
                },
                service_data={
                    str(k): bytes.fromhex(v) for k, v in item.get("service_data", {}).items()
                },
                service_uuids=tuple(item.get("service_uuids", ())),
                local_name=item.get("local_name"),
                after=float(item.get("after", 0.1)),
            )
            for index, item in enumerate(items)
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError("BLE recording", f"{path}: {error}") from None


def ibeacon_payload(proximity_uuid: str, major: int, minor: int, tx_power: int) -> bytes:
    """Apple manufacturer data of an iBeacon (what a store app advertises)."""
    return (
        b"\x02\x15"
        + bytes.fromhex(proximity_uuid.replace("-", ""))
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + (tx_power & 0xFF).to_bytes(1, "big")
    )


def shopper_visit(
    proximity_uuid: str,
    major: int,
    minor: int,
    *,
    closest_rssi: int = -50,
    seconds: float = 20.0,
    rate_hz: float = 5.0,
    tx_power: int = -59,
) -> list[RecordedAdvert]:
    """A phone running the store app walking up to the kiosk, staying, then leaving.

    The phone rotates its address every few seconds, as phones do: identity must
    come from the beacon's ids.
    """
    payload = {0x004C: ibeacon_payload(proximity_uuid, major, minor, tx_power)}
    steps = max(2, int(seconds * rate_hz))
    adverts = []
    for step in range(steps):
        # RSSI rises to its peak mid-visit and falls again (a half sine).
        closeness = math.sin(math.pi * step / (steps - 1))
        rssi = round(-95 + (closest_rssi + 95) * closeness)
        rotation = int(step / rate_hz / 5)  # a new random address every 5 s
        address = f"4A:{minor % 256:02X}:{rotation % 256:02X}:00:00:{step % 7:02X}"
        adverts.append(RecordedAdvert(address, rssi, payload, after=1 / rate_hz))
    return adverts


class ReplayScannerBackend(BaseBleakScanner):
    """Plays adverts to bleak's detection callbacks, on the event loop, in real time."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "passive",
        *,
        replay: Iterable[RecordedAdvert] = (),
        repeat: bool = False,
        **_: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._replay: Sequence[RecordedAdvert] = list(replay)
        self._repeat = repeat
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.create_task(self._play(), name="ble-replay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _play(self) -> None:
        while True:
            for recorded in self._replay:
                await asyncio.sleep(recorded.after)
                advertisement = recorded.advertisement()
                if not self.is_allowed_uuid(advertisement.service_uuids):
                    continue
                device = self.create_or_update_device(
                    recorded.address, recorded.address, recorded.local_name, None, advertisement
                )
                self.call_detection_callbacks(device, advertisement)
            if not self._repeat:
                return
