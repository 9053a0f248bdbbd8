"""`borne doctor`: the installer's self-test, in a terminal or for tools (`--json`).

In a terminal the checks show as they run (rich), with what to do during the wait;
piped, one plain line per check as it ends; with `--json`, one JSON object. The exit
status is 1 when a check failed, 0 when all passed or warned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from edge.config import Config, load_config
from edge.doctor import (
    CHECKS,
    DEFAULT_WAIT,
    CheckResult,
    DoctorSource,
    Outcome,
    Report,
    Sending,
    run_doctor,
)
from edge.doctor.runner import Progress

COMMANDS = ("doctor",)  # the `borne` commands this module adds
# What the installer does during the wait, for each device check.
ASKS = {
    "camera": "hold a product's barcode 15-25 cm from the camera",
    "nfc": "tap any card on the reader",
    "ble": "hold a phone running the store app 1 m from the kiosk",
    "display": "touch the screen",
}
MARKS = {
    Outcome.PASS: "[bold green]✔ pass[/]",
    Outcome.WARN: "[bold yellow]! warn[/]",
    Outcome.FAIL: "[bold red]✘ fail[/]",
    Outcome.SKIP: "[dim]- skip[/]",
}


def _checks(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in CHECKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown check {', '.join(unknown) or '(none)'}: choose among {','.join(CHECKS)}"
        )
    return names


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError("must be between 1 and 600 seconds")
    return value


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne` parser."""
    doctor = commands.add_parser(
        "doctor",
        help="the installer's self-test: devices, broker, clock, storage, catalog",
        description=__doc__,
    )
    doctor.add_argument("--config", type=Path, required=True)
    doctor.add_argument("--json", action="store_true", help="one JSON object on standard output")
    doctor.add_argument(
        "--only", type=_checks, default=CHECKS, metavar="CHECKS", help=f"among {','.join(CHECKS)}"
    )
    doctor.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long the installer has to scan, tap, hold the phone, touch",
    )
    doctor.add_argument(
        "--calibrate",
        action="store_true",
        help="save the store app's power at 1 m as [presence] power_at_1m",
    )


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    config = load_config(args.config)
    return asyncio.run(_doctor(config, args))


def _asks(config: Config, checks: tuple[str, ...], *, touches: bool) -> list[str]:
    """What the installer is asked to do for the selected, configured devices (touches
    only when they are watched: in a terminal, where an installer is)."""
    wanted = []
    for check, ask in ASKS.items():
        configured = touches if check == "display" else bool(getattr(config.devices, check))
        if check in checks and configured:
            wanted.append(ask)
    return wanted


async def _doctor(config: Config, args: argparse.Namespace) -> int:
    from edge.doctor.device_source import DeviceSource

    terminal = sys.stdout.isatty() and not args.json
    source = DeviceSource(config, watch_touches=terminal and "display" in args.only)
    asks = _asks(config, args.only, touches=terminal)
    if terminal:
        report, sending_note = await _in_terminal(config, args, source, asks)
    else:
        if asks:
            print(f"within {args.wait:.0f} s: {'; '.join(asks)}", file=sys.stderr, flush=True)
        plain = None if args.json else _plain_line
        report, sending = await _checked_and_sent(config, args, source, plain)
        sending_note = sending.note
        if args.json:
            document: dict[str, Any] = report.as_json()
            document["report_event"] = {
                "queued": sending.queued,
                "sequence": sending.sequence,
                "note": sending.note,
            }
            print(json.dumps(document, ensure_ascii=False))
        else:
            print(f"report: {sending_note}", flush=True)
    return 1 if report.failed else 0


async def _checked_and_sent(
    config: Config, args: argparse.Namespace, source: DoctorSource, progress: Progress | None
) -> tuple[Report, Sending]:
    """The checks the command line asked for, then their report queued for the platform."""
    report = await run_doctor(
        config,
        source=source,
        checks=args.only,
        wait=args.wait,
        calibrate=args.calibrate,
        config_path=args.config,
        progress=progress,
    )
    return report, await source.send(report)


def _plain_line(check: str, found: CheckResult | None) -> None:
    if found is None:
        return
    print(f"{check:<8} {found.outcome.upper():<4}  {found.summary_text}", flush=True)
    if found.remedy:
        print(f"{'':<8} {'':<4}  -> {found.remedy_text}", flush=True)


async def _in_terminal(
    config: Config, args: argparse.Namespace, source: Any, asks: list[str]
) -> tuple[Report, str]:
    """The checks as a live table: a spinner while each runs, its mark once done."""
    from rich.console import Console, Group
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if asks:
        console.print(f"[bold]Within {args.wait:.0f} s:[/] " + "; ".join(asks) + ".")
    states: dict[str, CheckResult | None] = {}

    def table() -> Table:
        grid = Table.grid(padding=(0, 2))
        for check in CHECKS:
            if check not in states:
                continue
            found = states[check]
            if found is None:
                grid.add_row(Text(check, style="bold"), Spinner("dots"), Text("checking…"))
                continue
            lines = Text(found.summary_text)
            if found.remedy:
                lines.append("\n→ " + found.remedy_text, style="italic")
            grid.add_row(Text(check, style="bold"), Text.from_markup(MARKS[found.outcome]), lines)
        return grid

    with Live(table(), console=console, refresh_per_second=8, transient=False) as live:

        def progress(check: str, found: CheckResult | None) -> None:
            states[check] = found
            live.update(table())

        report, sending = await _checked_and_sent(config, args, source, progress)
        live.update(Group(table(), Text(f"\nreport: {sending.note}")))
    verdict = "[bold red]a check failed[/]" if report.failed else "[bold green]ready[/]"
    console.print(verdict)
    return report, sending.note
