"""What every staff screen shares: the banner that says the kiosk is in staff mode (who
is logged in, the language, "Terminer" always in reach), and a picture of what to do.

A staff screen is shown while `SessionView.screen` is STAFF, one per `StaffView.page`
(kiosk/app.py picks `staff_<page>`). Like a shopper's screen it keeps only strings, and
forgets them when the kiosk leaves staff mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.graphics import Color, Line, RoundedRectangle
from kivy.metrics import dp, sp
from kivy.properties import ColorProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge.session import SessionView
from edge.staff.view import StaffView
from kiosk.screens.base import KioskScreen, load_kv
from kiosk.staff_words import first_name, role_name


class StaffScreen(KioskScreen):
    """A screen of staff mode: its banner names who is logged in."""

    member = StringProperty("")  # "Léa D. · Vendeuse"
    first_name = StringProperty("")

    def show(self, view: SessionView) -> None:
        staff = view.staff
        if staff is None:
            return
        member = staff.member
        if member is None:
            self.member, self.first_name = "", ""
        else:
            self.member = f"{member.name} · {role_name(member.role, self._)}"
            self.first_name = first_name(member.name)
        self.show_staff(view, staff)

    def show_staff(self, view: SessionView, staff: StaffView) -> None:
        """Fill the screen from the staff view (in the view's language)."""


def show_one(container: Widget, shown: Widget, hidden: Widget, index: int = 0) -> None:
    """`shown` in `container` (at `index`), `hidden` out of it: a widget hidden at opacity
    0 would still be drawn, take room and have its texts read."""
    if hidden.parent is not None:
        container.remove_widget(hidden)
    if shown.parent is None:
        container.add_widget(shown, index=index)


def fill_rows(
    container: Widget,
    kind: str,
    items: list[dict[str, Any]],
    on_action: Callable[[str], None] | None = None,
) -> None:
    """One widget of kv class `kind` per dict (its property values) in `container`,
    reusing the widgets there (building one applies its kv rules: the costly part). A
    row's button `action`, if any, calls `on_action(row.target)`."""
    existing = list(reversed(container.children))  # Kivy keeps children last-added first
    for index, values in enumerate(items):
        if index < len(existing):
            row = existing[index]
        else:
            row = getattr(Factory, kind)()
            if on_action is not None:
                row.ids.action.bind(on_release=lambda _, row=row: on_action(row.target))
            container.add_widget(row)
        for name, value in values.items():
            setattr(row, name, value)
    for row in existing[len(items) :]:
        container.remove_widget(row)


# A line of a card: (text, style); styles are kv classes of staff_base.kv.
CardLine = tuple[str, str]
LINE_STYLES = {"heading": 20, "status": 18, "status_warn": 18, "body": 18}  # their sp


class LineCard(BoxLayout):  # type: ignore[misc]
    """A card of single lines (too long ones end with "…"), so its height is known
    before it is drawn: a list can then show as many whole cards as fit."""

    lines = ListProperty([])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fbind("lines", self._build)
        for name in ("padding", "spacing"):
            self.fbind(name, self._resize)
        App.get_running_app().theme.fbind("scale", self._resize)

    def _build(self, *_: Any) -> None:
        self.clear_widgets()
        for text, style in self.lines:
            self.add_widget(getattr(Factory, f"StaffLine_{style}")(text=text))
        self._resize()

    def _resize(self, *_: Any) -> None:
        self.height = self.expected_height()

    def expected_height(self) -> float:
        """Its padding, its lines and the spacing between them, in pixels."""
        theme = App.get_running_app().theme
        lines = sum(line_height(style, theme.scale) for _, style in self.lines)
        gaps = self.spacing * max(0, len(self.lines) - 1)
        return float(self.padding[1] + self.padding[3] + lines + gaps)


def line_height(style: str, scale: float) -> float:
    """The height of one line of `style` (the font's size and some leading)."""
    return float(sp(LINE_STYLES[style])) * scale * 1.35


class PagedList(BoxLayout):  # type: ignore[misc]
    """Cards one under the other from `first`, as many whole ones as fit its height;
    `next_page` and `previous_page` show the others. No card is ever cut in half."""

    first = NumericProperty(0)
    shown = NumericProperty(0)
    total = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cards: list[LineCard] = []
        self._starts: list[int] = []  # where the pages before this one started
        self._below = Widget()
        self._fit = Clock.create_trigger(self._refit)
        self.fbind("height", self._fit)
        self.fbind("spacing", self._fit)
        App.get_running_app().theme.fbind("scale", self._fit)

    def set_cards(self, pages: list[list[CardLine]]) -> None:
        """One card per list of lines, from the first page."""
        while len(self._cards) < len(pages):
            self._cards.append(Factory.StaffLineCard())
        del self._cards[len(pages) :]
        for card, lines in zip(self._cards, pages, strict=True):
            card.lines = lines
        self.total = len(pages)
        self.first = 0
        self._starts = []
        self._refit()

    def next_page(self) -> None:
        if self.first + self.shown < self.total:
            self._starts.append(int(self.first))
            self.first += self.shown
            self._refit()

    def previous_page(self) -> None:
        if self._starts:
            self.first = self._starts.pop()
            self._refit()

    def _refit(self, *_: Any) -> None:
        room, used = self.height, 0.0
        shown: list[LineCard] = []
        for card in self._cards[int(self.first) :]:
            need = card.expected_height() + (self.spacing if shown else 0)
            if shown and used + need > room:
                break
            used += need
            shown.append(card)
        self.clear_widgets()
        for card in shown:
            self.add_widget(card)
        self.add_widget(self._below)  # a BoxLayout puts what does not fill it at the bottom
        self.shown = len(shown)


class Pictogram(Widget):  # type: ignore[misc]
    """What the associate is asked to do, drawn: a card laid on the reader ("card"), or
    a phone showing a QR code to the camera ("qr"). Drawn, not taken from a font or a
    file, so it follows the theme's colours and grows with the display."""

    kind = StringProperty("card")
    color = ColorProperty((0.72, 0.78, 0.86, 1))
    accent = ColorProperty((0.80, 0.27, 0.09, 1))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in ("pos", "size", "kind", "color", "accent"):
            self.fbind(name, self._draw)
        self._draw()

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        side = min(self.width, self.height)
        if side <= 0:
            return
        x0, y0 = self.center_x - side / 2, self.center_y - side / 2
        width = max(dp(2), side / 60)
        with self.canvas:
            if self.kind == "qr":
                self._phone(x0, y0, side, width)
            else:
                self._card(x0, y0, side, width)

    def _card(self, x0: float, y0: float, side: float, width: float) -> None:
        # The reader: a flat box; above it the card, tilted a little; waves between.
        Color(*self.color)
        Line(
            rounded_rectangle=(
                x0 + side * 0.1,
                y0 + side * 0.05,
                side * 0.8,
                side * 0.22,
                side * 0.04,
            ),
            width=width,
        )
        Color(*self.accent)
        RoundedRectangle(
            pos=(x0 + side * 0.2, y0 + side * 0.5),
            size=(side * 0.6, side * 0.38),
            radius=[side * 0.04],
        )
        Color(*self.color)
        for step in range(3):
            radius = side * (0.08 + 0.07 * step)
            Line(circle=(x0 + side * 0.5, y0 + side * 0.3, radius, 150, 210), width=width)

    def _phone(self, x0: float, y0: float, side: float, width: float) -> None:
        Color(*self.color)
        Line(
            rounded_rectangle=(
                x0 + side * 0.28,
                y0 + side * 0.04,
                side * 0.44,
                side * 0.92,
                side * 0.05,
            ),
            width=width,
        )
        # A QR code's three finder squares and a few modules: enough to be recognised.
        Color(*self.accent)
        cell = side * 0.3 / 7
        left, top = x0 + side * 0.35, y0 + side * 0.78
        for fx, fy in ((0, 0), (4, 0), (0, 4)):
            Line(
                rectangle=(left + fx * cell, top - (fy + 3) * cell, cell * 3, cell * 3), width=width
            )
        for mx, my in ((4, 4), (5, 5), (6, 4), (4, 6), (6, 6), (5, 3)):
            RoundedRectangle(
                pos=(left + mx * cell, top - (my + 1) * cell), size=(cell, cell), radius=[0]
            )


load_kv(__file__)
