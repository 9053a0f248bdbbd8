"""Staff home: the two tasks (a customer's file, a click & collect pickup), the store's
advisor calls as a live queue ("Je m'en occupe"), and for a manager the locked badges.

The queue comes from the hub (every kiosk of the store); "since" is re-read every
half-minute while the screen is shown, so "3 min" does not stand still.
"""

from __future__ import annotations

import time
from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty

from edge.intents import TakeCall, UnlockBadge
from edge.session import SessionView
from edge.staff.view import AssistCall, StaffNotice, StaffView
from kiosk.screens.base import load_kv
from kiosk.screens.staff_base import StaffScreen, fill_rows
from kiosk.staff_words import call_text

MAX_CALLS = 4  # more would push the two tasks off a tablet; the rest are counted
REFRESH_SECONDS = 30.0


class StaffHomeScreen(StaffScreen):
    """What an associate can do, and who is asking for help."""

    greeting = StringProperty("")
    notice = StringProperty("")
    no_calls = StringProperty("")  # "nobody is asking", or how many more are waiting
    manager = BooleanProperty(False)
    has_locked = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._calls: tuple[AssistCall, ...] = ()
        self._ticker = Clock.schedule_interval(self._refresh_calls, REFRESH_SECONDS)
        self._ticker.cancel()

    def on_enter(self, *_: Any) -> None:
        self._ticker()

    def on_leave(self, *_: Any) -> None:
        self._ticker.cancel()

    def show_staff(self, view: SessionView, staff: StaffView) -> None:
        _ = self._
        self.greeting = _("Hello {name}", name=self.first_name) if self.first_name else ""
        self.notice = (
            _("Noted: the kiosk that called says you are coming.")
            if staff.notice is StaffNotice.CALL_TAKEN
            else ""
        )
        self.manager = staff.member is not None and staff.member.manager
        # Calls nobody took first, longest waiting first: the next one to go to on top.
        self._calls = tuple(
            sorted(staff.calls, key=lambda call: (call.taken_by is not None, call.since))
        )
        self._refresh_calls()
        locked = staff.locked_badges if self.manager else ()
        self.has_locked = bool(locked)
        rows = [
            {"action_id": f"unlock_{index}", "target": badge, "name": name}
            for index, (badge, name) in enumerate(locked, start=1)
        ]
        fill_rows(self.ids.locked, "StaffLockedRow", rows, self._unlock)

    def _refresh_calls(self, *_args: Any) -> None:
        _, now = self._, time.time()
        shown = self._calls[:MAX_CALLS]
        rows = [
            {
                "action_id": f"take_call_{index}",
                "target": call.call_id,
                "title": call.title or _("No product in view"),
                "detail": call_text(call, now, _),
                "taken": _("{name} is on it", name=call.taken_by) if call.taken_by else "",
            }
            for index, call in enumerate(shown, start=1)
        ]
        fill_rows(self.ids.calls, "StaffCallRow", rows, self._take)
        more = len(self._calls) - len(shown)
        if not self._calls:
            self.no_calls = _("No shopper is asking for help right now.")
        elif more == 1:
            self.no_calls = _("And one more waiting.")
        elif more:
            self.no_calls = _("And {count} more waiting.", count=more)
        else:
            self.no_calls = ""

    def _take(self, call_id: str) -> None:
        self.app.ask(TakeCall(call_id))

    def _unlock(self, badge: str) -> None:
        self.app.ask(UnlockBadge(badge))

    def clear(self) -> None:
        super().clear()
        self._calls = ()
        self.ids.calls.clear_widgets()
        self.ids.locked.clear_widgets()


load_kv(__file__)
