"""The campaign: every scenario in order, each on its own bench, and its table."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.faults import link_faults, storage_faults
from tests.faults.scenario import FULL, QUICK, Row, Scenario, Sizes, run_scenario

# (number, the row, the scenario, in the quick form too)
SCENARIOS: tuple[tuple[int, str, Scenario, bool], ...] = (
    (1, "2 MiB disk fills, broker down; restart still full", storage_faults.disk_full, True),
    (2, "write lock held by another process", storage_faults.lock_held, True),
    (3, "3 random pages overwritten while stopped", storage_faults.damaged_pages, True),
    (4, "40 random bytes in one stored event", storage_faults.damaged_payload, True),
    (5, "kill -9, then the -wal file deleted", storage_faults.wal_lost, True),
    (6, "two kiosks on the same device_id", link_faults.twin_kiosks, True),
    (7, "broker killed -9 (no persistence) mid-publish", link_faults.broker_lost, False),
    (8, "wall clock 24 h backwards mid-run", link_faults.clock_jump, False),
    (9, "broker refuses an event type (PUBACK 0x87)", link_faults.refused_events, False),
)


def run_campaign(
    *,
    quick: bool,
    only: set[int] | None = None,
    folder: Path | None = None,
    progress: Callable[[Row], None] = lambda _: None,
) -> list[Row]:
    """Run the scenarios (the quick form's, or `only` these numbers); one row each."""
    sizes: Sizes = QUICK if quick else FULL
    base = folder or Path(tempfile.mkdtemp(prefix="borne-faults-"))
    rows = []
    for number, name, scenario, in_quick in SCENARIOS:
        if (only is not None and number not in only) or (only is None and quick and not in_quick):
            continue
        row = run_scenario(number, name, scenario, base / f"scenario-{number}", sizes)
        progress(row)
        rows.append(row)
    return rows


def needs_root() -> str:
    """Why the campaign cannot run here ("" if it can): scenario 1 mounts a tmpfs."""
    return "" if os.geteuid() == 0 else "scenario 1 mounts a 2 MiB tmpfs: run it as root"


def as_json(rows: list[Row], *, quick: bool) -> dict[str, Any]:
    """The figures of every row, for `--json OUT`."""
    return {
        "quick": quick,
        "rows": [
            {
                "number": row.number,
                "scenario": row.name,
                "ok": row.ok,
                "verdict": row.verdict,
                "figures": asdict(row.figures) if row.figures else None,
                "exits": row.exits,
                "facts": row.facts,
                "errors": row.errors,
                "seconds": row.seconds,
            }
            for row in rows
        ],
    }
