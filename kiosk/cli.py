"""The `borne` command: the kiosk, the headless runtime, simulations and tooling."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from edge.config import Config, load_config
from edge.demo import with_demo_store
from edge.demo_platform import DemoPlatform
from edge.errors import BorneError, ConfigError
from edge.lockdown import hash_pin
from edge.logs import setup_logging
from kiosk import doctor_cli, enrol_cli, service_cli
from kiosk.catalog_cli import add_catalog_commands, run_catalog_command
from kiosk.hub_cli import add_hub_commands, run_hub_command

DEMO_DATA_DIR = Path.home() / ".local" / "state" / "borne" / "demo"
# Commands kept in modules of their own: each reads its own configuration.
COMMAND_MODULES = (enrol_cli, doctor_cli, service_cli)
DEMO_STAFF_PIN = "2580"  # the demo's only: a real kiosk's PIN hash comes from provisioning
DEMO_INSTALLER_PIN = "4321"  # the demo's only: a real kiosk's comes from enrolment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="borne", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="the kiosk with the demo store and simulated devices")
    demo.add_argument("--config", type=Path, help="TOML configuration (default: demo settings)")
    demo.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
    demo.add_argument("--journey", type=Path, help="play this JSON journey, then exit")
    demo.add_argument("--screenshots", type=Path, help="where a journey saves its screenshots")
    demo.add_argument(
        "--platform",
        action="store_true",
        help="also run the demo's broker and hub on loopback, and sync the kiosk from them",
    )

    kiosk = commands.add_parser(
        "kiosk", help="the store's kiosk: fullscreen, locked, the configured devices and catalog"
    )
    kiosk.add_argument("--config", type=Path, required=True)
    kiosk.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")

    edge = commands.add_parser("edge", help="the runtime, headless, until stopped")
    edge.add_argument("--config", type=Path, required=True)

    simulate = commands.add_parser("simulate", help="simulated shopper journeys, headless")
    simulate.add_argument("--config", type=Path, required=True)
    simulate.add_argument("--journeys", type=int, default=10)
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument(
        "--wait-delivered", action="store_true", help="exit once the outbox is empty"
    )
    simulate.add_argument("--timeout", type=float, default=600.0, help="give up after (s)")

    scan = commands.add_parser(
        "scan", help="decode the barcodes in image or video files, one JSON line per code"
    )
    scan.add_argument("files", nargs="+", type=Path, metavar="IMAGE_OR_VIDEO")

    devices = commands.add_parser("devices", help="each device with its backend and state")
    devices.add_argument("--config", type=Path, required=True)
    devices.add_argument("--seconds", type=float, default=3.0, help="how long to watch them")
    devices.add_argument("--json", action="store_true")

    nfc = commands.add_parser("nfc", help="NFC reader tools")
    nfc_commands = nfc.add_subparsers(dest="nfc_command", required=True)
    nfc_read = nfc_commands.add_parser("read", help="print the next tag as JSON, then exit")
    nfc_read.add_argument("--device", required=True, help="nfcpy path: usb, tty:..., udp:...")
    nfc_read.add_argument("--timeout", type=float, default=10.0)

    ble = commands.add_parser("ble", help="BLE tools")
    ble_commands = ble.add_subparsers(dest="ble_command", required=True)
    ble_scan = ble_commands.add_parser("scan", help="print parsed beacons as JSON lines")
    ble_scan.add_argument("--seconds", type=float, default=10.0)
    ble_scan.add_argument("--replay", type=Path, help="a recording to replay instead of the radio")
    ble_scan.add_argument("--active", action="store_true", help="active scanning")

    commands.add_parser(
        "pin-hash", help="read a staff PIN on standard input, print its [kiosk] exit_pin_hash"
    )

    outbox = commands.add_parser("outbox", help="the event outbox")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    status = outbox_commands.add_parser("status", help="queued events and last delivery")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--json", action="store_true")

    add_catalog_commands(commands)
    add_hub_commands(commands)
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


def _demo_config(path: Path | None, platform_port: int | None = None) -> Config:
    """The demo: the given configuration, or the demo's own, completed with the demo store.

    With `platform_port`, the kiosk is synced from the demo's platform on that port. A
    configuration naming a broker and no catalog file is synced from that broker's
    platform, as a store's kiosk is; otherwise the demo reads the demo store's catalog.
    """
    if path is not None:
        config = load_config(path)
        demo = with_demo_store(config, platform_port=platform_port)
        if config.mqtt.host and not config.catalog.source:
            return demo.model_copy(update={"catalog": config.catalog})
        return demo
    config = load_config(
        None,
        {
            "BORNE_STORAGE__DATA_DIR": str(DEMO_DATA_DIR),
            "BORNE_KIOSK__EXIT_PIN_HASH": hash_pin(DEMO_STAFF_PIN, salt=b"borne-demo-kiosk"),
            "BORNE_KIOSK__INSTALLER_PIN_HASH": hash_pin(
                DEMO_INSTALLER_PIN, salt=b"borne-demo-installer"
            ),
        },
    )
    return with_demo_store(config, shoppers_walk_by=True, platform_port=platform_port)


def _demo(args: argparse.Namespace) -> int:
    """`borne demo`: the kiosk, and with `--platform` the demo's broker and hub under it."""
    # Kivy is imported only here: the other commands run on machines without a screen.
    from kiosk.launcher import run_kiosk

    if not args.platform:
        config = _demo_config(args.config)
        return run_kiosk(
            config,
            windowed=args.windowed,
            demo=True,
            journey=args.journey,
            screenshots=args.screenshots,
        )
    data_dir = load_config(args.config).data_dir if args.config else DEMO_DATA_DIR
    platform = DemoPlatform(data_dir / "platform")
    platform.start()
    try:
        # The console script beside this interpreter: `make demo` does not put it on PATH.
        program = Path(sys.executable).parent / "borne"
        print(
            f"borne: the demo's broker listens on 127.0.0.1:{platform.port} and its hub"
            f" serves the kiosk. Change a quantity in {platform.feeds}/inventory-*.tsv,"
            f" then import it:\n  {platform.import_command(str(program))}",
            file=sys.stderr,
            flush=True,
        )
        return run_kiosk(
            _demo_config(args.config, platform.port),
            windowed=args.windowed,
            demo=True,
            journey=args.journey,
            screenshots=args.screenshots,
        )
    finally:
        platform.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "kiosk":
            from kiosk.launcher import run_kiosk  # Kivy: only for the commands with a screen

            # Not enrolled yet: the kiosk shows its enrolment screen (kiosk/enrolment_app.py).
            config = load_config(args.config)
            return run_kiosk(config, windowed=args.windowed, config_path=args.config)
        if args.command == "scan":
            return _scan(args.files)
        if args.command == "nfc":
            return _nfc_read(args.device, args.timeout)
        if args.command == "pin-hash":
            return _pin_hash()
        if args.command == "ble":
            return asyncio.run(_ble_scan(args.seconds, args.replay, active=args.active))
        if args.command == "hub":
            return run_hub_command(args)
        for module in COMMAND_MODULES:
            if args.command in module.COMMANDS:
                return int(module.run(args))
        config = load_config(args.config)
        if args.command == "edge":
            return asyncio.run(_edge(config))
        if args.command == "simulate":
            return asyncio.run(_simulate(with_demo_store(config), args))
        if args.command == "devices":
            return asyncio.run(_devices(config, args.seconds, as_json=args.json))
        if args.command == "catalog":
            return run_catalog_command(config, args)
        return _outbox_status(config, as_json=args.json)
    except ConfigError as error:
        print(f"borne: configuration error: {error}", file=sys.stderr)
        return 2
    except BorneError as error:
        print(f"borne: {error}", file=sys.stderr)
        return 1


async def _edge(config: Config) -> int:
    from edge.bootstrap import build_runtime
    from edge.sd_notify import ServiceNotifier

    service = ServiceNotifier.from_environment()  # systemd's, when run as a service
    runtime, simulators = await build_runtime(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    try:
        async with service.watchdog_fed():
            service.ready("runtime started")
            await stop.wait()
            service.stopping()
    finally:
        await runtime.close()
        simulators.close()
        service.close()
    return 0


async def _simulate(config: Config, args: argparse.Namespace) -> int:
    from edge.journeys import simulate

    try:
        async with asyncio.timeout(args.timeout):
            summary = await simulate(
                config, args.journeys, seed=args.seed, wait_delivered=args.wait_delivered
            )
    except TimeoutError:
        print("borne: timed out before every event was delivered", file=sys.stderr)
        return 1
    print(json.dumps(asdict(summary)))
    return 0


def _scan(files: list[Path]) -> int:
    from devices.barcode.file_scan import scan_file

    status = 0
    for path in files:
        try:
            for found in scan_file(path):
                line = {
                    "path": found.path,
                    "symbology": str(found.code.symbology),
                    "text": found.code.text,
                    "gtin": found.meaning.gtin if found.meaning else None,
                    "kind": str(found.meaning.kind) if found.meaning else None,
                }
                if found.refused:
                    line["refused"] = found.refused
                print(json.dumps(line, ensure_ascii=False), flush=True)
        except BorneError as error:
            print(f"borne: {error}", file=sys.stderr)
            status = 1
    return status


def _pin_hash() -> int:
    pin = getpass.getpass("Staff PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        print(hash_pin(pin))
    except ValueError as error:
        print(f"borne: {error}", file=sys.stderr)
        return 2
    return 0


def _local_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


async def _devices(config: Config, seconds: float, *, as_json: bool) -> int:
    from edge.bootstrap import build_runtime

    runtime, simulators = await build_runtime(config)
    await runtime.start()
    try:
        await asyncio.sleep(seconds)
        statuses = sorted(runtime.device_status.values(), key=lambda s: s.kind)
    finally:
        await runtime.close()
        simulators.close()
    if as_json:
        for status in statuses:
            print(json.dumps(asdict(status)))
        return 0
    print(f"{'device':<8} {'backend':<28} {'state':<14} {'last reading':<20} detail")
    for status in statuses:
        last = "-" if status.last_reading_at is None else _local_time(status.last_reading_at)
        state = str(status.state)
        print(f"{status.kind:<8} {status.backend:<28} {state:<14} {last:<20} {status.detail}")
    return 0


def _nfc_read(device: str, timeout: float) -> int:
    from devices.nfc.inspect import read_tag

    print(json.dumps(read_tag(device, timeout), ensure_ascii=False))
    return 0


async def _ble_scan(seconds: float, replay: Path | None, *, active: bool) -> int:
    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData
    from bleak.exc import BleakError

    from devices.ble.frames import parse_advertisement
    from devices.ble.replay import ReplayScannerBackend, load_recording
    from devices.ble.scanner import PASSIVE_PATTERNS

    def detected(device: BLEDevice, advertisement: AdvertisementData) -> None:
        parsed = parse_advertisement(
            advertisement.manufacturer_data, advertisement.service_data, advertisement.local_name
        )
        if parsed.frames or parsed.corrupt:
            line = {
                "address": device.address,
                "rssi": advertisement.rssi,
                "frames": [{"kind": type(f).__name__, **asdict(f)} for f in parsed.frames],
            }
            if parsed.errors:
                line["errors"] = list(parsed.errors)
            print(json.dumps(line), flush=True)

    if replay is not None:
        scanner = BleakScanner(
            detected, backend=ReplayScannerBackend, replay=load_recording(replay)
        )
    elif active:
        scanner = BleakScanner(detected, scanning_mode="active")
    else:
        scanner = BleakScanner(detected, scanning_mode="passive", bluez=PASSIVE_PATTERNS)
    try:
        await scanner.start()
    except (BleakError, OSError) as error:
        print(f"borne: BLE scanning unavailable: {error}", file=sys.stderr)
        return 1
    try:
        await asyncio.sleep(seconds)
    finally:
        await scanner.stop()
    return 0


def _outbox_status(config: Config, *, as_json: bool) -> int:
    from edge.config import check_data_dir
    from edge.outbox import describe_status, read_status

    check_data_dir(config)
    status = read_status(
        config.data_dir / "outbox.sqlite", max_bytes=config.storage.outbox_max_bytes
    )
    if as_json:
        print(json.dumps(asdict(status)))
        return 0
    for line in describe_status(status, now=time.time()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
