"""Scenarios 1-5: the disk fills, a lock is held, pages and bytes are damaged, the
write-ahead log is lost."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.faults.accounting import account
from tests.faults.lab import Kiosk, Lab, PeakSize, fill_disk, wait_for
from tests.faults.outbox_files import (
    OUTBOX,
    OutboxSnapshot,
    damage_payload,
    overwrite_pages,
    readable_ids,
    snapshot,
)
from tests.faults.platform_side import Recorder
from tests.faults.scenario import Row, Sizes

DEVICE = "kiosk-07"
DEADLINE = 90.0  # a wait for a condition on this shared 2-core machine, never a timing assert
CONNECTED = "uplink connected to"  # what the runtime logs once it reached the broker
_STANDARD_FILES = {OUTBOX, OUTBOX + "-wal", OUTBOX + "-shm"}


def _recorder(port: int) -> Recorder:
    """The platform's subscriber on the broker at `port`, subscribed."""
    recorder = Recorder(port)
    recorder.start()
    return recorder


def _status(lab: Lab, kiosk: Kiosk) -> dict[str, Any] | None:
    """What `borne outbox status --json` says (None if it could not say)."""
    code, output = lab.outbox_status(kiosk)
    if code != 0:
        return None
    status: dict[str, Any] = json.loads(output)
    return status


def disk_full(lab: Lab, sizes: Sizes, row: Row) -> None:
    """A 2 MiB data_dir, the broker down, events until well past full; then the broker
    comes back while the disk is still full: what was queued must all leave."""
    disk = lab.small_disk("disk", "2m")
    broker = lab.broker(start=False)
    storage = {"disk_margin_bytes": 64 * 1024, "wal_max_bytes": 128 * 1024}
    kiosk = lab.kiosk(DEVICE, broker_port=broker.port, data_dir=disk / "data", storage=storage)
    first = lab.simulate(kiosk, 1, seed=1, wait_delivered=False)  # catalog and files in place
    row.exited(first, first.wait(DEADLINE))
    fill_disk(disk, leave=sizes.free_left)
    with PeakSize(kiosk.data_dir / (OUTBOX + "-wal")) as wal:
        filling = lab.simulate(kiosk, sizes.fill_journeys, seed=2, wait_delivered=False)
        row.exited(filling, filling.wait(240))
    row.facts["largest wal (bytes)"] = wal.peak
    before = snapshot(kiosk.data_dir, kiosk.source)
    row.facts["queued while full"] = len(before.pending)
    fill_disk(disk)  # and now not a byte is left
    code, said = lab.outbox_status(kiosk)
    if code == 0:
        status = json.loads(said)
        row.facts["status: shed, refused"] = [status["shed_total"], status["refused_total"]]
    else:
        row.facts["status on a full disk"] = f"exit {code}: {said[:80]}"
    broker.start()
    recorder = _recorder(broker.port)
    try:
        draining = lab.edge(kiosk)
        try:
            draining.wait_log(CONNECTED, DEADLINE)
            recorder.wait_until(
                lambda got: before.pending <= {r.event_id for r in got},
                DEADLINE,
                "every queued event delivered from the full disk",
            )
        finally:
            row.exited(draining, draining.stop())
    finally:
        recorder.stop()
        row.not_stored(lab.runs)
        after = snapshot(kiosk.data_dir, kiosk.source)
        row.judge(account(recorder.snapshot(), [before], final=[after]))
    if before.error:
        row.problems.append(f"outbox unreadable: {before.error}")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class WriteLock:
    """Another process's write lock on the outbox (`BEGIN EXCLUSIVE`), held for a while."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.path = path
        self.seconds = seconds
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._hold, name="write-lock", daemon=True)

    def start(self) -> None:
        """Take the lock and hold it, on a thread of its own."""
        self._thread.start()

    def _hold(self) -> None:
        try:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                db.execute("BEGIN EXCLUSIVE")
                time.sleep(self.seconds)  # the fault's duration, not a wait for anything
                db.execute("ROLLBACK")
            finally:
                db.close()
        except BaseException as error:
            self.error = error

    def join(self) -> None:
        """Wait until the lock is released again."""
        self._thread.join(self.seconds + DEADLINE)
        if self.error is not None:
            raise self.error


def lock_held(lab: Lab, sizes: Sizes, row: Row) -> None:
    """Another process holds the outbox's write lock while events are produced (no
    broker configured: only appends touch the file), then for longer during the drain once the
    broker is back: nothing dropped, the drain ends without a restart, nothing resent."""
    broker = lab.broker(start=False)
    kiosk = lab.kiosk(DEVICE, broker_port=broker.port)
    # No broker configured at first: no uplink writes its state, the lock meets appends.
    alone = lab.kiosk(DEVICE, broker_port=None, data_dir=kiosk.data_dir)
    recorder: Recorder | None = None
    shots: list[OutboxSnapshot] = []
    try:
        producing = lab.simulate(alone, sizes.journeys, seed=3, wait_delivered=False)
        wait_for(
            lambda: (_status(lab, kiosk) or {}).get("last_sequence", 0) >= 3,
            DEADLINE,
            "the first events committed",
            every=0.5,
        )
        _hold_lock(kiosk, sizes.lock_seconds)
        row.exited(producing, producing.wait(240))
        shots.append(snapshot(kiosk.data_dir, kiosk.source))
        broker.start()
        recorder = _recorder(broker.port)
        draining = lab.edge(kiosk)
        try:
            recorder.count_at_least(1, DEADLINE)
            _hold_lock(kiosk, sizes.drain_lock_seconds)
            wait_for(
                lambda: (_status(lab, kiosk) or {}).get("queued") == 0,
                DEADLINE,
                "the drain finished (0 queued) without a restart",
                every=1.0,
            )
        finally:
            row.exited(draining, draining.stop())
        row.facts["held while producing (s)"] = sizes.lock_seconds
        row.facts["held during the drain (s)"] = sizes.drain_lock_seconds
    finally:
        received = [] if recorder is None else recorder.snapshot()
        if recorder is not None:
            recorder.stop()
        row.judge(account(received, shots, final=[snapshot(kiosk.data_dir, kiosk.source)]))
        if row.not_stored(lab.runs):
            row.problems.append(f"{row.facts['not stored (logged)']} events not stored")
        if row.figures is not None and row.figures.queued:
            row.problems.append(f"{row.figures.queued} still queued after the drain")
        if row.figures is not None and row.figures.duplicated:
            row.problems.append(f"{row.figures.duplicated} sent twice")


def _hold_lock(kiosk: Kiosk, seconds: float) -> None:
    """Hold the outbox's write lock from another process's connection for `seconds`."""
    lock = WriteLock(kiosk.data_dir / OUTBOX, seconds)
    lock.start()
    lock.join()


def damaged_pages(lab: Lab, sizes: Sizes, row: Row) -> None:
    """Three random pages of the stopped outbox overwritten (never the header): the
    runtime starts, moves the damaged file aside, sends what could be read."""
    broker = lab.broker(start=False)
    kiosk = lab.kiosk(DEVICE, broker_port=broker.port)
    filling = lab.simulate(kiosk, sizes.journeys, seed=5, wait_delivered=False)
    row.exited(filling, filling.wait(240))
    before = snapshot(kiosk.data_dir, kiosk.source)
    pages = overwrite_pages(kiosk.data_dir / OUTBOX, 3, random.Random(13))
    row.facts["pages overwritten"] = pages
    readable = readable_ids(kiosk.data_dir, before.ids)
    destroyed = set(before.ids.values()) - readable
    row.facts["rows read back by key"] = f"{len(readable)} of {len(before.ids)}"
    code, said = lab.outbox_status(kiosk)
    row.facts["status on the damaged file"] = "ok" if code == 0 else f"exit {code}: {said[:80]}"
    broker.start()
    recorder = _recorder(broker.port)
    try:
        restart = lab.simulate(kiosk, 2, seed=6, wait_delivered=True, timeout=DEADLINE)
        row.exited(restart, restart.wait(240))
    finally:
        recorder.stop()
        after = snapshot(kiosk.data_dir, kiosk.source)
        row.judge(account(recorder.snapshot(), [before], final=[after], destroyed=destroyed))
    if row.figures is not None:
        row.facts["rows the damage destroyed"] = row.figures.destroyed
    aside = sorted(p.name for p in kiosk.data_dir.iterdir() if _moved_aside(p))
    row.facts["moved aside"] = aside
    if not aside:
        row.problems.append("the damaged outbox was not moved aside")
    elif not any(name in run.log() for run in lab.runs for name in aside):
        row.problems.append("no alarm names where the damaged file is")


def _moved_aside(path: Path) -> bool:
    return path.name.startswith("outbox") and path.name not in _STANDARD_FILES


def damaged_payload(lab: Lab, sizes: Sizes, row: Row) -> None:
    """40 random bytes inside one stored event while stopped: it is quarantined and
    reported, never published."""
    broker = lab.broker(start=False)
    kiosk = lab.kiosk(DEVICE, broker_port=broker.port)
    filling = lab.simulate(kiosk, sizes.journeys, seed=7, wait_delivered=False)
    row.exited(filling, filling.wait(240))
    before = snapshot(kiosk.data_dir, kiosk.source)
    rng = random.Random(40)
    victim_sequence = rng.choice(sorted(before.ids))
    victim = before.ids[victim_sequence]
    for name in (OUTBOX, OUTBOX + "-wal"):
        path = kiosk.data_dir / name
        if path.exists() and f'"id":"{victim}"'.encode() in path.read_bytes():
            damage_payload(path, victim, 40, rng)
            row.facts["damaged"] = f"sequence {victim_sequence} in {name}"
            break
    checked = sqlite3.connect(kiosk.data_dir / OUTBOX)
    try:
        row.facts["sqlite integrity_check"] = checked.execute("PRAGMA integrity_check").fetchone()[
            0
        ]
    finally:
        checked.close()
    broker.start()
    recorder = _recorder(broker.port)
    try:
        restart = lab.simulate(kiosk, 2, seed=8, wait_delivered=True, timeout=DEADLINE)
        row.exited(restart, restart.wait(240))
    finally:
        recorder.stop()
        after = snapshot(kiosk.data_dir, kiosk.source)
        figures = account(recorder.snapshot(), [before], final=[after])
        row.judge(figures)
    if not figures.quarantined:
        row.problems.append("no quarantine report names the damaged event")


def wal_lost(lab: Lab, sizes: Sizes, row: Row) -> None:
    """`kill -9` while events flow, the `-wal` file deleted, a restart: a new stream
    epoch, never one sequence with two ids."""
    broker = lab.broker()
    kiosk = lab.kiosk(DEVICE, broker_port=broker.port)
    recorder = _recorder(broker.port)
    shots: list[OutboxSnapshot] = []
    destroyed: set[str] = set()
    try:
        running = lab.simulate(kiosk, sizes.journeys * 10, seed=9, wait_delivered=False)
        recorder.count_at_least(sizes.journeys * 3, DEADLINE)
        running.kill()
        row.exited(running, running.wait(DEADLINE))
        before = snapshot(kiosk.data_dir, kiosk.source)
        wal = kiosk.data_dir / (OUTBOX + "-wal")
        row.facts["wal deleted (bytes)"] = _size(wal)
        wal.unlink(missing_ok=True)
        left = snapshot(kiosk.data_dir, kiosk.source, with_wal=False)
        shots += [before, left]
        destroyed = set(before.ids.values()) - set(left.ids.values())
        restart = lab.simulate(kiosk, sizes.journeys, seed=10, wait_delivered=True)
        row.exited(restart, restart.wait(240))
    finally:
        recorder.stop()
        after = snapshot(kiosk.data_dir, kiosk.source)
        received = recorder.snapshot()
        received_ids = {r.event_id for r in received}
        row.facts["undelivered rows lost with the wal"] = len(destroyed - received_ids)
        row.judge(account(received, shots, final=[after], destroyed=destroyed))
    if row.figures is not None:
        row.facts["epochs seen"] = row.figures.epochs
