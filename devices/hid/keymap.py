"""Key codes to characters as the scanner meant them, whatever the kiosk's keyboard layout.

A wedge scanner "types" a code with the key codes of the layout it was programmed
for. Read through the OS keymap, a US-programmed scanner on a French AZERTY kiosk
types "HA&&é" for "HA112". Reading raw key codes (evdev) and translating them with
the scanner's own layout gives back what was printed on the label. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evdev import ecodes

from devices.errors import InputError

GS = "\x1d"  # FNC1, which scanners send as Ctrl+]

_DIGIT_KEYS = [ecodes.KEY_1, ecodes.KEY_2, ecodes.KEY_3, ecodes.KEY_4, ecodes.KEY_5,
               ecodes.KEY_6, ecodes.KEY_7, ecodes.KEY_8, ecodes.KEY_9, ecodes.KEY_0]  # fmt: skip
_KEYPAD = {
    ecodes.KEY_KP0: "0", ecodes.KEY_KP1: "1", ecodes.KEY_KP2: "2", ecodes.KEY_KP3: "3",
    ecodes.KEY_KP4: "4", ecodes.KEY_KP5: "5", ecodes.KEY_KP6: "6", ecodes.KEY_KP7: "7",
    ecodes.KEY_KP8: "8", ecodes.KEY_KP9: "9", ecodes.KEY_KPMINUS: "-", ecodes.KEY_KPPLUS: "+",
    ecodes.KEY_KPDOT: ".", ecodes.KEY_KPSLASH: "/", ecodes.KEY_KPASTERISK: "*",
}  # fmt: skip


def _letters(rows: list[tuple[list[int], str]]) -> dict[int, tuple[str, str]]:
    table = {}
    for keys, letters in rows:
        for key, letter in zip(keys, letters, strict=True):
            table[key] = (letter, letter.upper())
    return table


_QWERTY_ROWS = [
    ([ecodes.KEY_Q, ecodes.KEY_W, ecodes.KEY_E, ecodes.KEY_R, ecodes.KEY_T, ecodes.KEY_Y,
      ecodes.KEY_U, ecodes.KEY_I, ecodes.KEY_O, ecodes.KEY_P], "qwertyuiop"),
    ([ecodes.KEY_A, ecodes.KEY_S, ecodes.KEY_D, ecodes.KEY_F, ecodes.KEY_G, ecodes.KEY_H,
      ecodes.KEY_J, ecodes.KEY_K, ecodes.KEY_L], "asdfghjkl"),
    ([ecodes.KEY_Z, ecodes.KEY_X, ecodes.KEY_C, ecodes.KEY_V, ecodes.KEY_B, ecodes.KEY_N,
      ecodes.KEY_M], "zxcvbnm"),
]  # fmt: skip
_AZERTY_ROWS = [
    ([ecodes.KEY_Q, ecodes.KEY_W, ecodes.KEY_E, ecodes.KEY_R, ecodes.KEY_T, ecodes.KEY_Y,
      ecodes.KEY_U, ecodes.KEY_I, ecodes.KEY_O, ecodes.KEY_P], "azertyuiop"),
    ([ecodes.KEY_A, ecodes.KEY_S, ecodes.KEY_D, ecodes.KEY_F, ecodes.KEY_G, ecodes.KEY_H,
      ecodes.KEY_J, ecodes.KEY_K, ecodes.KEY_L, ecodes.KEY_SEMICOLON], "qsdfghjklm"),
    ([ecodes.KEY_Z, ecodes.KEY_X, ecodes.KEY_C, ecodes.KEY_V, ecodes.KEY_B, ecodes.KEY_N],
     "wxcvbn"),
]  # fmt: skip

# key -> (unshifted, shifted)
LAYOUTS: dict[str, dict[int, tuple[str, str]]] = {
    "us": {
        **_letters(_QWERTY_ROWS),
        **{key: (d, s) for key, d, s in zip(_DIGIT_KEYS, "1234567890", "!@#$%^&*()", strict=True)},
        ecodes.KEY_MINUS: ("-", "_"), ecodes.KEY_EQUAL: ("=", "+"),
        ecodes.KEY_LEFTBRACE: ("[", "{"), ecodes.KEY_RIGHTBRACE: ("]", "}"),
        ecodes.KEY_SEMICOLON: (";", ":"), ecodes.KEY_APOSTROPHE: ("'", '"'),
        ecodes.KEY_GRAVE: ("`", "~"), ecodes.KEY_BACKSLASH: ("\\", "|"),
        ecodes.KEY_COMMA: (",", "<"), ecodes.KEY_DOT: (".", ">"), ecodes.KEY_SLASH: ("/", "?"),
        ecodes.KEY_SPACE: (" ", " "),
    },
    "fr": {
        **_letters(_AZERTY_ROWS),
        **{key: (d, s) for key, d, s in zip(_DIGIT_KEYS, "&é\"'(-è_çà", "1234567890", strict=True)},
        ecodes.KEY_MINUS: (")", "°"), ecodes.KEY_EQUAL: ("=", "+"),
        ecodes.KEY_M: (",", "?"), ecodes.KEY_COMMA: (";", "."), ecodes.KEY_DOT: (":", "/"),
        ecodes.KEY_SLASH: ("!", "§"), ecodes.KEY_APOSTROPHE: ("ù", "%"),
        ecodes.KEY_BACKSLASH: ("*", "µ"), ecodes.KEY_RIGHTBRACE: ("$", "£"),
        ecodes.KEY_SPACE: (" ", " "),
    },
}  # fmt: skip

_SHIFTS = {ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT}
_CTRLS = {ecodes.KEY_LEFTCTRL, ecodes.KEY_RIGHTCTRL}
_ENTERS = {ecodes.KEY_ENTER, ecodes.KEY_KPENTER}
MAX_CODE = 4096  # a wedge that never sends Enter must not grow a buffer forever


@dataclass
class KeyDecoder:
    """Key events in, whole codes out (a code ends with Enter)."""

    layout: str = "us"
    _shift: bool = False
    _ctrl: bool = False
    _caps: bool = False
    _buffer: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise InputError("keyboard layout", f"unknown layout {self.layout!r}")

    def feed(self, event_type: int, code: int, value: int) -> str | None:
        """One evdev event; returns the code when Enter completes one."""
        if event_type != ecodes.EV_KEY:
            return None
        if code in _SHIFTS:
            self._shift = value != 0
            return None
        if code in _CTRLS:
            self._ctrl = value != 0
            return None
        if value != 1:  # releases and auto-repeats type nothing
            return None
        if code == ecodes.KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in _ENTERS:
            text, self._buffer = "".join(self._buffer), []
            return text or None
        if self._ctrl and code == ecodes.KEY_RIGHTBRACE:
            self._append(GS)
            return None
        if code in _KEYPAD:
            self._append(_KEYPAD[code])
            return None
        pair = LAYOUTS[self.layout].get(code)
        if pair is not None:
            shifted = self._shift != (self._caps and pair[0].isalpha())
            self._append(pair[1] if shifted else pair[0])
        return None

    def _append(self, char: str) -> None:
        if len(self._buffer) >= MAX_CODE:
            self._buffer.clear()  # a runaway stream is not a code
        self._buffer.append(char)


def key_events(text: str, layout: str = "us") -> list[tuple[int, int]]:
    """(key code, value) presses that a scanner programmed for `layout` sends for `text`."""
    reverse: dict[str, tuple[int, bool]] = {}
    for key, (plain, shifted) in LAYOUTS[layout].items():
        reverse.setdefault(plain, (key, False))
        reverse.setdefault(shifted, (key, True))
    events: list[tuple[int, int]] = []
    for char in text:
        if char == GS:
            events += [(ecodes.KEY_LEFTCTRL, 1), (ecodes.KEY_RIGHTBRACE, 1),
                       (ecodes.KEY_RIGHTBRACE, 0), (ecodes.KEY_LEFTCTRL, 0)]  # fmt: skip
            continue
        if char not in reverse:
            raise InputError("scanner text", f"{char!r} cannot be typed on a {layout} layout")
        key, shift = reverse[char]
        if shift:
            events.append((ecodes.KEY_LEFTSHIFT, 1))
        events += [(key, 1), (key, 0)]
        if shift:
            events.append((ecodes.KEY_LEFTSHIFT, 0))
    return [*events, (ecodes.KEY_ENTER, 1), (ecodes.KEY_ENTER, 0)]
