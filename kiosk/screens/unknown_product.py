"""Unknown product: the code was read but the catalog does not have it."""

from __future__ import annotations

from kiosk.screens.base import KioskScreen, load_kv


class UnknownProductScreen(KioskScreen):
    """Says kindly that the product is unknown; the scan was still recorded."""


load_kv(__file__)
