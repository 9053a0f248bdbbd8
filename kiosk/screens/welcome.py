"""Welcome: a loyalty card was tapped; greet the shopper, show their points."""

from __future__ import annotations

from kivy.properties import StringProperty

from edge.session import SessionView
from kiosk.formatting import format_count
from kiosk.screens.base import KioskScreen, load_kv


class WelcomeScreen(KioskScreen):
    """Greets a known shopper by first name, or anonymously if they declined."""

    greeting = StringProperty("")
    points = StringProperty("")

    def show(self, view: SessionView) -> None:
        customer = view.customer
        _ = self._
        if customer is not None and customer.personalisation:
            self.greeting = _("Hello {name}!", name=customer.first_name)
            self.points = _(
                "{points} loyalty points", points=format_count(customer.points, view.language)
            )
        elif customer is not None:
            # The shopper declined personalisation: no name, no balance on a public screen.
            self.greeting = _("Hello!")
            self.points = _("Your card is recognised.")
        else:
            self.greeting = _("Hello!")
            self.points = _("This card is not known yet: an advisor can activate it.")


load_kv(__file__)
