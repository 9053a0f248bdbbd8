"""How a device is doing, as shown by `borne devices` and health telemetry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeviceState(StrEnum):
    """ok: delivering readings; missing: not found; failing: found but erroring.

    not configured: the configuration names no such device, so none is looked for.
    """

    STARTING = "starting"
    OK = "ok"
    MISSING = "missing"
    FAILING = "failing"
    STOPPED = "stopped"
    NOT_CONFIGURED = "not configured"


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A snapshot of one device."""

    kind: str
    backend: str
    state: DeviceState
    detail: str = ""
    last_reading_at: float | None = None
