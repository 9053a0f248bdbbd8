"""What every check is given: the configuration, the devices, and the time it has."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import Config
from edge.doctor.report import CheckResult, Outcome, Param
from edge.doctor.source import DoctorSource


@dataclass(frozen=True)
class CheckContext:
    """One run of the self-test as a check sees it."""

    config: Config
    source: DoctorSource
    wait: float  # seconds the installer has to tap, scan, hold the phone, touch
    deadline: float  # time.monotonic() when the wait is over
    calibrate: bool = False  # save the BLE power at 1 m
    config_path: Path | None = None  # where a calibration is saved
    clock: Callable[[], float] = field(default=time.time)


def result(
    check: str,
    outcome: Outcome,
    summary: str,
    remedy: str = "",
    details: Mapping[str, object] | None = None,
    /,
    **params: Param,
) -> CheckResult:
    """A CheckResult with its params given as keywords."""
    return CheckResult(check, outcome, summary, remedy, dict(params), dict(details or {}))


def one_decimal(value: float) -> float:
    """A figure as the installer reads it."""
    return round(value, 1)


def human_bytes(count: float) -> str:
    """Bytes in MiB or GiB, as `df -h` would."""
    if count >= 1 << 30:
        return f"{count / (1 << 30):.1f} GiB"
    return f"{count / (1 << 20):.0f} MiB"


def human_age(seconds: float) -> str:
    """An age in the largest unit that keeps it readable."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
