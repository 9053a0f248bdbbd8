"""Colours, text size and where the controls sit: what accessibility settings change.

Every kv rule reads its colours and sizes from `app.theme`, so a shopper's choice
(high contrast, large text, controls within reach) redraws the whole kiosk at once.
"""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty

from edge.session import Accessibility

Rgba = tuple[float, float, float, float]

# The store's colours: white on ACCENT 4.7:1 (WCAG AA), on BACKGROUND 17:1, MUTED 9.9:1.
STANDARD: dict[str, Rgba] = {
    "background": (0.06, 0.11, 0.18, 1),
    "panel": (0.11, 0.17, 0.26, 1),
    "text": (1, 1, 1, 1),
    "muted": (0.72, 0.78, 0.86, 1),
    "accent": (0.80, 0.27, 0.09, 1),
    "accent_text": (1, 1, 1, 1),
    "good": (0.36, 0.82, 0.52, 1),
    "warn": (1.0, 0.74, 0.30, 1),
    "outline": (0, 0, 0, 0),
}
# Black, white and yellow only, with outlined panels: 15:1 and more everywhere.
HIGH_CONTRAST: dict[str, Rgba] = {
    "background": (0, 0, 0, 1),
    "panel": (0, 0, 0, 1),
    "text": (1, 1, 1, 1),
    "muted": (1, 1, 1, 1),
    "accent": (1, 0.86, 0, 1),
    "accent_text": (0, 0, 0, 1),
    "good": (1, 0.86, 0, 1),
    "warn": (1, 0.86, 0, 1),
    "outline": (1, 1, 1, 1),
}
LARGE_TEXT_SCALE = 1.3
BAR_DP = 96  # the band the language, accessibility and advisor buttons sit in


class Theme(EventDispatcher):  # type: ignore[misc]
    """The look of the kiosk now; kv rules bind to its properties.

    Font sizes in kv are written `sp(22) * app.theme.scale` so that they follow it.
    """

    background = ColorProperty(STANDARD["background"])
    panel = ColorProperty(STANDARD["panel"])
    text = ColorProperty(STANDARD["text"])
    muted = ColorProperty(STANDARD["muted"])
    accent = ColorProperty(STANDARD["accent"])
    accent_text = ColorProperty(STANDARD["accent_text"])
    good = ColorProperty(STANDARD["good"])
    warn = ColorProperty(STANDARD["warn"])
    outline = ColorProperty(STANDARD["outline"])
    scale = NumericProperty(1.0)  # every font size is multiplied by it
    low_controls = BooleanProperty(False)
    top_reserve = NumericProperty(dp(BAR_DP))  # room each screen leaves for the bar
    bottom_reserve = NumericProperty(dp(24))

    def apply(self, settings: Accessibility) -> None:
        """Follow a shopper's settings (defaults when nobody is there)."""
        palette = HIGH_CONTRAST if settings.high_contrast else STANDARD
        for name, rgba in palette.items():
            setattr(self, name, rgba)
        self.scale = LARGE_TEXT_SCALE if settings.large_text else 1.0
        self.low_controls = settings.low_controls
        # With controls low, the bar moves to the bottom and screens make room there.
        self.top_reserve = dp(24) if settings.low_controls else dp(BAR_DP)
        self.bottom_reserve = dp(BAR_DP) if settings.low_controls else dp(24)
