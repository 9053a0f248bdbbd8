"""Small widgets shared by the screens."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.factory import Factory
from kivy.graphics import Color, Ellipse, Mesh
from kivy.metrics import dp
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


def widest_word(text: str, font_size: float, bold: bool = True) -> float:
    """The width in pixels of the longest word of `text` drawn at `font_size`: a button
    narrower than that breaks the word in two ("Accessibili-té") instead of wrapping."""
    widest = 0.0
    for word in text.split():
        label = CoreLabel(text=word, font_size=font_size, bold=bold)
        widest = max(widest, float(label.get_extents(word)[0]))
    return widest


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


# How far a finger must travel sideways before a touch is a swipe rather than a press:
# about a centimetre on a 43" totem, well beyond a shaky tap.
SWIPE_DP = 48


class SwipeBehavior(ButtonBehavior):  # type: ignore[misc]
    """A button that can also be swiped: a touch that moves sideways beyond `swipe_dp`
    fires `on_swipe` with +1 (towards the left: the next one) or -1, and never
    `on_release`; a touch that stays put is a press as before."""

    swipe_dp = NumericProperty(SWIPE_DP)
    __events__ = ("on_swipe",)

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is self and self._key() not in touch.ud:
            moved = touch.x - touch.ox
            if abs(moved) > dp(self.swipe_dp):
                touch.ud[self._key()] = 1 if moved < 0 else -1
                self.state = "normal"  # not pressed any more: the finger is sliding
        return bool(super().on_touch_move(touch))

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is self and self._key() in touch.ud:
            touch.ungrab(self)
            self.state = "normal"
            self.dispatch("on_swipe", touch.ud[self._key()])
            return True
        return bool(super().on_touch_up(touch))

    def on_swipe(self, step: int) -> None:
        """Swiped: +1 towards the next item, -1 towards the previous one."""

    def _key(self) -> str:
        return f"swipe.{id(self)}"


# A behaviour is not a widget: kv rules find it only once registered.
Factory.register("SwipeBehavior", cls=SwipeBehavior)


class PositionDots(Widget):  # type: ignore[misc]
    """Where a loop is: one dot per item, the current one filled and larger."""

    count = NumericProperty(0)
    current = NumericProperty(0)
    color = ColorProperty((1, 1, 1, 1))
    dim_color = ColorProperty((1, 1, 1, 0.3))
    dot_dp = NumericProperty(14)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Drawn once per frame, after the layout has settled (a resize moves it twice).
        redraw = Clock.create_trigger(self._draw)
        for name in ("pos", "size", "count", "current", "color", "dim_color", "dot_dp"):
            self.fbind(name, redraw)
        redraw()

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        count = int(self.count)
        if count < 2:  # one item has nowhere else to be
            return
        dot = dp(self.dot_dp)
        gap = dot * 1.4
        left = self.center_x - (count * dot + (count - 1) * gap) / 2
        with self.canvas:
            for index in range(count):
                current = index == int(self.current)
                size = dot * 1.35 if current else dot
                cx = left + index * (dot + gap) + dot / 2
                Color(*(self.color if current else self.dim_color))
                Ellipse(pos=(cx - size / 2, self.center_y - size / 2), size=(size, size))
