"""Unknown product: the code was read but the catalog does not have it."""

from __future__ import annotations

from edge.intents import OpenShelf
from edge.session import SessionView
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import fill_tiles


class UnknownProductScreen(KioskScreen):
    """Says kindly that the product is unknown (the scan was still recorded), and offers
    the store's shelves instead."""

    def show(self, view: SessionView) -> None:
        specs = [
            {
                "button_id": f"category_{category.id}",
                "target": category.id,
                "picture": picture,
                "title": category.display_name(view.language),
                "detail": "",
                "compact": False,
                "size_hint_y": 1,  # the shelves share the screen's free height
            }
            for category, picture in self.app.runtime.shelves()
        ]
        fill_tiles(self.ids.shelves, specs, lambda shelf: self.app.ask(OpenShelf(shelf)))

    def clear(self) -> None:
        super().clear()
        self.ids.shelves.clear_widgets()


load_kv(__file__)
