"""Welcome: a loyalty card was tapped; greet the shopper, show their points and offers."""

from __future__ import annotations

from kivy.properties import StringProperty

from edge.session import SessionView
from kiosk.formatting import format_count
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import ProductTile

MAX_OFFERS = 3


class WelcomeScreen(KioskScreen):
    """Greets a known shopper by first name, or anonymously if they declined."""

    greeting = StringProperty("")
    points = StringProperty("")
    offers_title = StringProperty("")

    def show(self, view: SessionView) -> None:
        customer = view.customer
        _ = self._
        offers = self.ids.offers
        offers.clear_widgets()
        self.offers_title = ""
        if customer is not None and customer.personalisation:
            self.greeting = _("Hello {name}!", name=customer.first_name)
            self.points = _(
                "{points} loyalty points", points=format_count(customer.points, view.language)
            )
            for index, offer in enumerate(customer.offers[:MAX_OFFERS], start=1):
                tile = ProductTile(
                    button_id=f"offer_{index}",
                    title=offer.display_title(view.language),
                    picture=offer.picture,
                    size_hint_y=1,
                )
                tile.bind(on_release=lambda _, gtin=offer.gtin: self.open_offer(gtin))
                offers.add_widget(tile)
            if customer.offers:
                self.offers_title = _("Your offers")
        elif customer is not None:
            # The shopper declined personalisation: no name, balance or offers on a public screen.
            self.greeting = _("Hello!")
            self.points = _("Your card is recognised.")
        else:
            self.greeting = _("Hello!")
            self.points = _("This card is not known yet: an advisor can activate it.")

    def open_offer(self, gtin: str) -> None:
        """A touch on one of the shopper's offers."""
        self.app.view_product(gtin, "offer")

    def clear(self) -> None:
        super().clear()
        self.ids.offers.clear_widgets()


load_kv(__file__)
