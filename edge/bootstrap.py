"""Builds a runtime from a configuration: storage, catalog, session, uplink, devices.

Only what the configuration names is built: no device entry means no device. The
catalog comes from its source file when `[catalog] source` names one; else from the
platform's streams when `[mqtt] host` names a broker (kept in `streams.sqlite`, so the
kiosk boots and serves offline); else it is what was cached before, or empty.
Simulated devices are for the demo and for `borne simulate`; the commands a store runs
refuse them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
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
from devices.status import DeviceState, DeviceStatus
from edge.catalog import CATALOG_CACHE, Catalog
from edge.catalog_live import STREAM_CACHE, StreamFile, StreamReads
from edge.catalog_rebuild import CatalogPlace
from edge.catalog_sync import CatalogFollower
from edge.commands.handlers import command_receiver, doctor_command
from edge.config import Config, check_data_dir
from edge.doctor.frames import FrameMeter
from edge.errors import CatalogError, ConfigError
from edge.events import EventSource
from edge.identity import check_identity
from edge.lockdown import ExitLock
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox
from edge.presence import PresenceEngine
from edge.privacy import CodePolicy
from edge.pseudonym import Pseudonyms, load_secret
from edge.replay import ReplayResponder
from edge.runtime import Device, PlatformStreams, Runtime
from edge.session import ShopperSession
from edge.staff.assist import AssistQueue
from edge.staff.desk import StaffDesk
from edge.staff.directory import (
    FixedDirectory,
    StaffDirectory,
    StreamDirectory,
    load_directory_file,
)
from edge.staff.lockouts import LOCKOUTS_FILE, BadgeLockouts
from edge.staff.requests import HubRequests
from edge.sync.cache import StreamCache
from edge.sync.downlink import Downlink
from edge.uplink import Uplink

log = logging.getLogger(__name__)
SIMULATED = "simulated"
DEVICE_KINDS = ("camera", "nfc", "ble", "hid")  # the keys of [devices] that name a device


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
            keep_delivered=config.storage.keep_delivered,
            disk_margin_bytes=config.storage.disk_margin_bytes,
            wal_max_bytes=config.storage.wal_max_bytes,
        )
    )


STREAM_CATALOG = "streams-catalog.json"  # the catalog made from them, as a source


def fed_by_streams(config: Config) -> bool:
    """Whether the catalog comes from the platform's streams rather than a source file."""
    return bool(config.mqtt.host) and not config.catalog.source


def catalog_place(config: Config) -> CatalogPlace:
    """Where the catalog made from the streams is written, and whose store it is."""
    pictures = Path(config.catalog.pictures) if config.catalog.pictures else None
    return CatalogPlace(
        streams=config.data_dir / STREAM_CACHE,
        catalog=config.data_dir / CATALOG_CACHE,
        source=config.data_dir / STREAM_CATALOG,
        pictures=pictures,
        store_id=config.device.store_id,
        store_names=config.catalog.store_names,
    )


def open_stream_catalog(config: Config) -> tuple[Catalog, StreamCache]:
    """The catalog fed by the streams, and the streams' copy it reads stock and
    customers from; it answers from what was cached before until the streams rebuild it."""
    cache = StreamCache(config.data_dir / STREAM_CACHE)
    try:
        reads = StreamReads(
            cache, store_names=config.catalog.store_names, stale_after=config.sync.stale_after
        )
        catalog = Catalog(config.data_dir / CATALOG_CACHE, live=reads)
    except BaseException:
        cache.close()
        raise
    if catalog.is_empty():
        log.warning(
            "no catalog source configured ([catalog] source): the catalog comes from the"
            " platform's streams, and nothing has come from it yet"
        )
    return catalog, cache


def open_catalog(config: Config) -> Catalog:
    """The catalog cache, refreshed from its source file when that changed.

    A source that cannot be loaded is reported and the cache keeps what it had: a
    kiosk that showed yesterday's catalog is better than one that shows none.
    """
    catalog = Catalog(config.data_dir / CATALOG_CACHE)
    if not config.catalog.source:
        kept = catalog.count()
        log.warning(
            "no catalog source configured ([catalog] source): %s",
            f"serving the {kept} products cached before" if kept else "the catalog is empty",
        )
        return catalog
    try:
        catalog.load_source(Path(config.catalog.source))
    except CatalogError as error:
        kept = catalog.count()
        log.error("catalog source refused, %d products kept from before: %s", kept, error)
    return catalog


def refuse_simulators(config: Config) -> None:
    """The commands a store runs use real devices only: "simulated" is a configuration error."""
    for kind in DEVICE_KINDS:
        if getattr(config.devices, kind) == SIMULATED:
            raise ConfigError(
                f"devices.{kind}",
                '"simulated" is only for `borne demo` and `borne simulate`',
            )


def _warn_if_cards_could_pass_for_products(config: Config) -> None:
    """A scanner with no loyalty range configured cannot tell a shown card from a product."""
    if (config.devices.camera or config.devices.hid) and not config.privacy.loyalty_prefixes:
        log.warning(
            "no [privacy] loyalty_prefixes: a loyalty card shown to a scanner would be taken"
            " for a product (GS1 restricted and coupon numbers are still never sent)"
        )


def is_enrolled(config: Config) -> bool:
    """Whether the configuration says who this kiosk is (enrolment writes both ids)."""
    return bool(config.device.store_id and config.device.device_id)


def check_ready(config: Config, *, simulators_allowed: bool) -> Pseudonyms:
    """What must hold before anything starts or is created: the secret, real devices, storage.

    Raises ConfigError naming the key; returns the pseudonymizers made from the secret.
    """
    if not config.device.store_id:
        raise ConfigError("device.store_id", "is required: who this kiosk is, on the broker")
    check_identity(config)
    if not simulators_allowed:
        refuse_simulators(config)
        _warn_if_cards_could_pass_for_products(config)
    pseudonyms = Pseudonyms.from_secret(load_secret(config.privacy.pseudonym_key_file))
    check_data_dir(config)
    return pseudonyms


async def build_runtime(
    config: Config, *, camera_fps: float | None = 15.0, simulators_allowed: bool = False
) -> tuple[Runtime, Simulators]:
    """Everything a kiosk runs, wired together; devices start with `runtime.start()`.

    Unless `simulators_allowed` (the demo, `borne simulate`), a device configured as
    "simulated" is a configuration error.
    """
    pseudonyms = check_ready(config, simulators_allowed=simulators_allowed)
    cache = None
    if fed_by_streams(config):
        catalog, cache = await asyncio.to_thread(open_stream_catalog, config)
    else:
        catalog = await asyncio.to_thread(open_catalog, config)  # a big source takes seconds
    simulators = Simulators()
    with ExitStack() as undo:  # what was opened is closed again if a later step fails
        undo.callback(catalog.close)
        if cache is not None:
            undo.callback(cache.close)
        undo.callback(simulators.close)
        # Off the loop: opening checks the file, and a damaged one is salvaged then.
        outbox = await asyncio.to_thread(open_outbox, config)
        undo.callback(outbox.close)
        boot_count = await outbox.next_boot()
        source = EventSource(config.device.store_id, config.device.device_id)
        uplink = (
            Uplink(config.mqtt, source, outbox, boot_count=boot_count) if config.mqtt.host else None
        )
        if uplink is not None:  # the platform may ask again for events its broker lost
            uplink.attach(ReplayResponder(config.device.device_id, outbox, uplink))
        streams = None
        downlink: Downlink | None = None
        if cache is not None and uplink is not None:
            follower = CatalogFollower(cache, catalog_place(config))
            downlink = Downlink(
                cache, source, config.sync, send=uplink.request, on_change=follower.streams_changed
            )
            uplink.attach(downlink)
            streams = PlatformStreams(cache, downlink, follower, config.sync.stale_after)
        codes = CodePolicy(tuple(config.privacy.loyalty_prefixes))
        staff_files = ExitStack()  # the runtime closes them with the rest
        undo.callback(staff_files.close)
        directory = _staff_directory(config, cache, staff_files, pseudonyms.card)
        lockouts = BadgeLockouts(
            config.data_dir / LOCKOUTS_FILE,
            max_failures=config.staff.max_failures,
            lockout_seconds=config.staff.lockout_minutes * 60,
        )
        staff_files.callback(lockouts.close)
        desk = StaffDesk(
            directory,
            lockouts,
            pseudonyms.card,
            catalog,
            store_id=config.device.store_id,
        )
        hub_requests = HubRequests(
            config.device.device_id,
            uplink.request if uplink is not None else None,
            answer_within=config.staff.answer_within,
            connected=(lambda: uplink.status().connected) if uplink is not None else lambda: False,
        )
        assist = AssistQueue(config.device.store_id)
        if uplink is not None:
            uplink.attach(hub_requests)
            uplink.attach(assist)
            # The platform's signed commands (edge.commands): verified, then run.
            commands = command_receiver(config, downlink=downlink, record=outbox.append)
            uplink.attach(commands)
        session = ShopperSession(
            catalog,
            pseudonyms.card,
            clock=time.time,
            codes=codes,
            store_id=config.device.store_id,
            device_id=config.device.device_id,
            staff=desk,
        )
        presence = (
            PresenceEngine(
                config.presence.store_app_uuid,
                pseudonyms.beacon,
                power_at_1m=config.presence.power_at_1m,
            )
            if config.devices.ble
            else None
        )
        runtime = Runtime(
            session=session,
            catalog=catalog,
            outbox=outbox,
            uplink=uplink,
            idle_timeout=config.session.idle_timeout,
            idle_countdown=config.session.idle_countdown,
            presence=presence,
            exit_lock=_corner_lock(config),
            streams=streams,
            staff_requests=hub_requests,
            staff_lock_after=config.staff.lock_after,
            on_close=staff_files.close,
        )
        assist.listen(runtime.follow_calls)
        if uplink is not None:
            commands.add("doctor", doctor_command(runtime, config))
        for device in _devices(config, runtime, simulators, camera_fps):
            runtime.attach(device)
        for kind in DEVICE_KINDS:
            if not getattr(config.devices, kind):
                runtime.report_status(
                    DeviceStatus(
                        kind, "none", DeviceState.NOT_CONFIGURED, f"no [devices] {kind} entry"
                    )
                )
        undo.pop_all()  # the runtime owns them from here
    return runtime, simulators


def _staff_directory(
    config: Config,
    cache: StreamCache | None,
    owned: ExitStack,
    pseudonymize: Callable[[str], str],
) -> StaffDirectory:
    """The staff directory the platform sent: from the streams' copy the kiosk keeps,
    also read when the catalog comes from a source file or no broker is configured
    (staff then log in with what was received before); or the configured staff file
    when the platform does not feed this kiosk; empty if there is none of these."""
    if cache is not None:
        if config.staff.directory_file:  # the platform's directory wins: say the file is not read
            log.warning(
                "[staff] directory_file is ignored: the platform sends this kiosk its staff"
                " (the staff stream)"
            )
        return StreamDirectory(cache)
    if config.staff.directory_file:
        return load_directory_file(
            Path(config.staff.directory_file), pseudonymize, config.device.store_id
        )
    path = config.data_dir / STREAM_CACHE
    if not path.is_file():
        return FixedDirectory()
    try:
        items = StreamFile(path)
    except CatalogError as error:
        log.warning("the staff directory cannot be read: %s", error)
        return FixedDirectory()
    owned.callback(items.close)
    return StreamDirectory(items)


def _corner_lock(config: Config) -> ExitLock | None:
    """The staff corner's lock: the staff's PIN closes the kiosk, the installer's opens
    the installer's panel; None when neither is set (the corner does nothing)."""
    kiosk = config.kiosk
    if not kiosk.exit_pin_hash and not kiosk.installer_pin_hash:
        return None
    return ExitLock(kiosk.exit_pin_hash, installer_hash=kiosk.installer_pin_hash)


def _devices(
    config: Config, runtime: Runtime, simulators: Simulators, camera_fps: float | None
) -> list[Device]:
    """The configured devices, each handing its readings to the runtime."""
    devices: list[Device] = []
    report = runtime.report_status
    frames = _camera(config, simulators, camera_fps)
    if frames is not None:
        # Metered (a counter per frame): the installer screen's self-test reads its rate
        # and sharpness (edge.doctor).
        metered = FrameMeter(frames)
        devices.append(CameraScanner(metered, runtime.submit, on_status=report))
    nfc_path = config.devices.nfc
    if nfc_path == SIMULATED:
        simulators.card = SimulatedCardPeer()
        nfc_path = simulators.card.path
    if nfc_path:
        devices.append(NfcReader(nfc_path, runtime.submit, on_status=report))
    keys = _wedge(config, simulators)
    if keys is not None:
        layout = config.devices.hid_layout
        devices.append(HidScanner(keys, runtime.submit, layout=layout, on_status=report))
    if config.devices.ble == SIMULATED:
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
    if address == SIMULATED:
        simulators.camera = SimulatedCamera(fps=camera_fps)
        return simulators.camera
    if address:
        return OpenCVCapture(int(address) if address.isdigit() else address)
    return None


def _wedge(config: Config, simulators: Simulators) -> KeySource | None:
    hid = config.devices.hid
    if hid in ("", "keyboard"):  # "keyboard": read through the kiosk's window instead
        return None
    if hid == SIMULATED:
        simulators.wedge = SimulatedWedge(config.devices.hid_layout)
        return simulators.wedge
    return EvdevKeySource(hid)
