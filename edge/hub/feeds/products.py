"""A product feed row -> `Product`."""

from __future__ import annotations

from edge.hub.feeds import fields
from edge.hub.feeds.fields import Row
from edge.hub.feeds.records import Availability, Product

PRODUCT_TYPE_SEPARATOR = " > "


def product_from_row(row: Row) -> Product:
    """The product a row describes; raises FeedValueError naming the first bad attribute."""
    gtin = row.first("gtin")
    product_type = row.first("product_type")
    return Product(
        id=fields.identifier("id", row.required("id")),
        title=row.required("title"),
        price=fields.money("price", row.required("price")),
        description=row.first("description"),
        link=row.first("link"),
        image_link=row.first("image_link"),
        availability=fields.optional_choice(row, "availability", Availability),
        sale_price=fields.optional_money(row, "sale_price"),
        sale_price_effective_date=fields.optional_period(row, "sale_price_effective_date"),
        gtin=None if gtin is None else fields.gtin("gtin", gtin),
        brand=row.first("brand"),
        product_type=_path(product_type),
        item_group_id=row.first("item_group_id"),
        color=row.first("color"),
        size=row.first("size"),
    )


def _path(text: str | None) -> tuple[str, ...]:
    """ "Maison > Thé" -> ("Maison", "Thé")."""
    if text is None:
        return ()
    return tuple(part.strip() for part in text.split(PRODUCT_TYPE_SEPARATOR) if part.strip())
