"""Browse: the store's shelves, then the products of the shelf a shopper picked."""

from __future__ import annotations

import math
from typing import Any

from kivy.properties import NumericProperty, StringProperty

from edge.intents import OpenShelf, ShowProduct
from edge.session import SessionView
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import fill_tiles, product_tile


class BrowseScreen(KioskScreen):
    """Shelves as tiles; a touch lists that shelf's products, best rated first."""

    title = StringProperty("")
    shelf = StringProperty("")  # the shelf shown ("" for the list of shelves)
    rows = NumericProperty(1)  # rows of tiles: they share the screen's height

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        grid = self.ids.grid
        grid.bind(children=self._count_rows, cols=self._count_rows)

    def _count_rows(self, *_: Any) -> None:
        grid = self.ids.grid
        self.rows = max(1, math.ceil(len(grid.children) / grid.cols))

    def show(self, view: SessionView) -> None:
        language = view.language
        shelves = self.app.runtime.shelves()
        if view.category is None:
            self.shelf = ""
            self.title = self._("Our shelves")
            specs = [
                {
                    "button_id": f"category_{category.id}",
                    "target": category.id,
                    "picture": picture,
                    "title": category.display_name(language),
                    "detail": "",
                    "compact": False,
                    "size_hint_y": 1,  # as tall as the grid's rows
                }
                for category, picture in shelves
            ]
            fill_tiles(self.ids.grid, specs, self._open)
            return
        self.shelf = view.category
        names = {category.id: category for category, _ in shelves}
        shelf = names.get(view.category)
        self.title = shelf.display_name(language) if shelf else view.category
        specs = [
            product_tile(f"product_{index}", product, language) | {"size_hint_y": 1}
            for index, product in enumerate(view.results, start=1)
        ]
        fill_tiles(self.ids.grid, specs, self._open)

    def _open(self, target: str) -> None:
        """A touch on a tile: a shelf's id opens the shelf, a product's GTIN the product."""
        if self.shelf:
            self.app.ask(ShowProduct(target, "browse"))
        else:
            self.app.ask(OpenShelf(target))

    def clear(self) -> None:
        super().clear()
        self.ids.grid.clear_widgets()


load_kv(__file__)
