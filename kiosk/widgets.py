"""Small widgets shared by the screens."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from kivy.graphics import Color, Mesh
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge.catalog import Product
from kiosk.formatting import format_price


def _star_points(cx: float, cy: float, outer: float) -> list[tuple[float, float]]:
    inner = outer * 0.45
    points = []
    for index in range(10):
        radius = outer if index % 2 == 0 else inner
        angle = math.pi / 2 + index * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


class StarRating(Widget):  # type: ignore[misc]
    """Five stars filled to `rating` (0 to 5), drawn rather than taken from a font."""

    rating = NumericProperty(0.0)
    color = ColorProperty((1.0, 0.74, 0.18, 1))
    empty_color = ColorProperty((1, 1, 1, 0.25))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._draw, size=self._draw, rating=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        size = min(self.height, self.width / 5)
        with self.canvas:
            for index in range(5):
                fill = max(0.0, min(1.0, self.rating - index))
                cx = self.x + size * (index + 0.5)
                cy = self.y + self.height / 2
                self._star(cx, cy, size * 0.48, self.empty_color)
                if fill > 0:
                    self._star(cx, cy, size * 0.48, self.color, clip=fill, left=cx - size * 0.48)

    def _star(
        self,
        cx: float,
        cy: float,
        outer: float,
        color: Any,
        clip: float = 1.0,
        left: float = 0.0,
    ) -> None:
        right = left + clip * 2 * outer if clip < 1.0 else math.inf
        points = [(min(x, right), y) for x, y in _star_points(cx, cy, outer)]
        vertices: list[float] = [cx if clip >= 1.0 else min(cx, right), cy, 0, 0]
        for x, y in [*points, points[0]]:
            vertices += [x, y, 0, 0]
        Color(*color)
        Mesh(vertices=vertices, indices=list(range(len(vertices) // 4)), mode="triangle_fan")


class ProductTile(ButtonBehavior, BoxLayout):  # type: ignore[misc]
    """A product (or a shelf) as a touchable tile: picture, title, one line of detail."""

    button_id = StringProperty("")
    picture = StringProperty("")
    title = StringProperty("")
    detail = StringProperty("")
    compact = BooleanProperty(False)  # one row: a small picture beside the texts
    target = StringProperty("")  # what a touch opens (a GTIN, a shelf id)


def product_tile(
    button_id: str, product: Product, language: str, *, compact: bool = False
) -> dict[str, Any]:
    """The tile of a product in a list: picture, name and today's price; a touch opens it."""
    return {
        "button_id": button_id,
        "target": product.gtin,
        "picture": product.picture,
        "title": product.display_name(language),
        "detail": format_price(product.current_price_cents, product.currency, language),
        "compact": compact,
    }


def fill_tiles(
    container: Widget, specs: Sequence[dict[str, Any]], on_touch: Callable[[str], None]
) -> None:
    """One tile per spec (its property values) in `container`, reusing the tiles there.

    Building a tile applies its kv rules, the costliest part of drawing a screen: the
    tiles of a list are made once and then only refilled.
    """
    tiles = list(reversed(container.children))  # Kivy keeps children last-added first
    for index, spec in enumerate(specs):
        if index < len(tiles):
            tile = tiles[index]
        else:
            tile = ProductTile()
            tile.bind(on_release=lambda touched: on_touch(touched.target))
            container.add_widget(tile)
        for name, value in spec.items():
            setattr(tile, name, value)
    for tile in tiles[len(specs) :]:
        container.remove_widget(tile)


def attach_while(owner: Widget, prop: str, widget: Widget) -> None:
    """Keep `widget` in `owner`'s tree only while `owner.<prop>` is true.

    A hidden overlay left in the tree at opacity 0 is still drawn every frame; with a
    software renderer that doubles the time to put a new screen up.
    """
    widget = getattr(widget, "__self__", widget)  # kv ids are weak proxies: hold the widget

    def follow(*_: Any) -> None:
        if getattr(owner, prop) and widget.parent is None:
            owner.add_widget(widget)
        elif not getattr(owner, prop) and widget.parent is owner:
            owner.remove_widget(widget)

    owner.fbind(prop, follow)
    follow()
