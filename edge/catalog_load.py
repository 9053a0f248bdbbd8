"""Loading a catalog source into the cache, in a process of its own.

A 100,000-product source is about 100 MB of JSON; validating and indexing it makes
millions of objects. In the kiosk's process that work would hold the GIL and run the
garbage collector for long stretches (the asyncio loop and the UI stalled for up to a
second at a time) and leave the process hundreds of MB bigger. A child process does it
on the other core: the kiosk only waits, and keeps answering from the previous cache
(SQLite WAL) until the child commits the new one, whole.

`python -m edge.catalog_load CACHE SOURCE [PICTURES]` is that child; `load_into` is its
work, also callable in-process (tests, tools). Pictures are `<gtin-13>.png` in PICTURES,
by default the `images` folder beside the source.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from edge.catalog_index import CacheRows, cache_rows
from edge.catalog_schema import open_cache
from edge.catalog_source import SourceReader
from edge.errors import CatalogError
from edge.sqlite_tx import translated

LOAD_TIMEOUT_SECONDS = 600.0  # 100,000 products load in 8-13 s on a shared 2-core machine
REFUSED = 2  # the child's exit status for a refused source; the reason is on stderr
_PROJECT = Path(__file__).resolve().parent.parent  # where `edge` is imported from


def pictures_of(source: Path, pictures: Path | None) -> Path:
    """Where a source's product pictures are: `pictures`, else `images` beside it."""
    return source.parent / "images" if pictures is None else pictures


def load_key(source_sha256: str, pictures: Path) -> str:
    """What a load is known by: its source's bytes and where its pictures are (the
    pictures' paths are in the cache, so a new folder is a new load)."""
    return f"{source_sha256} {pictures}"


def load_into(db_path: Path, source: Path, pictures: Path | None = None) -> None:
    """Validate `source` whole, then replace the cache's content with it, in this process.

    A bad source raises CatalogError naming the product and the field; the cache is
    then untouched.
    """
    try:
        raw = source.read_bytes()
    except OSError as error:
        raise CatalogError(f"{source}: cannot be read ({error.strerror})") from None
    folder = pictures_of(source, pictures)
    rows = cache_rows(SourceReader(raw, source.name), folder)
    writer = open_cache(db_path)
    try:
        with translated(CatalogError, "catalog load"):
            # A crash mid-load loses at most this load: the digest rolls back with it.
            writer.execute("PRAGMA synchronous=NORMAL")
            writer.execute("BEGIN IMMEDIATE")
            try:
                # The digest of the bytes loaded, not of the file as it was looked at
                # before: a source replaced in between is then loaded again next time.
                _replace_rows(writer, rows, load_key(hashlib.sha256(raw).hexdigest(), folder))
            except BaseException:
                writer.execute("ROLLBACK")
                raise
            writer.execute("COMMIT")
    finally:
        writer.close()


def _replace_rows(writer: sqlite3.Connection, rows: CacheRows, digest: str) -> None:
    writer.execute("DELETE FROM products")
    writer.execute("INSERT INTO product_words (product_words) VALUES ('delete-all')")
    writer.execute("DELETE FROM customers")
    writer.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", rows.products)
    writer.executemany("INSERT INTO product_words (rowid, words) VALUES (?, ?)", rows.words)
    writer.execute("INSERT INTO product_words (product_words) VALUES ('optimize')")
    writer.executemany("INSERT INTO customers VALUES (?, ?)", rows.customers)
    writer.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [
            ("source_sha256", digest),
            ("categories", rows.categories),
            ("promotions", rows.promotions),
        ],
    )


def load_in_child(db_path: Path, source: Path, pictures: Path | None = None) -> None:
    """`load_into` in a child process, waited for; CatalogError if it refused or failed."""
    folder = str(pictures_of(source, pictures))
    run_catalog_child(
        "edge.catalog_load", [str(db_path), str(source), folder], what=f"{source}: catalog load"
    )


def run_catalog_child(module: str, arguments: list[str], *, what: str) -> str:
    """Run `python -m module arguments...` with this process's `edge`, waited for; its
    standard output. CatalogError, starting with `what`, if it refused (the child's
    reason) or failed (its last line)."""
    command = [sys.executable, "-m", module, *arguments]
    paths = [str(_PROJECT), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),  # the same `edge` as this process's
        "PYTHONIOENCODING": "utf-8",
    }
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env=environment,
            timeout=LOAD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CatalogError(f"{what}: not done in {LOAD_TIMEOUT_SECONDS:.0f} s") from None
    except OSError as error:
        raise CatalogError(f"{what} could not start ({error.strerror})") from None
    if done.returncode == REFUSED:
        raise CatalogError(done.stderr.strip())
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CatalogError(f"{what} failed (status {done.returncode}): {last}")
    return done.stdout


def main(arguments: list[str] | None = None) -> int:
    """The child: load SOURCE into CACHE (pictures in PICTURES); status 0, or REFUSED with
    the reason on stderr."""
    cache, source, *pictures = sys.argv[1:] if arguments is None else arguments
    try:
        load_into(Path(cache), Path(source), Path(pictures[0]) if pictures else None)
    except CatalogError as error:
        print(error, file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
