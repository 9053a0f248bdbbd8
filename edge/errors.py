"""Errors of the edge runtime, under the one root `BorneError`."""

from __future__ import annotations

from devices.errors import BorneError, DeviceError, InputError

__all__ = [
    "BorneError",
    "CatalogError",
    "ConfigError",
    "DeviceError",
    "InputError",
    "OutboxBusyError",
    "OutboxDamagedError",
    "OutboxDiskFullError",
    "OutboxError",
    "OutboxFullError",
    "UplinkError",
]


class ConfigError(BorneError):
    """The configuration cannot be used; names the key (or file) and the problem."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class OutboxError(BorneError):
    """The outbox database failed (disk full, corruption, permissions)."""

    retryable = True


class OutboxFullError(OutboxError):
    """The outbox is at its byte bound with only events that must never be shed."""


class OutboxBusyError(OutboxError):
    """Another connection holds the outbox's write lock (SQLite BUSY/LOCKED): transient,
    the commit is tried again."""


class OutboxDiskFullError(OutboxError):
    """The disk under the outbox is full, or below its free-space margin, and shedding
    left nothing to free: transient, the commit is tried again once room comes back."""


class OutboxDamagedError(OutboxError):
    """The outbox file is damaged (SQLite CORRUPT/NOTADB, or a failed integrity check)."""


class CatalogError(BorneError):
    """The catalog source or cache cannot be read."""


class UplinkError(BorneError):
    """The MQTT link failed in a way the caller must hear about."""

    retryable = True
