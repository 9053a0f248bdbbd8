"""`borne hub`: serve the kiosks, import feeds, show each device's events.

The hub's modules (and psycopg) are imported inside the commands: the kiosk's commands
never load them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk import hub_command_cli, hub_enrol_cli
from kiosk.hub_import_cli import hub_import

if TYPE_CHECKING:
    from edge.hub.config import HubConfig
    from edge.hub.enrolment.server import EnrolmentServer

# Commands kept in modules of their own (enrolment, signed commands).
HUB_COMMAND_MODULES = (hub_enrol_cli, hub_command_cli)


def add_hub_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `borne hub` and its commands to the `borne` parser."""
    hub = commands.add_parser(
        "hub", help="the platform's side: imports retailer feeds, ingests every kiosk event"
    )
    hub_commands = hub.add_subparsers(dest="hub_command", required=True)
    serve = hub_commands.add_parser("serve", help="ingest events until stopped (SIGTERM)")
    serve.add_argument("--config", type=Path, required=True)
    hub_import = hub_commands.add_parser(
        "import",
        help="import retailer feeds (products, local inventory, reviews, promotions, loyalty"
        " customers, staff, orders: docs/feeds.md)",
    )
    hub_import.add_argument("--config", type=Path, required=True)
    hub_import.add_argument("files", nargs="+", type=Path, metavar="FILE")
    hub_status = hub_commands.add_parser("status", help="each device's sequence, events, gaps")
    hub_status.add_argument("--config", type=Path, required=True)
    hub_status.add_argument("--json", action="store_true")
    for module in HUB_COMMAND_MODULES:
        module.add_commands(hub_commands)


def run_hub_command(args: argparse.Namespace) -> int:
    """Run `borne hub ...`; returns the exit status."""
    for module in HUB_COMMAND_MODULES:
        if args.hub_command in module.COMMANDS:
            return int(module.run(args))
    from edge.hub.config import load_hub_config

    config = load_hub_config(args.config)
    if args.hub_command == "serve":
        return asyncio.run(_hub_serve(config))
    if args.hub_command == "import":
        return hub_import(config, args.files)
    return _hub_status(config, as_json=args.json)


async def _hub_serve(config: HubConfig) -> int:
    from edge.hub.assist_queue import AssistQueues
    from edge.hub.gaps import GapAsker
    from edge.hub.resync import SyncResponder, device_store_lookup
    from edge.hub.service import HubService
    from edge.hub.staff_requests import StaffResponder, session_check
    from edge.hub.streams.lookups import StaffLookups

    # A stop asked for at any moment from here is a clean stop, even before the service
    # runs (systemd, or a test, may stop the hub as soon as its enrolment answers).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Enrolment first: a hub that cannot enrol as configured says so before it starts.
    enrolment = await asyncio.to_thread(_start_enrolment, config)
    store = await asyncio.to_thread(config.store.open)
    streams = await asyncio.to_thread(config.store.open_streams)
    try:
        # Kiosks that missed changes ask for them again: answered from the imported streams.
        enrolled = enrolment.enroller.registry.store_of if enrolment is not None else None
        store_of = device_store_lookup(store, config.devices, enrolled)
        responder = SyncResponder(streams, store_of)
        # Staff kiosks' requests, and each store's advisor call queue.
        lookups = StaffLookups(streams.database)
        staff = StaffResponder(lookups, store_of, session_check(store))
        assist = AssistQueues(store, lookups)
        # Events the broker lost on the way are asked for again from the devices.
        asker = GapAsker(
            store,
            config.mqtt.effective_client_id,
            ask_after=config.gaps.ask_after,
            ask_every=config.gaps.ask_every,
        )
        service = HubService(
            config.mqtt, store, resync=responder, gaps=asker, staff=staff, assist=assist
        )
        closer = asyncio.create_task(_close_when(stop, service.close))
        try:
            await service.run()
        finally:  # also when the service fails: no task left pending on a closed loop
            closer.cancel()
    finally:
        if enrolment is not None:
            await asyncio.to_thread(enrolment.close)
        streams.close()
        store.close()
    # What this process did, for the operator (and the tests) once it stops.
    counters = service.counters.as_dict() | {
        "resync": responder.counters.as_dict(),
        "gaps": asker.counters.as_dict(),
        "staff": staff.counters.as_dict(),
        "assist_published": assist.published,
    }
    print(json.dumps(counters), flush=True)
    return 0


async def _close_when(stop: asyncio.Event, close: Callable[[], None]) -> None:
    await stop.wait()
    close()


def _start_enrolment(config: HubConfig) -> EnrolmentServer | None:
    """The HTTPS enrolment endpoint, answering (None: `[enrol] public_url` is empty)."""
    if not config.enrol.enabled:
        return None
    from edge.hub.enrolment.server import EnrolmentServer, server_tls_context
    from edge.hub.enrolment.setup import ca_folder, open_enroller

    enroller = open_enroller(config)
    context = server_tls_context(
        enroller, config.enrol.public_host, ca_folder(config), config.enrol.certificate_days
    )
    server = EnrolmentServer(enroller, config.enrol.listen_host, config.enrol.listen_port, context)
    server.start()
    return server


def _hub_status(config: HubConfig, *, as_json: bool) -> int:
    store = config.store.open()
    try:
        devices = store.devices()
    finally:
        store.close()
    if as_json:
        for device in devices:
            print(json.dumps(asdict(device), default=str))
        return 0
    print(
        f"{'device':<20} {'state':<8} {'boot':>5} {'epoch':<9} {'contiguous':>10} {'highest':>10} "
        f"{'stored':>9} {'dupes':>7} {'open':>5} {'shed':>5} {'recovered':>9} {'expired':>7}"
    )
    for device in devices:
        print(
            f"{device.device_id:<20} {device.state or '-':<8} {device.boot or '-':>5} "
            f"{device.epoch[:8] or '-':<9} {device.last_contiguous:>10} {device.highest:>10} "
            f"{device.events_stored:>9} "
            f"{device.duplicates_dropped:>7} {device.open.sequences:>5} "
            f"{device.shed.sequences:>5} {device.recovered.sequences:>9} "
            f"{device.expired.sequences:>7}"
        )
    for device in devices:  # the one thing a store must fix at once: two kiosks, one id
        if device.twin_epochs:
            print(
                f"{device.device_id}: two kiosks publish under this id "
                f"(stream epochs {' and '.join(device.twin_epochs)}): give each its own"
            )
    return 0
