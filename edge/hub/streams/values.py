"""What a kiosk shows, as the JSON values of the streams' items: pure functions of records.

Fields a record leaves empty are left out of the value rather than written as null, so
two imports of the same data give the same JSON text and nothing is seen as a change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from edge.hub.feeds import (
    Customer,
    CustomerProfile,
    LocalInventory,
    Money,
    OrderLineRecord,
    OrderRecord,
    Period,
    Product,
    Promotion,
    Review,
    StaffRecord,
)

ONLINE_STORE = "online"  # the store code a local inventory feed gives the web shop's stock
MAX_REVIEWS_SHOWN = 20  # newest reviews per product sent down; rating and count cover all

JsonObject = dict[str, Any]


def canonical(value: Mapping[str, Any]) -> str:
    """The one JSON text of a value: equal values, equal texts (how changes are found)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rfc3339(instant: datetime) -> str:
    """An aware instant as RFC 3339 UTC text, "2026-11-30T10:42:00Z"."""
    utc = instant.astimezone(UTC).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


def _money(money: Money | None) -> JsonObject | None:
    return None if money is None else {"cents": money.cents, "currency": money.currency}


def _period(period: Period | None) -> JsonObject | None:
    return None if period is None else {"start": rfc3339(period.start), "end": rfc3339(period.end)}


def _present(fields: Mapping[str, Any]) -> JsonObject:
    """The fields that hold something (None and empty lists are left out)."""
    return {name: value for name, value in fields.items() if value not in (None, [], {})}


def product_value(product: Product) -> JsonObject:
    """A catalog item: the fields a kiosk shows of a product."""
    return _present(
        {
            "id": product.id,
            "title": product.title,
            "description": product.description,
            "brand": product.brand,
            "product_type": list(product.product_type),
            "link": product.link,
            "image_link": product.image_link,
            "price": _money(product.price),
            "sale_price": _money(product.sale_price),
            "sale_price_effective_date": _period(product.sale_price_effective_date),
            "availability": None if product.availability is None else str(product.availability),
        }
    )


def inventory_row_value(row: LocalInventory) -> JsonObject:
    """One store's stock row of a product, as kept by the hub (store code and id aside)."""
    return _present(
        {
            "quantity": row.quantity,
            "price": _money(row.price),
            "sale_price": _money(row.sale_price),
            "sale_price_effective_date": _period(row.sale_price_effective_date),
            "availability": None if row.availability is None else str(row.availability),
            "pickup_method": None if row.pickup_method is None else str(row.pickup_method),
            "pickup_sla": None if row.pickup_sla is None else str(row.pickup_sla),
            "instore_product_location": row.instore_product_location,
        }
    )


def stock_value(store_id: str, rows: Mapping[str, tuple[JsonObject, str]]) -> JsonObject | None:
    """A stock item for store `store_id`'s kiosks, from every store's row of one product.

    `rows` maps a store code to its row (`inventory_row_value`) and when that row last
    changed. `here` is this store's quantity, with its row's other fields beside it;
    `nearby` the other stores' quantities; `online` the web shop's; `as_of` the newest
    of the rows' times. A row's time is the import that last changed it: re-importing
    the same row is not a change, so it neither moves the time nor makes a version.
    None when no store has a row.
    """
    if not rows:
        return None
    here = rows.get(store_id)
    online = rows.get(ONLINE_STORE)
    nearby = {
        code: row["quantity"]
        for code, (row, _) in sorted(rows.items())
        if code not in (store_id, ONLINE_STORE)
    }
    value: JsonObject = (
        {} if here is None else {k: v for k, v in here[0].items() if k != "quantity"}
    )
    value.update(
        _present(
            {
                "here": None if here is None else here[0]["quantity"],
                "nearby": nearby,
                "online": None if online is None else online[0]["quantity"],
            }
        )
    )
    value["as_of"] = max(as_of for _, as_of in rows.values())
    return value


def reviews_value(reviews: Iterable[Review]) -> JsonObject:
    """A reviews item: the rating out of 5 and the count over all, the newest reviews."""
    ordered = sorted(reviews, key=lambda review: (review.timestamp, review.review_id), reverse=True)
    rating = sum(review.stars for review in ordered) / len(ordered)
    return {
        "rating": round(rating, 2),
        "count": len(ordered),
        "reviews": [_review(review) for review in ordered[:MAX_REVIEWS_SHOWN]],
    }


def _review(review: Review) -> JsonObject:
    return _present(
        {
            "id": review.review_id,
            "time": rfc3339(review.timestamp),
            "stars": round(review.stars, 2),
            "author": None
            if review.is_anonymous or not review.reviewer_name
            else review.reviewer_name,
            "title": review.title,
            "content": review.content or None,
            "pros": list(review.pros),
            "cons": list(review.cons),
            "url": review.review_url,
        }
    )


def offer_value(promotion: Promotion, gtins: Iterable[str]) -> JsonObject:
    """An offers item: a promotion, with the GTINs of the products it applies to."""
    return _present(
        {
            "title": promotion.long_title,
            "applicability": str(promotion.product_applicability),
            "offer_type": str(promotion.offer_type),
            "effective": _period(promotion.promotion_effective_dates),
            "channels": [str(channel) for channel in promotion.redemption_channel],
            "percent_off": promotion.percent_off,
            "money_off": _money(promotion.money_off_amount),
            "gtins": sorted(set(gtins)),
        }
    )


def customer_value(customer: Customer) -> JsonObject:
    """A customers item (keyed by pseudonym): what a kiosk shows when the card is tapped."""
    return _present(
        {
            "first_name": customer.first_name,
            "points": customer.points,
            "personalisation": customer.personalisation,
            "offers": [
                {"gtin": offer.gtin, "title": dict(sorted(offer.title.items()))}
                for offer in customer.offers
            ],
        }
    )


def staff_source_value(member: StaffRecord) -> JsonObject:
    """A staff member as the hub keeps them: the staff item and the stores they work in."""
    return {
        "name": member.name,
        "role": member.role,
        "pin_hash": member.pin_hash,
        "stores": list(member.stores),
    }


def staff_item(source: Mapping[str, Any], store_id: str) -> JsonObject | None:
    """The staff stream's item of store `store_id`'s kiosks (None: not one of its staff).

    The kiosks are told the name, role and PIN hash; not where else the member works.
    """
    stores = source.get("stores") or []
    if stores and store_id not in stores:
        return None
    return {"name": source["name"], "role": source["role"], "pin_hash": source["pin_hash"]}


def profile_value(profile: CustomerProfile) -> JsonObject:
    """A customer's profile as the hub keeps it for staff answers (never published)."""
    return {
        "last_name": profile.last_name,
        "tier": profile.tier,
        "email": profile.email,
        "phone": profile.phone,
        "preferences": list(profile.preferences),
        "sizes": dict(profile.sizes),
        "wishlist": list(profile.wishlist),
    }


def _order_line(line: OrderLineRecord) -> JsonObject:
    return {
        "gtin": line.gtin,
        "title": line.title,
        "quantity": line.quantity,
        "amount": line.amount,
    }


def order_value(order: OrderRecord) -> JsonObject:
    """An order as a staff answer gives it (docs/asyncapi.yaml, `staffOrder`)."""
    return {
        "order": order.number,
        "channel": order.channel,
        "placed": order.placed,
        "where": order.where,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "lines": [_order_line(line) for line in order.lines],
        "returned": [_order_line(line) for line in order.returned],
        "pickup_store": order.pickup_store,
    }
