"""A promotions feed row -> `Promotion`."""

from __future__ import annotations

from edge.hub.feeds import fields
from edge.hub.feeds.errors import FeedValueError
from edge.hub.feeds.fields import Row
from edge.hub.feeds.records import OfferType, ProductApplicability, Promotion, RedemptionChannel


def promotion_from_row(row: Row) -> Promotion:
    """The promotion a row describes; raises FeedValueError naming the first bad attribute."""
    applicability = fields.choice(
        "product_applicability", row.required("product_applicability"), ProductApplicability
    )
    item_ids = tuple(fields.identifier("item_id", item) for item in row.every("item_id"))
    if applicability is ProductApplicability.SPECIFIC_PRODUCTS and not item_ids:
        raise FeedValueError("item_id", "required for specific_products")
    channels = row.every("redemption_channel")
    if not channels:
        raise FeedValueError("redemption_channel", "required and missing")
    percent = row.first("percent_off")
    return Promotion(
        promotion_id=fields.identifier("promotion_id", row.required("promotion_id")),
        product_applicability=applicability,
        offer_type=fields.choice("offer_type", row.required("offer_type"), OfferType),
        long_title=row.required("long_title"),
        promotion_effective_dates=fields.period(
            "promotion_effective_dates", row.required("promotion_effective_dates")
        ),
        redemption_channel=tuple(
            fields.choice("redemption_channel", channel, RedemptionChannel) for channel in channels
        ),
        percent_off=None if percent is None else _percent(percent),
        money_off_amount=fields.optional_money(row, "money_off_amount"),
        item_ids=item_ids,
    )


def _percent(text: str) -> int:
    """A whole percentage from 1 to 100."""
    value = fields.quantity("percent_off", text)
    if not 1 <= value <= 100:
        raise FeedValueError("percent_off", "expected a whole percentage from 1 to 100")
    return value
