"""Importers of the feeds retailers already publish: products, local inventory, reviews,
promotions; and of Borne's own feeds where there is no standard: loyalty customers,
staff (badges, roles, PIN hashes) and orders of every channel.

Pure parsers from a file to typed frozen records; `read_feed` keeps the good rows and
reports the bad ones, and refuses a bad file whole with a `FeedError`.
"""

from edge.hub.feeds.customers import CardPseudonym
from edge.hub.feeds.errors import FeedError, FeedValueError
from edge.hub.feeds.orders import OrderLineRecord, OrderRecord
from edge.hub.feeds.reader import (
    FeedKind,
    FeedRecord,
    FeedResult,
    Rejection,
    detect_feed,
    read_feed,
)
from edge.hub.feeds.records import (
    Availability,
    Customer,
    CustomerProfile,
    LocalInventory,
    LoyaltyOffer,
    Money,
    OfferType,
    Period,
    PickupMethod,
    PickupSla,
    Product,
    ProductApplicability,
    Promotion,
    RedemptionChannel,
    Review,
    ReviewedProduct,
    StoreAvailability,
)
from edge.hub.feeds.source import MAX_FEED_BYTES
from edge.hub.feeds.staff import StaffRecord

__all__ = [
    "MAX_FEED_BYTES",
    "Availability",
    "CardPseudonym",
    "Customer",
    "CustomerProfile",
    "FeedError",
    "FeedKind",
    "FeedRecord",
    "FeedResult",
    "FeedValueError",
    "LocalInventory",
    "LoyaltyOffer",
    "Money",
    "OfferType",
    "OrderLineRecord",
    "OrderRecord",
    "Period",
    "PickupMethod",
    "PickupSla",
    "Product",
    "ProductApplicability",
    "Promotion",
    "RedemptionChannel",
    "Rejection",
    "Review",
    "ReviewedProduct",
    "StaffRecord",
    "StoreAvailability",
    "detect_feed",
    "read_feed",
]
