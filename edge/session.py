"""The shopper session: what a shopper did since they walked up, and the events it makes.

Pure logic over the catalog: readings in, a new view plus event drafts out. The
runtime commits the drafts to the outbox before anyone is shown the new view.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlencode

from devices.readings import BarcodeScan, CardTap
from edge.catalog import Catalog, Customer, Product
from edge.events import EventDraft, Priority

LANGUAGES = ("fr", "en")
FULFILMENTS = ("collect", "delivery")


class Screen(StrEnum):
    """What the kiosk should show."""

    ATTRACT = "attract"
    WELCOME = "welcome"
    PRODUCT = "product"
    UNKNOWN_PRODUCT = "unknown_product"


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
    idle_warning_until: float | None = None  # "are you still there?" counting down to this
    handoff_url: str | None = None  # a QR code hands this page over to the shopper's phone


class ShopperSession:
    """One shopper at a time, from first touch until they walk away."""

    def __init__(
        self,
        catalog: Catalog,
        pseudonymize: Callable[[str], str],
        *,
        clock: Callable[[], float],
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self._catalog = catalog
        self._pseudonymize = pseudonymize
        self._clock = clock
        self._new_id = new_id
        self.view = SessionView()
        self._started_at = 0.0
        self.last_activity = 0.0

    @property
    def active(self) -> bool:
        """Whether a shopper is being served."""
        return self.view.session_id is not None

    def _touch(self, trigger: str) -> list[EventDraft]:
        self.last_activity = self._clock()
        if self.active:
            if self.view.idle_warning_until is not None:
                self.view = replace(self.view, idle_warning_until=None)
            return []
        self._started_at = self.last_activity
        self.view = SessionView(session_id=str(self._new_id()))
        return [self._draft("session.started", {"trigger": trigger})]

    def _draft(
        self, name: str, data: dict[str, object], priority: Priority = Priority.NORMAL
    ) -> EventDraft:
        return EventDraft(
            f"io.borne.{name}", {"session_id": self.view.session_id, **data}, priority
        )

    def on_card(self, tap: CardTap) -> list[EventDraft]:
        """A loyalty card was tapped: greet the shopper if they are known."""
        drafts = self._touch("card")
        pseudonym = self._pseudonymize(tap.card_number)
        customer = self._catalog.customer(pseudonym)
        self.view = replace(
            self.view,
            screen=Screen.WELCOME,
            customer=customer,
            assist_requested=False,
            handoff_url=None,
        )
        drafts.append(
            self._draft(
                "card.tapped",
                {"loyalty_pseudonym": pseudonym, "known": customer is not None},
                Priority.CRITICAL,
            )
        )
        return drafts

    def on_scan(self, scan: BarcodeScan) -> list[EventDraft]:
        """A product was shown to a scanner: show it, or say kindly that it is unknown."""
        drafts = self._touch("scan")
        product = self._catalog.lookup(scan.gtin) if scan.gtin else None
        screen = Screen.PRODUCT if product else Screen.UNKNOWN_PRODUCT
        self.view = replace(
            self.view,
            screen=screen,
            product=product,
            scanned_gtin=scan.gtin,
            assist_requested=False,
            handoff_url=None,
        )
        drafts.append(
            self._draft(
                "product.scanned",
                {
                    "gtin": scan.gtin,
                    "code_kind": scan.kind,
                    "symbology": scan.symbology,
                    "found": product is not None,
                    "scanner": scan.source,
                },
                Priority.CRITICAL,
            )
        )
        return drafts

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
        drafts.append(self._draft("assist.requested", {"gtin": gtin}, Priority.CRITICAL))
        return drafts

    def hand_off(self, fulfilment: str, store_id: str) -> list[EventDraft]:
        """Click & collect or delivery: the product page goes to the shopper's phone."""
        if fulfilment not in FULFILMENTS:
            raise ValueError(f"unknown fulfilment {fulfilment!r}")
        product = self.view.product
        if product is None or not product.page_url:
            return []
        drafts = self._touch("touch")
        url = f"{product.page_url}?{urlencode({'store': store_id, 'fulfilment': fulfilment})}"
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
        duration = round(self._clock() - self._started_at, 3)
        draft = self._draft("session.ended", {"reason": reason, "duration_s": duration})
        self.view = SessionView()
        return [draft]

    def idle_for(self) -> float:
        """Seconds since the shopper last did anything."""
        return self._clock() - self.last_activity
