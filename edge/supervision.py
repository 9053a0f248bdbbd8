"""Long-running tasks that fail loudly and come back: log, back off, restart.

A task of the uplink that raises (a full disk under the outbox, a library's
surprise) used to end delivery for good, silently. Each one now runs under
`supervised`: the failure is logged (once while it repeats), reported to whoever
watches the state, and the task starts again after a jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from devices.backoff import Backoff
from edge.log_once import RepeatedCondition

log = logging.getLogger(__name__)

FailureListener = Callable[[str, BaseException, float], None]


async def supervised(
    name: str,
    body: Callable[[], Awaitable[None]],
    *,
    on_failure: FailureListener,
    on_restart: Callable[[str], None],
    backoff: Backoff,
    stable_after: float,
    logger: logging.Logger = log,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run `body()` until cancelled, restarting it after each failure.

    `on_failure(name, error, delay)` hears of every failure, `on_restart(name)` of each
    start after one (so a state shown as "restarting" does not outlive the restart). A
    `name` says what the task is in the log ("uplink task pump"). A body that ran for
    `stable_after` seconds before failing starts again from the smallest delay; one
    that fails again at once waits longer each time. A body that returns is restarted
    too: these tasks exist to run for ever.
    """
    failing = RepeatedCondition(
        logger, f"{name} failed and is restarted", "failures", logging.ERROR
    )
    restarting = False
    while True:
        if restarting:
            on_restart(name)
        started = clock()
        try:
            await body()
            error: BaseException = RuntimeError(f"task {name} stopped on its own")
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # noqa: BLE001 - any failure is logged and restarted
            error = failure
        if clock() - started >= stable_after:
            backoff.reset()
            failing.cleared()
        delay = backoff.next_delay()
        failing.occurred(detail=f"{error}; next start in {delay:.1f} s", error=error)
        on_failure(name, error, delay)
        await asyncio.sleep(delay)
        restarting = True
