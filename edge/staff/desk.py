"""The staff desk: a staff member's time at the kiosk, from badge tap to lock.

Pure logic like the shopper session, and run on the session's thread: readings and
intents in, a new `StaffView` plus event drafts out. Checking a PIN (PBKDF2, slow on
purpose) and the lockouts' SQLite happen there too, off the event loop. Questions for
the hub are left in `outgoing` for the runtime to ask; their answers come back
through `answered`, and only the one the screen still waits for is shown.

Events carry pseudonyms only: the badge's, the customer's, never a name.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from devices.readings import CardTap
from edge.catalog import Catalog, Product
from edge.events import EventDraft, rfc3339
from edge.lockdown import PinHash, read_pin_hash
from edge.staff.answers import (
    CustomerData,
    StaffAnswerError,
    parse_customer_answer,
    parse_handover_answer,
    parse_order_answer,
)
from edge.staff.directory import StaffDirectory, StaffEntry
from edge.staff.lockouts import BadgeLockouts
from edge.staff.order_codes import order_number, typed_order_number
from edge.staff.requests import StaffRequest
from edge.staff.view import (
    AssistCall,
    CustomerFile,
    Order,
    PickupOrder,
    StaffMember,
    StaffNotice,
    StaffPage,
    StaffView,
)
from edge.staff.wire import STAFF_PREFIX

log = logging.getLogger(__name__)

SUGGESTIONS = 4
NOTICE_SECONDS = 5.0  # "Badge inconnu" is read, then the attract loop comes back
LOGOUT_REASONS = ("button", "badge", "idle", "shutdown")
_OUTCOMES = {"ok": "shown", "declined": "declined", "unknown": "unknown", "refused": "refused"}


class StaffDesk:
    """One staff member at a time, from their badge until the kiosk locks again."""

    def __init__(
        self,
        directory: StaffDirectory,
        lockouts: BadgeLockouts,
        pseudonymize: Callable[[str], str],
        catalog: Catalog,
        *,
        store_id: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._lockouts = lockouts
        self._pseudonymize = pseudonymize
        self._catalog = catalog
        # Staff mode locks after quiet time measured on this clock, which the wall
        # clock's jumps do not move.
        self._monotonic = monotonic
        self._store_id = store_id
        self.view: StaffView | None = None  # None: not in staff mode
        self._badge: str | None = None  # the pseudonym of the badge in use
        self._entry: StaffEntry | None = None
        self._pin_hash: PinHash | None = None  # the entry's, read once per badge tap
        self._calls: tuple[AssistCall, ...] = ()  # the store's, as the hub last sent them
        self._tokens = itertools.count(1)
        self._awaited: StaffRequest | None = None  # the question the screen waits on
        self.outgoing: list[StaffRequest] = []  # for the runtime to ask the hub
        self.last_activity = 0.0

    # --- state -----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the screen is the staff's (a PIN asked, or logged in)."""
        return self.view is not None

    @property
    def logged_in(self) -> bool:
        return self.view is not None and self.view.logged_in

    def quiet_limit(self, lock_after: float) -> float:
        """Seconds without a touch before staff mode locks: `lock_after`, or a moment
        when all the screen says is that a badge is unknown."""
        if self.view is not None and self.view.notice is StaffNotice.UNKNOWN_BADGE:
            return min(lock_after, NOTICE_SECONDS)
        return lock_after

    def idle_for(self) -> float:
        """Seconds since the staff member last did anything."""
        return self._monotonic() - self.last_activity

    def _touch(self) -> None:
        self.last_activity = self._monotonic()

    def _draft(self, name: str, data: Mapping[str, object]) -> EventDraft:
        return EventDraft(f"io.borne.{name}", data)

    def take_outgoing(self) -> list[StaffRequest]:
        """The questions for the hub made since last asked (the runtime sends them)."""
        outgoing, self.outgoing = self.outgoing, []
        return outgoing

    def _ask(self, kind: str, **body: str) -> None:
        request = StaffRequest(
            kind, {"store": self._store_id, "staff": self._badge, **body}, next(self._tokens)
        )
        self._awaited = request
        self.outgoing.append(request)

    # --- badges and PINs -------------------------------------------------------------

    def is_staff_tap(self, tap: CardTap) -> bool:
        """Whether a card is a staff badge: a Borne staff record, or a badge the
        directory lists (a retailer's own UID-only badges)."""
        if tap.card_number.startswith(STAFF_PREFIX):
            return True
        return self._directory.lookup(self._pseudonymize(tap.card_number)) is not None

    def badge_tapped(self, tap: CardTap) -> list[EventDraft]:
        """A staff badge: the PIN page; or, in staff mode, the kiosk locks at once."""
        if self.active:
            return self.lock("badge")
        self._touch()
        badge = self._pseudonymize(tap.card_number)
        entry = self._directory.lookup(badge)
        pin_hash = read_pin_hash(entry.pin_hash) if entry is not None else None
        if entry is None or pin_hash is None:  # a hash no PIN can be checked against
            if entry is not None:
                log.warning("a staff badge's PIN hash cannot be used: badge refused")
            self.view = StaffView(page=StaffPage.PIN, notice=StaffNotice.UNKNOWN_BADGE)
            return []
        self._badge, self._entry, self._pin_hash = badge, entry, pin_hash
        member = StaffMember(entry.name, entry.role)
        locked_until = self._lockouts.locked_until(badge)
        notice = StaffNotice.NONE if locked_until is None else StaffNotice.LOCKED_OUT
        self.view = StaffView(
            page=StaffPage.PIN, member=member, notice=notice, locked_until=locked_until
        )
        return []

    def enter_pin(self, pin: str) -> list[EventDraft]:
        """The PIN typed for the badge that was read."""
        view, badge, entry, pin_hash = self.view, self._badge, self._entry, self._pin_hash
        if view is None or view.logged_in or badge is None or entry is None or pin_hash is None:
            return []
        self._touch()
        locked_until = self._lockouts.locked_until(badge)
        if locked_until is not None:  # refused without looking
            self.view = replace(view, notice=StaffNotice.LOCKED_OUT, locked_until=locked_until)
            return []
        if pin.isascii() and pin.isdigit() and pin_hash.matches(pin):
            self._lockouts.clear(badge)
            self.view = StaffView(
                page=StaffPage.HOME,
                member=view.member,
                logged_in=True,
                calls=self._calls,
                locked_badges=self._locked_badges(entry),
            )
            return [self._draft("staff.logged_in", {"staff": badge, "role": entry.role})]
        failure = self._lockouts.failed(badge)
        drafts = [self._draft("staff.pin_refused", {"staff": badge, "failures": failure.failures})]
        if failure.locked_until is not None:
            self.view = replace(
                view, notice=StaffNotice.LOCKED_OUT, locked_until=failure.locked_until
            )
            until = rfc3339(failure.locked_until)
            drafts.append(self._draft("staff.locked_out", {"staff": badge, "until": until}))
        else:
            left = self._lockouts.max_failures - failure.failures
            self.view = replace(view, notice=StaffNotice.WRONG_PIN, failures_left=left)
        return drafts

    def _locked_badges(self, entry: StaffEntry) -> tuple[tuple[str, str], ...]:
        if entry.role != "manager":
            return ()
        badges = []
        for badge, _ in self._lockouts.locked():
            listed = self._directory.lookup(badge)
            badges.append((badge, listed.name if listed is not None else ""))
        return tuple(badges)

    def unlock_badge(self, badge: str) -> list[EventDraft]:
        """A manager unlocks a badge locked after wrong PINs."""
        view, entry = self.view, self._entry
        if view is None or not view.logged_in or entry is None or entry.role != "manager":
            return []
        self._touch()
        if not self._lockouts.clear(badge):
            self.view = replace(view, locked_badges=self._locked_badges(entry))
            return []
        self.view = replace(view, locked_badges=self._locked_badges(entry))
        return [self._draft("staff.badge_unlocked", {"staff": self._badge, "badge": badge})]

    def lock(self, reason: str) -> list[EventDraft]:
        """Staff mode ends: everything it showed is dropped (`reason`: LOGOUT_REASONS)."""
        if reason not in LOGOUT_REASONS:
            raise ValueError(f"unknown reason to lock {reason!r}")
        drafts = []
        if self.view is not None and self.view.logged_in:
            drafts.append(self._draft("staff.logged_out", {"staff": self._badge, "reason": reason}))
        self.view = None
        self._badge = self._entry = self._pin_hash = None
        self._awaited = None  # an answer still on its way is shown to nobody
        self.outgoing.clear()
        return drafts

    # --- pages -----------------------------------------------------------------------

    def _home_view(self, view: StaffView, page: StaffPage) -> StaffView:
        """`page`, fresh: what another page showed (a customer's file) is dropped."""
        entry = self._entry
        asks_card = page is StaffPage.CUSTOMER
        return StaffView(
            page=page,
            member=view.member,
            logged_in=True,
            calls=self._calls,
            locked_badges=self._locked_badges(entry) if entry is not None else (),
            notice=StaffNotice.TAP_CUSTOMER_CARD if asks_card else StaffNotice.NONE,
        )

    def open_page(self, page: str) -> list[EventDraft]:
        """A staff screen: "home", "customer" or "order"."""
        wanted = StaffPage(page)
        if wanted is StaffPage.PIN:
            raise ValueError(f"the {page!r} page opens with a badge, not a button")
        view = self.view
        if view is None or not view.logged_in:
            return []
        self._touch()
        self._awaited = None
        self.view = self._home_view(view, wanted)
        return []

    def touched(self) -> list[EventDraft]:
        """Anything touched on a staff screen keeps it open."""
        if self.active:
            self._touch()
        return []

    # --- the customer's 360° view ----------------------------------------------------

    def card_tapped(self, card_number: str) -> list[EventDraft]:
        """A loyalty card on the customer page: the customer's consent to one view."""
        view = self.view
        if view is None or not view.logged_in or view.page is not StaffPage.CUSTOMER:
            return self.touched()
        self._touch()
        customer = self._pseudonymize(card_number)
        self._ask("customer", customer=customer)
        self.view = replace(view, customer=None, notice=StaffNotice.WAITING)
        return []

    def _customer_answered(self, request: StaffRequest, answer: bytes | None) -> list[EventDraft]:
        view = self.view
        assert view is not None
        status = "hub_silent"
        customer: CustomerFile | None = None
        if answer is not None:
            try:
                parsed = parse_customer_answer(answer)
            except StaffAnswerError as error:
                log.warning("the hub's customer answer cannot be read: %s", error)
            else:
                status = parsed.status
                if parsed.customer is not None:
                    customer = self._customer_file(parsed.customer)
        outcome = _OUTCOMES.get(status, "hub_silent")
        notices = {
            "shown": StaffNotice.NONE,
            "declined": StaffNotice.DECLINED,
            "unknown": StaffNotice.UNKNOWN_CUSTOMER,
            "refused": StaffNotice.REFUSED,
            "hub_silent": StaffNotice.HUB_SILENT,
        }
        self.view = replace(view, customer=customer, notice=notices[outcome])
        data = {"staff": self._badge, "customer": request.body["customer"], "outcome": outcome}
        return [self._draft("staff.customer_viewed", data)]

    def _customer_file(self, data: CustomerData) -> CustomerFile:
        wishlist = self._products(data.wishlist)
        bought = [line.gtin for order in data.orders for line in order.lines if line.gtin]
        return CustomerFile(
            first_name=data.first_name,
            last_name=data.last_name,
            tier=data.tier,
            points=data.points,
            email=data.email,
            phone=data.phone,
            preferences=data.preferences,
            sizes=data.sizes,
            orders=data.orders,
            wishlist=wishlist,
            suggestions=self._suggestions(self._products(bought) + wishlist),
        )

    def _products(self, gtins: list[str] | tuple[str, ...]) -> tuple[Product, ...]:
        found = (self._catalog.lookup(gtin) for gtin in dict.fromkeys(gtins))
        return tuple(product for product in found if product is not None)

    def _suggestions(self, known: tuple[Product, ...]) -> tuple[Product, ...]:
        """In-stock products beside what they bought or wish for, not those themselves."""
        seen = {product.gtin for product in known}
        picked: list[Product] = []
        for product in known:
            for near in self._catalog.similar(product):
                if near.gtin not in seen and near.stock.here > 0:
                    seen.add(near.gtin)
                    picked.append(near)
                    if len(picked) == SUGGESTIONS:
                        return tuple(picked)
        return tuple(picked)

    # --- click & collect -------------------------------------------------------------

    def type_order(self, text: str) -> list[EventDraft]:
        """Keys of the order page's keypad."""
        return self._edit_order(lambda typed: typed_order_number(typed + text))

    def erase_order(self) -> list[EventDraft]:
        """The keypad's backspace."""
        return self._edit_order(lambda typed: typed[:-1])

    def _edit_order(self, edit: Callable[[str], str]) -> list[EventDraft]:
        view = self.view
        if view is None or not view.logged_in or view.page is not StaffPage.ORDER:
            return self.touched()
        self._touch()
        self.view = replace(view, order_number=edit(view.order_number), notice=StaffNotice.NONE)
        return []

    def lookup_order(self, number: str) -> list[EventDraft]:
        """An order number typed on the keypad ("" : what was typed so far)."""
        view = self.view
        if view is None or not view.logged_in:
            return []
        typed = typed_order_number(number or view.order_number)
        return self._look_up(order_number(typed))

    def scanned(self, text: str, card_number: str | None) -> list[EventDraft]:
        """A code shown to a scanner in staff mode: a loyalty card on the customer page
        (its consent, as a tap), an order's QR code on the order page."""
        view = self.view
        if view is None or not view.logged_in:
            return self.touched()
        if view.page is StaffPage.CUSTOMER and card_number is not None:
            return self.card_tapped(card_number)
        if view.page is StaffPage.ORDER:
            return self._look_up(order_number(text))
        return self.touched()

    def _look_up(self, number: str | None) -> list[EventDraft]:
        view = self.view
        assert view is not None
        self._touch()
        self._awaited = None
        if view.page is not StaffPage.ORDER:
            view = self._home_view(view, StaffPage.ORDER)
        if number is None:
            self.view = replace(view, pickup=None, notice=StaffNotice.UNKNOWN_ORDER)
            return []
        self._ask("order", order=number)
        self.view = replace(view, pickup=None, order_number=number, notice=StaffNotice.WAITING)
        return []

    def hand_over(self) -> list[EventDraft]:
        """ "Remis au client": the order in view is handed over, if the hub agrees."""
        view = self.view
        if view is None or not view.logged_in or view.pickup is None:
            return []
        self._touch()
        if not view.pickup.can_hand_over:
            self.view = replace(view, notice=StaffNotice.NOT_READY)
            return []
        self._ask("handover", order=view.pickup.order.number)
        self.view = replace(view, notice=StaffNotice.WAITING)
        return []

    def _order_answered(self, request: StaffRequest, answer: bytes | None) -> list[EventDraft]:
        view = self.view
        assert view is not None
        if answer is None:
            self.view = replace(view, notice=StaffNotice.HUB_SILENT)
            return []
        try:
            parsed = (parse_order_answer if request.kind == "order" else parse_handover_answer)(
                answer
            )
        except StaffAnswerError as error:
            log.warning("the hub's order answer cannot be read: %s", error)
            self.view = replace(view, notice=StaffNotice.HUB_SILENT)
            return []
        if parsed.order is None:
            refused = parsed.status == "refused"
            notice = StaffNotice.REFUSED if refused else StaffNotice.UNKNOWN_ORDER
            self.view = replace(view, pickup=None, notice=notice)
            return []
        order = parsed.order
        ready = self._ready(order)
        first_name = parsed.first_name or (view.pickup.first_name if view.pickup else "")
        pickup = PickupOrder(order, first_name, can_hand_over=ready)
        if request.kind == "handover" and parsed.status == "ok":
            notice = StaffNotice.HANDED_OVER
        elif order.status == "handed_over":
            notice = StaffNotice.ALREADY_HANDED_OVER  # a retry, or someone else was quicker
        elif request.kind == "order" and ready:
            notice = StaffNotice.NONE
        else:
            notice = StaffNotice.NOT_READY
        self.view = replace(view, pickup=pickup, notice=notice)
        return []

    def _ready(self, order: Order) -> bool:
        """Whether `order` can be handed over here."""
        return order.status == "ready_for_pickup" and order.pickup_store == self._store_id

    def _handed_over(self, request: StaffRequest, answer: bytes | None) -> list[EventDraft]:
        """The event of a handover the hub made, whether or not the screen still waits:
        the hub's books say it is done, so the platform hears it from the kiosk too."""
        if request.kind != "handover" or answer is None:
            return []
        try:
            parsed = parse_handover_answer(answer)
        except StaffAnswerError:
            return []  # said (and logged) where it is shown, if it is
        if parsed.status != "ok":
            return []
        data = {"staff": request.body["staff"], "order": request.body["order"]}
        return [self._draft("order.handed_over", data)]

    # --- answers ---------------------------------------------------------------------

    def answered(self, request: StaffRequest, answer: bytes | None) -> list[EventDraft]:
        """The hub's answer to `request` (None: it did not answer in time). Shown only
        if the screen still waits for it; else dropped unread, except a handover the
        hub made: its event is emitted all the same."""
        drafts = self._handed_over(request, answer)
        if request is not self._awaited or self.view is None:
            return drafts
        self._awaited = None
        if request.kind == "customer":
            return drafts + self._customer_answered(request, answer)
        return drafts + self._order_answered(request, answer)

    # --- advisor calls ---------------------------------------------------------------

    def calls_changed(self, calls: tuple[AssistCall, ...]) -> list[EventDraft]:
        """The store's advisor calls, as the hub now sends them."""
        self._calls = calls
        if self.view is not None and self.view.logged_in:
            self.view = replace(self.view, calls=calls)
        return []

    def take_call(self, call_id: str) -> list[EventDraft]:
        """ "Je m'en occupe": the calling kiosk is told someone is coming."""
        view = self.view
        if view is None or not view.logged_in or view.member is None:
            return []
        self._touch()
        call = next((call for call in self._calls if call.call_id == call_id), None)
        if call is None:
            return []
        if call.taken_by is not None:  # someone is already on the way: nothing to take
            self.view = replace(view, calls=self._calls, notice=StaffNotice.NONE)
            return []
        name = view.member.name
        self._calls = tuple(
            replace(each, taken_by=name) if each.call_id == call_id else each
            for each in self._calls
        )
        self.view = replace(view, calls=self._calls, notice=StaffNotice.CALL_TAKEN)
        data = {"staff": self._badge, "call": call.call_id, "device": call.device}
        return [self._draft("assist.taken", data)]
