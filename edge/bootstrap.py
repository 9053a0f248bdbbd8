"""Builds a runtime from a configuration: storage, catalog, session, uplink, devices."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from devices.barcode.capture import FrameSource, OpenCVCapture
from devices.barcode.scanner import CameraScanner
from devices.barcode.simulated_camera import SimulatedCamera
from devices.ble.replay import ReplayScannerBackend, shopper_visit
from devices.ble.scanner import BeaconScanner
from devices.hid.wedge import EvdevKeySource, HidScanner, KeySource, SimulatedWedge
from devices.nfc.reader import NfcReader
from devices.nfc.simulated_card import SimulatedCardPeer
from edge.catalog import Catalog
from edge.config import Config
from edge.events import EventSource
from edge.lockdown import ExitLock
from edge.outbox import Outbox, OutboxStore
from edge.presence import PresenceEngine
from edge.pseudonym import Pseudonymizer, load_key
from edge.runtime import Device, Runtime
from edge.session import ShopperSession
from edge.uplink import Uplink

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEMO_CATALOG = ASSETS / "demo-store" / "catalog.json"


@dataclass
class Simulators:
    """The simulated devices of a runtime, for the demo panel and `borne simulate`."""

    camera: SimulatedCamera | None = None
    card: SimulatedCardPeer | None = None
    wedge: SimulatedWedge | None = None

    def close(self) -> None:
        """Stop the simulated peers."""
        if self.card is not None:
            self.card.close()


def open_outbox(config: Config) -> Outbox:
    """The outbox of this device, opened on its own thread."""
    source = EventSource(config.device.store_id, config.device.device_id)
    path = config.data_dir / "outbox.sqlite"
    return Outbox(
        lambda: OutboxStore(
            path,
            source,
            max_bytes=config.storage.outbox_max_bytes,
            synchronous=config.storage.synchronous,
        )
    )


def catalog_source(config: Config) -> Path:
    """The file the catalog cache is loaded from: the configured one, or the demo store."""
    return Path(config.catalog.source) if config.catalog.source else DEMO_CATALOG


def open_catalog(config: Config, pseudonymize: Pseudonymizer) -> Catalog:
    """The catalog cache, refreshed from its source file when that changed."""
    catalog = Catalog(config.data_dir / "catalog.sqlite")
    catalog.load_source(catalog_source(config), pseudonymize)
    return catalog


def demo_cards(config: Config) -> list[tuple[str, str]]:
    """(first name, card number) of the loyalty cards in the catalog source, for simulators."""
    document = json.loads(catalog_source(config).read_text(encoding="utf-8"))
    return [(str(c["first_name"]), str(c["card"])) for c in document.get("customers", [])]


async def build_runtime(
    config: Config, *, camera_fps: float | None = 15.0
) -> tuple[Runtime, Simulators]:
    """Everything a kiosk runs, wired together; devices start with `runtime.start()`."""
    pseudonymize = Pseudonymizer(load_key(config.privacy.pseudonym_key_file, config.data_dir))
    catalog = open_catalog(config, pseudonymize)
    outbox = open_outbox(config)
    boot_count = await outbox.next_boot()
    source = EventSource(config.device.store_id, config.device.device_id)
    uplink = (
        Uplink(config.mqtt, source, outbox, boot_count=boot_count) if config.mqtt.host else None
    )
    session = ShopperSession(catalog, pseudonymize, clock=time.time)
    presence = (
        PresenceEngine(config.presence.store_app_uuid, pseudonymize) if config.devices.ble else None
    )
    runtime = Runtime(
        session=session,
        catalog=catalog,
        outbox=outbox,
        uplink=uplink,
        idle_timeout=config.session.idle_timeout,
        idle_countdown=config.session.idle_countdown,
        store_id=config.device.store_id,
        presence=presence,
        exit_lock=ExitLock(config.kiosk.exit_pin_hash) if config.kiosk.exit_pin_hash else None,
    )
    simulators = Simulators()
    for device in _devices(config, runtime, simulators, camera_fps):
        runtime.attach(device)
    return runtime, simulators


def _devices(
    config: Config, runtime: Runtime, simulators: Simulators, camera_fps: float | None
) -> list[Device]:
    """The configured devices, each handing its readings to the runtime."""
    devices: list[Device] = []
    report = runtime.report_status
    frames = _camera(config, simulators, camera_fps)
    if frames is not None:
        devices.append(CameraScanner(frames, runtime.submit, on_status=report))
    nfc_path = config.devices.nfc
    if nfc_path == "simulated":
        simulators.card = SimulatedCardPeer()
        nfc_path = simulators.card.path
    if nfc_path:
        devices.append(NfcReader(nfc_path, runtime.submit, on_status=report))
    keys = _wedge(config, simulators)
    if keys is not None:
        layout = config.devices.hid_layout
        devices.append(HidScanner(keys, runtime.submit, layout=layout, on_status=report))
    if config.devices.ble == "simulated":
        # Shoppers with the store app walk by, one after the other, again and again.
        visits = [
            advert
            for minor in (101, 102, 103)
            for advert in shopper_visit(config.presence.store_app_uuid, 1, minor, seconds=30)
        ]
        replay = {"replay": visits, "repeat": True}
        devices.append(
            BeaconScanner(
                runtime.submit,
                on_status=report,
                backend=ReplayScannerBackend,
                backend_options=replay,
            )
        )
    elif config.devices.ble == "bleak":
        passive = config.presence.passive_scan
        devices.append(BeaconScanner(runtime.submit, on_status=report, passive=passive))
    return devices


def _camera(config: Config, simulators: Simulators, camera_fps: float | None) -> FrameSource | None:
    address = config.devices.camera
    if address == "simulated":
        simulators.camera = SimulatedCamera(fps=camera_fps)
        return simulators.camera
    if address:
        return OpenCVCapture(int(address) if address.isdigit() else address)
    return None


def _wedge(config: Config, simulators: Simulators) -> KeySource | None:
    hid = config.devices.hid
    if hid in ("", "keyboard"):  # "keyboard": read through the kiosk's window instead
        return None
    if hid == "simulated":
        simulators.wedge = SimulatedWedge(config.devices.hid_layout)
        return simulators.wedge
    return EvdevKeySource(hid)
