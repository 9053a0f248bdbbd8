"""Attract: the screen nobody is using yet, a loop of the store's promotions."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from edge.catalog import Product
from edge.intents import ShowProduct
from edge.session import SessionView
from kiosk.formatting import format_date, format_price
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import PositionDots, SwipeBehavior  # noqa: F401 - kv classes

SLIDE_SECONDS = 6.0


class AttractScreen(KioskScreen):
    """Invites a touch, a card or a scan, with a promotion every few seconds."""

    store_name = StringProperty("")
    slide = NumericProperty(0)
    slide_count = NumericProperty(0)  # for the position dots
    has_slide = BooleanProperty(False)
    catalog_empty = BooleanProperty(False)  # no product at all: say so instead of a blank loop
    headline = StringProperty("")
    product_name = StringProperty("")
    price = StringProperty("")
    was = StringProperty("")  # the price before the promotion, struck through
    until = StringProperty("")
    picture = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._highlights: tuple[Product, ...] = ()  # the store's promotions, no shopper's data
        self._language = "fr"
        self._ticker = Clock.schedule_interval(self.next_slide, SLIDE_SECONDS)
        self._ticker.cancel()
        self.show(SessionView())

    def on_enter(self, *_: Any) -> None:
        self._ticker()

    def on_leave(self, *_: Any) -> None:
        self._ticker.cancel()

    def show(self, view: SessionView) -> None:
        # Asked again each time: a promotion that ended overnight leaves the loop.
        highlights = self.app.runtime.highlights()
        self.catalog_empty = self.app.runtime.catalog.is_empty()
        if highlights != self._highlights:
            self._highlights, self.slide = highlights, 0
        self._language = view.language
        self._render()

    def next_slide(self, *_: Any) -> None:
        """Move the loop on to the next promotion."""
        self.move_by(1)

    def move_by(self, step: int) -> None:
        """Move the loop `step` promotions on (back when negative), round the loop."""
        if self._highlights:
            self.slide = (self.slide + step) % len(self._highlights)
            self._render()

    def swiped(self, step: int) -> None:
        """A shopper swiped the slide: move, and give them a whole turn to read it."""
        self.move_by(step)
        if self.manager is not None and self.manager.current == self.name:
            self._ticker.cancel()
            self._ticker()

    def promoted_gtin(self) -> str | None:
        """The product of the slide on screen (a touch opens it)."""
        return self._highlights[self.slide].gtin if self._highlights else None

    def open_promotion(self) -> None:
        """A touch on the slide: the promoted product."""
        gtin = self.promoted_gtin()
        if gtin is not None:
            self.app.ask(ShowProduct(gtin, "promotion"))

    def _render(self) -> None:
        self.has_slide = bool(self._highlights)
        self.slide_count = len(self._highlights)
        if not self._highlights:
            return
        product = self._highlights[self.slide]
        promotion = product.promotion
        language = self._language
        self.product_name = product.display_name(language)
        self.picture = product.picture
        self.price = format_price(product.current_price_cents, product.currency, language)
        if promotion is not None:
            self.headline = promotion.display_title(language)
            self.was = format_price(product.price_cents, product.currency, language)
            self.until = (
                ""  # a sale price the retailer gave no end date: none is made up
                if promotion.open_ended
                else self._("Until {date}", date=format_date(promotion.ends, language))
            )
        else:
            self.headline, self.was, self.until = self.product_name, "", ""

    def clear(self) -> None:
        """Nothing of a shopper is ever on the attract screen."""


load_kv(__file__)
