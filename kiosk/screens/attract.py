"""Attract: the screen nobody is using yet, inviting a tap or a scan."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk.screens.base import KioskScreen, load_kv


class AttractScreen(KioskScreen):
    """Invites the shopper to scan a product or tap a loyalty card."""

    store_name = StringProperty("")

    def clear(self) -> None:
        """Nothing of a shopper is ever on the attract screen."""


load_kv(__file__)
