"""Product: price, rating, and where the product is in stock (here, nearby, online)."""

from __future__ import annotations

from kivy.properties import NumericProperty, StringProperty

from edge.session import SessionView
from kiosk.formatting import format_count, format_decimal, format_price
from kiosk.screens.base import KioskScreen, load_kv


def stock_here_text(units: int) -> str:
    """What the shelf holds, said the way a sales assistant would."""
    if units == 0:
        return "Épuisé dans ce magasin"
    if units <= 3:
        return f"Plus que {units} en magasin"
    return f"{units} en magasin"


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

    def show(self, view: SessionView) -> None:
        product = view.product
        if product is None:
            return
        self.name_text = product.display_name("fr")
        self.brand = product.brand
        self.price = format_price(product.price_cents, product.currency)
        self.rating = product.rating
        self.rating_text = (
            f"{format_decimal(product.rating)}/5 · {format_count(product.review_count)} avis"
        )
        stock = product.stock
        self.stock_here = stock_here_text(stock.here)
        self.stock_nearby = "\n".join(
            f"{store} : {units if units else 'épuisé'}" for store, units in stock.nearby
        )
        self.stock_online = (
            f"{format_count(stock.online)} disponibles, livrés en {stock.delivery_days} jours"
            if stock.online
            else "Indisponible en ligne"
        )


load_kv(__file__)
