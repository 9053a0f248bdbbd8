"""Errors of the hub's stream store, under Borne's one root."""

from __future__ import annotations

from edge.errors import BorneError


class StreamStoreError(BorneError):
    """The hub's stream store failed or was asked for something it does not hold.

    An import that raises it was rolled back whole: no item and no version changed.
    """


class StreamDatabaseError(StreamStoreError):
    """The database failed (disk full, a lock timed out); importing again is safe."""

    retryable = True


class UnknownStreamError(StreamStoreError):
    """No such store, or the store has no such stream."""

    def __init__(self, store_id: str, stream: str) -> None:
        super().__init__(f"no stream {stream!r} for store {store_id!r}")
        self.store_id = store_id
        self.stream = stream


class InvalidStoreIdError(StreamStoreError):
    """A store id that cannot name a store's topics (empty, too long, '/', '+', '#')."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid store id: {reason}")
        self.reason = reason
