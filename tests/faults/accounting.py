"""Counting: what the outbox accepted against what the platform received.

An accepted event is one the outbox gave a sequence (seen in an outbox snapshot, or
received). Per stream (source, epoch) every sequence from 1 to the highest known is
accounted for exactly once: delivered (its id arrived, under any epoch: a re-enveloped
event keeps its id), reported (named by a shed or quarantine report), still queued in
the outbox, destroyed by the fault itself (its row is gone from the files: the scenario
wiped it), or else missing.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tests.faults.outbox_files import OutboxSnapshot
from tests.faults.received import Received

GAP_REPORTS = ("io.borne.outbox.shed", "io.borne.outbox.quarantined")
QUARANTINE_REPORT = "io.borne.outbox.quarantined"
EPOCH_EVENT = "io.borne.outbox.epoch"

Stream = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Figures:
    """The counts a scenario's row prints."""

    produced: int  # events the outbox accepted (sequences given)
    delivered: int  # distinct ids received
    missing: int
    duplicated: int  # ids received more than once
    two_ids: int  # (source, epoch, sequence) received with two different ids
    invalid: int  # messages that were not UTF-8 JSON CloudEvents
    reported: int  # sequences named by shed or quarantine reports
    quarantined: int  # of which by quarantine reports
    queued: int  # still waiting in an outbox at the end
    destroyed: int  # rows the fault itself wiped before they were delivered
    epochs: int  # distinct (source, epoch) streams seen
    out_of_order: int  # first arrivals with a lower sequence than an earlier one
    ids_backwards: int  # ids whose UUIDv7 time is earlier than the previous sequence's
    missing_ranges: dict[str, list[list[int]]]  # per stream "source epoch", as runs


def runs(sequences: Iterable[int]) -> list[list[int]]:
    """Sorted [first, last] runs."""
    out: list[list[int]] = []
    for sequence in sorted(set(sequences)):
        if out and out[-1][1] == sequence - 1:
            out[-1][1] = sequence
        else:
            out.append([sequence, sequence])
    return out


def _named(event: Received) -> set[int]:
    """The sequences a shed or quarantine report names (nothing if it is malformed)."""
    ranges = event.data.get("ranges") if isinstance(event.data, dict) else None
    named: set[int] = set()
    for run in ranges if isinstance(ranges, list) else []:
        if isinstance(run, list) and len(run) == 2 and all(type(b) is int for b in run):
            named.update(range(run[0], min(run[1], run[0] + 1_000_000) + 1))
    return named


def uuid7_millis(event_id: str) -> int | None:
    """The Unix milliseconds of a UUIDv7 id, or None for any other id."""
    try:
        value = uuid.UUID(event_id)
    except ValueError:
        return None
    return value.int >> 80 if value.version == 7 else None


def account(
    received: list[Received],
    snapshots: Iterable[OutboxSnapshot] = (),
    *,
    final: Iterable[OutboxSnapshot] = (),
    destroyed: Iterable[str] = (),
) -> Figures:
    """The figures for events `received` (arrival order) against what the outboxes held
    (`snapshots` taken along the way, `final` at the end: its pending rows are queued)."""
    final = list(final)
    known: dict[Stream, dict[int, str]] = defaultdict(dict)
    highest: dict[Stream, int] = defaultdict(int)
    for shot in [*snapshots, *final]:
        if shot.error:
            continue
        known[shot.stream].update(shot.ids)
        highest[shot.stream] = max(highest[shot.stream], shot.last_sequence)
    queued = set().union(*(shot.pending for shot in final if not shot.error))
    gone = set(destroyed)

    valid = [event for event in received if event.valid]
    receipts = Counter(event.event_id for event in valid)
    by_key: dict[tuple[Stream, int], set[str]] = defaultdict(set)
    reported: dict[Stream, set[int]] = defaultdict(set)
    quarantined: dict[Stream, set[int]] = defaultdict(set)
    for event in valid:
        by_key[(event.stream, event.sequence)].add(event.event_id)
        highest[event.stream] = max(highest[event.stream], event.sequence)
        if event.type in GAP_REPORTS:
            reported[event.stream] |= _named(event)
            if event.type == QUARANTINE_REPORT:
                quarantined[event.stream] |= _named(event)

    produced = 0
    missing: dict[str, list[int]] = {}
    counted_queued = counted_destroyed = 0
    for stream, top in highest.items():
        lost = []
        for sequence in range(1, top + 1):
            produced += 1
            event_id = known[stream].get(sequence)
            if event_id is not None:
                delivered = event_id in receipts
            else:
                delivered = (stream, sequence) in by_key
            if delivered or sequence in reported[stream]:
                continue
            if event_id in queued:
                counted_queued += 1
            elif event_id in gone:
                counted_destroyed += 1
            else:
                lost.append(sequence)
        if lost:
            missing[f"{stream[0]} {stream[1] or '-'}"] = lost
    return Figures(
        produced=produced,
        delivered=len(receipts),
        missing=sum(len(lost) for lost in missing.values()),
        duplicated=sum(1 for count in receipts.values() if count > 1),
        two_ids=sum(1 for ids in by_key.values() if len(ids) > 1),
        invalid=len(received) - len(valid),
        reported=sum(len(named) for named in reported.values()),
        quarantined=sum(len(named) for named in quarantined.values()),
        queued=counted_queued,
        destroyed=counted_destroyed,
        epochs=len({event.stream for event in valid}),
        out_of_order=len(late_arrivals(valid)),
        ids_backwards=_ids_backwards(by_key),
        missing_ranges={name: runs(lost) for name, lost in missing.items()},
    )


def late_arrivals(received: list[Received]) -> list[Received]:
    """First arrivals of a stream's sequences that come after a higher sequence."""
    seen: set[tuple[Stream, int]] = set()
    top: dict[Stream, int] = defaultdict(int)
    late = []
    for event in received:
        key = (event.stream, event.sequence)
        if not event.valid or key in seen:
            continue
        seen.add(key)
        if event.sequence < top[event.stream]:
            late.append(event)
        top[event.stream] = max(top[event.stream], event.sequence)
    return late


def _ids_backwards(by_key: dict[tuple[Stream, int], set[str]]) -> int:
    """Per stream, in sequence order: ids whose time is before the previous one's."""
    back = 0
    previous: dict[Stream, int] = {}
    for (stream, _), ids in sorted(by_key.items()):
        for millis in sorted(m for m in map(uuid7_millis, ids) if m is not None):
            if stream in previous and millis < previous[stream]:
                back += 1
            previous[stream] = millis
    return back
