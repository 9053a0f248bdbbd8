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
        if customer is not None and customer.personalisation:
            self.greeting = f"Bonjour {customer.first_name} !"
            self.points = f"{format_count(customer.points)} points fidélité"
        elif customer is not None:
            # The shopper declined personalisation: no name, no balance on a public screen.
            self.greeting = "Bonjour !"
            self.points = "Votre carte est bien reconnue."
        else:
            self.greeting = "Bonjour !"
            self.points = "Cette carte n'est pas encore connue : un conseiller peut l'activer."


load_kv(__file__)
