"""SQLite at Borne's boundary: explicit transactions, and sqlite3 errors made Borne's.

Borne's connections run in autocommit mode (`isolation_level=None`) so that every
transaction is spelled out; there, `with connection:` does *not* open one, and each
statement would commit (and flush) on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from edge.errors import BorneError


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if anything inside fails."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def translated(error: type[BorneError], what: str) -> Iterator[None]:
    """Raise sqlite3's exceptions inside as `error`, saying `what` failed."""
    try:
        yield
    except sqlite3.Error as cause:
        raise error(f"{what} failed: {cause}") from cause
