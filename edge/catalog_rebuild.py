"""The catalog made from the streams and loaded, in a process of its own when it is big.

Reading 100,000 products, their stock and reviews out of the stream cache and making the
source document takes about 500 MB and seconds of GIL: done in the kiosk's process, it
would leave the process that much bigger for good and slow the screen meanwhile. So
above `CHILD_REBUILD_ITEMS` products a child does it all (`python -m
edge.catalog_rebuild`): it reads the stream cache read-only (SQLite WAL: the downlink
keeps writing), writes the document, and loads it into the catalog, which the kiosk keeps
answering from until the new one is committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.catalog_live import StreamFile, StreamItems
from edge.catalog_load import REFUSED, load_into, load_key, pictures_of, run_catalog_child
from edge.catalog_schema import meta, open_cache
from edge.catalog_streams import StreamSource, source_document
from edge.errors import BorneError, CatalogError
from edge.sync.messages import Stream

CHILD_REBUILD_ITEMS = 2_000  # catalog items above which a child makes the catalog


@dataclass(frozen=True, slots=True)
class CatalogPlace:
    """Where the catalog made from the streams comes from and goes, and whose it is."""

    streams: Path  # the stream cache
    catalog: Path  # the catalog's cache, which the kiosk answers from
    source: Path  # the document made from the streams, loaded like a source file
    pictures: Path | None  # `<gtin-13>.png`; None: the `images` folder beside `source`
    store_id: str
    store_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What a rebuild made: products shown and left out, whether the catalog changed,
    and when the next known promotion starts (None: none is coming)."""

    products: int
    skipped: int
    loaded: bool
    next_start: datetime | None


def document_from(cache: StreamItems, place: CatalogPlace, now: datetime) -> StreamSource:
    """The catalog source the streams held in `cache` make at `now`."""
    return source_document(
        store_id=place.store_id,
        store_names=place.store_names,
        catalog=cache.items(Stream.CATALOG),
        reviews=cache.items(Stream.REVIEWS),
        offers=cache.items(Stream.OFFERS),
        stock=cache.items(Stream.STOCK),
        now=now,
    )


def make_and_load(cache: StreamItems, place: CatalogPlace, now: datetime) -> Rebuilt:
    """Make the catalog from the streams and load it, in this process (blocking).

    Loaded only if it differs from what the catalog holds. CatalogError if the catalog
    refused it or the document could not be written, SyncError if the streams could
    not be read: the catalog is then as it was.
    """
    made = document_from(cache, place, now)
    _write_atomically(place.source, made.text)
    folder = pictures_of(place.source, place.pictures)
    wanted = load_key(hashlib.sha256(made.text).hexdigest(), folder)
    held = open_cache(place.catalog)
    try:
        loaded = meta(held, "source_sha256") != wanted
    finally:
        held.close()
    if loaded:
        load_into(place.catalog, place.source, place.pictures)
    return Rebuilt(made.products, made.skipped, loaded, made.next_start)


def make_and_load_in_child(place: CatalogPlace, now: datetime) -> Rebuilt:
    """`make_and_load` in a child process, waited for; CatalogError if it failed."""
    arguments = {**asdict(place), "now": now.isoformat()}
    output = run_catalog_child(
        "edge.catalog_rebuild", [json.dumps(arguments, default=str)], what="catalog rebuild"
    )
    return _rebuilt(json.loads(output))


def _write_atomically(path: Path, text: bytes) -> None:
    """Replace `path` whole: a crash leaves the old document or the new one."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(text)
        os.replace(partial, path)
    except OSError as error:
        raise CatalogError(f"{path}: cannot be written ({error.strerror})") from None


def _place(arguments: dict[str, Any]) -> CatalogPlace:
    pictures = arguments["pictures"]
    return CatalogPlace(
        streams=Path(arguments["streams"]),
        catalog=Path(arguments["catalog"]),
        source=Path(arguments["source"]),
        pictures=None if pictures is None else Path(pictures),
        store_id=arguments["store_id"],
        store_names=arguments["store_names"],
    )


def _rebuilt(document: dict[str, Any]) -> Rebuilt:
    starts = document["next_start"]
    return Rebuilt(
        document["products"],
        document["skipped"],
        document["loaded"],
        None if starts is None else datetime.fromisoformat(starts),
    )


def main(arguments: list[str] | None = None) -> int:
    """The child: make and load the catalog the JSON argument describes; its summary as
    JSON on stdout, or status REFUSED with the reason on stderr."""
    (described,) = sys.argv[1:] if arguments is None else arguments
    document = json.loads(described)
    place = _place(document)
    try:
        cache = StreamFile(place.streams)  # read-only: the kiosk's downlink writes it
        try:
            rebuilt = make_and_load(cache, place, datetime.fromisoformat(document["now"]))
        finally:
            cache.close()
    except BorneError as error:
        print(error, file=sys.stderr)
        return REFUSED
    print(json.dumps(asdict(rebuilt), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
