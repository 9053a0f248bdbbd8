"""The runtime: readings and intents in, session views and committed events out.

One asyncio loop owns it. Device threads hand readings over with `submit()`, which
is thread-safe; what people ask for comes as intents through `ask()`; the UI
subscribes to views. Every event is committed to the outbox before the new view is
shown to anyone. With the platform's streams, the runtime also runs their downlink and
the catalog's rebuilds, and shows the product in view again when its stock changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from devices.readings import BeaconSighting, CardRemoved, CardTap, Reading
from devices.status import DeviceState, DeviceStatus
from edge.catalog import Catalog, Category, Product
from edge.catalog_sync import CatalogFollower
from edge.errors import OutboxError
from edge.events import EventDraft
from edge.intents import Intent
from edge.lockdown import Attempt, ExitLock
from edge.outbox import StoredEvent
from edge.outbox_queue import Outbox
from edge.presence import PresenceEngine
from edge.session import SessionView, ShopperSession
from edge.staff.requests import StaffRequest
from edge.staff.view import AssistCall
from edge.sync.cache import StreamCache
from edge.uplink import Uplink

log = logging.getLogger(__name__)

ViewListener = Callable[[SessionView], None]
T = TypeVar("T")
_TROUBLE = (DeviceState.MISSING, DeviceState.FAILING)
TROUBLE_CHECK = 0.25  # seconds between looks at whether a slow commit is a failing one


async def _finished(commit: asyncio.Future[list[StoredEvent]]) -> None:
    """Wait for a commit the screen did not wait for (the outbox counts what it loses)."""
    await commit


class Device(Protocol):
    """A device driver as the runtime sees it: started and stopped, nothing more."""

    def start(self) -> None:
        """Begin delivering readings."""

    def stop(self) -> None:
        """Stop and release the hardware."""


class StreamFeed(Protocol):
    """The platform's streams coming down (`edge.sync.downlink.Downlink`)."""

    async def run(self) -> None:
        """Apply what comes until closed."""

    async def close(self) -> None:
        """Finish what was received and stop."""


class StaffAsker(Protocol):
    """Asks the hub a staff question (`edge.staff.requests.HubRequests`)."""

    async def ask(self, request: StaffRequest) -> bytes | None:
        """The answer, or None if the hub did not answer in time."""


@dataclass(frozen=True, slots=True)
class PlatformStreams:
    """What the kiosk shows when it is fed by the platform: the streams' copy, their
    downlink, and the catalog rebuilt from them."""

    cache: StreamCache
    downlink: StreamFeed
    follower: CatalogFollower
    stale_after: float  # seconds after which unconfirmed stock is shown with its time


class Runtime:
    """Composes session, outbox, uplink, devices and the platform's streams on one
    event loop."""

    def __init__(
        self,
        *,
        session: ShopperSession,
        catalog: Catalog,
        outbox: Outbox,
        uplink: Uplink | None,
        idle_timeout: float,
        idle_countdown: float = 20.0,
        presence: PresenceEngine | None = None,
        exit_lock: ExitLock | None = None,
        streams: PlatformStreams | None = None,
        staff_requests: StaffAsker | None = None,
        staff_lock_after: float = 90.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.catalog = catalog
        self.outbox = outbox
        self.uplink = uplink
        self.streams = streams  # None: the catalog is loaded from a source file
        self.idle_timeout = idle_timeout
        self.idle_countdown = idle_countdown
        self.presence = presence
        self.exit_lock = exit_lock  # None: a staff PIN cannot close the kiosk
        self.staff_requests = staff_requests  # None: every staff question goes unanswered
        self.staff_lock_after = staff_lock_after  # quiet seconds before staff mode locks
        self._on_close = on_close  # what else the runtime owns (the badge lockouts)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._warning_ends = 0.0  # time.monotonic() when the idle warning shown now runs out
        self._stale_timer: asyncio.TimerHandle | None = None  # the stock in view ages
        self._shelves: list[tuple[Category, str]] | None = None
        self._devices: list[Device] = []
        self.device_status: dict[str, DeviceStatus] = {}
        self._listeners: list[ViewListener] = []
        self._readings: asyncio.Queue[Reading] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._view_changed = asyncio.Condition()
        self.changes = 0  # views shown so far: lets a caller wait for the next one
        self._session_thread = ThreadPoolExecutor(1, thread_name_prefix="session")
        self._closed = False
        self._shown = session.view  # the view listeners were last given
        # Takes a reading away from the session when it answers True: the installer's
        # panel reads its enrolment code with the shoppers' camera.
        self.divert: Callable[[Reading], bool] | None = None
        self.diverted = 0  # readings taken away so far

    # --- wiring --------------------------------------------------------------------------

    def attach(self, device: Device) -> None:
        """Own a device: started with the runtime, stopped with it."""
        self._devices.append(device)

    @property
    def devices(self) -> tuple[Device, ...]:
        """The devices the runtime owns (the self-test looks there for the camera's frames)."""
        return tuple(self._devices)

    def subscribe(self, listener: ViewListener) -> None:
        """Call `listener` on the loop with each new view."""
        self._listeners.append(listener)

    def submit(self, reading: Reading) -> None:
        """Hand a reading over from any thread."""
        if self._loop is None or self._loop.is_closed():
            log.warning("reading dropped: runtime not running")
            return
        self._loop.call_soon_threadsafe(self._readings.put_nowait, reading)

    def report_status(self, status: DeviceStatus) -> None:
        """Record a device's status (from any thread: a dict store is atomic)."""
        previous = self.device_status.get(status.kind)
        self.device_status[status.kind] = status
        if previous is None or previous.state != status.state:
            level = logging.WARNING if status.state in _TROUBLE else logging.INFO
            log.log(
                level, "%s (%s): %s %s", status.kind, status.backend, status.state, status.detail
            )

    # --- running -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start devices, the reading consumer, the idle watch and the uplink."""
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._consume(), name="readings"))
        if self.uplink is not None:
            self._tasks.append(asyncio.create_task(self.uplink.run(), name="uplink"))
        if self.streams is not None:
            follow = self.streams.follower.run(
                on_rebuilt=self._catalog_rebuilt, on_stock=self.refresh_product
            )
            self._tasks.append(asyncio.create_task(follow, name="catalog-rebuilds"))
            self._tasks.append(asyncio.create_task(self.streams.downlink.run(), name="downlink"))
        if self.presence is not None:
            self._tasks.append(asyncio.create_task(self._expire_presence(), name="presence"))
        for device in self._devices:
            device.start()

    async def close(self) -> None:
        """Stop devices and tasks; what is in the outbox stays there."""
        if self.session.staff_active and not self._closed:  # the logout is an event too
            drafts, view, _ = await self._in_session(self.session.lock_staff, "shutdown")
            await self._commit_and_show(drafts, view)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._stale_timer is not None:
            self._stale_timer.cancel()
        for device in self._devices:
            await asyncio.to_thread(device.stop)
        if self.streams is not None:
            await self.streams.downlink.close()  # what it received is applied first
        if self.uplink is not None:
            await self.uplink.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closed = True
        await asyncio.to_thread(self._session_thread.shutdown)  # the handler running ends
        self.outbox.close()
        self.catalog.close()
        if self._on_close is not None:
            self._on_close()
        if self.streams is not None:
            self.streams.cache.close()

    async def _consume(self) -> None:
        while True:
            reading = await self._readings.get()
            if self.divert is not None and self.divert(reading):
                # The installer's, not a shopper's (an enrolment code, a self-test's tap):
                # no view follows, so whoever waits for one is told it went elsewhere.
                self.diverted += 1
                async with self._view_changed:
                    self._view_changed.notify_all()
                continue
            try:
                await self.handle(reading)
            except Exception:
                log.exception("reading could not be handled")

    def _arm_idle_timer(self) -> None:
        """(Re)arm the next idle step: the warning after quiet time, the wipe after it."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._loop is None:
            return
        desk = self.session.staff
        if desk is not None and desk.active:  # staff mode locks, with no warning
            delay = max(0.0, desk.quiet_limit(self.staff_lock_after) - desk.idle_for())
            self._idle_timer = self._loop.call_later(delay, self._spawn_idle_step)
            return
        if not self.session.active:
            return
        until = self.session.view.idle_warning_until
        if until is None:
            delay = max(0.0, self.idle_timeout - self.session.idle_for())
        else:  # the countdown runs on the monotonic clock: a clock set meanwhile moves it not
            delay = max(0.0, self._warning_ends - time.monotonic())
        self._idle_timer = self._loop.call_later(delay, self._spawn_idle_step)

    def _spawn_idle_step(self) -> None:
        self._idle_timer = None
        self._spawn(self._idle_step(forced=False), "idle-step")

    async def skip_idle_time(self) -> None:
        """Take the next idle step now: show the warning, or, if it shows, wipe the session."""
        await self._idle_step(forced=True)

    async def _idle_step(self, *, forced: bool) -> None:
        # Decided on the session's thread, after whatever the shopper did last: a touch
        # that is still being handled when the timer fires wins over the timer.
        drafts, view, requests = await self._in_session(self._next_idle_step, forced)
        if drafts or view is not self._shown:
            await self._commit_and_show(drafts, view, requests)
        else:  # not quiet long enough after all: wait for the next step
            self._arm_idle_timer()

    def _next_idle_step(self, forced: bool) -> list[EventDraft]:
        """The warning once quiet long enough, the wipe once it has counted down; in
        staff mode, the lock."""
        session = self.session
        desk = session.staff
        if desk is not None and desk.active:
            if forced or desk.idle_for() >= desk.quiet_limit(self.staff_lock_after):
                return session.lock_staff("idle")
            return []
        if not session.active:
            return []
        until = session.view.idle_warning_until
        if until is None:
            if forced or session.idle_for() >= self.idle_timeout:
                # The screen shows the wall time it ends; the runtime counts down on the
                # monotonic clock, so setting the clock neither ends it at once nor keeps
                # the warning up for a day.
                self._warning_ends = time.monotonic() + self.idle_countdown
                return session.warn_idle(time.time() + self.idle_countdown)
            return []
        return session.end("idle") if forced or time.monotonic() >= self._warning_ends else []

    # --- what happens --------------------------------------------------------------------

    async def ask(self, intent: Intent) -> list[StoredEvent]:
        """Do what a person asked for; commit its events; then show the new view."""
        return await self._commit_and_show(*await self._in_session(self.session.handle, intent))

    async def _in_session(
        self, handler: Callable[[T], list[EventDraft]], what: T
    ) -> tuple[list[EventDraft], SessionView, list[StaffRequest]]:
        """Run a session handler on the session's own thread: its events and its view.

        Handlers read the catalog (look-ups, similar products, searches): at a big
        retailer's size that is milliseconds the loop that draws the screen must not
        wait for. One thread keeps handlers in the order they were asked. The view is
        taken there too, right after its events were drafted: the next handler may
        change the session before these events are committed, and a view is never
        shown before its own events are.
        """

        def run() -> tuple[list[EventDraft], SessionView, list[StaffRequest]]:
            return handler(what), self.session.view, self.session.take_staff_requests()

        if self._closed:
            return [], self.session.view, []  # a touch during shutdown: nothing to do
        return await asyncio.get_running_loop().run_in_executor(self._session_thread, run)

    async def handle(self, reading: Reading) -> list[StoredEvent]:
        """Apply a reading to the session; commit its events; then show the new view."""
        if isinstance(reading, CardRemoved):
            log.debug("card removed from %s", reading.source)
            return []  # lifting a card or a badge ends nothing: a badge tapped again does
        if isinstance(reading, BeaconSighting):
            if self.presence is None:
                return []
            # Dwell and exit are timed on the monotonic clock, as _expire_presence is.
            return await self._store(self.presence.observe(reading, now=time.monotonic()))
        if isinstance(reading, CardTap):
            return await self._commit_and_show(
                *await self._in_session(self.session.on_card, reading)
            )
        return await self._commit_and_show(*await self._in_session(self.session.on_scan, reading))

    async def _expire_presence(self) -> None:
        # Leaving is the absence of sightings: only a clock can tell it.
        assert self.presence is not None
        while True:
            await asyncio.sleep(1.0)
            await self._store(self.presence.expire(time.monotonic()))

    async def refresh_product(self) -> None:
        """Show the product in view again if the catalog now says otherwise (its stock
        changed); nothing is shown again when nothing changed."""
        _, view, _ = await self._in_session(lambda _: self.session.refresh_product(), None)
        if view != self._shown:
            await self._commit_and_show([], view)

    def _arm_stale_timer(self, view: SessionView) -> None:
        """Show the product in view again when its stock turns stale: nothing else
        happens when the link is down, yet the screen must then say how old it is."""
        if self._stale_timer is not None:
            self._stale_timer.cancel()
            self._stale_timer = None
        stock = view.product.stock if view.product is not None else None
        if self.streams is None or self._loop is None or stock is None:
            return
        if stock.stale or stock.as_of is None:
            return
        stale_at = stock.as_of.timestamp() + self.streams.stale_after
        # Just past the limit: stale means older than it, not as old.
        delay = max(0.0, stale_at - time.time()) + 0.05
        self._stale_timer = self._loop.call_later(delay, self._spawn_refresh)

    def _spawn_refresh(self) -> None:
        self._stale_timer = None
        self._spawn(self.refresh_product(), "stock-aged")

    async def _catalog_rebuilt(self) -> None:
        self._shelves = None  # their pictures are the new catalog's best products
        _, view, _ = await self._in_session(lambda _: self.session.catalog_reloaded(), None)
        await self._commit_and_show([], view)

    def highlights(self) -> tuple[Product, ...]:
        """What the attract loop shows: the store's promotions running today."""
        return self.catalog.promotions()

    def shelves(self) -> list[tuple[Category, str]]:
        """The store's shelves, each with a picture of its best product ("" if none)."""
        if self._shelves is None:  # until the catalog is loaded again
            self._shelves = []
            for category in self.catalog.categories():
                products = self.catalog.in_category(category.id, limit=1)
                self._shelves.append((category, products[0].picture if products else ""))
        return self._shelves

    async def try_exit(self, pin: str) -> Attempt | None:
        """A staff member asked to leave the kiosk: what the lock said (None: no lock)."""
        if self.exit_lock is None:
            return None
        # PBKDF2 is slow on purpose: keep it off the loop.
        attempt = await asyncio.to_thread(self.exit_lock.attempt, pin)
        data = {
            "granted": attempt.granted,
            "locked_out": attempt.locked_out,
            "installer": attempt.installer,
        }
        await self._store([EventDraft("io.borne.kiosk.exit_attempted", data)])
        return attempt

    async def _store(self, drafts: list[EventDraft]) -> list[StoredEvent]:
        """Commit events; a full or failing outbox is no reason to stop what the kiosk does.

        The outbox counts and logs what it could not store (`borne outbox status`).
        """
        try:
            return await self.outbox.append(*drafts) if drafts else []
        except OutboxError:
            return []

    async def _stored_or_retried(self, drafts: list[EventDraft]) -> list[StoredEvent]:
        """The committed events; or, while the outbox retries a passing failure (its lock
        held by another process, a full disk), nothing yet: the events wait in order in
        its bounded memory buffer and the screen goes on instead of waiting for the disk.
        Only then is a view shown before its events are stored."""
        commit = asyncio.ensure_future(self._store(drafts))
        while not commit.done():
            await asyncio.wait({commit}, timeout=TROUBLE_CHECK)
            if not commit.done() and self.outbox.in_trouble:
                self._spawn(_finished(commit), "late-commit")
                return []
        return commit.result()

    async def _commit_and_show(
        self,
        drafts: list[EventDraft],
        view: SessionView,
        requests: list[StaffRequest] | None = None,
    ) -> list[StoredEvent]:
        # The shopper sees the change even if its events could not be stored.
        stored = await self._stored_or_retried(drafts)
        self._shown = view
        self.changes += 1
        self._arm_idle_timer()
        self._arm_stale_timer(view)
        for listener in self._listeners:
            listener(view)
        async with self._view_changed:
            self._view_changed.notify_all()
        # Asked only now: its answer (at once when the hub cannot be asked) is never
        # shown before the view that waits for it.
        for request in requests or ():
            self._spawn(self._ask_hub(request), "staff-request")
        return stored

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _ask_hub(self, request: StaffRequest) -> None:
        """Ask the hub a staff question and show its answer, or that it stayed silent."""
        answer = None
        if self.staff_requests is not None:
            answer = await self.staff_requests.ask(request)
        await self._commit_and_show(
            *await self._in_session(self.session.staff_answered, (request, answer))
        )

    def follow_calls(self, calls: tuple[AssistCall, ...]) -> None:
        """Show the store's advisor calls (called on the loop by `AssistQueue`)."""
        if self._loop is not None and not self._closed:
            self._spawn(self.calls_changed(calls), "assist-calls")

    async def calls_changed(self, calls: tuple[AssistCall, ...]) -> None:
        """The store's advisor calls changed (from the hub): show them where they count."""
        _, view, _ = await self._in_session(self.session.calls_changed, calls)
        if view != self._shown:
            await self._commit_and_show([], view)

    async def wait_for_change(self, since: int) -> SessionView:
        """Wait until a view newer than change number `since` has been shown."""
        return await self.wait_for_view(lambda _: self.changes > since)

    async def wait_for_change_or_divert(self, since: int, diverted: int) -> bool:
        """Wait for a view newer than `since` (True) or a reading diverted after the
        first `diverted` (False), whichever comes first (callers bound the wait)."""
        await self.wait_for_view(lambda _: self.changes > since or self.diverted > diverted)
        return self.changes > since

    async def wait_for_view(self, predicate: Callable[[SessionView], bool]) -> SessionView:
        """Wait until the session's view satisfies `predicate` (callers bound the wait)."""
        async with self._view_changed:
            await self._view_changed.wait_for(lambda: predicate(self.session.view))
        return self.session.view
