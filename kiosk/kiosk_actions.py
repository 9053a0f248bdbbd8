"""What lies over every screen: the bar (language, accessibility, advisor), the toasts (an
advisor on the way, a code read) and the modals (the idle warning, the hand-off QR code,
the accessibility panel, the staff PIN pad), one at a time (see kiosk/overlays.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget

from kiosk.accessibility_panel import AccessibilityPanel  # noqa: F401 - registers the kv class
from kiosk.installer_panel import InstallerPanel  # noqa: F401 - registers the kv class
from kiosk.overlays import Backdrop, Modal, ModalStack
from kiosk.qr_code import QRCode  # noqa: F401 - registers the kv class
from kiosk.staff_exit import StaffPinPad  # noqa: F401 - registers the kv class
from kiosk.widgets import attach_while

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

FLASH_SECONDS = 1.2
# Long enough to be read twice at arm's length; then a word in the bar says it still holds.
ASSIST_TOAST_SECONDS = 5.0

# Each modal and the property that says it is open (set by the app from the session view,
# or by a touch for the panel and the PIN pad).
MODAL_PROPERTIES = (
    ("installer_open", Modal.INSTALLER),
    ("idle_warning", Modal.IDLE_WARNING),
    ("pin_open", Modal.PIN_PAD),
    ("handoff_url", Modal.HANDOFF),
    ("accessibility_open", Modal.ACCESSIBILITY),
    ("reviews_open", Modal.REVIEWS),
)
PROPERTY_OF = {modal: prop for prop, modal in MODAL_PROPERTIES}


class KioskActions(FloatLayout):  # type: ignore[misc]
    """Laid over the screens; touches go through where it has no button and no modal."""

    assist_confirmed = BooleanProperty(False)
    assist_taken_by = StringProperty("")  # the colleague coming, once one took the call
    staff_mode = BooleanProperty(False)  # the staff screens have their own banner: no bar
    handoff_url = StringProperty("")
    idle_warning = BooleanProperty(False)
    seconds_left = NumericProperty(0)
    scan_flash = BooleanProperty(False)
    accessibility_open = BooleanProperty(False)
    pin_open = BooleanProperty(False)
    installer_open = BooleanProperty(False)
    reviews_open = BooleanProperty(False)  # drawn by the product screen, counted here
    modal = StringProperty("")  # the Modal on top now; "" when the screen itself is
    assist_toast = BooleanProperty(False)  # "an advisor is on the way", for a few seconds
    toast = StringProperty("")  # the toast shown: "scan_flash", "assist_toast" or ""
    toast_shown = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = 0.0
        self._ticker = Clock.schedule_interval(self._tick, 0.25)
        self._ticker.cancel()
        self._end_flash = Clock.create_trigger(self._hide_flash, FLASH_SECONDS)
        self._end_assist_toast = Clock.create_trigger(self._hide_assist_toast, ASSIST_TOAST_SECONDS)
        ids = self.ids
        attach_while(self, "scan_flash", ids.flash_frame)
        attach_while(self, "toast_shown", ids.toast)
        self.fbind("scan_flash", self._follow_toasts, "scan_flash")
        self.fbind("assist_toast", self._follow_toasts, "assist_toast")
        self.fbind("assist_confirmed", self._follow_assist)
        self.fbind("assist_taken_by", self._follow_assist)
        # kv ids are weak proxies: hold the widgets themselves while they are out of the tree.
        self._layer: Widget = ids.modal_layer.__self__
        self._modals: dict[Modal, Widget] = {
            Modal.IDLE_WARNING: ids.idle_card.__self__,
            Modal.HANDOFF: ids.handoff_box.__self__,
            Modal.ACCESSIBILITY: ids.accessibility_panel.__self__,
            Modal.PIN_PAD: ids.pin_pad.__self__,
            Modal.INSTALLER: ids.installer_panel.__self__,
        }
        for widget in self._modals.values():
            self._layer.remove_widget(widget)
        self._stack = ModalStack()
        for prop, modal in MODAL_PROPERTIES:
            self.fbind(prop, self._follow_modal, prop, modal)
        self._restack()
        Clock.schedule_once(self._follow_reviews, 0)

    def warn_until(self, deadline: float | None) -> None:
        """Show (deadline set) or hide the idle warning."""
        self.idle_warning = deadline is not None
        if deadline is None:
            self._ticker.cancel()
            return
        # Counted down on the monotonic clock: the wall clock set while the warning
        # shows would make the seconds left jump.
        self._deadline = time.monotonic() + (deadline - time.time())
        self._tick()
        self._ticker()

    def flash(self) -> None:
        """Frame the screen for a moment: a code was read."""
        self.scan_flash = True
        self._end_flash.cancel()
        self._end_flash()

    def reachable(self, widget: Widget) -> bool:
        """Whether a touch can reach `widget` now: with a modal open, only the modal's own
        controls, the advisor's button and the staff corner can be touched; the rest lies
        under the backdrop."""
        top = self.modal
        if not top:
            return True
        always = (self.ids.assist, self.ids.staff)
        if any(self._inside(widget, control) for control in always):
            return True
        if top == Modal.REVIEWS:
            # The product screen draws it and its backdrop; the bar's other keys are off.
            return not self._inside(widget, self.ids.bar)
        return self._inside(widget, self._layer)

    @staticmethod
    def _inside(widget: Widget, container: Widget) -> bool:
        node: Widget | None = widget
        while node is not None:
            if node is container or node is getattr(container, "__self__", container):
                return True
            node = node.parent
        return False

    def _follow_modal(self, prop: str, modal: Modal, *_: Any) -> None:
        for closed in self._stack.set_open(modal, bool(getattr(self, prop))):
            # The accessibility panel and the PIN pad: closed by the modals that cover them.
            setattr(self, PROPERTY_OF[closed], False)
        self._restack()

    def _restack(self) -> None:
        top = self._stack.top
        self.modal = "" if top is None else top.value
        shown = self._modals.get(top) if top is not None else None
        for widget in list(self._layer.children):
            if widget is not shown and not isinstance(widget, Backdrop):
                self._layer.remove_widget(widget)
        if shown is not None and shown.parent is None:
            self._layer.add_widget(shown)
        if shown is not None and self._layer.parent is None:
            # Under the bar, the toast and the staff corner (see kiosk_actions.kv).
            self.add_widget(self._layer, index=len(self.children))
        elif shown is None and self._layer.parent is self:
            self.remove_widget(self._layer)

    def _follow_reviews(self, *_: Any) -> None:
        # Until the app passes view.reviews_open itself, follow the product screen's.
        app = App.get_running_app()
        manager = getattr(app, "manager", None)
        if manager is not None and manager.has_screen("product"):
            product = manager.get_screen("product")
            product.fbind(
                "reviews_open", lambda *_: setattr(self, "reviews_open", product.reviews_open)
            )

    def _follow_assist(self, *_: Any) -> None:
        # The call, then who took it: each news is a toast, then the bar says it.
        self.assist_toast = self.assist_confirmed
        self._end_assist_toast.cancel()
        if self.assist_confirmed:
            self._end_assist_toast()

    def _follow_toasts(self, changed: str, *_: Any) -> None:
        # One toast at a time: the latest news; when it ends, the other if it still holds.
        if getattr(self, changed):
            self.toast = changed
        elif self.toast == changed:
            other = "assist_toast" if changed == "scan_flash" else "scan_flash"
            self.toast = other if getattr(self, other) else ""
        self.toast_shown = bool(self.toast)

    def _hide_assist_toast(self, *_: Any) -> None:
        self.assist_toast = False

    def _hide_flash(self, *_: Any) -> None:
        self.scan_flash = False

    def _tick(self, *_: Any) -> None:
        self.seconds_left = max(0, round(self._deadline - time.monotonic()))
