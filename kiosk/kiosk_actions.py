"""The buttons every screen has: language, and calling an advisor (with its confirmation)."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty
from kivy.uix.floatlayout import FloatLayout

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class KioskActions(FloatLayout):  # type: ignore[misc]
    """Laid over the screens; touches go through where it has no button."""

    assist_confirmed = BooleanProperty(False)
