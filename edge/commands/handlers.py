"""The commands a kiosk runs, and the receiver that runs them, built from its configuration."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from edge.commands.nonces import NONCES_FILE, NonceLedger
from edge.commands.receiver import CommandFailed, CommandReceiver, Handler, Record
from edge.commands.verify import CommandVerifier, load_verify_key
from edge.commands.wire import Command
from edge.config import Config
from edge.sync.downlink import Downlink

log = logging.getLogger(__name__)


def resync_command(downlink: Downlink) -> Handler:
    """`resync`: ask every stream again from what the kiosk holds (as on a connection)."""

    async def resync(command: Command) -> Mapping[str, Any]:
        asked = downlink.resync()
        if not asked:
            raise CommandFailed("not connected: every stream is asked on the next connection")
        return {"streams_asked": asked}

    return resync


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
