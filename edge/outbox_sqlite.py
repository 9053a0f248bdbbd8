"""SQLite under the outbox: its failures as typed errors, its transactions, its disk.

SQLite says why a statement failed in its result code. A lock held by another
process (BUSY, LOCKED) and a full disk (FULL, or no room for the shared-memory
index) are transient: the caller keeps the events and tries again. A damaged file
(CORRUPT, NOTADB) is not: it is moved aside at the next open. Anything else stays a
plain OutboxError.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.errors import (
    OutboxBusyError,
    OutboxDamagedError,
    OutboxDiskFullError,
    OutboxError,
)

# Primary result codes (the low byte of an extended code), and one extended code.
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_FULL = {sqlite3.SQLITE_FULL}
_NO_ROOM_FOR_INDEX = 4874  # SQLITE_IOERR_SHMSIZE: the -shm index cannot grow (disk full)
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}

FreeSpace = Callable[[Path], int]  # bytes free for us on the filesystem of a folder


def free_disk_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `folder`."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def error_kind(cause: sqlite3.Error) -> type[OutboxError]:
    """The typed outbox error for what SQLite said (by its result code)."""
    code: int | None = getattr(cause, "sqlite_errorcode", None)
    if code is None:
        return OutboxError
    if code & 0xFF in _BUSY:
        return OutboxBusyError
    if code & 0xFF in _FULL or code == _NO_ROOM_FOR_INDEX:
        return OutboxDiskFullError
    if code & 0xFF in _DAMAGED:
        return OutboxDamagedError
    return OutboxError


def is_damage(cause: BaseException) -> bool:
    """Whether SQLite said the file is damaged (or is not a database)."""
    return isinstance(cause, sqlite3.Error) and error_kind(cause) is OutboxDamagedError


def is_disk_full(cause: BaseException) -> bool:
    """Whether SQLite said there is no room on the disk."""
    return isinstance(cause, sqlite3.Error) and error_kind(cause) is OutboxDiskFullError


def is_passing(cause: BaseException) -> bool:
    """Whether SQLite said something that passes: a lock held elsewhere, a full disk."""
    return isinstance(cause, sqlite3.Error) and error_kind(cause) in (
        OutboxBusyError,
        OutboxDiskFullError,
    )


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Raise sqlite3's exceptions inside as the typed outbox error, saying `what` failed."""
    try:
        yield
    except sqlite3.Error as cause:
        raise error_kind(cause)(f"{what} failed: {cause}") from cause


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if anything inside fails.

    SQLite rolls a transaction back by itself after some errors (a full disk among
    them); the rollback is then not tried again, so the first error is the one heard.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def wal_path(path: Path) -> Path:
    """The write-ahead log beside an SQLite file."""
    return path.with_name(path.name + "-wal")


def companions(path: Path) -> list[Path]:
    """An SQLite file's write-ahead log and shared-memory index."""
    return [wal_path(path), path.with_name(path.name + "-shm")]
