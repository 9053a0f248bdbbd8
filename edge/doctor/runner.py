"""`run_doctor`: every check at once, within one wait, into a `Report`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from edge.config import Config
from edge.doctor import messages as m
from edge.doctor.broker_check import check_broker
from edge.doctor.clock_check import check_clock
from edge.doctor.context import CheckContext, result
from edge.doctor.device_checks import check_ble, check_camera, check_display, check_nfc
from edge.doctor.report import CHECKS, CheckResult, Outcome, Report
from edge.doctor.source import DoctorSource
from edge.doctor.storage_checks import check_catalog, check_disk, check_outbox
from edge.errors import BorneError

log = logging.getLogger(__name__)

DEFAULT_WAIT = 20.0
OVERRUN = 30.0  # seconds past the wait before a check that does not end is given up

Check = Callable[[CheckContext], Awaitable[CheckResult]]
CHECK_FUNCTIONS: dict[str, Check] = {
    "camera": check_camera,
    "nfc": check_nfc,
    "ble": check_ble,
    "display": check_display,
    "broker": check_broker,
    "clock": check_clock,
    "disk": check_disk,
    "outbox": check_outbox,
    "catalog": check_catalog,
}
# Told when a check starts (None) and when it ends (its result), on the loop.
Progress = Callable[[str, CheckResult | None], None]


class UnknownCheckError(BorneError):
    """A check was asked for by a name the doctor does not know."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        super().__init__(f"unknown check {', '.join(self.names)}: choose among {', '.join(CHECKS)}")


async def run_doctor(
    config: Config,
    *,
    source: DoctorSource,
    checks: Iterable[str] = CHECKS,
    wait: float = DEFAULT_WAIT,
    calibrate: bool = False,
    config_path: Path | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> Report:
    """Run the named checks at once, the devices' within `wait` seconds; the report.

    The source is started first and stopped at the end, whatever happens. With
    `calibrate`, the store app's power at 1 m is saved in the file at `config_path`.
    """
    wanted = tuple(checks)
    unknown = [name for name in wanted if name not in CHECK_FUNCTIONS]
    if unknown:
        raise UnknownCheckError(unknown)
    started = datetime.fromtimestamp(clock(), UTC)
    await source.start()
    try:
        context = CheckContext(
            config=config,
            source=source,
            wait=wait,
            deadline=time.monotonic() + wait,
            calibrate=calibrate,
            config_path=config_path,
            clock=clock,
        )
        found = await asyncio.gather(
            *(_run(name, context, progress) for name in CHECKS if name in wanted)
        )
    finally:
        await source.stop()
    return Report(config.device.device_id, config.device.store_id, started, tuple(found))


async def _run(name: str, context: CheckContext, progress: Progress | None) -> CheckResult:
    """One check, bounded in time; a check that breaks is reported, not raised."""
    if progress is not None:
        progress(name, None)
    try:
        async with asyncio.timeout(context.wait + OVERRUN):
            found = await CHECK_FUNCTIONS[name](context)
    except TimeoutError:
        found = result(
            name, Outcome.FAIL, m.CHECK_BROKE, m.CHECK_BROKE_FIX, problem="it did not end"
        )
    except Exception as error:  # one broken check must not hide the others' results
        log.exception("the %s check broke", name)
        problem = f"{type(error).__name__}: {error}"
        found = result(name, Outcome.FAIL, m.CHECK_BROKE, m.CHECK_BROKE_FIX, problem=problem)
    if progress is not None:
        progress(name, found)
    return found
