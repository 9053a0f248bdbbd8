"""The commands a kiosk runs, and the receiver that runs them, built from its configuration."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge.commands.nonces import NONCES_FILE, NonceLedger
from edge.commands.receiver import CommandFailed, CommandReceiver, Handler, Record
from edge.commands.verify import CommandVerifier, load_verify_key
from edge.commands.wire import Command
from edge.config import Config
from edge.sync.downlink import Downlink

if TYPE_CHECKING:
    from edge.runtime import Runtime

log = logging.getLogger(__name__)
# Unattended, nobody holds up a barcode or taps a card: the device checks wait this long
# (seconds) by default, since the shoppers' readings go to the self-test meanwhile.
DOCTOR_WAIT = 5.0
DOCTOR_MAX_WAIT = 60.0


def resync_command(downlink: Downlink) -> Handler:
    """`resync`: ask every stream again from what the kiosk holds (as on a connection)."""

    async def resync(command: Command) -> Mapping[str, Any]:
        asked = downlink.resync()
        if not asked:
            raise CommandFailed("not connected: every stream is asked on the next connection")
        return {"streams_asked": asked}

    return resync


def doctor_command(runtime: Runtime, config: Config) -> Handler:
    """`doctor`: the installer's self-test, run unattended on the kiosk's own devices;
    its report leaves as the event `io.borne.device.checked`. Args (optional): `only`,
    a list of check names; `wait`, the seconds the device checks wait (at most 60).
    Refused as busy while another self-test runs (the installer's panel)."""

    async def doctor(command: Command) -> Mapping[str, Any]:
        from edge.doctor import CHECKS, run_doctor
        from edge.doctor.runtime_source import RuntimeSource, SelfTestBusy

        only = command.args.get("only", list(CHECKS))
        if not isinstance(only, list) or not all(isinstance(name, str) for name in only):
            raise CommandFailed("args.only must be a list of check names")
        wait = command.args.get("wait", DOCTOR_WAIT)
        if type(wait) not in (int, float) or not 0 <= wait <= DOCTOR_MAX_WAIT:
            raise CommandFailed(f"args.wait must be 0 to {DOCTOR_MAX_WAIT:g} seconds")
        source = RuntimeSource(runtime, config)
        try:
            report = await run_doctor(config, source=source, checks=only, wait=float(wait))
        except SelfTestBusy:
            # The installer is testing at the kiosk: theirs runs on, this one is not run.
            raise CommandFailed("busy: a self-test is already running on this kiosk") from None
        sending = await source.send(report)
        return {
            "outcome": str(report.outcome),
            "failed": report.failed,
            "report_sequence": sending.sequence,
        }

    return doctor


def command_receiver(
    config: Config, *, downlink: Downlink | None, record: Record | None
) -> CommandReceiver:
    """The receiver of this kiosk's commands, with the handlers it can run.

    Without `[commands] verify_key_file` every command is refused (and said so at start);
    a key file named but unusable is a ConfigError. `resync` needs the platform's streams.
    """
    key = None
    if config.commands.verify_key_file:
        key = load_verify_key(config.commands.verify_key_file)
    else:
        log.warning("no [commands] verify_key_file: the platform's commands are all refused")
    handlers: dict[str, Handler] = {}
    if downlink is not None:
        handlers["resync"] = resync_command(downlink)
    verifier = CommandVerifier(
        key, config.device.device_id, NonceLedger(config.data_dir / NONCES_FILE)
    )
    return CommandReceiver(config.device.device_id, verifier, handlers, record=record)
