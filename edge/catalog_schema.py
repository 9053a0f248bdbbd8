"""The catalog cache's tables, shared by the reading kiosk and the loading process."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from edge.errors import CatalogError
from edge.sqlite_tx import translated

log = logging.getLogger(__name__)

# SQLite's primary result codes that say the disk, not the cache, is the trouble:
# SQLITE_READONLY, SQLITE_IOERR (a -shm that cannot be made), SQLITE_FULL, SQLITE_CANTOPEN.
_NO_WRITING = {8, 10, 13, 14}

# Bumped whenever the tables change: an older cache is dropped and reloaded from source.
SCHEMA_VERSION = 4
_TABLES = ("products", "product_words", "customers", "meta")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    rank INTEGER PRIMARY KEY,  -- best first: rating, review count, GTIN (see catalog_index)
    gtin TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    similar TEXT NOT NULL,  -- JSON: ranks of the closest in price on the shelf, closest first
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS products_by_shelf ON products (category, rank);
-- Contentless: only the row ids (ranks) are read back. Prefix indexes make a word
-- being typed ("caf") as cheap to find as a whole one.
CREATE VIRTUAL TABLE IF NOT EXISTS product_words USING fts5(
    words, content='', prefix='1 2 3', tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS customers (pseudonym TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
-- source_sha256 (what was loaded: load_key), categories and promotions (JSON), schema_version
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""


def open_cache(db_path: Path, *, any_thread: bool = False) -> sqlite3.Connection:
    """A connection to the cache at `db_path`, its tables created or rebuilt if older.

    In autocommit mode: every transaction is spelled out. `any_thread`: usable from a
    thread other than this one (the caller serialises the calls).
    """
    with translated(CatalogError, "catalog open"):
        db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=not any_thread)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
            if meta(db, "schema_version") != SCHEMA_VERSION:
                drops = "".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES)
                version = f"INSERT INTO meta VALUES ('schema_version', {SCHEMA_VERSION});"  # noqa: S608
                db.executescript(f"BEGIN IMMEDIATE;{drops}{_SCHEMA}{version}COMMIT;")
        except BaseException:
            db.close()
            raise
    return db


def open_cache_or_read_only(db_path: Path) -> tuple[sqlite3.Connection, bool]:
    """The kiosk's cache for reading and writing or, when the disk takes no writes (full,
    read-only), for reading what it has; (connection, read_only).

    Sending the queued events needs no disk, and showing the catalog needs none either:
    a full disk must not stop the kiosk at start. A cache that is not there, or damaged,
    still raises CatalogError.
    """
    try:
        return open_cache(db_path, any_thread=True), False
    except CatalogError as error:
        if not db_path.is_file() or not _cannot_write(error):
            raise
        db = _open_as_it_is(db_path)
        log.warning(
            "catalog cache %s opened read-only: the disk takes no writes (%s); "
            "it serves what it has, and loads are refused until there is room",
            db_path,
            error.__cause__ or error,
        )
    return db, True


def _cannot_write(error: CatalogError) -> bool:
    cause = error.__cause__
    if isinstance(cause, OSError):  # the folder could not be made
        return True
    code = getattr(cause, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _NO_WRITING


def _open_as_it_is(db_path: Path) -> sqlite3.Connection:
    """Read-only; as immutable if SQLite cannot even make its shared-memory file (a full
    disk): nobody writes the cache then, as this process is the one that would."""
    failure: sqlite3.Error | None = None
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        uri = f"{db_path.resolve().as_uri()}?{mode}"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            version = meta(db, "schema_version")
        except sqlite3.Error as cause:
            db.close()
            failure = cause
            continue
        if version != SCHEMA_VERSION:
            db.close()
            raise CatalogError(f"{db_path}: a catalog of another version of Borne ({version})")
        return db
    raise CatalogError(f"catalog open read-only failed: {failure}") from failure


def open_cache_read_only(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to the kiosk's cache, from another process while the kiosk
    runs (`borne catalog show`): it neither creates nor rebuilds anything.

    CatalogError if there is no cache there, or one of another version of Borne.
    """
    if not db_path.is_file():
        raise CatalogError(f"no catalog at {db_path}: the kiosk has not run with this data")
    with translated(CatalogError, "catalog open"):
        uri = f"{db_path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            version = meta(db, "schema_version")
        except BaseException:
            db.close()
            raise
    if version != SCHEMA_VERSION:
        db.close()
        raise CatalogError(f"{db_path}: a catalog of another version of Borne ({version})")
    return db


def meta(db: sqlite3.Connection, key: str) -> Any:
    """A value of the meta table (None if it has none)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]
