"""The downlink's versioned streams: strict messages, changes applied once and in order."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.sync.cursor import Apply, Position, Resync, Skip, SnapshotAssembly, decide
from edge.sync.messages import (
    MAX_MESSAGE_BYTES,
    Change,
    ChangeSet,
    DownlinkError,
    Problem,
    SnapshotPage,
    Stream,
    parse_message,
)

STORE = "paris-01"


def message(**fields: Any) -> bytes:
    document = {"store": STORE, "stream": "stock", "epoch": "e1", "version": 7} | fields
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def change_set(version: int, epoch: str = "e1") -> ChangeSet:
    return ChangeSet(Stream.STOCK, epoch, version, (Change(f"sku-{version}", {"here": 3}),))


def test_a_change_set_and_a_snapshot_page_are_read_whole() -> None:
    changes = parse_message(
        message(changes=[{"key": "3760123450010", "value": {"here": 7}}, {"key": "old"}]), STORE
    )
    assert changes == ChangeSet(
        Stream.STOCK,
        "e1",
        7,
        (Change("3760123450010", {"here": 7}), Change("old", None)),  # no value: removed
    )
    page = parse_message(message(page=2, pages=3, items=[{"key": "a", "value": {}}]), STORE)
    assert page == SnapshotPage(Stream.STOCK, "e1", 7, 2, 3, (Change("a", {}),))


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (message(store="lyon-02", changes=[]), "another store"),
        (message(stream="weather", changes=[]), "unknown stream"),
        (message(epoch="a/b", changes=[]), "epoch"),
        (message(version=0, changes=[]), "version"),
        (message(version=True, changes=[]), "version"),
        (message(version="7", changes=[]), "version"),
        (message(changes={"key": "a"}), "changes: expected a list"),
        (message(changes=[{"key": ""}]), "changes[0].key"),
        (message(changes=[{"key": "x" * 129}]), "changes[0].key"),
        (message(changes=[{"key": "a", "value": [1]}]), "changes[0].value"),
        (message(changes=["a"]), "changes[0]: expected an object"),
        (message(page=4, pages=3, items=[]), "page 4 of 3"),
        (message(page=1, pages=1), "items: expected a list"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "over"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_a_bad_message_is_refused_with_what_is_wrong(payload: bytes, problem: str) -> None:
    with pytest.raises(DownlinkError) as caught:
        parse_message(payload, STORE)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "topic_stream", "kind"),
    [
        (b"{", None, Problem.MALFORMED),
        (message(changes=[{"key": ""}]), None, Problem.MALFORMED),
        (b" " * (MAX_MESSAGE_BYTES + 1), None, Problem.OVERSIZED),
        (message(store="lyon-02", changes=[]), None, Problem.OTHER_STORE),
        (message(stream="weather", changes=[]), None, Problem.UNKNOWN_STREAM),
        (message(changes=[]), Stream.CATALOG, Problem.WRONG_TOPIC),
    ],
)
def test_a_refusal_says_its_kind_for_counters_and_logs(
    payload: bytes, topic_stream: Stream | None, kind: Problem
) -> None:
    with pytest.raises(DownlinkError) as caught:
        parse_message(payload, STORE, topic_stream)
    assert caught.value.problem is kind
    assert not caught.value.retryable


@given(st.sampled_from(Stream), st.sampled_from(Stream), st.binary(max_size=64))
def test_a_message_on_a_stream_s_topic_is_of_that_stream_or_refused(
    topic_stream: Stream, stream: Stream, noise: bytes
) -> None:
    payload = message(stream=stream.value, changes=[{"key": noise.hex() or "k", "value": {}}])
    if stream is topic_stream:
        assert parse_message(payload, STORE, topic_stream).stream is stream
        return
    with pytest.raises(DownlinkError) as caught:
        parse_message(payload, STORE, topic_stream)
    assert caught.value.problem is Problem.WRONG_TOPIC


@given(st.binary(max_size=300))
def test_any_bytes_are_a_message_or_a_downlink_error(payload: bytes) -> None:
    check_parses_or_refuses(payload)


def check_parses_or_refuses(payload: bytes) -> None:
    """A message, or a DownlinkError that says what is wrong: never another exception."""
    try:
        parsed = parse_message(payload, STORE)
    except DownlinkError as error:
        refused: DownlinkError | None = error
    else:
        refused = None
        assert isinstance(parsed, ChangeSet | SnapshotPage)
    assert refused is None or str(refused)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["store", "stream", "epoch", "version", "changes", "page", "pages", "items"]
        ),
        json_values,
    )
)
def test_any_json_document_is_a_message_or_a_downlink_error(document: dict[str, Any]) -> None:
    # For this store and a real stream unless the document says otherwise: deeper checks.
    check_parses_or_refuses(json.dumps({"store": STORE, "stream": "stock"} | document).encode())


def test_changes_apply_in_order_once_and_a_gap_or_a_renumbering_resyncs() -> None:
    held = Position(Stream.STOCK, "e1", 6)
    decision = decide(held, change_set(7))
    assert decision == Apply(change_set(7), Position(Stream.STOCK, "e1", 7))
    assert decide(held, change_set(6)) == Skip()  # the broker delivered it again
    assert decide(held, change_set(5)) == Skip()
    gap = decide(held, change_set(9))
    assert isinstance(gap, Resync)
    assert gap.since == held
    assert "7..8" in gap.reason
    renumbered = decide(held, change_set(1, epoch="e2"))
    assert isinstance(renumbered, Resync)
    assert "renumbered" in renumbered.reason
    assert isinstance(decide(Position(Stream.STOCK), change_set(1)), Resync)  # nothing held


@given(st.integers(min_value=1, max_value=40), st.randoms(use_true_random=False))
def test_whatever_the_broker_does_every_version_is_applied_once_in_order(
    last: int, rng: random.Random
) -> None:
    """Delivery out of order, twice, or never: with resyncs, the kiosk ends up with every
    version applied exactly once, each on top of the one before."""
    deliveries = [change_set(v) for v in range(1, last + 1) for _ in range(rng.randint(0, 2))]
    rng.shuffle(deliveries)
    position = Position(Stream.STOCK, "e1", 0)
    applied: list[int] = []

    def take(changes: ChangeSet) -> None:
        nonlocal position
        decision = decide(position, changes)
        if isinstance(decision, Apply):
            applied.append(decision.changes.version)
            position = decision.position
        elif isinstance(decision, Resync):  # the platform answers with what was missed
            for version in range(decision.since.version + 1, changes.version + 1):
                take(change_set(version))

    for changes in deliveries:
        take(changes)
    take(change_set(last))  # the platform's latest, asked for at the end at the latest
    assert applied == list(range(1, last + 1))
    assert position.version == last


def page(number: int, pages: int, version: int = 20, epoch: str = "e2") -> SnapshotPage:
    return SnapshotPage(Stream.STOCK, epoch, version, number, pages, (Change(f"k{number}", {}),))


def test_a_snapshot_is_whole_only_with_every_page_then_held_changes_follow_on() -> None:
    assembly = SnapshotAssembly(Stream.STOCK)
    assembly.add_page(page(2, 3))
    assembly.hold(change_set(22, epoch="e2"))  # arrives while the pages come; 21 not yet
    assembly.add_page(page(3, 3))
    with pytest.raises(ValueError, match="not complete"):
        assembly.items()
    assembly.add_page(page(1, 3))
    assembly.hold(change_set(21, epoch="e2"))
    assembly.hold(change_set(19, epoch="e2"))  # older than the snapshot: not needed
    assert [p.page for p in assembly.items()] == [1, 2, 3]
    assert assembly.position() == Position(Stream.STOCK, "e2", 20)
    assert [c.version for c in assembly.following()] == [21, 22]


def test_a_newer_snapshot_starts_the_assembly_again_and_holding_is_bounded() -> None:
    assembly = SnapshotAssembly(Stream.STOCK)
    assembly.add_page(page(1, 2, version=20))
    assembly.add_page(page(2, 2, version=25))  # the platform moved on: the old page is useless
    assert not assembly.complete
    assert list(assembly.received) == [2]
    for version in range(SnapshotAssembly.MAX_HELD + 5):
        assembly.hold(change_set(26 + version, epoch="e2"))
    assert len(assembly.held) == SnapshotAssembly.MAX_HELD
    assert assembly.overflowed  # what was not held is asked again after the snapshot
