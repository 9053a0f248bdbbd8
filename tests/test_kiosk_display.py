"""How large the kiosk draws its screens on a display: pure arithmetic of kiosk/theme.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.theme import (
    MAX_PHYSICAL_GROWTH,
    SMALLEST_TARGET_DP,
    TOTEM_TARGET_MM,
    Display,
    DisplayError,
    check_rotation,
    row_height,
    turned_display,
)


def test_a_totem_draws_the_tablet_layout_grown_by_its_short_side() -> None:
    assert Display(800, 1280).unit() == 1.0
    assert Display(1080, 1920).unit() == pytest.approx(1.35)
    assert Display(3840, 2160).unit() == pytest.approx(2.7)
    assert Display(1080, 1920).portrait
    assert not Display(1920, 1080).portrait


@pytest.mark.parametrize(
    ("width", "height", "width_mm"),
    [
        (1080, 1920, 685.0),  # a 55" portrait totem: its pixels are large already
        (2160, 3840, 535.0),  # a 43" 4K totem
        (1200, 1920, 420.0),  # a 32" panel: the short side alone gives 25 mm buttons
    ],
)
def test_a_totem_that_reports_its_size_gets_buttons_a_finger_can_hit(
    width: int, height: int, width_mm: float
) -> None:
    display = Display(width, height, width_mm)
    smallest_mm = SMALLEST_TARGET_DP * display.unit() * width_mm / width
    by_pixels = Display(width, height).unit()
    assert smallest_mm >= TOTEM_TARGET_MM - 0.01 or display.unit() == pytest.approx(
        by_pixels * MAX_PHYSICAL_GROWTH
    )
    assert display.unit() >= by_pixels


def test_a_small_sharp_display_is_never_shrunk_below_its_pixels() -> None:
    # A 10" tablet: its buttons are already larger than the totem target in millimetres.
    assert Display(1280, 800, width_mm=217.0).unit() == 1.0


def test_a_panel_hung_a_quarter_turn_is_laid_out_for_its_turned_picture() -> None:
    # A 1920x1080 panel 1210 mm wide, hung as a totem: Kivy's window is 1080x1920.
    display = turned_display((1080, 1920), 90, 1210.0)
    assert display.portrait
    assert display.width_mm == pytest.approx(1210.0 * 1080 / 1920)
    assert turned_display((1920, 1080), 180, 1210.0).width_mm == 1210.0


@pytest.mark.parametrize("degrees", [45, -90, 360])
def test_only_quarter_turns_are_accepted(degrees: int) -> None:
    with pytest.raises(DisplayError, match="0, 90, 180 or 270"):
        check_rotation(degrees)


@pytest.mark.parametrize(("width", "height", "width_mm"), [(0, 10, None), (10, 10, -1.0)])
def test_an_impossible_display_is_a_typed_error(
    width: int, height: int, width_mm: float | None
) -> None:
    with pytest.raises(DisplayError):
        Display(width, height, width_mm)


@given(
    rows=st.integers(1, 40),
    room=st.floats(50, 4000),
    spacing=st.floats(0, 40),
    smallest=st.floats(20, 400),
)
def test_rows_of_tiles_fill_their_room_or_scroll(
    rows: int, room: float, spacing: float, smallest: float
) -> None:
    height = row_height(rows, room, spacing, smallest)
    assert height >= smallest
    shown = min(rows, max(1, int((room + spacing) // (smallest + spacing))))
    if rows * smallest + spacing * (rows - 1) <= room:
        # Every row fits: together they fill the room exactly.
        assert height * rows + spacing * (rows - 1) == pytest.approx(room)
    else:
        assert height * shown + spacing * (shown - 1) <= room + 1e-6 or shown == 1
