"""The enrolment screen of a kiosk never enrolled, drawn once into a PNG (for its test).

Usage: python -m tests.enrolment_screen CONFIG.toml SHOT.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.config import load_config
from kiosk.launcher import prepare_kivy

SETTLE_SECONDS = 1.5  # the layout settles, the camera's status arrives...
SETTLE_FRAMES = 10  # ...and the screen has been drawn, however loaded the machine


def main(config_path: Path, shot: Path) -> int:
    config = load_config(config_path)
    prepare_kivy(False, config.data_dir)  # fullscreen: the whole screen, as in a store
    from kivy.clock import Clock

    from kiosk.enrolment_app import EnrolmentApp

    app = EnrolmentApp(config_path, config, locked=False)
    frames = 0

    def count(_: float) -> None:
        nonlocal frames
        frames += 1
        if frames >= SETTLE_FRAMES:
            counting.cancel()
            Clock.schedule_once(take, 0)

    def take(_: float) -> None:
        app.root.export_to_png(str(shot))
        app.stop()

    counting = Clock.schedule_interval(count, 0)
    counting.cancel()
    Clock.schedule_once(lambda _: counting(), SETTLE_SECONDS)
    app.run()
    return 0 if shot.exists() else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
