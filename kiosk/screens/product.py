"""Product: picture, price, rating, reviews, stock here / nearby / online, similar products.

Stock the platform has not confirmed for a while (the link is down) is shown with its
time, "Stock à 10:42", rather than passed off as current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from edge.catalog import Product, Review, Stock
from edge.intents import ShowProduct
from edge.session import SessionView
from kiosk.formatting import format_count, format_date, format_decimal, format_price
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import attach_while, fill_tiles, product_tile


class ProductScreen(KioskScreen):
    """Everything a shopper asks about a product they hold."""

    name_text = StringProperty("")
    brand = StringProperty("")
    description = StringProperty("")
    picture = StringProperty("")
    price = StringProperty("")
    was = StringProperty("")  # the price before a running promotion, struck through
    rating = NumericProperty(0.0)
    rating_text = StringProperty("")
    stock_here = StringProperty("")
    stock_nearby = StringProperty("")
    stock_online = StringProperty("")
    stock_time = StringProperty("")  # when stale: when the stock shown was last confirmed
    excerpt_1 = StringProperty("")  # the most helpful review, cut to a few lines
    excerpt_2 = StringProperty("")  # the next one ("" in large text: room for one)
    all_reviews = StringProperty("")  # every review, when the shopper opened them
    reviews_open = BooleanProperty(False)
    can_go_back = BooleanProperty(False)
    has_similar = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        attach_while(self, "reviews_open", self.ids.reviews_layer)
        # "Back" and "Done" span the screen's foot in portrait; in landscape they go
        # under the picture, leaving the texts' column its whole height (a 1280x800
        # tablet has no row to spare there).
        self.app.theme.bind(portrait=self._place_navigation)
        self._place_navigation()

    def _place_navigation(self, *_: Any) -> None:
        navigation = self.ids.navigation.__self__  # ids are weak proxies: the widgets
        home = (self.ids.page if self.app.theme.portrait else self.ids.media).__self__
        if navigation.parent is not home:
            navigation.parent.remove_widget(navigation)
            home.add_widget(navigation)  # last: at the foot

    def show(self, view: SessionView) -> None:
        product = view.product
        if product is None:
            return
        _, language = self._, view.language
        self.name_text = product.display_name(language)
        self.brand = product.brand
        self.description = product.display_description(language)
        self.picture = product.picture
        self.price = format_price(product.current_price_cents, product.currency, language)
        self.was = (
            format_price(product.price_cents, product.currency, language)
            if product.promotion
            else ""
        )
        self.rating = product.rating
        self.rating_text = _(
            "{rating}/5 · {count} reviews",
            rating=format_decimal(product.rating, language),
            count=format_count(product.review_count, language),
        )
        # Large text leaves room for one excerpt; "All reviews" shows them all.
        shown = 1 if view.accessibility.large_text else 2
        excerpts = [_excerpt(review) for review in product.reviews[:shown]]
        self.excerpt_1, self.excerpt_2 = [*excerpts, "", ""][:2]
        self.reviews_open = view.reviews_open
        self.all_reviews = (
            "\n\n".join(self._full(review, language) for review in product.reviews)
            if view.reviews_open
            else ""
        )
        self.can_go_back = view.listing is not None
        self._show_stock(product, language)
        self._show_similar(view.similar, language)

    def _show_stock(self, product: Product, language: str) -> None:
        _, stock = self._, product.stock
        self.stock_here = self._here(stock.here)
        self.stock_nearby = "\n".join(
            _("{store}: {units}", store=store, units=units if units else _("out of stock"))
            for store, units in stock.nearby
        )
        online = format_count(stock.online, language)
        if not stock.online:
            self.stock_online = _("Not available online")
        elif stock.delivery_days is None:
            self.stock_online = _("{units} available online", units=online)
        else:
            self.stock_online = _(
                "{units} available, delivered in {days} days",
                units=online,
                days=stock.delivery_days,
            )
        self.stock_time = self._stock_time(stock, language)

    def _stock_time(self, stock: Stock, language: str) -> str:
        """ "Stock as of 10:42" for stale stock (with the day when not today), else ""."""
        if not stock.stale:
            return ""
        if stock.as_of is None:
            return self._("Stock not received yet")
        local = stock.as_of.astimezone()  # the kiosk's clock is the store's
        time = f"{local:%H:%M}"
        if local.date() == datetime.now().astimezone().date():
            return self._("Stock as of {time}", time=time)
        day = format_date(local.date(), language)
        return self._("Stock as of {time} on {day}", time=time, day=day)

    def _show_similar(self, similar: tuple[Product, ...], language: str) -> None:
        self.has_similar = bool(similar)
        specs = [
            product_tile(f"similar_{index}", other, language, compact=True)
            for index, other in enumerate(similar, start=1)
        ]
        fill_tiles(self.ids.similar, specs, lambda gtin: self.app.ask(ShowProduct(gtin, "similar")))

    def _here(self, units: int) -> str:
        """What the shelf holds, said the way a sales assistant would."""
        if units == 0:
            return self._("Out of stock in this store")
        if units <= 3:
            return self._("Only {units} left in store", units=units)
        return self._("{units} in store", units=units)

    def _full(self, review: Review, language: str) -> str:
        helpful = self._("Helpful: {count}", count=format_count(review.helpful, language))
        return f"{review.author} · {review.rating}/5 · {helpful}\n« {review.text} »"

    def clear(self) -> None:
        super().clear()
        self.ids.similar.clear_widgets()


def _excerpt(review: Review, limit: int = 110) -> str:
    text = review.text if len(review.text) <= limit else review.text[: limit - 1].rstrip() + "…"
    return f"« {text} » — {review.author}, {review.rating}/5"


load_kv(__file__)
