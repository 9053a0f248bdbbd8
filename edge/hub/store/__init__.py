"""The hub's event store: every kiosk event once, and each device's sequence followed.

`SqliteEventStore` is the default (one file, nothing to install);
`PostgresEventStore` is for production. Both implement `EventStore`.
"""

from edge.hub.store.errors import (
    HubStoreError,
    MalformedEventError,
    MalformedInputError,
    MalformedStateError,
    UnknownDeviceError,
)
from edge.hub.store.incoming import SHED_REPORT_TYPE, IncomingEvent, RawEvent, parse_event
from edge.hub.store.ledger import ASSIST_EVENT_TYPES
from edge.hub.store.model import (
    DeviceStatus,
    EventStore,
    Gap,
    GapCount,
    IngestResult,
    Refusal,
    ReplayAsk,
    StoredEvent,
)
from edge.hub.store.postgres import PostgresEventStore
from edge.hub.store.ranges import GapState
from edge.hub.store.sqlite import SqliteEventStore

__all__ = [
    "ASSIST_EVENT_TYPES",
    "SHED_REPORT_TYPE",
    "DeviceStatus",
    "EventStore",
    "Gap",
    "GapCount",
    "GapState",
    "HubStoreError",
    "IncomingEvent",
    "IngestResult",
    "MalformedEventError",
    "MalformedInputError",
    "MalformedStateError",
    "PostgresEventStore",
    "RawEvent",
    "Refusal",
    "ReplayAsk",
    "SqliteEventStore",
    "StoredEvent",
    "UnknownDeviceError",
    "parse_event",
]
