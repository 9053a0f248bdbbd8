"""The size checks (tests/sized_checks.py) on portrait displays, in one kiosk."""

from __future__ import annotations

import pytest

from tests.sized_checks import parametrize_sizes as pytest_generate_tests  # noqa: F401
from tests.sized_checks import (  # noqa: F401 - collected here
    sized_run,
    test_blank_share_finds_an_empty_quarter,
    test_buttons_under_a_modal_cannot_be_touched,
    test_content_screens_use_their_space,
    test_every_button_is_whole_on_screen_large_and_apart,
    test_every_screen_says_what_it_is_for_at_every_size,
    test_no_text_is_cut_at_any_size,
)

pytestmark = pytest.mark.ui

SIZES = ("1080x1920", "2160x3840", "800x1280")
