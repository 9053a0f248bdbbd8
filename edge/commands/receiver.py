"""Takes the platform's signed commands off the uplink's connection and runs them.

Attached to the uplink like the downlink (`uplink.attach(receiver)`): it subscribes to
`borne/v1/devices/{device}/cmd/+`. Messages are handled one at a time in arrival order
by a task on the loop; the checks (the nonce ledger is on disk) run in a worker thread.
A command that passes runs its handler; what it did is reported as the event
`io.borne.command.executed`, a refusal as `io.borne.command.refused` (both through the
outbox, so the platform hears of them once the link is up).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.properties import Properties

from edge.commands.nonces import NonceLedgerError
from edge.commands.verify import CommandVerifier
from edge.commands.wire import Command, CommandRefused, Refusal, topic_name
from edge.errors import BorneError
from edge.events import EventDraft

log = logging.getLogger(__name__)

EXECUTED = "io.borne.command.executed"
REFUSED = "io.borne.command.refused"
QUEUE_LIMIT = 64  # messages waiting at most: a flood is refused, not held in memory

Handler = Callable[[Command], Awaitable[Mapping[str, Any]]]
Record = Callable[[EventDraft], Awaitable[object]]


class CommandFailed(BorneError):
    """A command that was accepted could not be done; `problem` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(slots=True)
class CommandCounters:
    """What the receiver did since the kiosk started."""

    received: int = 0
    executed: int = 0
    failed: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # by reason


class CommandReceiver:
    """See the module's docstring. Implements `edge.uplink.Inbound`."""

    def __init__(
        self,
        device_id: str,
        verifier: CommandVerifier,
        handlers: Mapping[str, Handler],
        *,
        record: Record | None = None,
    ) -> None:
        self._topic = f"borne/v1/devices/{device_id}/cmd/+"
        self._verifier = verifier
        self._handlers = dict(handlers)
        self._record = record
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_LIMIT)
        self._worker: asyncio.Task[None] | None = None
        self.counters = CommandCounters()

    def add(self, name: str, handler: Handler) -> None:
        """Run `handler` for the command `name` (for handlers that need the runtime,
        which is built after the receiver is attached to the uplink)."""
        self._handlers[name] = handler

    # --- edge.uplink.Inbound, on the uplink's event loop ------------------------------

    @property
    def subscriptions(self) -> Sequence[str]:
        """This device's commands."""
        return (self._topic,)

    def connected(self) -> None:
        """Nothing to do: commands are not asked for, they come."""

    def disconnected(self) -> None:
        """Nothing to do: a command received is handled whatever the link does."""

    def received(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        """Queue a message for the worker (never blocks the loop)."""
        self.counters.received += 1
        try:
            self._queue.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self._refused(topic, CommandRefused(Refusal.FLOODED))
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="commands")

    async def idle(self) -> None:
        """Wait until every command received so far is handled (tests, shutdown)."""
        await self._queue.join()

    # --- the worker -------------------------------------------------------------------

    async def _work(self) -> None:
        while not self._queue.empty():
            topic, payload = self._queue.get_nowait()
            try:
                await self._handle(topic, payload)
            except Exception:  # a bug must not stop the commands that follow: logged
                log.exception("command: unexpected failure")
            finally:
                self._queue.task_done()

    async def _handle(self, topic: str, payload: bytes) -> None:
        try:
            command = await asyncio.to_thread(self._verifier.verify, topic, payload)
        except CommandRefused as refusal:
            self._refused(topic, refusal)
            await self._report(
                EventDraft(REFUSED, {"name": topic_name(topic), "reason": refusal.reason.value})
            )
            return
        except NonceLedgerError as error:  # not a verdict on the command: nothing runs
            log.error("command not run: %s", error)
            self.counters.failed += 1
            return
        handler = self._handlers.get(command.name)
        if handler is None:
            unknown = CommandRefused(Refusal.UNKNOWN_COMMAND, command.name)
            self._refused(topic, unknown)
            await self._report(
                EventDraft(REFUSED, {"name": command.name, "reason": unknown.reason.value})
            )
            return
        log.info("command %s (nonce %s): running", command.name, command.nonce)
        data: dict[str, Any] = {"name": command.name, "nonce": command.nonce}
        try:
            result = await handler(command)
        except BorneError as error:
            self.counters.failed += 1
            log.warning("command %s failed: %s", command.name, error)
            data |= {"outcome": "failed", "problem": str(error)}
        else:
            self.counters.executed += 1
            data |= {"outcome": "done", "result": dict(result)}
        await self._report(EventDraft(EXECUTED, data))

    def _refused(self, topic: str, refusal: CommandRefused) -> None:
        self.counters.refused[refusal.reason.value] += 1
        # The topic's last level only: the rest is this device's id, known to the reader.
        log.warning("command %r refused: %s", topic_name(topic) or "?", refusal)

    async def _report(self, draft: EventDraft) -> None:
        if self._record is not None:
            try:
                await self._record(draft)
            except BorneError as error:  # the outbox says what it could not store
                log.warning("command event not stored: %s", error)
