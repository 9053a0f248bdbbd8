"""The hub's versioned streams per store (catalog, stock, reviews, offers, customers).

`StreamStore` imports what `edge.hub.feeds.read_feed` gives, keeps each store's streams
in SQLite (`SqliteStreamDatabase`) or PostgreSQL (`postgres.PostgresStreamDatabase`,
imported on its own so that SQLite's users never load psycopg), and answers with the
change set and snapshot messages of docs/platform-link.md.
"""

from edge.hub.streams.errors import (
    InvalidStoreIdError,
    StreamDatabaseError,
    StreamStoreError,
    UnknownStreamError,
)
from edge.hub.streams.sql import SqliteStreamDatabase
from edge.hub.streams.store import (
    RETAINED_VERSIONS,
    STREAMS,
    ImportReport,
    StreamPosition,
    StreamStore,
)
from edge.hub.streams.tables import StreamDatabase
from edge.hub.streams.values import MAX_REVIEWS_SHOWN, ONLINE_STORE

__all__ = [
    "MAX_REVIEWS_SHOWN",
    "ONLINE_STORE",
    "RETAINED_VERSIONS",
    "STREAMS",
    "ImportReport",
    "InvalidStoreIdError",
    "SqliteStreamDatabase",
    "StreamDatabase",
    "StreamDatabaseError",
    "StreamPosition",
    "StreamStore",
    "StreamStoreError",
    "UnknownStreamError",
]
