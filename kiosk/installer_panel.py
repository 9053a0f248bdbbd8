"""The installer's panel: over the kiosk (staff corner + installer PIN), or the whole screen
of a kiosk not enrolled yet.

It shows; its owner acts: the buttons dispatch `on_self_test`, `on_enrol`,
`on_close_kiosk` and `on_back`, and the owner sets the headline and the checks' rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, ColorProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

# The self-test's outcomes as a mark and its disc's colour (edge.doctor's Outcome values).
MARKS = {
    "pass": ("OK", (0.35, 0.80, 0.45, 1)),
    "warn": ("!", (1.0, 0.74, 0.30, 1)),
    "fail": ("×", (0.95, 0.35, 0.32, 1)),
    "skip": ("–", (0.60, 0.64, 0.70, 1)),
    "running": ("…", (0.72, 0.78, 0.86, 1)),
    "step": ("", (0.72, 0.78, 0.86, 1)),  # a numbered step of what to do (its row's mark)
}


class CheckRow(BoxLayout):  # type: ignore[misc]
    """One check of the self-test: its mark, its name, what it found, what to do."""

    mark = StringProperty("")
    mark_colour = ColorProperty((0.6, 0.6, 0.6, 1))
    outcome = StringProperty("")  # pass, warn, fail, skip or running
    title = StringProperty("")
    summary = StringProperty("")
    remedy = StringProperty("")

    def on_outcome(self, _: Any, outcome: str) -> None:
        self.mark, self.mark_colour = MARKS.get(outcome, MARKS["skip"])


class InstallerPanel(BoxLayout):  # type: ignore[misc]
    """What the installer sees; see the module docstring."""

    identity = StringProperty("")  # "Store PARIS-01 · kiosk k-03", or "Not enrolled"
    headline = StringProperty("")
    headline_tone = StringProperty("text")  # "good" once enrolled, "warn" when refused
    detail = StringProperty("")
    enrolling = BooleanProperty(False)  # waiting for a code, or talking to the hub
    testing = BooleanProperty(False)
    can_test = BooleanProperty(True)  # a kiosk not enrolled has no runtime to test yet
    can_close = BooleanProperty(True)  # a kiosk not enrolled has nothing to go back to
    __events__ = ("on_self_test", "on_enrol", "on_close_kiosk", "on_back")

    def show_checks(self, rows: list[dict[str, str]]) -> None:
        """Replace the checks' rows: each a dict of CheckRow's properties (a "mark"
        replaces the outcome's own, as a step's number)."""
        box = self.ids.checks
        box.clear_widgets()
        for row in rows:
            fields = dict(row)
            mark = fields.pop("mark", None)
            check = CheckRow(**fields)
            if mark is not None:  # after the outcome, which sets a mark of its own
                check.mark = mark
            box.add_widget(check)

    def on_self_test(self) -> None:
        """The self-test button."""

    def on_enrol(self) -> None:
        """The enrol button: the owner starts waiting for a code."""

    def on_close_kiosk(self) -> None:
        """The close-the-kiosk button."""

    def on_back(self) -> None:
        """The back button: the panel closes."""
