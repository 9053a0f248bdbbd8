"""The shopper session: what a shopper did since they walked up, and the events it makes.

Pure logic over the catalog: readings and intents in, a new view plus event drafts out. The
runtime commits the drafts to the outbox before anyone is shown the new view.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import assert_never
from urllib.parse import urlencode

from devices.readings import BarcodeScan, CardTap
from edge.catalog import Catalog, Customer, Product
from edge.events import EventDraft
from edge.intents import (
    Back,
    CloseHandOff,
    CloseReviews,
    EndSession,
    EndStaff,
    EnterStaffPin,
    Erase,
    HandOff,
    HandOverOrder,
    Intent,
    KeepAlive,
    LookupOrder,
    OpenReviews,
    OpenSearch,
    OpenShelf,
    OpenShelves,
    OpenStaffPage,
    RequestAssist,
    Search,
    SetAccessibility,
    SetLanguage,
    ShowProduct,
    TakeCall,
    TypeText,
    UnlockBadge,
)
from edge.privacy import CodePolicy
from edge.staff.desk import StaffDesk
from edge.staff.requests import StaffRequest
from edge.staff.view import AssistCall, StaffView

LANGUAGES = ("fr", "en")
FULFILMENTS = ("collect", "delivery")
# How a shopper reached a product screen other than by scanning it.
VIAS = ("browse", "search", "similar", "promotion", "offer")
ACCESSIBILITY_SETTINGS = ("high_contrast", "large_text", "low_controls")
QUERY_MAX = 40
# Six digits or more in a search may be a card or phone number, typed in one run or in
# groups ("9250 0000 0001 7", "06-12-34-56-78"): they never leave.
_PERSONAL_DIGITS = re.compile(r"\d(?:[\s.\-/]?\d){5,}")


class Screen(StrEnum):
    """What the kiosk should show."""

    ATTRACT = "attract"
    WELCOME = "welcome"
    PRODUCT = "product"
    UNKNOWN_PRODUCT = "unknown_product"
    BROWSE = "browse"  # the shelves, or the products of one shelf
    SEARCH = "search"  # an on-screen keyboard and what it found
    STAFF = "staff"  # staff mode: `SessionView.staff` says which staff screen


@dataclass(frozen=True, slots=True)
class Accessibility:
    """How this shopper wants the screen; the next shopper gets the defaults again."""

    high_contrast: bool = False
    large_text: bool = False
    low_controls: bool = False  # every control within reach of a seated shopper


@dataclass(frozen=True, slots=True)
class SessionView:
    """Everything the screen needs; nothing else of the shopper is kept."""

    screen: Screen = Screen.ATTRACT
    session_id: str | None = None
    customer: Customer | None = None
    product: Product | None = None
    scanned_gtin: str | None = None
    language: str = "fr"  # French first; a shopper's choice ends with their session
    assist_requested: bool = False  # an advisor is on the way
    assist_taken_by: str | None = None  # the associate who took this kiosk's call
    idle_warning_until: float | None = None  # "are you still there?" counting down to this
    handoff_url: str | None = None  # a QR code hands this page over to the shopper's phone
    similar: tuple[Product, ...] = ()  # beside the product in view
    reviews_open: bool = False  # every review of the product in view, in full
    listing: Screen | None = None  # the list the product was picked from (Back returns there)
    category: str | None = None  # browse: the shelf shown (None: the list of shelves)
    query: str = ""  # search: what the shopper typed
    searched: bool = False  # search: `results` answer `query`
    results: tuple[Product, ...] = ()  # a shelf's products, or what a search found
    accessibility: Accessibility = field(default_factory=Accessibility)
    scans: int = 0  # codes read this session: the kiosk beeps and flashes at each one
    # Counts the catalog's reloads: a new one redraws what reads the catalog itself (the
    # attract loop's promotions, "no products yet") even when nothing else changed.
    catalog_version: int = 0
    # Staff mode (edge/staff): None whenever a shopper may be looking at the screen.
    staff: StaffView | None = None


class ShopperSession:
    """One shopper at a time, from first touch until they walk away."""

    def __init__(
        self,
        catalog: Catalog,
        pseudonymize: Callable[[str], str],
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
        codes: CodePolicy | None = None,
        store_id: str = "",
        device_id: str = "",
        staff: StaffDesk | None = None,
    ) -> None:
        self._catalog = catalog
        self._device_id = device_id  # the advisor calls made here are this kiosk's
        self._staff = staff  # None: no staff mode on this kiosk
        self._store_id = store_id  # named in hand-off links: collect here
        self._pseudonymize = pseudonymize
        self._codes = codes or CodePolicy()
        # `clock` is the wall clock, for what is compared with other machines' times;
        # `monotonic` measures how long: a wall clock set by a day must not end a
        # session at once, nor keep it a day.
        self._clock = clock
        self._monotonic = monotonic
        self._new_id = new_id
        self.view = SessionView()
        self._started_at = 0.0  # wall clock: advisor calls since then are this shopper's
        self._started_mono = 0.0
        self.last_activity = 0.0  # monotonic

    @property
    def active(self) -> bool:
        """Whether a shopper is being served."""
        return self.view.session_id is not None

    @property
    def staff(self) -> StaffDesk | None:
        """The staff desk, when staff mode is on this kiosk."""
        return self._staff

    @property
    def staff_active(self) -> bool:
        """Whether the screen is the staff's (their PIN asked, or logged in)."""
        return self._staff is not None and self._staff.active

    def _show_staff(self, drafts: list[EventDraft]) -> list[EventDraft]:
        """The view after the desk acted: its screen, or the attract loop once it locks.

        Never a shopper's view and a staff view at once: staff mode starts after the
        shopper's session was wiped and leaves nothing behind when it ends.
        """
        desk = self._staff
        if desk is not None and desk.view is not None:
            staying = self.view.staff is not None  # the language and scans of staff mode
            self.view = SessionView(
                screen=Screen.STAFF,
                staff=desk.view,
                language=self.view.language if staying else "fr",
                scans=self.view.scans if staying else 0,
                catalog_version=self.view.catalog_version,
            )
        elif self.view.staff is not None:
            self.view = SessionView(catalog_version=self.view.catalog_version)
        return drafts

    def take_staff_requests(self) -> list[StaffRequest]:
        """The staff desk's questions for the hub, for the runtime to send."""
        return self._staff.take_outgoing() if self._staff is not None else []

    def staff_answered(self, answer: tuple[StaffRequest, bytes | None]) -> list[EventDraft]:
        """The hub's answer to a staff request (None: silent), if still awaited."""
        if self._staff is None:
            return []
        return self._show_staff(self._staff.answered(*answer))

    def lock_staff(self, reason: str) -> list[EventDraft]:
        """Staff mode ends now (idle, shutdown...): the attract loop is next."""
        if self._staff is None:
            return []
        return self._show_staff(self._staff.lock(reason))

    def calls_changed(self, calls: tuple[AssistCall, ...]) -> list[EventDraft]:
        """The store's advisor calls changed: the staff screen's queue, and here, the
        shopper who called is told who is coming."""
        if self._staff is not None:
            drafts = self._show_staff(self._staff.calls_changed(calls))
            if self._staff.active:
                return drafts
        if self.active and self.view.assist_requested:
            taken_by = next(
                (
                    call.taken_by
                    for call in calls
                    if call.device == self._device_id
                    and call.taken_by
                    and call.since >= self._started_at - 1.0
                ),
                None,
            )
            if taken_by != self.view.assist_taken_by:
                self.view = replace(self.view, assist_taken_by=taken_by)
        return []

    def _handle_staff(self, desk: StaffDesk, intent: Intent) -> list[EventDraft]:
        """What is asked while the screen is the staff's."""
        match intent:
            case EnterStaffPin(pin):
                return self._show_staff(desk.enter_pin(pin))
            case EndStaff():
                return self._show_staff(desk.lock("button"))
            case OpenStaffPage(page):
                return self._show_staff(desk.open_page(page))
            case LookupOrder(number):
                return self._show_staff(desk.lookup_order(number))
            case HandOverOrder():
                return self._show_staff(desk.hand_over())
            case TakeCall(call_id):
                return self._show_staff(desk.take_call(call_id))
            case UnlockBadge(badge):
                return self._show_staff(desk.unlock_badge(badge))
            case TypeText(text):
                return self._show_staff(desk.type_order(text))
            case Erase():
                return self._show_staff(desk.erase_order())
            case SetLanguage(language):
                if language not in LANGUAGES:
                    raise ValueError(f"unsupported language {language!r}")
                desk.touched()
                self.view = replace(self.view, language=language)
                return []
            case _:  # the shopper's screens are not the staff's
                return self._show_staff(desk.touched())

    def _touch(self, trigger: str) -> list[EventDraft]:
        self.last_activity = self._monotonic()
        if self.active:
            if self.view.idle_warning_until is not None:
                self.view = replace(self.view, idle_warning_until=None)
            return []
        self._started_at = self._clock()
        self._started_mono = self.last_activity
        self.view = SessionView(session_id=str(self._new_id()))
        return [self._draft("session.started", {"trigger": trigger})]

    def _draft(self, name: str, data: dict[str, object]) -> EventDraft:
        # What is shed first when the outbox is full is the contract's, by type
        # (edge.events.Priority.of): nothing to declare here.
        return EventDraft(f"io.borne.{name}", {"session_id": self.view.session_id, **data})

    def handle(self, intent: Intent) -> list[EventDraft]:
        """Apply what a person asked for: the one way in for every intent."""
        if self._staff is not None and self._staff.active:
            return self._handle_staff(self._staff, intent)
        match intent:
            case ShowProduct(gtin, via):
                return self.view_product(gtin, via)
            case OpenShelves():
                return self.open_browse()
            case OpenShelf(category):
                return self.browse(category)
            case OpenSearch():
                return self.open_search()
            case TypeText(text):
                return self.type_text(text)
            case Erase():
                return self.erase()
            case Search():
                return self.search()
            case OpenReviews():
                return self.open_reviews()
            case CloseReviews():
                return self.close_reviews()
            case Back():
                return self.back()
            case SetAccessibility(setting, enabled):
                return self.set_accessibility(setting, enabled)
            case SetLanguage(language):
                return self.set_language(language)
            case HandOff(fulfilment):
                return self.hand_off(fulfilment)
            case CloseHandOff():
                return self.close_hand_off()
            case RequestAssist():
                return self.request_assist()
            case KeepAlive():
                return self.keep_alive()
            case EndSession(reason):
                return self.end(reason)
            case (
                EnterStaffPin()
                | EndStaff()
                | OpenStaffPage()
                | LookupOrder()
                | HandOverOrder()
                | TakeCall()
                | UnlockBadge()
            ):
                return []  # staff mode is not on: nothing to do
            case _:
                assert_never(intent)

    def on_card(self, tap: CardTap) -> list[EventDraft]:
        """A loyalty card was tapped: greet the shopper if they are known.

        A staff badge wipes the shopper's session and asks for its PIN (or, in staff
        mode, locks the kiosk); a loyalty card in staff mode is the staff desk's.
        """
        desk = self._staff
        if desk is not None and desk.is_staff_tap(tap):
            drafts = self.end("staff")
            return drafts + self._show_staff(desk.badge_tapped(tap))
        if desk is not None and desk.active:
            return self._show_staff(desk.card_tapped(tap.card_number))
        drafts = self._touch("card")
        pseudonym = self._pseudonymize(tap.card_number)
        customer = self._catalog.customer(pseudonym)
        self.view = replace(
            self.view,
            screen=Screen.WELCOME,
            customer=customer,
            assist_requested=False,
            handoff_url=None,
            reviews_open=False,
        )
        drafts.append(
            self._draft(
                "card.tapped",
                {"loyalty_pseudonym": pseudonym, "known": customer is not None},
            )
        )
        return drafts

    def on_scan(self, scan: BarcodeScan) -> list[EventDraft]:
        """A code was shown to a scanner: a loyalty card greets, a product shows itself.

        A shopper's own number (their loyalty card, a coupon, an in-store number) is
        never looked up as a product nor reported as digits.
        """
        card_number = self._codes.loyalty_number(scan)
        if self._staff is not None and self._staff.active:
            drafts = self._show_staff(self._staff.scanned(scan.text, card_number))
            self.view = replace(self.view, scans=self.view.scans + 1)  # beep, flash
            return drafts
        if card_number is not None:
            # A card shown is a card tapped: the same greeting, the same pseudonym.
            tap = CardTap(card_number, "", f"barcode:{scan.symbology}", scan.source, scan.at)
            drafts = self.on_card(tap)
            self.view = replace(self.view, scans=self.view.scans + 1)
            return drafts
        drafts = self._touch("scan")
        gtin = self._codes.product_gtin(scan)
        product = self._catalog.lookup(gtin) if gtin else None
        self._show_product(product, listing=None)
        self.view = replace(self.view, scanned_gtin=gtin, scans=self.view.scans + 1)
        kind = "restricted" if scan.gtin is not None and gtin is None else scan.kind
        drafts.append(
            self._draft(
                "product.scanned",
                {
                    "gtin": gtin,
                    "code_kind": kind,
                    "symbology": scan.symbology,
                    "found": product is not None,
                    "scanner": scan.source,
                },
            )
        )
        return drafts

    def _show_product(self, product: Product | None, listing: Screen | None) -> None:
        self.view = replace(
            self.view,
            screen=Screen.PRODUCT if product else Screen.UNKNOWN_PRODUCT,
            product=product,
            scanned_gtin=product.gtin if product else None,
            similar=self._catalog.similar(product) if product else (),
            listing=listing,
            assist_requested=False,
            handoff_url=None,
            reviews_open=False,
        )

    def view_product(self, gtin: str, via: str) -> list[EventDraft]:
        """The shopper touched a product (on a shelf, in results, beside another...)."""
        if via not in VIAS:
            raise ValueError(f"unknown way to a product {via!r}")
        product = self._catalog.lookup(gtin)
        if product is None:
            return []  # the catalog changed under the screen: nothing to show
        drafts = self._touch("touch")
        listing = self.view.screen if self.view.screen in (Screen.BROWSE, Screen.SEARCH) else None
        self._show_product(product, listing=listing or self.view.listing)
        drafts.append(self._draft("product.viewed", {"gtin": product.gtin, "via": via}))
        return drafts

    def catalog_reloaded(self) -> list[EventDraft]:
        """The catalog was loaded again: the product in view as it has it now, and the
        screens that read it redrawn. No event: the shopper did nothing."""
        self.refresh_product()
        self.view = replace(self.view, catalog_version=self.view.catalog_version + 1)
        return []

    def refresh_product(self) -> list[EventDraft]:
        """Show the product in view as the catalog has it now (its stock of this minute,
        a new price); no event: the shopper did nothing. A product the catalog no
        longer has stays as shown until the shopper moves on."""
        shown = self.view.product
        if self.view.screen is not Screen.PRODUCT or shown is None:
            return []
        fresh = self._catalog.lookup(shown.gtin)
        if fresh is not None and fresh != shown:
            self.view = replace(self.view, product=fresh)
        return []

    def open_browse(self) -> list[EventDraft]:
        """The shelves of the store."""
        drafts = self._touch("touch")
        self.view = replace(
            self.view, screen=Screen.BROWSE, category=None, results=(), listing=None
        )
        drafts.append(self._screen_shown())
        return drafts

    def browse(self, category: str) -> list[EventDraft]:
        """The products of one shelf."""
        products = self._catalog.in_category(category)
        if not products:
            return []
        drafts = self._touch("touch")
        self.view = replace(self.view, screen=Screen.BROWSE, category=category, results=products)
        drafts.append(
            self._draft("category.viewed", {"category": category, "products": len(products)})
        )
        return drafts

    def open_search(self) -> list[EventDraft]:
        """The on-screen keyboard, empty."""
        drafts = self._touch("touch")
        self.view = replace(
            self.view, screen=Screen.SEARCH, query="", searched=False, results=(), listing=None
        )
        drafts.append(self._screen_shown())
        return drafts

    def type_text(self, text: str) -> list[EventDraft]:
        """Keys of the on-screen keyboard: typing is not an event, searching is."""
        drafts = self._touch("touch")
        query = (self.view.query + text)[:QUERY_MAX]
        self.view = replace(self.view, query=query, searched=False)
        return drafts

    def erase(self) -> list[EventDraft]:
        """The keyboard's backspace."""
        drafts = self._touch("touch")
        self.view = replace(self.view, query=self.view.query[:-1], searched=False)
        return drafts

    def search(self) -> list[EventDraft]:
        """The shopper asked for what they typed."""
        drafts = self._touch("touch")
        results = self._catalog.search(self.view.query)
        self.view = replace(self.view, screen=Screen.SEARCH, searched=True, results=results)
        query = _PERSONAL_DIGITS.sub("#", self.view.query.strip())
        drafts.append(self._draft("search.performed", {"query": query, "results": len(results)}))
        return drafts

    def open_reviews(self) -> list[EventDraft]:
        """Every review of the product in view, in full."""
        product = self.view.product
        if product is None or not product.reviews:
            return []
        drafts = self._touch("touch")
        self.view = replace(self.view, reviews_open=True)
        drafts.append(
            self._draft("reviews.read", {"gtin": product.gtin, "shown": len(product.reviews)})
        )
        return drafts

    def close_reviews(self) -> list[EventDraft]:
        """Back to the product from its reviews."""
        drafts = self._touch("touch")
        self.view = replace(self.view, reviews_open=False)
        return drafts

    def back(self) -> list[EventDraft]:
        """One step back: from a product to the list it came from, from a shelf to the shelves."""
        view = self.view
        changes: dict[str, object]
        if view.screen in (Screen.PRODUCT, Screen.UNKNOWN_PRODUCT) and view.listing:
            changes = {"screen": view.listing}
        elif view.screen is Screen.BROWSE and view.category is not None:
            changes = {"category": None, "results": ()}
        else:
            return []
        drafts = self._touch("touch")
        self.view = replace(
            self.view,
            product=None,
            similar=(),
            listing=None,
            handoff_url=None,
            reviews_open=False,
            **changes,  # type: ignore[arg-type]
        )
        drafts.append(self._screen_shown())
        return drafts

    def set_accessibility(self, setting: str, enabled: bool) -> list[EventDraft]:
        """High contrast, large text or controls within reach, for this shopper."""
        if setting not in ACCESSIBILITY_SETTINGS:
            raise ValueError(f"unknown accessibility setting {setting!r}")
        if getattr(self.view.accessibility, setting) == enabled:
            return []
        drafts = self._touch("touch")
        accessibility = replace(self.view.accessibility, **{setting: enabled})
        self.view = replace(self.view, accessibility=accessibility)
        drafts.append(
            self._draft("accessibility.changed", {"setting": setting, "enabled": enabled})
        )
        return drafts

    def _screen_shown(self) -> EventDraft:
        return self._draft("screen.shown", {"screen": self.view.screen.value})

    def set_language(self, language: str) -> list[EventDraft]:
        """The shopper chose a language for the screen."""
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        if language == self.view.language:
            return []
        drafts = self._touch("touch")
        self.view = replace(self.view, language=language)
        drafts.append(self._draft("language.changed", {"language": language}))
        return drafts

    def request_assist(self) -> list[EventDraft]:
        """The shopper asked for an advisor, about the product in view if any."""
        drafts = self._touch("assist")
        gtin = self.view.product.gtin if self.view.product else self.view.scanned_gtin
        self.view = replace(self.view, assist_requested=True)
        drafts.append(self._draft("assist.requested", {"gtin": gtin}))
        return drafts

    def hand_off(self, fulfilment: str) -> list[EventDraft]:
        """Click & collect or delivery: the product page goes to the shopper's phone."""
        if fulfilment not in FULFILMENTS:
            raise ValueError(f"unknown fulfilment {fulfilment!r}")
        product = self.view.product
        if product is None or not product.page_url:
            return []
        drafts = self._touch("touch")
        query = urlencode({"store": self._store_id, "fulfilment": fulfilment})
        url = f"{product.page_url}?{query}"
        self.view = replace(self.view, handoff_url=url)
        drafts.append(
            self._draft("handoff.shown", {"gtin": product.gtin, "fulfilment": fulfilment})
        )
        return drafts

    def close_hand_off(self) -> list[EventDraft]:
        """The QR code was scanned, or dismissed."""
        drafts = self._touch("touch")
        self.view = replace(self.view, handoff_url=None)
        return drafts

    def warn_idle(self, until: float) -> list[EventDraft]:
        """Nobody has touched anything for a while: ask before wiping the session."""
        if self.active:
            self.view = replace(self.view, idle_warning_until=until)
        return []

    def keep_alive(self) -> list[EventDraft]:
        """The shopper answered the warning: they are still there."""
        return self._touch("touch")

    def end(self, reason: str) -> list[EventDraft]:
        """The shopper left (or timed out): forget everything about them."""
        if not self.active:
            return []
        duration = round(self._monotonic() - self._started_mono, 3)
        draft = self._draft("session.ended", {"reason": reason, "duration_s": duration})
        self.view = SessionView()
        return [draft]

    def idle_for(self) -> float:
        """Seconds since the shopper last did anything."""
        return self._monotonic() - self.last_activity
