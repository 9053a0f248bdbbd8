"""A local inventory feed row -> `LocalInventory`."""

from __future__ import annotations

from edge.hub.feeds import fields
from edge.hub.feeds.fields import Row
from edge.hub.feeds.records import LocalInventory, PickupMethod, PickupSla, StoreAvailability


def inventory_from_row(row: Row) -> LocalInventory:
    """The stock a row gives for one product in one store; raises FeedValueError."""
    return LocalInventory(
        # store codes are case-sensitive: kept exactly as written
        store_code=fields.identifier("store_code", row.required("store_code")),
        id=fields.identifier("id", row.required("id")),
        quantity=fields.quantity("quantity", row.required("quantity")),
        price=fields.optional_money(row, "price"),
        sale_price=fields.optional_money(row, "sale_price"),
        sale_price_effective_date=fields.optional_period(row, "sale_price_effective_date"),
        availability=fields.optional_choice(row, "availability", StoreAvailability),
        pickup_method=fields.optional_choice(row, "pickup_method", PickupMethod),
        pickup_sla=fields.optional_choice(row, "pickup_sla", PickupSla),
        instore_product_location=row.first("instore_product_location"),
    )
