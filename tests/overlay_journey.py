"""`borne` with one more journey step, `{"swipe": "BUTTON"}` (kiosk/gestures.py), for the
overlay tests until the journey player has it (see the report of the overlays' work).

Kivy reads its settings when first imported: the player is patched only once the
launcher has prepared them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kiosk import journey, launcher
from kiosk.cli import main

_prepare_kivy = launcher.prepare_kivy


def _prepare_kivy_then_add_swipe(windowed: bool, data_dir: Path) -> None:
    _prepare_kivy(windowed, data_dir)
    from kiosk.gestures import parse_swipe, swipe
    from kiosk.journey_player import JourneyPlayer, find_button, next_frame

    play = JourneyPlayer._play

    async def play_with_swipe(self: JourneyPlayer, step: journey.Step) -> None:
        if step.kind != "swipe":
            await play(self, step)
            return
        button_id, direction = parse_swipe(step.value)
        button = find_button(self.app.root, button_id)
        if button is None:
            raise journey.JourneyError(f"no button {button_id!r} to swipe on this screen")
        swipe(button, direction)
        await next_frame()

    JourneyPlayer._play = play_with_swipe  # type: ignore[method-assign]


journey.STEP_KINDS = (*journey.STEP_KINDS, "swipe")  # type: ignore[assignment]
launcher.prepare_kivy = _prepare_kivy_then_add_swipe

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
