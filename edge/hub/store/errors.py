"""Errors of the hub's event store, under Borne's one root."""

from __future__ import annotations

from edge.errors import BorneError


class HubStoreError(BorneError):
    """The hub's event store failed (database down, disk full, a lock timed out).

    Worth retrying: the batch was rolled back whole, and ingesting it again stores
    each event once.
    """

    retryable = True


class MalformedInputError(HubStoreError):
    """What a device sent breaks the contract; retrying the same input cannot help.

    The message names the field and the reason, never the value, which may hold a
    shopper's data.
    """

    retryable = False
    kind = "input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"malformed {self.kind}: {field}: {reason}")
        self.field = field
        self.reason = reason


class MalformedEventError(MalformedInputError):
    """An event breaks the contract (bad id, source, sequence, time or shed report).

    It is refused alone; the rest of its batch is stored.
    """

    kind = "event"


class MalformedStateError(MalformedInputError):
    """A device's retained online/offline state breaks the contract."""

    kind = "device state"


class UnknownDeviceError(HubStoreError):
    """The store has never heard of this device."""

    retryable = False

    def __init__(self, device_id: str) -> None:
        super().__init__(f"unknown device {device_id!r}")
        self.device_id = device_id
