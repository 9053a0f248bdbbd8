"""Search: an on-screen AZERTY keyboard, and the products that match what was typed."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty

from edge.intents import ShowProduct, TypeText
from edge.session import SessionView
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import fill_tiles, product_tile

# A French keyboard: accents are not needed, the search ignores them.
ROWS = ("1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn'-")


class SearchScreen(KioskScreen):
    """Typed text, the keyboard, and the results once the shopper asked."""

    query = StringProperty("")
    summary = StringProperty("")  # how many products were found

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for row, keys in zip(self.ids.keyboard.children[::-1], ROWS, strict=False):
            for key in keys:
                button = self._key(key)
                row.add_widget(button)
        self.app.theme.fbind("portrait", self._shape_results)

    def _shape_results(self, *_: Any) -> None:
        """Results as one-line tiles in landscape's narrow column, large tiles in portrait."""
        for tile in self.ids.results.children:
            tile.compact = not self.app.theme.portrait

    def _key(self, key: str) -> Any:
        from kivy.factory import Factory

        button = Factory.KeyButton(text=key.upper(), button_id=key_id(key))
        button.bind(on_release=lambda _, text=key: self.app.ask(TypeText(text)))
        return button

    def show(self, view: SessionView) -> None:
        self.query = view.query
        if not view.searched:
            self.summary = ""
            fill_tiles(self.ids.results, [], self._open)
            return
        language = view.language
        count = len(view.results)
        if count == 0:
            self.summary = self._("No product matches “{query}”.", query=view.query)
        elif count == 1:
            self.summary = self._("One product found")
        else:
            self.summary = self._("{count} products found", count=count)
        specs = [
            product_tile(f"product_{index}", product, language, compact=not self.app.theme.portrait)
            for index, product in enumerate(view.results, start=1)
        ]
        fill_tiles(self.ids.results, specs, self._open)

    def _open(self, gtin: str) -> None:
        self.app.ask(ShowProduct(gtin, "search"))

    def clear(self) -> None:
        super().clear()
        self.ids.results.clear_widgets()


def key_id(char: str) -> str:
    """The button id of the key that types `char` ("key_a", "key_space"...)."""
    name = {"'": "apostrophe", "-": "hyphen", " ": "space"}.get(char, char.lower())
    return f"key_{name}"


load_kv(__file__)
