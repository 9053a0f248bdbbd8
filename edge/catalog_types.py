"""What the catalog answers with: products, shelves, promotions and loyalty customers.

Frozen values, built by the cache for each answer; the view may keep them as long as
it likes, they never change under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


def in_language(texts: dict[str, str], language: str) -> str:
    """The text in `language`, falling back to French (every text has a French one)."""
    return texts.get(language) or texts["fr"]


@dataclass(frozen=True, slots=True)
class Stock:
    """Units available here, in nearby stores (by store name) and online.

    Stock from the platform's streams knows when the platform last confirmed it
    (`as_of`); `stale` when that is longer ago than the kiosk's limit, so the screen
    shows its time rather than pretend it is current.
    """

    here: int
    nearby: tuple[tuple[str, int], ...]
    online: int
    delivery_days: int | None  # None: the platform does not say
    as_of: datetime | None = None  # None: from a source file, which has no time
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Review:
    """An online review, shown in store."""

    author: str
    rating: int
    text: str
    helpful: int


@dataclass(frozen=True, slots=True)
class Promotion:
    """A price cut the attract loop advertises, valid until `ends` (inclusive)."""

    id: str
    gtin: str
    price_cents: int
    title: dict[str, str]
    ends: date

    def display_title(self, language: str) -> str:
        """The headline in `language`, falling back to French."""
        return in_language(self.title, language)

    @property
    def open_ended(self) -> bool:
        """Whether no end was announced (a sale price without dates): `ends` is then
        `date.max`, a date no screen should show."""
        return self.ends == date.max


@dataclass(frozen=True, slots=True)
class Category:
    """A shelf of the store, as the browse screen lists it."""

    id: str
    name: dict[str, str]

    def display_name(self, language: str) -> str:
        """The name in `language`, falling back to French."""
        return in_language(self.name, language)


@dataclass(frozen=True, slots=True)
class Product:
    """A product as the product screen shows it."""

    gtin: str
    name: dict[str, str]
    brand: str
    category: str
    price_cents: int
    currency: str
    page_url: str  # the product on the retailer's site ("" if the store has none)
    rating: float
    review_count: int
    stock: Stock
    reviews: tuple[Review, ...] = ()  # most helpful first
    description: dict[str, str] | None = None
    picture: str = ""  # path of the product's picture ("" if it has none)
    promotion: Promotion | None = None  # a price cut running today
    label: str = ""  # the code on the pack beside the EAN: "gs1-datamatrix", "gs1-qr" or ""

    def display_name(self, language: str) -> str:
        """The name in `language`, falling back to French."""
        return in_language(self.name, language)

    def display_description(self, language: str) -> str:
        """The short description in `language` ("" if there is none)."""
        texts = self.description or {}
        return texts.get(language) or texts.get("fr", "")

    @property
    def current_price_cents(self) -> int:
        """What the shopper pays today."""
        return self.promotion.price_cents if self.promotion else self.price_cents


@dataclass(frozen=True, slots=True)
class Offer:
    """A loyalty offer made to one customer, about one product."""

    gtin: str
    title: dict[str, str]
    picture: str = ""  # the product's picture ("" if it has none)

    def display_title(self, language: str) -> str:
        """The offer in `language`, falling back to French."""
        return in_language(self.title, language)


@dataclass(frozen=True, slots=True)
class Customer:
    """A loyalty customer, known by pseudonym."""

    first_name: str
    points: int
    personalisation: bool
    offers: tuple[Offer, ...] = ()

    def __repr__(self) -> str:
        return "Customer(<redacted>)"
