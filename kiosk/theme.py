"""Colours, text size and where the controls sit: what accessibility and the display change.

Every kv rule reads its colours and sizes from `app.theme`, so a shopper's choice
(high contrast, large text, controls within reach) redraws the whole kiosk at once, and
so does the window's size: the screens were designed for a 1280x800 tablet, and a
1080x1920 totem or a 3840x2160 screen shows the same layout grown by `unit`, stacked in
portrait and side by side in landscape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kivy.event import EventDispatcher
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty

from edge.errors import BorneError
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
    # Staff mode's banner: a colour no shopper screen uses (white on it 8.8:1).
    "staff": (0.38, 0.20, 0.56, 1),
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
    "staff": (0, 0, 0, 1),
}
LARGE_TEXT_SCALE = 1.3
BAR_DP = 96  # the band the language, accessibility and advisor buttons sit in

# The screens were drawn for a 1280x800 tablet: its short side is one unit of 800 dp.
DESIGN_SHORT_SIDE_DP = 800
# A touch target a shopper hits at arm's length on a 43-55" totem without aiming: the
# 9 mm of handheld guidelines is too small for a finger moved across a wall of glass.
TOTEM_TARGET_MM = 15.0
# A display this large (diagonal, mm: 30") is a totem or a wall screen, used standing at
# arm's length; a smaller one is a tablet held or set at hand, where 48 dp is enough.
TOTEM_DIAGONAL_MM = 762.0
SMALLEST_TARGET_DP = 48  # the smallest button the layouts draw (at unit 1)
# Physical sizing may grow a layout, never past what its pixels can hold.
MAX_PHYSICAL_GROWTH = 1.3
ROTATIONS = (0, 90, 180, 270)


def row_height(rows: float, room: float, spacing: float, smallest: float) -> float:
    """How tall each of `rows` rows of tiles is so that whole rows fill `room`: all of
    them when they fit at `smallest` or more, else as many as fit (the rest scroll in)."""
    fitting = max(1, math.floor((room + spacing) / (smallest + spacing)))
    shown = max(1, min(int(rows), fitting))
    return max(smallest, (room - spacing * (shown - 1)) / shown)


class DisplayError(BorneError):
    """A display size or mounting the kiosk cannot lay its screens out for."""


@dataclass(frozen=True, slots=True)
class Display:
    """What the kiosk knows of its display: the window's size in pixels, and its
    physical width in millimetres when the display reports one (EDID)."""

    width: int
    height: int
    width_mm: float | None = None

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise DisplayError(f"a display of {self.width}x{self.height} pixels has no area")
        if self.width_mm is not None and self.width_mm <= 0:
            raise DisplayError(f"a display {self.width_mm} mm wide cannot exist")

    @property
    def portrait(self) -> bool:
        """Taller than wide: the screens stack their parts."""
        return self.height > self.width

    def unit(self, density: float = 1.0) -> float:
        """How much larger than on the 1280x800 design every size is drawn.

        From the short side, so a portrait totem's width holds what a tablet's height
        did; then, when the display says how large its pixels are, large enough for the
        smallest button to be `TOTEM_TARGET_MM` wide on a totem-sized display (within
        `MAX_PHYSICAL_GROWTH`).
        """
        by_pixels = min(self.width, self.height) / (DESIGN_SHORT_SIDE_DP * density)
        if self.width_mm is None:
            return by_pixels
        mm_per_pixel = self.width_mm / self.width  # square pixels: the same down
        diagonal_mm = math.hypot(self.width, self.height) * mm_per_pixel
        if diagonal_mm < TOTEM_DIAGONAL_MM:
            return by_pixels
        by_millimetres = TOTEM_TARGET_MM / (SMALLEST_TARGET_DP * density * mm_per_pixel)
        return max(by_pixels, min(by_millimetres, by_pixels * MAX_PHYSICAL_GROWTH))


def turned_display(
    window_size: tuple[float, float], rotation: int, panel_width_mm: float | None
) -> Display:
    """The display as the screens see it: `window_size` is the picture's own width and
    height (Kivy swaps them when the picture is turned); the panel's width in millimetres
    is the picture's height once turned by a quarter."""
    width, height = int(window_size[0]), int(window_size[1])
    width_mm = panel_width_mm
    if width_mm is not None and rotation in (90, 270):
        width_mm = width_mm * width / height
    return Display(width, height, width_mm)


def check_rotation(degrees: int) -> int:
    """A kiosk mounted rotated turns its picture by a quarter turn; nothing in between."""
    if degrees not in ROTATIONS:
        raise DisplayError(f"a display turns by 0, 90, 180 or 270 degrees, not {degrees}")
    return degrees


class Theme(EventDispatcher):  # type: ignore[misc]
    """The look of the kiosk now; kv rules bind to its properties.

    Font sizes in kv are written `sp(22) * app.theme.scale`, other sizes
    `dp(64) * app.theme.unit`, so that they follow the shopper's settings and the display.
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
    staff = ColorProperty(STANDARD["staff"])
    unit = NumericProperty(1.0)  # every size is multiplied by it (the display's size)
    scale = NumericProperty(1.0)  # every font size is multiplied by it (unit x large text)
    large_text = BooleanProperty(False)
    portrait = BooleanProperty(False)  # taller than wide: the screens stack their parts
    low_controls = BooleanProperty(False)
    top_reserve = NumericProperty(dp(BAR_DP))  # room each screen leaves for the bar
    # Whether a screen has height to spare for what is secondary (similar products):
    # large text on a landscape screen has none.
    spare_height = BooleanProperty(True)
    bottom_reserve = NumericProperty(dp(24))

    def apply(self, settings: Accessibility) -> None:
        """Follow a shopper's settings (defaults when nobody is there)."""
        palette = HIGH_CONTRAST if settings.high_contrast else STANDARD
        for name, rgba in palette.items():
            setattr(self, name, rgba)
        self.large_text = settings.large_text
        self.low_controls = settings.low_controls
        self._resize()

    def fit(self, display: Display, density: float = 1.0) -> None:
        """Lay the screens out for `display` (the window's size, after any rotation)."""
        self.unit = display.unit(density)
        self.portrait = display.portrait
        self._resize()

    def _resize(self) -> None:
        self.scale = self.unit * (LARGE_TEXT_SCALE if self.large_text else 1.0)
        self.spare_height = self.portrait or not self.large_text
        # With controls low, the bar moves to the bottom and screens make room there.
        bar, edge = dp(BAR_DP) * self.unit, dp(24) * self.unit
        self.top_reserve = edge if self.low_controls else bar
        self.bottom_reserve = bar if self.low_controls else edge
