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
from edge.outbox import Outbox, OutboxStore
from edge.presence import PresenceEngine
from edge.pseudonym import Pseudonymizer, load_key
from edge.runtime import Runtime
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


def open_catalog(config: Config, pseudonymize: Pseudonymizer) -> Catalog:
    """The catalog cache, refreshed from its source file when that changed."""
    catalog = Catalog(config.data_dir / "catalog.sqlite")
    source = Path(config.catalog.source) if config.catalog.source else DEMO_CATALOG
    catalog.load_source(source, pseudonymize)
    return catalog


def demo_cards(config: Config) -> list[tuple[str, str]]:
    """(first name, card number) of the loyalty cards in the catalog source, for simulators."""
    source = Path(config.catalog.source) if config.catalog.source else DEMO_CATALOG
    document = json.loads(source.read_text(encoding="utf-8"))
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
        presence=presence,
    )
    simulators = Simulators()

    frames: FrameSource
    if config.devices.camera == "simulated":
        frames = simulators.camera = SimulatedCamera(fps=camera_fps)
    elif config.devices.camera:
        address = config.devices.camera
        frames = OpenCVCapture(int(address) if address.isdigit() else address)
    if config.devices.camera:
        runtime.attach(CameraScanner(frames, runtime.submit, on_status=runtime.report_status))

    nfc_path = config.devices.nfc
    if nfc_path == "simulated":
        simulators.card = SimulatedCardPeer()
        nfc_path = simulators.card.path
    if nfc_path:
        runtime.attach(NfcReader(nfc_path, runtime.submit, on_status=runtime.report_status))

    keys: KeySource
    if config.devices.hid == "simulated":
        keys = simulators.wedge = SimulatedWedge(config.devices.hid_layout)
    elif config.devices.hid and config.devices.hid != "keyboard":  # "keyboard": the kiosk's
        keys = EvdevKeySource(config.devices.hid)
    if config.devices.hid and config.devices.hid != "keyboard":
        runtime.attach(
            HidScanner(
                keys,
                runtime.submit,
                layout=config.devices.hid_layout,
                on_status=runtime.report_status,
            )
        )

    if config.devices.ble == "simulated":
        # Shoppers with the store app walk by, one after the other, again and again.
        visits = [
            advert
            for minor in (101, 102, 103)
            for advert in shopper_visit(config.presence.store_app_uuid, 1, minor, seconds=30)
        ]
        runtime.attach(
            BeaconScanner(
                runtime.submit,
                on_status=runtime.report_status,
                backend=ReplayScannerBackend,
                backend_options={"replay": visits, "repeat": True},
            )
        )
    elif config.devices.ble == "bleak":
        runtime.attach(
            BeaconScanner(
                runtime.submit,
                on_status=runtime.report_status,
                passive=config.presence.passive_scan,
            )
        )
    return runtime, simulators
