"""One scenario's row: its figures, what the runtime said, and its verdict."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.accounting import Figures
from tests.faults.lab import Lab, Run, shorten

CLEAN = "0 missing, 0 with two ids"
_NOT_STORED = re.compile(r"could not be stored: (\d+)|over after (\d+) events: events could not")


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big and how long each fault is: the full campaign's, or the quick form's."""

    quick: bool
    fill_journeys: int  # journeys produced onto the small disk, broker down
    free_left: int  # bytes left free on the small disk before they start
    lock_seconds: float  # the write lock held while events are produced
    drain_lock_seconds: float  # the write lock held during a drain
    journeys: int  # journeys of an ordinary run
    twins_journeys: int  # each twin's journeys (about half a second each)
    seconds_refused: float  # how long the broker refuses one event type


FULL = Sizes(
    quick=False,
    fill_journeys=150,
    free_left=512 * 1024,
    lock_seconds=7,
    drain_lock_seconds=12,
    journeys=30,
    twins_journeys=20,
    seconds_refused=6,
)
QUICK = Sizes(
    quick=True,
    fill_journeys=20,
    free_left=256 * 1024,
    # Longer than Python's sqlite3 default busy timeout (5 s) the runtime once relied on.
    lock_seconds=6,
    drain_lock_seconds=4,
    journeys=8,
    twins_journeys=10,
    seconds_refused=3,
)


@dataclass
class Row:
    """A scenario's outcome, as the table prints it."""

    number: int
    name: str
    figures: Figures | None = None
    exits: list[str] = field(default_factory=list)  # "simulate 0", "edge killed"
    errors: list[str] = field(default_factory=list)  # what the runtimes logged, once each
    facts: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    clean_verdict: str = CLEAN  # what a passing row says
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the row reads as it must."""
        return not self.problems

    @property
    def verdict(self) -> str:
        """The row's last column."""
        return self.clean_verdict if self.ok else "; ".join(self.problems)

    def exited(self, run: Run, code: int, expected: int | None = 0) -> None:
        """Note a process's exit; a problem if it is not `expected` (None: any)."""
        self.exits.append(f"{run.name} {'killed' if run.killed else code}")
        if expected is not None and not run.killed and code != expected:
            self.problems.append(f"{run.name} exit {code}")

    def judge(self, figures: Figures) -> None:
        """Keep the figures and add the problems every row shares."""
        self.figures = figures
        if figures.missing:
            self.problems.insert(0, f"{figures.missing} missing")
        if figures.two_ids:
            self.problems.insert(1 if figures.missing else 0, f"{figures.two_ids} with two ids")
        if figures.invalid:
            self.problems.append(f"{figures.invalid} published not UTF-8 JSON")

    def not_stored(self, runs: list[Run]) -> int:
        """Events the runtimes said they could not store (their logs), and note them."""
        total = 0
        for run in runs:
            counts = [int(a or b) for a, b in _NOT_STORED.findall(run.log())]
            total += max(counts, default=0)
        self.facts["not stored (logged)"] = total
        return total


Scenario = Callable[[Lab, Sizes, Row], None]


def run_scenario(number: int, name: str, scenario: Scenario, folder: Path, sizes: Sizes) -> Row:
    """Run one scenario on its own bench; whatever it raises becomes a problem of its row."""
    row = Row(number, name)
    started = time.monotonic()
    lab = Lab(folder)
    with lab:
        try:
            scenario(lab, sizes, row)
        except Exception as error:
            row.problems.append(f"stopped: {type(error).__name__}: {error}")
        for run in lab.runs:
            for line in run.noteworthy():
                if shorten(line) not in row.errors:
                    row.errors.append(shorten(line))
    row.seconds = round(time.monotonic() - started, 1)
    return row
