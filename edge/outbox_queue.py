"""The asyncio face of the outbox: callers on the loop, SQLite on the outbox's own thread.

Appends that arrive while a commit is under way share the next commit (group commit).
A commit that fails for a reason that passes (another process holds the write lock,
the disk is full for now) is not dropped: its drafts wait in a bounded buffer and the
commit is tried again with a capped backoff, ahead of anything appended since, so the
sequence order stays the order things happened. What the buffer cannot hold, or what
is still in it when the outbox closes, is counted (`not_stored`) and logged once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from devices.backoff import Backoff
from edge.errors import OutboxBusyError, OutboxDiskFullError, OutboxError
from edge.events import EventDraft
from edge.log_once import RepeatedCondition
from edge.outbox import LinkRecord, OutboxStatus, OutboxStore, StoredEvent
from edge.outbox_sqlite import is_passing

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Whether a failed outbox call may succeed later: a lock held elsewhere, a full disk.

    The typed errors say so; an OutboxError that only wraps sqlite3's says it by the
    result code of its cause (a path of the store that does not type its errors).
    """
    if isinstance(error, OutboxBusyError | OutboxDiskFullError):
        return True
    if type(error) is not OutboxError:  # OutboxFullError, OutboxDamagedError: not passing
        return False
    return error.__cause__ is not None and is_passing(error.__cause__)


def draft_bytes(draft: EventDraft) -> int:
    """About what a draft takes in memory and on disk once enveloped (its data, as JSON)."""
    return len(draft.type) + len(json.dumps(draft.data, default=str, separators=(",", ":")))


@dataclasses.dataclass(slots=True)
class _Waiting:
    """One caller's drafts, waiting for a commit."""

    drafts: Sequence[EventDraft]
    future: asyncio.Future[list[StoredEvent]]
    size: int  # draft_bytes of all of them


class Outbox:
    """The asyncio face of the outbox: every call runs on the outbox's own thread."""

    # While commits fail for a passing reason, what waits for the next try is held in
    # memory: a busy store makes a few events a second, so a thousand is minutes of
    # a locked or full disk, and 4 MiB keeps a kiosk's memory out of danger.
    BUFFER_EVENTS = 1000
    BUFFER_BYTES = 4 * 1024 * 1024
    RETRY_MIN = 0.1  # seconds before a failed commit or delete is first tried again
    RETRY_MAX = 5.0  # ... and at most, however long the trouble lasts

    def __init__(
        self,
        open_store: Callable[[], OutboxStore],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._store = self._executor.submit(open_store).result()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._shed_listeners: list[Callable[[list[int]], None]] = []
        self._waiting: list[_Waiting] = []
        self._committing: list[_Waiting] = []  # the batch being written right now
        self._committer: asyncio.Task[None] | None = None
        self._trouble: OutboxError | None = None  # the passing failure commits retry after
        self.not_stored = 0  # events refused since start: full of protected events, or failing
        self.given_up = 0  # ... of which lost to a passing failure (buffer full, closed)
        self._refusing = RepeatedCondition(log, "events could not be stored", "events")
        self._retrying = RepeatedCondition(
            log, "outbox commit failed, kept in memory and tried again", "attempts"
        )

    @property
    def buffered(self) -> int:
        """Events waiting in memory for a commit (while the disk or its lock is not there)."""
        return sum(len(w.drafts) for w in self._committing + self._waiting)

    @property
    def in_trouble(self) -> bool:
        """Whether commits are failing for a passing reason and are being retried."""
        return self._trouble is not None

    def on_append(self, listener: Callable[[list[StoredEvent]], None]) -> None:
        """Call `listener` on the loop with the events of each commit, in sequence order.

        Shed reports are among them; events shed in the same commit are not.
        """
        self._listeners.append(listener)

    def on_shed(self, listener: Callable[[list[int]], None]) -> None:
        """Call `listener` on the loop with the sequences each commit shed (before on_append)."""
        self._shed_listeners.append(listener)

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    async def append(self, *drafts: EventDraft) -> list[StoredEvent]:
        """Commit the drafts durably; only then are they accepted.

        Appends that arrive while a commit is under way share the next commit, so a
        burst costs one disk flush rather than one per event. While commits fail for a
        passing reason, this waits for the retry that succeeds; it raises at once only
        when the buffer of drafts waiting for that retry is full.
        """
        future: asyncio.Future[list[StoredEvent]] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(drafts, future, sum(draft_bytes(d) for d in drafts))
        trouble = self._trouble
        if trouble is not None and not self._room_for(waiting):
            self._give_up([waiting], trouble, "the buffer of events waiting for it is full")
        else:
            self._waiting.append(waiting)
            if self._committer is None or self._committer.done():
                self._committer = asyncio.create_task(self._commit_waiting(), name="outbox-commit")
        return await future

    def _room_for(self, waiting: _Waiting) -> bool:
        return self._fits([*self._committing, *self._waiting, waiting])

    async def _commit_waiting(self) -> None:
        backoff = Backoff(base=self.RETRY_MIN, cap=self.RETRY_MAX, rng=self._rng)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self._committing = batch
            try:
                commit = await self._run(self._store.append_groups, [w.drafts for w in batch])
            except BaseException as error:
                self._committing = []
                if isinstance(error, OutboxError) and is_transient(error):
                    self._waiting[:0] = batch  # first in the next try: the order holds
                    await self._wait_to_retry(error, backoff)
                    continue
                self._fail(batch, error)  # the database failed for good: every caller hears it
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            self._committing = []
            retry = [
                w
                for w, result in zip(batch, commit.results, strict=True)
                if isinstance(result, OutboxError) and is_transient(result)
            ]
            self._settle(batch, commit.results)
            if commit.shed:
                for shed_listener in self._shed_listeners:
                    shed_listener(commit.shed)
            for listener in self._listeners:
                listener(commit.committed)
            if retry:  # a group the store refused for a passing reason (its disk margin)
                self._waiting[:0] = retry
                trouble = next(
                    r for r in commit.results if isinstance(r, OutboxError) and is_transient(r)
                )
                await self._wait_to_retry(trouble, backoff)
                continue
            if self._trouble is not None:
                self._trouble = None
                self._retrying.cleared()
            backoff.reset()

    async def _wait_to_retry(self, error: OutboxError, backoff: Backoff) -> None:
        """Say once that commits fail and are retried; wait; give up what does not fit."""
        self._trouble = error
        self._retrying.occurred(detail=str(error))
        overflow: list[_Waiting] = []
        while self._waiting and not self._fits(self._waiting):
            overflow.insert(0, self._waiting.pop())  # the newest go: the oldest keep order
        if overflow:
            self._give_up(overflow, error, "the buffer of events waiting for it is full")
        try:
            await self._sleep(backoff.next_delay())
        except asyncio.CancelledError:
            self._fail(self._waiting, error)
            self._waiting = []
            raise

    def _fits(self, waiting: list[_Waiting]) -> bool:
        events = sum(len(w.drafts) for w in waiting)
        return events <= self.BUFFER_EVENTS and sum(w.size for w in waiting) <= self.BUFFER_BYTES

    def _settle(
        self, batch: list[_Waiting], results: Sequence[list[StoredEvent] | OutboxError]
    ) -> None:
        """Give each caller its stored events or its final error (passing ones wait)."""
        for waiting, result in zip(batch, results, strict=True):
            if isinstance(result, OutboxError):
                if is_transient(result):
                    continue
                self._not_stored(len(waiting.drafts), result)
            else:
                self._refusing.cleared()
            if waiting.future.done():
                continue
            if isinstance(result, OutboxError):
                waiting.future.set_exception(result)
            else:
                waiting.future.set_result(result)

    def _fail(self, batch: Iterable[_Waiting], error: BaseException) -> None:
        """Every caller in `batch` hears `error`; their events are counted as not stored."""
        count = 0
        for waiting in batch:
            count += len(waiting.drafts)
            if not waiting.future.done():
                waiting.future.set_exception(error)
        if count and not isinstance(error, asyncio.CancelledError):
            self._not_stored(count, error)

    def _give_up(self, batch: list[_Waiting], trouble: OutboxError, why: str) -> None:
        """Drafts that cannot wait for the retry: refused with the trouble's own type."""
        error = type(trouble)(f"{trouble}; not kept in memory: {why}")
        self.given_up += sum(len(w.drafts) for w in batch)
        self._fail(batch, error)

    def _not_stored(self, count: int, error: BaseException) -> None:
        """Count events that could not be stored, and say so once while it lasts."""
        self.not_stored += count
        self._refusing.occurred(count, str(error))

    async def next_boot(self) -> int:
        """See OutboxStore.next_boot. On a full disk (or a lock held elsewhere) the count
        is not recorded, and the kiosk starts all the same: sending needs no disk."""
        try:
            return await self._run(self._store.next_boot)
        except OutboxError as error:
            if not is_transient(error):
                raise
            boot = (await self.status()).boot_count + 1
            log.warning(
                "boot %d not recorded in the outbox, starting all the same: %s", boot, error
            )
            return boot

    async def pending(self, after_sequence: int, limit: int) -> list[StoredEvent]:
        """See OutboxStore.pending."""
        return await self._run(self._store.pending, after_sequence, limit)

    async def get(self, sequences: Iterable[int]) -> list[StoredEvent]:
        """See OutboxStore.get."""
        return await self._run(self._store.get, list(sequences))

    async def delete_delivered(self, sequences: Sequence[int]) -> None:
        """See OutboxStore.delete_delivered."""
        await self._run(self._store.delete_delivered, sequences)

    async def kept(self, sequences: Iterable[int]) -> tuple[list[StoredEvent], list[int]]:
        """See OutboxStore.kept."""
        return await self._run(self._store.kept, list(sequences))

    async def forget_kept(self) -> None:
        """See OutboxStore.forget_kept."""
        await self._run(self._store.forget_kept)

    async def status(self) -> OutboxStatus:
        """See OutboxStore.status; events lost to a passing failure count as refused.

        Those were never written (the disk was the trouble), so only this process
        knows of them.
        """
        status = await self._run(self._store.status)
        return dataclasses.replace(status, refused_total=status.refused_total + self.given_up)

    async def record_link(self, link: LinkRecord) -> None:
        """See OutboxStore.record_link."""
        await self._run(self._store.record_link, link)

    def close(self) -> None:
        """Close the database and stop the outbox thread.

        Drafts still waiting for a retry are given up: counted, and their callers told.
        """
        if self._committer is not None and not self._committer.done():
            self._committer.cancel()
        if self._waiting:
            trouble = self._trouble or OutboxError("outbox commit")
            waiting, self._waiting = self._waiting, []
            self._give_up(waiting, trouble, "the outbox closed before a retry succeeded")
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
