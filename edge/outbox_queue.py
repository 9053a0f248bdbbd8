"""The asyncio face of the outbox: callers on the loop, SQLite on the outbox's own thread.

Appends that arrive while a commit is under way share the next commit (group commit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from edge.errors import OutboxError
from edge.events import EventDraft
from edge.log_once import RepeatedCondition
from edge.outbox import LinkRecord, OutboxStatus, OutboxStore, StoredEvent

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outbox:
    """The asyncio face of the outbox: every call runs on the outbox's own thread."""

    def __init__(self, open_store: Callable[[], OutboxStore]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._store = self._executor.submit(open_store).result()
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._shed_listeners: list[Callable[[list[int]], None]] = []
        self._waiting: list[tuple[Sequence[EventDraft], asyncio.Future[list[StoredEvent]]]] = []
        self._committer: asyncio.Task[None] | None = None
        self.not_stored = 0  # events refused since start: full of protected events, or failing
        self._refusing = RepeatedCondition(log, "events could not be stored", "events")

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
        burst costs one disk flush rather than one per event.
        """
        future: asyncio.Future[list[StoredEvent]] = asyncio.get_running_loop().create_future()
        self._waiting.append((drafts, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting(), name="outbox-commit")
        return await future

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                commit = await self._run(self._store.append_groups, [d for d, _ in batch])
            except BaseException as error:  # the database failed: every caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                self._not_stored(sum(len(drafts) for drafts, _ in batch), error)
                continue
            for (drafts, future), result in zip(batch, commit.results, strict=True):
                if isinstance(result, OutboxError):
                    self._not_stored(len(drafts), result)
                else:
                    self._refusing.cleared()
                if future.done():
                    continue
                if isinstance(result, OutboxError):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            if commit.shed:
                for shed_listener in self._shed_listeners:
                    shed_listener(commit.shed)
            for listener in self._listeners:
                listener(commit.committed)

    def _not_stored(self, count: int, error: BaseException) -> None:
        """Count events that could not be stored, and say so once while it lasts."""
        self.not_stored += count
        self._refusing.occurred(count, str(error))

    async def next_boot(self) -> int:
        """See OutboxStore.next_boot."""
        return await self._run(self._store.next_boot)

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
        """See OutboxStore.status."""
        return await self._run(self._store.status)

    async def record_link(self, link: LinkRecord) -> None:
        """See OutboxStore.record_link."""
        await self._run(self._store.record_link, link)

    def close(self) -> None:
        """Close the database and stop the outbox thread."""
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
