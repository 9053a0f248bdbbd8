"""Staff login: a staff badge was read; "Bonjour Léa, tapez votre code" and the PIN pad.

The pad is the kiosk's own (kiosk/staff_exit.py); here OK sends the PIN to the
runtime, which checks it offline against the staff directory's hash. The PIN is in
the pad until OK, then in the intent, never in a property that outlives the touch.
"""

from __future__ import annotations

from datetime import datetime

from kivy.properties import BooleanProperty, StringProperty

from edge.session import SessionView
from edge.staff.view import StaffNotice, StaffView
from kiosk.screens.base import load_kv
from kiosk.screens.staff_base import StaffScreen
from kiosk.staff_exit import StaffPinPad  # noqa: F401 - registers the kv class


class StaffPinScreen(StaffScreen):
    """Who the badge belongs to, what went wrong last, and the pad."""

    greeting = StringProperty("")
    notice = StringProperty("")
    asks_pin = BooleanProperty(False)  # a badge of the directory, not locked: the pad shows

    def show_staff(self, view: SessionView, staff: StaffView) -> None:
        _ = self._
        locked = staff.notice is StaffNotice.LOCKED_OUT
        self.asks_pin = staff.member is not None and not locked
        if staff.member is None:
            self.greeting = _("Unknown badge")
        elif self.first_name:
            self.greeting = _("Hello {name}, type your code", name=self.first_name)
        else:
            self.greeting = _("Type your code")
        self.notice = self._notice(staff)
        # The pad is not emptied here: the view changes while a PIN is typed (the
        # store's advisor calls arrive), and OK empties it itself.

    def _notice(self, staff: StaffView) -> str:
        _ = self._
        if staff.notice is StaffNotice.WRONG_PIN:
            if staff.failures_left == 1:
                return _("Wrong code: one more try before the badge is locked.")
            return _("Wrong code: {count} more tries.", count=staff.failures_left)
        if staff.notice is StaffNotice.LOCKED_OUT:
            if staff.locked_until is None:
                return _("Too many wrong codes: this badge is locked. A manager can unlock it.")
            until = datetime.fromtimestamp(staff.locked_until).astimezone()
            return _(
                "Too many wrong codes: this badge is locked until {time}. A manager can unlock it.",
                time=f"{until:%H:%M}",
            )
        if staff.notice is StaffNotice.UNKNOWN_BADGE:
            return _("This badge is not known in this store. Ask a manager.")
        return ""

    def clear(self) -> None:
        super().clear()
        self.ids.pad.reset()


load_kv(__file__)
