"""One explicit SQLite transaction.

Borne's connections run in autocommit mode (`isolation_level=None`) so that every
transaction is spelled out; there, `with connection:` does *not* open one, and each
statement would commit (and flush) on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


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
