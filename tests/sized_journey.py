"""Plays one journey at several window sizes in one kiosk: `python -m tests.sized_journey
CONFIG JOURNEY SHOTS 1080x1920 1920x1080 ...`.

Starting a kiosk costs more than a screen: one kiosk resized between passes (the
player's `resize` step) shows every screen at every size within the suite's budget.
Each screenshot NAME is saved as SIZE-NAME.png (with its SIZE-NAME.buttons.json).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge.bootstrap import check_ready
from edge.config import load_config
from edge.demo import with_demo_store
from kiosk.journey import Step, load_journey
from kiosk.launcher import _run, prepare_kivy


def sized_steps(steps: list[Step], sizes: list[str]) -> list[Step]:
    """`steps` once per size, each pass after a resize, its screenshots named for it."""
    played = []
    for size in sizes:
        played.append(Step("resize", size))
        played += [
            Step("screenshot", f"{size}-{step.value}") if step.kind == "screenshot" else step
            for step in steps
        ]
    return played


def main(argv: list[str]) -> int:
    """Play the journey at each size; the kiosk's exit status."""
    config_path, journey, shots, *sizes = argv
    config = with_demo_store(load_config(Path(config_path)))  # as `borne demo` does
    check_ready(config, simulators_allowed=True)
    prepare_kivy(True, config.data_dir)
    steps = sized_steps(load_journey(Path(journey)), sizes)
    return asyncio.run(_run(config, None, steps, Path(shots), True, True))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
