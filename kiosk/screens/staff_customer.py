"""The customer's 360° view, for an associate: asking them to lay their card (their
consent to this one view), waiting for the hub, then who they are to the brand —
name and tier, points, contact (masked unless a manager asks), preferences and sizes,
purchases on every channel as cards, click & collect pickups, wishlist, suggestions.

What the hub answered lives in the session's StaffView; this screen holds only the texts
drawn from it and forgets them when the associate leaves the page or staff mode.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.widget import Widget

from edge.catalog import Product
from edge.session import SessionView
from edge.staff.view import CustomerFile, Order, StaffNotice, StaffView
from kiosk.formatting import format_count, format_price
from kiosk.screens.base import load_kv
from kiosk.screens.staff_base import CardLine, StaffScreen, fill_rows, show_one
from kiosk.staff_words import order_details, order_heading, place_name, status_name


class StaffCustomerScreen(StaffScreen):
    """The card prompt (and what came of the last tap), or the customer's file."""

    has_file = BooleanProperty(False)
    prompt = StringProperty("")  # what to do now, or what the last tap gave
    prompt_tone = StringProperty("text")
    waiting = BooleanProperty(False)
    full_name = StringProperty("")
    standing = StringProperty("")  # "Or · 1 250 points"
    email = StringProperty("")
    phone = StringProperty("")
    contact_note = StringProperty("")
    preferences = StringProperty("")
    sizes = StringProperty("")
    orders_title = StringProperty("")
    wishlist_empty = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # kv ids are weak proxies: hold the widgets themselves while out of the tree.
        self._prompt_box: Widget = self.ids.prompt_box.__self__
        self._file: Widget = self.ids.file.__self__
        self.fbind("has_file", self._follow_file)
        self._follow_file()
        ids = self.ids
        for pair in (
            (ids.contact_card, ids.preferences_card),
            (ids.wishlist_card, ids.suggestions_card),
        ):
            _pair(*(card.__self__ for card in pair))

    def _follow_file(self, *_: Any) -> None:
        """The prompt or the file, above the Back button."""
        shown, hidden = (
            (self._file, self._prompt_box) if self.has_file else (self._prompt_box, self._file)
        )
        show_one(self.ids.content, shown, hidden, index=1)

    def show_staff(self, view: SessionView, staff: StaffView) -> None:
        customer = staff.customer
        self.has_file = customer is not None
        if customer is None:
            self._show_prompt(staff.notice)
            self._clear_file()
            return
        manager = staff.member is not None and staff.member.manager
        self._show_file(customer, manager, view.language)

    def _show_prompt(self, notice: StaffNotice) -> None:
        _ = self._
        self.waiting = notice is StaffNotice.WAITING
        tone, text = {
            StaffNotice.WAITING: ("text", _("Looking for the customer's file…")),
            StaffNotice.DECLINED: (
                "warn",
                _("This customer declined personalisation: nothing is shown."),
            ),
            StaffNotice.UNKNOWN_CUSTOMER: ("warn", _("This card is not known to the brand.")),
            StaffNotice.HUB_SILENT: (
                "warn",
                _("The customer service does not answer. Try again in a moment."),
            ),
        }.get(notice, ("text", _("Ask the customer to lay their loyalty card on the reader.")))
        self.prompt, self.prompt_tone = text, tone

    def _show_file(self, customer: CustomerFile, manager: bool, language: str) -> None:
        _ = self._
        self.full_name = f"{customer.first_name} {customer.last_name}".strip()
        points = _("{points} points", points=format_count(customer.points, language))
        self.standing = f"{customer.tier} · {points}" if customer.tier else points
        self.email = customer.email
        self.phone = customer.phone
        self.contact_note = "" if manager else _("Contact details are shown to managers only.")
        self.preferences = " · ".join(customer.preferences) or _("None given")
        self.sizes = " · ".join(
            f"{label} : {size}" if language == "fr" else f"{label}: {size}"
            for label, size in customer.sizes
        ) or _("None given")
        pickups = len(customer.pickups)
        self.orders_title = (
            _(
                "{count} purchases on every channel, {pickups} click & collect",
                count=len(customer.orders),
                pickups=pickups,
            )
            if customer.orders
            else _("No purchase yet")
        )
        self.ids.orders.set_cards([self._order_lines(order, language) for order in customer.orders])
        for name, products in (
            ("wishlist", customer.wishlist),
            ("suggestions", customer.suggestions),
        ):
            fill_rows(self.ids[name], "StaffProductLine", _product_lines(products, language))
        self.wishlist_empty = "" if customer.wishlist else _("Empty")

    def _order_lines(self, order: Order, language: str) -> list[CardLine]:
        """An order as a card: when, how and where; its number and status; the items,
        total and returns; for click & collect, where it waits."""
        _, names = self._, self.app.store_names
        status = _(
            "Order {number} · {status}", number=order.number, status=status_name(order.status, _)
        )
        pickup = order.pickup_store is not None
        lines: list[CardLine] = [
            (order_heading(order, names, language, _), "heading"),
            (status, "status_warn" if pickup else "status"),
        ]
        details = order_details(order, language, _)
        lines += [(line, "body") for line in details.splitlines()]
        if pickup:
            store = place_name(order.pickup_store or "", names)
            lines.append((_("Click & collect at {store}", store=store), "status_warn"))
        return lines

    def _clear_file(self) -> None:
        self.ids.orders.set_cards([])
        for name in ("wishlist", "suggestions"):
            self.ids[name].clear_widgets()

    def clear(self) -> None:
        super().clear()
        self._clear_file()


def _pair(first: Widget, second: Widget) -> None:
    """Side by side (portrait), both as tall as the taller; else each as tall as itself."""
    theme = App.get_running_app().theme

    def fit(*_: Any) -> None:
        if theme.portrait:
            first.height = second.height = max(first.minimum_height, second.minimum_height)
        else:
            first.height, second.height = first.minimum_height, second.minimum_height

    for card in (first, second):
        card.add_widget(Widget())  # the room a taller neighbour gives goes below the texts
        card.fbind("minimum_height", fit)
    theme.fbind("portrait", fit)
    fit()


def _product_lines(products: tuple[Product, ...], language: str) -> list[dict[str, Any]]:
    return [
        {
            "picture": product.picture,
            "title": product.display_name(language),
            "price": format_price(product.current_price_cents, product.currency, language),
        }
        for product in products
    ]


load_kv(__file__)
