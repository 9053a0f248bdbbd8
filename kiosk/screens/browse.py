"""Browse: the store's shelves, then the products of the shelf a shopper picked."""

from __future__ import annotations

from kivy.properties import StringProperty

from edge.session import SessionView
from kiosk.formatting import format_price
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.widgets import ProductTile


class BrowseScreen(KioskScreen):
    """Shelves as tiles; a touch lists that shelf's products, best rated first."""

    title = StringProperty("")
    shelf = StringProperty("")  # the shelf shown ("" for the list of shelves)

    def show(self, view: SessionView) -> None:
        grid = self.ids.grid
        grid.clear_widgets()
        language = view.language
        if view.category is None:
            self.shelf = ""
            self.title = self._("Our shelves")
            for category, picture in self.app.runtime.shelves():
                tile = ProductTile(
                    button_id=f"category_{category.id}",
                    picture=picture,
                    title=category.display_name(language),
                )
                tile.bind(on_release=lambda _, shelf=category.id: self.app.browse(shelf))
                grid.add_widget(tile)
            return
        self.shelf = view.category
        names = {category.id: category for category, _ in self.app.runtime.shelves()}
        shelf = names.get(view.category)
        self.title = shelf.display_name(language) if shelf else view.category
        for index, product in enumerate(view.results, start=1):
            tile = ProductTile(
                button_id=f"product_{index}",
                picture=product.picture,
                title=product.display_name(language),
                detail=format_price(product.current_price_cents, product.currency, language),
            )
            tile.bind(on_release=lambda _, gtin=product.gtin: self.app.view_product(gtin, "browse"))
            grid.add_widget(tile)

    def clear(self) -> None:
        super().clear()
        self.ids.grid.clear_widgets()


load_kv(__file__)
