"""`borne hub ...`: (being written for issue 12)."""

from __future__ import annotations

import argparse

COMMANDS: tuple[str, ...] = ()  # the `borne hub` commands this module adds


def add_commands(hub_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne hub` parser."""


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    raise NotImplementedError(args.hub_command)
