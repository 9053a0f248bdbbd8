"""The chime a shopper hears when a code is read (the screen flashes too, see kiosk_actions).

The sound is made by the kiosk itself, two short sine tones, and written once as a
WAV file beside Kivy's settings. A kiosk without a sound card still works: the
chime is skipped and the flash alone says the code was read.
"""

from __future__ import annotations

import logging
import math
import struct
import wave
from pathlib import Path

from kivy.core.audio import Sound, SoundLoader

log = logging.getLogger(__name__)

RATE = 22_050
TONES = ((1318.5, 0.07), (1760.0, 0.11))  # E6 then A6: a rising "read" chime


def write_chime(path: Path) -> Path:
    """Write the chime as 16-bit mono WAV (only if it is not there yet)."""
    if path.exists():
        return path
    samples = []
    for frequency, seconds in TONES:
        count = int(RATE * seconds)
        for index in range(count):
            # A short fade in and out so the tones do not click.
            envelope = min(1.0, index / 200, (count - index) / 400)
            value = 0.45 * envelope * math.sin(2 * math.pi * frequency * index / RATE)
            samples.append(int(value * 32767))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


class ScanChime:
    """Plays the chime; says once in the log if the kiosk cannot play sound."""

    def __init__(self, folder: Path) -> None:
        self._sound: Sound | None = SoundLoader.load(str(write_chime(folder / "scan.wav")))
        if self._sound is None:
            log.warning("no sound output: codes read are shown but not heard")

    def play(self) -> None:
        """The chime, from the start (a second code read cuts the first chime short)."""
        if self._sound is None:
            return
        self._sound.stop()
        self._sound.play()
