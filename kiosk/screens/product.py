"""Product: price, rating, and where the product is in stock (here, nearby, online)."""

from __future__ import annotations

from kivy.properties import NumericProperty, StringProperty

from edge.session import SessionView
from kiosk.formatting import format_count, format_decimal, format_price
from kiosk.screens.base import KioskScreen, load_kv


class ProductScreen(KioskScreen):
    """Everything a shopper asks about a product they hold."""

    name_text = StringProperty("")
    brand = StringProperty("")
    price = StringProperty("")
    rating = NumericProperty(0.0)
    rating_text = StringProperty("")
    stock_here = StringProperty("")
    stock_nearby = StringProperty("")
    stock_online = StringProperty("")
    reviews = StringProperty("")  # the two most helpful excerpts

    def show(self, view: SessionView) -> None:
        product = view.product
        if product is None:
            return
        _, language = self._, view.language
        self.name_text = product.display_name(language)
        self.brand = product.brand
        self.price = format_price(product.price_cents, product.currency, language)
        self.rating = product.rating
        self.rating_text = _(
            "{rating}/5 · {count} reviews",
            rating=format_decimal(product.rating, language),
            count=format_count(product.review_count, language),
        )
        self.reviews = "\n".join(
            f"« {review.text} » — {review.author}, {review.rating}/5"
            for review in product.reviews[:2]
        )
        stock = product.stock
        self.stock_here = self._here(stock.here)
        self.stock_nearby = "\n".join(
            _("{store}: {units}", store=store, units=units if units else _("out of stock"))
            for store, units in stock.nearby
        )
        self.stock_online = (
            _(
                "{units} available, delivered in {days} days",
                units=format_count(stock.online, language),
                days=stock.delivery_days,
            )
            if stock.online
            else _("Not available online")
        )

    def _here(self, units: int) -> str:
        """What the shelf holds, said the way a sales assistant would."""
        if units == 0:
            return self._("Out of stock in this store")
        if units <= 3:
            return self._("Only {units} left in store", units=units)
        return self._("{units} in store", units=units)


load_kv(__file__)
