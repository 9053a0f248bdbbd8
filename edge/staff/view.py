"""What the staff screens are given: frozen values, held in memory only.

A customer's file (`CustomerFile`) is the answer of one request to the hub: it lives in
the `StaffView` while it is shown and goes with it (the next view, the logout). Nothing
here is written to disk, to a cache or to a log; `__repr__`s leave personal data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edge.catalog import Product

ROLES = ("associate", "manager")  # a manager also sees contact details, unlocks badges
CHANNELS = ("store", "web", "app")
ORDER_STATUSES = (
    "placed",
    "shipped",
    "delivered",
    "ready_for_pickup",  # click & collect: waiting in store
    "handed_over",
    "cancelled",
    "returned",
)


class StaffPage(StrEnum):
    """Which staff screen is shown."""

    PIN = "pin"  # a badge was read: its PIN is asked
    HOME = "home"  # what an associate can do, and the store's advisor calls
    CUSTOMER = "customer"  # the customer's 360° view (or asking them to tap their card)
    ORDER = "order"  # a click & collect order: scan its QR code or type its number


class StaffNotice(StrEnum):
    """One line the staff screen says about what just happened."""

    NONE = ""
    UNKNOWN_BADGE = "unknown_badge"  # a staff badge the directory does not list
    WRONG_PIN = "wrong_pin"  # `failures_left` more tries before the badge locks
    LOCKED_OUT = "locked_out"  # until `locked_until`, or a manager unlocks it
    TAP_CUSTOMER_CARD = "tap_customer_card"  # the customer's tap is their consent
    WAITING = "waiting"  # the hub was asked; its answer is awaited
    HUB_SILENT = "hub_silent"  # no answer in time: nothing old is shown instead
    DECLINED = "declined"  # the customer declined personalisation: nothing shown
    UNKNOWN_CUSTOMER = "unknown_customer"
    UNKNOWN_ORDER = "unknown_order"
    NOT_READY = "not_ready"  # the order cannot be handed over (not in store, other store)
    HANDED_OVER = "handed_over"  # done: the hub marked it handed over
    ALREADY_HANDED_OVER = "already_handed_over"  # it was, before (a retry, a colleague)
    REFUSED = "refused"  # the hub does not let this badge ask that here
    CALL_TAKEN = "call_taken"  # "Je m'en occupe": the calling kiosk is told


@dataclass(frozen=True, slots=True)
class StaffMember:
    """Who is logged in (or whose badge asks for its PIN): no PIN hash, no badge id."""

    name: str
    role: str  # one of ROLES

    @property
    def manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True, slots=True)
class OrderLine:
    gtin: str | None
    title: str
    quantity: int
    amount: str  # decimal text, as the hub sends it ("99.99")


@dataclass(frozen=True, slots=True)
class Order:
    """One order of a customer, on any channel."""

    number: str
    channel: str  # one of CHANNELS
    placed: str  # ISO 8601 date
    where: str  # the store's name or the site ("borne-demo.fr", "appli")
    status: str  # one of ORDER_STATUSES
    total: str
    currency: str
    lines: tuple[OrderLine, ...]
    returned: tuple[OrderLine, ...] = ()  # lines brought back, with their refund
    pickup_store: str | None = None  # click & collect: where it is collected

    def __repr__(self) -> str:
        return f"Order(channel={self.channel!r}, status={self.status!r})"


@dataclass(frozen=True, slots=True)
class CustomerFile:
    """A customer's 360° view, as the hub answered one request. In memory only."""

    first_name: str
    last_name: str
    tier: str
    points: int
    email: str  # masked ("c•••@example.fr") unless a manager asked
    phone: str  # masked unless a manager asked
    preferences: tuple[str, ...]
    sizes: tuple[tuple[str, str], ...]  # ("Chaussures", "39")
    orders: tuple[Order, ...]  # newest first, every channel, pickups included
    wishlist: tuple[Product, ...]  # the hub names GTINs; the kiosk's catalog has them
    suggestions: tuple[Product, ...]  # drawn from the kiosk's catalog

    def __repr__(self) -> str:
        return f"CustomerFile(orders={len(self.orders)})"

    @property
    def pickups(self) -> tuple[Order, ...]:
        """Click & collect orders, whatever their status."""
        return tuple(order for order in self.orders if order.pickup_store is not None)


@dataclass(frozen=True, slots=True)
class PickupOrder:
    """A click & collect order looked up by its number (QR code or typed)."""

    order: Order
    first_name: str  # to greet the customer picking it up
    can_hand_over: bool  # ready for pickup in this store

    def __repr__(self) -> str:
        return f"PickupOrder(can_hand_over={self.can_hand_over!r})"


@dataclass(frozen=True, slots=True)
class AssistCall:
    """A shopper asking for an advisor at one of the store's kiosks."""

    call_id: str  # the id of the io.borne.assist.requested event
    device: str  # the kiosk that called
    since: float  # when (Unix time)
    gtin: str | None  # the product in view then
    title: str | None
    taken_by: str | None = None  # the associate who said "Je m'en occupe"


@dataclass(frozen=True, slots=True)
class StaffView:
    """Everything the staff screens need; dropped whole at logout."""

    page: StaffPage = StaffPage.PIN
    member: StaffMember | None = None
    logged_in: bool = False  # False on the PIN page
    notice: StaffNotice = StaffNotice.NONE
    failures_left: int = 0  # WRONG_PIN: tries before the badge locks
    locked_until: float | None = None  # LOCKED_OUT: Unix time
    customer: CustomerFile | None = None
    pickup: PickupOrder | None = None
    order_number: str = ""  # ORDER: what was typed so far
    calls: tuple[AssistCall, ...] = ()  # the store's open advisor calls
    locked_badges: tuple[tuple[str, str], ...] = ()  # manager: (badge pseudonym, name)

    def __repr__(self) -> str:
        return f"StaffView(page={self.page!r}, notice={self.notice!r})"
