"""Welcome: a loyalty card was tapped; greet the shopper, show their points and offers."""

from __future__ import annotations

from kivy.properties import StringProperty

from edge.intents import ShowProduct
from edge.session import SessionView
from kiosk.formatting import format_count
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import fill_tiles

MAX_OFFERS = 3


class WelcomeScreen(KioskScreen):
    """Greets a known shopper by first name, or anonymously if they declined."""

    greeting = StringProperty("")
    points = StringProperty("")
    offers_title = StringProperty("")

    def show(self, view: SessionView) -> None:
        customer = view.customer
        _ = self._
        offers: list[dict[str, object]] = []
        self.offers_title = ""
        if customer is not None and customer.personalisation:
            self.greeting = _("Hello {name}!", name=customer.first_name)
            self.points = _(
                "{points} loyalty points", points=format_count(customer.points, view.language)
            )
            offers = [
                {
                    "button_id": f"offer_{index}",
                    "target": offer.gtin,
                    "title": offer.display_title(view.language),
                    "picture": offer.picture,
                    "size_hint_y": 1,
                }
                for index, offer in enumerate(customer.offers[:MAX_OFFERS], start=1)
            ]
            if customer.offers:
                self.offers_title = _("Your offers")
        elif customer is not None:
            # The shopper declined personalisation: no name, balance or offers on a public screen.
            self.greeting = _("Hello!")
            self.points = _("Your card is recognised.")
        else:
            self.greeting = _("Hello!")
            self.points = _("This card is not known yet: an advisor can activate it.")
        fill_tiles(self.ids.offers, offers, self.open_offer)

    def open_offer(self, gtin: str) -> None:
        """A touch on one of the shopper's offers."""
        self.app.ask(ShowProduct(gtin, "offer"))

    def clear(self) -> None:
        super().clear()
        self.ids.offers.clear_widgets()


load_kv(__file__)
