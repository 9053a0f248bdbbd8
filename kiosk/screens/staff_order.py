"""Click & collect pickup: the order's QR code shown to the camera, or its number typed
on the keypad; then the order (items, status, who it is for) and "Remis au client"
when it waits in this store.

What is typed goes to the runtime key by key (the staff view's `order_number`), like
the search screen's keyboard: the screen holds no text of its own.
"""

from __future__ import annotations

from typing import Any

from kivy.factory import Factory
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.widget import Widget

from edge.intents import TypeText
from edge.session import SessionView
from edge.staff.view import PickupOrder, StaffNotice, StaffView
from kiosk.screens.base import load_kv
from kiosk.screens.search import key_id
from kiosk.screens.staff_base import StaffScreen, show_one
from kiosk.staff_words import order_details, place_name, status_name

DIGITS = "123456789-0"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-"


class StaffOrderScreen(StaffScreen):
    """The keypad, and the order looked up (or what came of the lookup)."""

    typed = StringProperty("")
    has_order = BooleanProperty(False)
    can_hand_over = BooleanProperty(False)
    title = StringProperty("")  # "Order CC-2026-104233"
    customer = StringProperty("")  # "For Camille"
    status = StringProperty("")
    details = StringProperty("")
    notice = StringProperty("")
    notice_tone = StringProperty("text")
    letters = BooleanProperty(False)  # the keypad shows letters (its own state, no one's data)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        ids = self.ids
        # kv ids are weak proxies: hold the grids themselves while out of the tree.
        self._grids: dict[bool, Widget] = {False: ids.digits.__self__, True: ids.letters.__self__}
        self._panels: dict[bool, Widget] = {
            False: ids.find_box.__self__,
            True: ids.order_box.__self__,
        }
        for letters, keys in ((False, DIGITS), (True, LETTERS)):
            for key in keys:
                self._grids[letters].add_widget(self._key(key))
        self.fbind("letters", self._follow_letters)
        self._follow_letters()
        self.fbind("has_order", self._follow_order)
        self._follow_order()
        self.app.theme.fbind("portrait", self._place_halves)
        self._place_halves()

    def _key(self, key: str) -> Widget:
        button = Factory.OrderKey(text=key, button_id=key_id(key))
        button.bind(on_release=lambda _, text=key: self.app.ask(TypeText(text)))
        return button

    def _follow_letters(self, *_: Any) -> None:
        """The grid asked for, above the keypad's last row."""
        keypad, letters = self.ids.keypad, bool(self.letters)
        show_one(keypad, self._grids[letters], self._grids[not letters], index=1)

    def _place_halves(self, *_: Any) -> None:
        """Landscape: the keypad left of the order. Portrait: the order on top, the
        keypad at a standing associate's hands."""
        ids = self.ids
        halves, keypad, panel = ids.halves, ids.keypad.__self__, ids.panel.__self__
        for half in (keypad, panel):
            halves.remove_widget(half)
        for half in (panel, keypad) if self.app.theme.portrait else (keypad, panel):
            halves.add_widget(half)

    def _follow_order(self, *_: Any) -> None:
        has_order = bool(self.has_order)
        show_one(self.ids.panel, self._panels[has_order], self._panels[not has_order])

    def show_staff(self, view: SessionView, staff: StaffView) -> None:
        _ = self._
        self.typed = staff.order_number
        pickup = staff.pickup
        self.has_order = pickup is not None
        if pickup is None:
            self.title = self.customer = self.status = self.details = ""
            self.can_hand_over = False
        else:
            self._show_order(pickup, view.language)
        self.notice, self.notice_tone = self._notice(staff)

    def _show_order(self, pickup: PickupOrder, language: str) -> None:
        _, order, names = self._, pickup.order, self.app.store_names
        self.title = _("Order {number}", number=order.number)
        self.customer = _("For {name}", name=pickup.first_name) if pickup.first_name else ""
        status = status_name(order.status, _)
        if order.pickup_store is not None:
            store = place_name(order.pickup_store, names)
            self.status = _("{status} · pickup at {store}", status=status, store=store)
        else:
            self.status = status
        # Its status and store are said above: the details are the items and amounts.
        self.details = order_details(order, language, _)
        self.can_hand_over = pickup.can_hand_over

    def _notice(self, staff: StaffView) -> tuple[str, str]:
        _ = self._
        notice = staff.notice
        if notice is StaffNotice.WAITING:
            return _("Looking for the order…"), "text"
        if notice is StaffNotice.UNKNOWN_ORDER:
            if staff.order_number:
                return _("No order {number} is known.", number=staff.order_number), "warn"
            return _("This code holds no order number."), "warn"
        if notice is StaffNotice.HUB_SILENT:
            return _("The order service does not answer. Try again in a moment."), "warn"
        if notice is StaffNotice.NOT_READY:
            return _("This order cannot be handed over in this store now."), "warn"
        if notice is StaffNotice.HANDED_OVER:
            return _("Done: the order is recorded as handed over."), "good"
        if staff.pickup is None:
            return _("Scan the QR code of the order confirmation, or type its number."), "text"
        return "", "text"


load_kv(__file__)
