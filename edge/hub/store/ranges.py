"""Runs of missing sequences and how they change: pure functions, no database.

A device's missing sequences are kept as non-overlapping runs, each in one state;
two touching runs never share a state (they would be one run). Every change
repaints a window of runs, which keeps that invariant without a global rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class GapState(StrEnum):
    """What became of a run of missing sequences."""

    OPEN = "open"  # a loss: to be asked for again
    SHED = "shed"  # dropped by the kiosk on purpose, named by an outbox.shed report
    RECOVERED = "recovered"  # missing for a while, then arrived
    EXPIRED = "expired"  # asked for again, and the device no longer keeps it: lost for good
    # Missing from a stream the device left for a newer epoch (its outbox was replaced):
    # nobody can be asked for it any more, and the new epoch says why.
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True, order=True)
class Run:
    """Sequences first..last (inclusive), all in one state."""

    first: int
    last: int
    state: GapState


def repaint(
    runs: Sequence[Run], first: int, last: int, state: GapState, over: frozenset[GapState]
) -> list[Run]:
    """`runs` with the part of first..last in a state of `over` turned to `state`.

    The result covers exactly what `runs` covered, touching runs of one state merged.
    """
    pieces: list[Run] = []
    for run in sorted(runs):
        if run.state not in over or run.last < first or run.first > last:
            pieces.append(run)
            continue
        if run.first < first:
            pieces.append(Run(run.first, first - 1, run.state))
        pieces.append(Run(max(run.first, first), min(run.last, last), state))
        if run.last > last:
            pieces.append(Run(last + 1, run.last, run.state))
    return merged(pieces)


def merged(runs: Iterable[Run]) -> list[Run]:
    """Sorted runs with touching runs of one state made one."""
    result: list[Run] = []
    for run in sorted(runs):
        if result and result[-1].state == run.state and result[-1].last + 1 >= run.first:
            previous = result.pop()
            run = Run(previous.first, max(previous.last, run.last), run.state)
        result.append(run)
    return result


def union(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping, non-touching [first, last] spans covering `spans`."""
    result: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if result and result[-1][1] + 1 >= first:
            result[-1] = (result[-1][0], max(result[-1][1], last))
        else:
            result.append((first, last))
    return result


def new_gap(first: int, last: int, shed: Iterable[tuple[int, int]]) -> list[Run]:
    """The runs of a gap first..last just seen: shed where a report named it, else open."""
    runs = [Run(first, last, GapState.OPEN)]
    for shed_first, shed_last in shed:
        runs = repaint(runs, shed_first, shed_last, GapState.SHED, frozenset({GapState.OPEN}))
    return runs
