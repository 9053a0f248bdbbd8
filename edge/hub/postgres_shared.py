"""Opening the hub's PostgreSQL databases: the event store's and the streams' tables.

Several hub processes may open one database at once: each creates its tables under a
transaction-scoped advisory lock (one number per set of tables), so two never race
over `CREATE TABLE IF NOT EXISTS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.rows import TupleRow


def connect_with_schema(dsn: str, schema: Sequence[str], lock: int) -> psycopg.Connection[TupleRow]:
    """A connection in autocommit mode, once `schema`'s statements have run under the
    advisory lock `lock`. psycopg's errors pass through: the caller names the store."""
    db = psycopg.connect(dsn, autocommit=True)
    try:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
            for statement in schema:
                db.execute(statement)
    except BaseException:
        db.close()
        raise
    return db
