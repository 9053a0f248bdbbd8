"""The fault campaign's short form (`python -m tests.faults --quick`) inside `make test`:
each quick scenario's row must read "0 missing, 0 with two ids" (tests/faults/); and the
campaign's own counting, which those verdicts rest on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.faults.accounting import account
from tests.faults.campaign import SCENARIOS, needs_root, run_campaign
from tests.faults.outbox_files import OutboxSnapshot
from tests.faults.received import Received, parse_received
from tests.faults.report import plain_table
from tests.faults.scenario import CLEAN, Row

SOURCE = "/stores/paris-01/devices/kiosk-07"
QUICK = [number for number, _, _, in_quick in SCENARIOS if in_quick]


@pytest.fixture(scope="module")
def quick_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Row]:
    """The quick campaign, run once for this module's tests; its table is printed."""
    assert needs_root() == "", needs_root()
    rows = run_campaign(quick=True, folder=tmp_path_factory.mktemp("faults"))
    print(plain_table(rows))
    return {row.number: row for row in rows}


@pytest.mark.parametrize("number", QUICK)
def test_a_quick_scenario_loses_nothing_and_gives_no_sequence_two_ids(
    quick_rows: dict[int, Row], number: int
) -> None:
    row = quick_rows[number]
    assert row.verdict == CLEAN, "\n".join([row.verdict, *row.errors])


def _event(sequence: int, event_id: str, epoch: str = "", **extra: object) -> bytes:
    event = {"id": event_id, "source": SOURCE, "sequence": str(sequence).zfill(20)}
    if epoch:
        event["streamepoch"] = epoch
    return json.dumps(event | extra).encode()


def _received(*payloads: bytes) -> list[Received]:
    return [parse_received(payload) for payload in payloads]


def test_a_sequence_received_with_two_ids_is_counted() -> None:
    figures = account(_received(_event(1, "a"), _event(2, "b"), _event(2, "c")))
    assert (figures.two_ids, figures.missing, figures.delivered) == (1, 0, 3)


def test_the_same_sequence_in_two_epochs_is_two_streams_not_two_ids() -> None:
    figures = account(_received(_event(1, "a", "e1"), _event(1, "b", "e2")))
    assert (figures.two_ids, figures.epochs) == (0, 2)


def test_a_hole_in_the_sequences_is_missing_unless_a_report_names_it() -> None:
    lost = account(_received(_event(1, "a"), _event(3, "c")))
    assert (lost.missing, lost.missing_ranges) == (1, {f"{SOURCE} -": [[2, 2]]})
    report = _event(4, "d", type="io.borne.outbox.quarantined", data={"ranges": [[2, 2]]})
    reported = account(_received(_event(1, "a"), _event(3, "c"), report))
    assert (reported.missing, reported.quarantined) == (0, 1)


def test_an_accepted_event_never_received_is_missing_and_a_queued_one_is_not() -> None:
    shot = OutboxSnapshot(SOURCE, last_sequence=3, ids={1: "a", 2: "b", 3: "c"})
    assert account(_received(_event(1, "a")), [shot]).missing == 2
    waiting = OutboxSnapshot(SOURCE, last_sequence=3, ids={3: "c"}, pending=frozenset({"c"}))
    figures = account(_received(_event(1, "a")), [shot], final=[waiting])
    assert (figures.missing, figures.queued, figures.produced) == (1, 1, 3)


def test_an_event_re_enveloped_into_a_new_epoch_keeps_its_id_and_is_delivered() -> None:
    old = OutboxSnapshot(SOURCE, epoch="e1", last_sequence=2, ids={1: "a", 2: "b"})
    new_epoch = _event(1, "x", "e2", type="io.borne.outbox.epoch")
    got = _received(_event(1, "a", "e1"), new_epoch, _event(2, "b", "e2"))
    figures = account(got, [old])
    assert (figures.missing, figures.two_ids, figures.epochs) == (0, 0, 2)


def test_a_late_first_arrival_is_out_of_order_and_a_resend_is_a_duplicate() -> None:
    figures = account(_received(_event(1, "a"), _event(3, "c"), _event(2, "b"), _event(3, "c")))
    assert (figures.out_of_order, figures.duplicated) == (1, 1)


def test_a_uuid7_id_earlier_than_the_previous_sequence_goes_back() -> None:
    later = "01900000-0000-7000-8000-000000000000"
    earlier = "018f0000-0000-7000-8000-000000000000"
    assert account(_received(_event(1, later), _event(2, earlier))).ids_backwards == 1
    assert account(_received(_event(1, earlier), _event(2, later))).ids_backwards == 0


@given(st.binary(max_size=400))
def test_any_bytes_on_an_event_topic_are_parsed_or_counted_invalid(payload: bytes) -> None:
    received = parse_received(payload)
    assert received.valid == (received.sequence >= 1 and bool(received.event_id))


@given(
    st.dictionaries(
        st.sampled_from(["id", "source", "sequence", "streamepoch", "type", "data"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.integers()),
    )
)
def test_any_json_object_is_parsed_or_counted_invalid(event: dict[str, object]) -> None:
    received = parse_received(json.dumps(event).encode())
    if received.valid:
        assert isinstance(event["id"], str)
        assert received.sequence >= 1


def test_the_table_says_each_rows_verdict() -> None:
    failing = Row(5, "kill -9, then the -wal file deleted", problems=["25 with two ids"])
    table = plain_table([Row(1, "disk"), failing])
    assert f"ok: {CLEAN}" in table
    assert "FAILS: 25 with two ids" in table
