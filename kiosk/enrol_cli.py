"""`borne enrol`: (being written for issue 12)."""

from __future__ import annotations

import argparse

COMMANDS = ("enrol",)  # the `borne` commands this module adds


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne` parser."""
    commands.add_parser("enrol", help="(being written)")


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    raise NotImplementedError(args.command)
