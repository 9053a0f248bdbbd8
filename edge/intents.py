"""What a person (or a script) asks the kiosk for: typed, frozen intents.

Devices report readings; people ask for things. Both have the same shape, and the
shopper session handles both in one place (`ShopperSession.handle`). The screens,
journeys and `borne simulate` all submit intents through `Runtime.ask`; a new
capability adds an intent and its handler, not a method in every layer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShowProduct:
    """A touch on a product: on a shelf, in results, beside another, in an offer..."""

    gtin: str
    via: str  # how the shopper got there: see edge.session.VIAS


@dataclass(frozen=True, slots=True)
class OpenShelves:
    """The store's shelves."""


@dataclass(frozen=True, slots=True)
class OpenShelf:
    """One shelf's products."""

    category: str


@dataclass(frozen=True, slots=True)
class OpenSearch:
    """The on-screen keyboard, empty."""


@dataclass(frozen=True, slots=True)
class TypeText:
    """Keys of the on-screen keyboard (typing is not an event; searching is)."""

    text: str


@dataclass(frozen=True, slots=True)
class Erase:
    """The keyboard's backspace."""


@dataclass(frozen=True, slots=True)
class Search:
    """Search the catalog for what was typed."""


@dataclass(frozen=True, slots=True)
class OpenReviews:
    """Every review of the product in view."""


@dataclass(frozen=True, slots=True)
class CloseReviews:
    """Back to the product from its reviews."""


@dataclass(frozen=True, slots=True)
class Back:
    """One step back: a product to its list, a shelf to the shelves."""


@dataclass(frozen=True, slots=True)
class SetAccessibility:
    """High contrast, large text or controls within reach, for this shopper."""

    setting: str  # see edge.session.ACCESSIBILITY_SETTINGS
    enabled: bool


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """The screen's language, for this shopper."""

    language: str  # see edge.session.LANGUAGES


@dataclass(frozen=True, slots=True)
class HandOff:
    """Click & collect or delivery: a QR code takes the product to the shopper's phone."""

    fulfilment: str  # see edge.session.FULFILMENTS


@dataclass(frozen=True, slots=True)
class CloseHandOff:
    """The hand-off QR code was scanned, or dismissed."""


@dataclass(frozen=True, slots=True)
class RequestAssist:
    """Call an advisor, about the product in view if any."""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """ "Continue" under the idle warning: the shopper is still there."""


@dataclass(frozen=True, slots=True)
class EndSession:
    """The shopper is done (home, walked away): forget everything about them."""

    reason: str


@dataclass(frozen=True, slots=True)
class EnterStaffPin:
    """The PIN typed after a staff badge was read."""

    pin: str

    def __repr__(self) -> str:  # a PIN is never in a repr, a log or an event
        return "EnterStaffPin(pin=***)"


@dataclass(frozen=True, slots=True)
class EndStaff:
    """ "Terminer": staff mode locks at once, the next shopper sees the attract loop."""


@dataclass(frozen=True, slots=True)
class OpenStaffPage:
    """A staff screen: "home", "customer" (asks the customer to tap their card) or
    "order" (scan or type a click & collect order's number); see edge.staff.view."""

    page: str


@dataclass(frozen=True, slots=True)
class LookupOrder:
    """The order number typed on the staff keypad (a scanned QR code goes as a reading)."""

    number: str


@dataclass(frozen=True, slots=True)
class HandOverOrder:
    """ "Remis au client": the order in view is handed over."""


@dataclass(frozen=True, slots=True)
class TakeCall:
    """ "Je m'en occupe": an associate takes an advisor call of the store."""

    call_id: str


@dataclass(frozen=True, slots=True)
class UnlockBadge:
    """A manager unlocks a badge locked after wrong PINs (by its pseudonym)."""

    badge: str


Intent = (
    ShowProduct
    | OpenShelves
    | OpenShelf
    | OpenSearch
    | TypeText
    | Erase
    | Search
    | OpenReviews
    | CloseReviews
    | Back
    | SetAccessibility
    | SetLanguage
    | HandOff
    | CloseHandOff
    | RequestAssist
    | KeepAlive
    | EndSession
    | EnterStaffPin
    | EndStaff
    | OpenStaffPage
    | LookupOrder
    | HandOverOrder
    | TakeCall
    | UnlockBadge
)
