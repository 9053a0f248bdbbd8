"""Scripted journeys: play a shopper's steps through the simulated devices, take screenshots.

A journey file is a JSON list of steps:
  {"tap_card": "9250000000017"}   a loyalty card on the simulated NFC reader
  {"tap_badge": "LEA-0042"}       a Borne staff badge (that badge id) on the same reader
  {"scan": "3760123450010"}       a barcode drawn into camera frames, read by the real decoder
  {"press": "home"}               a touch on the button with that id
  {"keys": "3760123450010"}       typed by a keyboard-wedge scanner, then Enter
  {"type": "casque"}              touched key by key on the search screen's keyboard
  {"wait": 1.5}                   seconds
  {"idle": true}                  jump past the quiet time (the warning shows), or, when the
                                  warning shows, past its countdown (the session is wiped)
  {"screenshot": "product"}       save NAME.png in the screenshots folder
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.barcode.symbology import Symbology
from edge.errors import BorneError

STEP_KINDS = (
    "tap_card",
    "tap_badge",
    "scan",
    "press",
    "keys",
    "type",
    "wait",
    "idle",
    "screenshot",
)
TEXT_STEPS = ("tap_card", "tap_badge", "scan", "press", "keys", "type", "screenshot")


class JourneyError(BorneError):
    """The journey file is malformed, or a step could not be played."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a journey."""

    kind: str
    value: Any


def load_journey(path: Path) -> list[Step]:
    """Parse and check a journey file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise JourneyError(f"{path}: cannot be read as JSON ({error})") from None
    if not isinstance(document, list):
        raise JourneyError(f"{path}: expected a JSON list of steps")
    steps = []
    for index, item in enumerate(document, start=1):
        if not isinstance(item, dict) or len(item) != 1:
            raise JourneyError(f"{path}: step {index} must be an object with one key")
        ((kind, value),) = item.items()
        if kind not in STEP_KINDS:
            raise JourneyError(f"{path}: step {index}: unknown step {kind!r}")
        if kind == "wait" and (not isinstance(value, int | float) or not 0 <= value <= 600):
            raise JourneyError(f"{path}: step {index}: wait takes 0 to 600 seconds")
        if kind in TEXT_STEPS and not (isinstance(value, str) and value):
            raise JourneyError(f"{path}: step {index}: {kind} takes a non-empty string")
        if kind == "screenshot" and (Path(value).name != value or value.startswith(".")):
            raise JourneyError(f"{path}: step {index}: a screenshot name is a plain file name")
        steps.append(Step(kind, value))
    return steps


def symbology_for(text: str) -> tuple[Symbology, bool]:
    """How a journey's barcode text is drawn, and whether as a GS1 symbol.

    Retail digits as EAN/UPC, "(01)..." element strings as GS1 DataMatrix, the rest as QR.
    """
    if text.isascii() and text.isdigit():
        symbology = {13: Symbology.EAN13, 8: Symbology.EAN8, 12: Symbology.UPCA}.get(
            len(text), Symbology.CODE128
        )
        return symbology, False
    if text.startswith("(01)"):
        return Symbology.DATAMATRIX, True
    return Symbology.QR, False
