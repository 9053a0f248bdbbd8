"""The enrolment screen of a kiosk never enrolled, drawn once into a PNG (for its test).

Usage: python -m tests.enrolment_screen CONFIG.toml SHOT.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.config import load_config
from kiosk.launcher import prepare_kivy

FRAMES_BEFORE_THE_SHOT = 1.5  # seconds: the layout settles, the camera's status arrives


def main(config_path: Path, shot: Path) -> int:
    config = load_config(config_path)
    prepare_kivy(False, config.data_dir)  # fullscreen: the whole screen, as in a store
    from kivy.clock import Clock

    from kiosk.enrolment_app import EnrolmentApp

    app = EnrolmentApp(config_path, config, locked=False)

    def take(_: float) -> None:
        app.root.export_to_png(str(shot))
        app.stop()

    Clock.schedule_once(take, FRAMES_BEFORE_THE_SHOT)
    app.run()
    return 0 if shot.exists() else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
