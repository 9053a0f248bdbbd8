"""`borne hub command`: send one kiosk a command, signed with the hub's command key.

The key is the hub CA's command-signing key (`{store.data_dir}/ca/command.key`), whose
public half every kiosk receives at enrolment. The kiosk checks the signature, its own
id, the expiry and that the command was never run before (edge.commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.commands.wire import DEVICE, MAX_LIFETIME

COMMANDS: tuple[str, ...] = ("command",)  # the `borne hub` commands this module adds
# What kiosks run (edge.commands.handlers); a kiosk refuses a name it does not know.
KIOSK_COMMANDS = ("resync", "doctor")


def add_commands(hub_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne hub` parser."""
    command = hub_commands.add_parser(
        "command",
        help="send a kiosk a signed command (resync: ask every stream again; doctor: run"
        " the self-test unattended and send its report)",
    )
    command.add_argument("--config", type=Path, required=True)
    command.add_argument("--device", required=True, help="the kiosk's device id")
    command.add_argument("name", choices=KIOSK_COMMANDS, help="the command")
    command.add_argument(
        "--expires",
        type=int,
        default=300,
        help=f"seconds the command stays valid (1 to {MAX_LIFETIME}; default 300)",
    )
    command.add_argument(
        "--args",
        default="{}",
        help='the command\'s arguments as a JSON object, e.g. doctor: \'{"only": ["disk"],'
        ' "wait": 10}\'',
    )


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    from edge.commands.send import new_command, publish_command
    from edge.hub.config import load_hub_config
    from edge.hub.enrolment.ca import HubCA

    if not 1 <= args.expires <= MAX_LIFETIME:
        print(f"borne: --expires must be 1 to {MAX_LIFETIME} seconds", file=sys.stderr)
        return 2
    if not DEVICE.fullmatch(args.device):
        print("borne: --device must be one topic level (no /, + or #)", file=sys.stderr)
        return 2
    try:
        arguments = json.loads(args.args)
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        print("borne: --args must be a JSON object", file=sys.stderr)
        return 2
    config = load_hub_config(args.config)
    key = HubCA.open(Path(config.store.data_dir) / "ca").command_signing_key()
    command = new_command(args.name, args.device, lifetime=args.expires, args=arguments)
    publish_command(config.mqtt, command, key)  # CommandNotSent: exit 1, said by `borne`
    print(
        json.dumps(
            {
                "sent": command.name,
                "device": command.device,
                "nonce": command.nonce,
                "expires_at": command.expires_at,
            }
        )
    )
    return 0
