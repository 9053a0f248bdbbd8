"""Errors of the edge runtime, under the one root `BorneError`."""

from __future__ import annotations

from devices.errors import BorneError, DeviceError, InputError

__all__ = [
    "BorneError",
    "CatalogError",
    "ConfigError",
    "DeviceError",
    "InputError",
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


class CatalogError(BorneError):
    """The catalog source or cache cannot be read."""


class UplinkError(BorneError):
    """The MQTT link failed in a way the caller must hear about."""

    retryable = True
