"""A commit that fails for a passing reason is tried again, never dropped.

Another process holding the outbox's write lock (a backup tool, a second runtime
started by mistake, `sqlite3` in an installer's shell) used to cost every event
appended meanwhile: "database is locked", and they were gone. Here the lock is
really held, by a second SQLite connection on the same file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge.bootstrap import build_runtime
from edge.config import load_config
from edge.errors import (
    OutboxBusyError,
    OutboxDamagedError,
    OutboxDiskFullError,
    OutboxError,
    OutboxFullError,
)
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox, is_transient
from edge.sqlite_tx import translated
from tests.conftest import write_config
from tests.test_staff import card

SOURCE = EventSource("paris-01", "kiosk-07")


def scan(number: int) -> EventDraft:
    return EventDraft(
        "io.borne.product.scanned",
        {"gtin": f"{number:014d}", "found": True, "scanner": "camera"},
        Priority.CRITICAL,
    )


@contextmanager
def write_lock_held(path: Path) -> Iterator[threading.Event]:
    """Another connection holds the outbox's write lock until the block ends, or until
    the event it yields is set (at most 120 s); taken before the block starts."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            taken.set()
            release.wait(120)
            other.execute("COMMIT")
        finally:
            other.close()

    holder = threading.Thread(target=hold, name="lock-holder")
    holder.start()
    try:
        assert taken.wait(30), "the other connection never got the lock"
        yield release
    finally:
        release.set()
        holder.join(30)


def open_outbox(path: Path) -> Outbox:
    outbox = Outbox(lambda: OutboxStore(path, SOURCE, synchronous="normal"))
    outbox.RETRY_MIN, outbox.RETRY_MAX = 0.05, 0.5
    return outbox


def test_events_appended_while_another_process_holds_the_lock_are_all_stored_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"

    async def scenario() -> list[list[int]]:
        outbox = open_outbox(path)
        try:
            await outbox.append(scan(0))
            with write_lock_held(path):
                appends = [asyncio.create_task(outbox.append(scan(n))) for n in range(1, 31)]
                # The first commit fails ("database is locked") once SQLite stops waiting.
                async with asyncio.timeout(60):
                    while not outbox.in_trouble:  # noqa: ASYNC110 - watched from outside
                        await asyncio.sleep(0.05)
                assert outbox.buffered == 30, "held in memory, not dropped"
                assert not any(task.done() for task in appends), "the callers wait"
            stored = await asyncio.gather(*appends)
            status = await outbox.status()
            assert status.queued == 31
            assert outbox.not_stored == 0
            return [[event.sequence for event in events] for events in stored]
        finally:
            outbox.close()

    with caplog.at_level(logging.INFO, logger="edge.outbox_queue"):
        sequences = asyncio.run(scenario())
    assert sequences == [[n] for n in range(2, 32)], "committed in the order appended"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "tried again" in warnings[0].getMessage()
    assert "locked" in warnings[0].getMessage()
    assert any("over after" in r.getMessage() for r in caplog.records), "the end is said"


def test_the_screen_goes_on_while_the_lock_is_held_and_the_tap_is_stored_after(
    tmp_path: Path,
) -> None:
    config = load_config(
        write_config(tmp_path / "kiosk.toml", tmp_path / "data"),
        {"BORNE_DEVICES__CAMERA": "", "BORNE_DEVICES__NFC": ""},
    )

    async def scenario() -> list[str]:
        runtime, _ = await build_runtime(config)
        await runtime.start()
        try:
            with write_lock_held(config.data_dir / "outbox.sqlite"):
                await runtime.handle(card("Camille"))
                # Shown while the lock is still held: the shopper did not wait for it.
                assert runtime.session.view.customer is not None
                assert runtime.outbox.in_trouble
            async with asyncio.timeout(60):
                while not await runtime.outbox.pending(0, 100):  # noqa: ASYNC110 - SQLite
                    await asyncio.sleep(0.05)
            return [json.loads(e.payload)["type"] for e in await runtime.outbox.pending(0, 100)]
        finally:
            await runtime.close()

    assert "io.borne.card.tapped" in asyncio.run(scenario())


def test_what_the_buffer_cannot_hold_is_refused_at_once_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"

    async def scenario() -> None:
        outbox = open_outbox(path)
        outbox.BUFFER_EVENTS = 5
        try:
            with write_lock_held(path):
                kept = [asyncio.create_task(outbox.append(scan(n))) for n in range(5)]
                async with asyncio.timeout(60):
                    while not outbox.in_trouble:  # noqa: ASYNC110 - watched from outside
                        await asyncio.sleep(0.05)
                for n in range(5, 8):  # the screen goes on: refused now, not after the lock
                    with pytest.raises(OutboxError, match="buffer"):
                        await outbox.append(scan(n))
                assert outbox.not_stored == 3
                assert outbox.given_up == 3
            assert [e[0].sequence for e in await asyncio.gather(*kept)] == [1, 2, 3, 4, 5]
            status = await outbox.status()
            assert status.queued == 5
            assert status.refused_total == 3, "reported, never silent"
        finally:
            outbox.close()

    with caplog.at_level(logging.WARNING, logger="edge.outbox_queue"):
        asyncio.run(scenario())
    not_stored = [r for r in caplog.records if "could not be stored" in r.getMessage()]
    assert len(not_stored) == 1, "logged once while it lasts"


def test_events_still_waiting_when_the_outbox_closes_are_counted_and_their_callers_told(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"

    async def scenario() -> None:
        outbox = open_outbox(path)
        with write_lock_held(path):
            waiting = asyncio.create_task(outbox.append(scan(1), scan(2)))
            async with asyncio.timeout(60):
                while not outbox.in_trouble:  # noqa: ASYNC110 - watched from outside
                    await asyncio.sleep(0.05)
            outbox.close()
            with pytest.raises(OutboxError, match="closed"):
                await waiting
        assert outbox.not_stored == 2
        assert outbox.given_up == 2

    asyncio.run(scenario())


def wrapped(path: Path, failing: str) -> OutboxError:
    """The untyped OutboxError sqlite_tx.translated makes of a real sqlite3 failure."""
    db = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with translated(OutboxError, "outbox append"):
            db.execute(failing)
    except OutboxError as error:
        return error
    finally:
        db.close()
    raise AssertionError(f"{failing} did not fail")


def test_which_failures_are_worth_a_retry(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    assert is_transient(OutboxBusyError("outbox append failed: database is locked"))
    assert is_transient(OutboxDiskFullError("outbox append failed: below the margin"))
    with write_lock_held(path):
        assert is_transient(wrapped(path, "BEGIN IMMEDIATE")), "locked, said by SQLite"
    assert not is_transient(wrapped(path, "SELECT * FROM no_such_table"))
    assert not is_transient(OutboxFullError("only protected events left"))
    assert not is_transient(OutboxDamagedError("database disk image is malformed"))
    assert not is_transient(OutboxError("outbox delete failed: disk is full")), "words alone"


def test_an_outbox_whose_lock_is_held_at_start_opens_and_is_read(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    first = OutboxStore(path, SOURCE, synchronous="normal")
    first.append([scan(1)])
    first.close()
    with write_lock_held(path):
        store = OutboxStore(path, SOURCE, synchronous="normal")  # the kiosk starts
        try:
            assert [event.sequence for event in store.pending(0, 10)] == [1]
        finally:
            store.close()
