"""The typed, frozen records the feed importers produce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in the currency's cents (hundredths) and its ISO 4217 code."""

    cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class Period:
    """Two aware instants, start before end (a sale's or a promotion's dates)."""

    start: datetime
    end: datetime


class Availability(StrEnum):
    """Online availability of a product (product feed)."""

    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"
    BACKORDER = "backorder"


class StoreAvailability(StrEnum):
    """Availability of a product in one store (local inventory feed)."""

    IN_STOCK = "in_stock"
    LIMITED_AVAILABILITY = "limited_availability"
    ON_DISPLAY_TO_ORDER = "on_display_to_order"
    OUT_OF_STOCK = "out_of_stock"


class PickupMethod(StrEnum):
    """How a shopper collects an order in the store."""

    BUY = "buy"
    RESERVE = "reserve"
    SHIP_TO_STORE = "ship to store"
    NOT_SUPPORTED = "not supported"


class PickupSla(StrEnum):
    """How soon an order is ready for pickup."""

    SAME_DAY = "same day"
    NEXT_DAY = "next day"
    TWO_DAY = "2-day"
    THREE_DAY = "3-day"
    FOUR_DAY = "4-day"
    FIVE_DAY = "5-day"
    SIX_DAY = "6-day"
    SEVEN_DAY = "7-day"
    MULTI_WEEK = "multi-week"


class ProductApplicability(StrEnum):
    """Whether a promotion covers every product or a list of them."""

    ALL_PRODUCTS = "all_products"
    SPECIFIC_PRODUCTS = "specific_products"


class OfferType(StrEnum):
    """Whether a promotion needs a code."""

    NO_CODE = "no_code"
    GENERIC_CODE = "generic_code"


class RedemptionChannel(StrEnum):
    """Where a promotion is redeemed."""

    IN_STORE = "in_store"
    ONLINE = "online"


@dataclass(frozen=True, slots=True)
class Product:
    """One item of a product feed (the catalog)."""

    id: str
    title: str
    price: Money
    description: str | None = None
    link: str | None = None
    image_link: str | None = None
    availability: Availability | None = None
    sale_price: Money | None = None
    sale_price_effective_date: Period | None = None
    gtin: str | None = None  # GTIN-14, check digit verified
    brand: str | None = None
    product_type: tuple[str, ...] = ()  # "Maison > Thé" -> ("Maison", "Thé")
    item_group_id: str | None = None
    color: str | None = None
    size: str | None = None


@dataclass(frozen=True, slots=True)
class LocalInventory:
    """One (store, product) row of a local inventory feed."""

    store_code: str
    id: str
    quantity: int
    price: Money | None = None
    sale_price: Money | None = None
    sale_price_effective_date: Period | None = None
    availability: StoreAvailability | None = None
    pickup_method: PickupMethod | None = None
    pickup_sla: PickupSla | None = None
    instore_product_location: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewedProduct:
    """The identifiers a review gives for the product it is about."""

    gtins: tuple[str, ...] = ()  # GTIN-14, check digit verified
    skus: tuple[str, ...] = ()
    mpns: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    name: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    """One review of a product reviews feed; what a person wrote stays out of its repr."""

    review_id: str
    timestamp: datetime
    stars: float  # the rating on the kiosk's 1-5 scale
    products: tuple[ReviewedProduct, ...]
    reviewer_name: str = field(default="", repr=False)
    is_anonymous: bool = False
    title: str | None = field(default=None, repr=False)
    content: str = field(default="", repr=False)
    pros: tuple[str, ...] = field(default=(), repr=False)
    cons: tuple[str, ...] = field(default=(), repr=False)
    review_url: str | None = None
    is_spam: bool = False
    collection_method: str | None = None


@dataclass(frozen=True, slots=True)
class Promotion:
    """One merchant promotion."""

    promotion_id: str
    product_applicability: ProductApplicability
    offer_type: OfferType
    long_title: str
    promotion_effective_dates: Period
    redemption_channel: tuple[RedemptionChannel, ...]
    percent_off: int | None = None
    money_off_amount: Money | None = None
    item_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoyaltyOffer:
    """A personal offer to a loyalty customer about one product."""

    gtin: str  # GTIN-14, check digit verified
    title: Mapping[str, str]  # language code -> text; French ("fr") always present


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """What staff see of a loyalty customer beyond the kiosk's greeting; in the hub only."""

    last_name: str = ""
    tier: str = ""
    email: str = ""  # masked in an answer unless a manager asks
    phone: str = ""
    preferences: tuple[str, ...] = ()
    sizes: tuple[tuple[str, str], ...] = ()  # ("Chaussures", "39")
    wishlist: tuple[str, ...] = ()  # GTIN-14s

    def __repr__(self) -> str:  # contact details and tastes stay out of logs
        return "CustomerProfile(...)"


@dataclass(frozen=True, slots=True)
class Customer:
    """One loyalty customer of a customers feed, known only by their card's pseudonym.

    A feed that gives card numbers has them turned into pseudonyms as it is read; no
    record ever holds a number. The first name stays out of the repr.
    """

    pseudonym: str  # 64 lowercase hex digits: HMAC-SHA256 of the card number
    first_name: str = field(repr=False)
    points: int
    personalisation: bool = True  # False: the kiosk greets, but shows no personal offer
    offers: tuple[LoyaltyOffer, ...] = ()
    # Kept only in the hub for staff answers, never published (None: the feed gave none).
    profile: CustomerProfile | None = field(default=None, repr=False)
