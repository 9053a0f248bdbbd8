"""GS1 data read from retail barcodes: GTINs, element strings, Digital Link URIs.

Pure functions, no I/O; anything malformed is an InputError, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from devices.errors import InputError

GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits of `body` (the GTIN without it)."""
    total = 0
    # Weights alternate 3, 1, ... starting from the rightmost digit of the body.
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def normalize_gtin(text: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as GTIN-14 (zero-padded).

    Raises InputError for anything that is not digits of a GTIN length, or whose
    check digit is wrong: such a code is rejected, never looked up.
    """
    if not text.isascii() or not text.isdigit() or len(text) not in GTIN_LENGTHS:
        raise InputError("GTIN", "expected 8, 12, 13 or 14 digits")
    if gtin_check_digit(text[:-1]) != int(text[-1]):
        raise InputError("GTIN", "wrong check digit")
    return text.zfill(14)


def display_gtin(gtin14: str) -> str:
    """The shortest usual form of a GTIN-14: EAN-13 for retail goods, else as is."""
    return gtin14[1:] if gtin14.startswith("0") else gtin14


# --- GS1 element strings and Digital Link ---------------------------------------------

GS = "\x1d"  # the FNC1 separator as scanners transmit it
MAX_CODE_TEXT = 8192  # above any QR code's capacity: longer texts are refused unparsed

# Application identifiers Borne understands: AI -> (fixed data length or None, max length,
# numeric only, name). AIs with a fixed length need no separator after their data.
_AIS: dict[str, tuple[int | None, int, bool, str]] = {
    "00": (18, 18, True, "sscc"),
    "01": (14, 14, True, "gtin"),
    "02": (14, 14, True, "content_gtin"),
    "10": (None, 20, False, "batch"),
    "11": (6, 6, True, "production_date"),
    "13": (6, 6, True, "packaging_date"),
    "15": (6, 6, True, "best_before"),
    "16": (6, 6, True, "sell_by"),
    "17": (6, 6, True, "expiry"),
    "21": (None, 20, False, "serial"),
    "22": (None, 20, False, "consumer_variant"),
    "30": (None, 8, True, "count"),
    "37": (None, 8, True, "units"),
    "235": (None, 28, False, "third_party_serial"),
    "240": (None, 30, False, "additional_id"),
    "241": (None, 30, False, "customer_part"),
    "250": (None, 30, False, "secondary_serial"),
    "254": (None, 20, False, "gln_extension"),
    "400": (None, 30, False, "order_number"),
    "410": (13, 13, True, "ship_to_gln"),
    "414": (13, 13, True, "location_gln"),
    "8200": (None, 70, False, "product_url"),
}
# Weights and measures (310n..369n) and prices (392n, 393n) carry the decimal point in n.
for _prefix in range(310, 370):
    for _decimals in range(10):
        _AIS[f"{_prefix}{_decimals}"] = (6, 6, True, f"measure_{_prefix}")
for _decimals in range(10):
    _AIS[f"392{_decimals}"] = (None, 15, True, "price")
    _AIS[f"393{_decimals}"] = (None, 18, True, "price_with_currency")
_AIS.update({f"9{i}": (None, 30, False, "internal") for i in range(10)})

_SYMBOLOGY_IDS = ("]C1", "]d2", "]Q3", "]e0", "]J1")


@dataclass(frozen=True, slots=True)
class GS1Elements:
    """The application identifiers of a GS1 code, in the order they came."""

    elements: tuple[tuple[str, str], ...]

    def get(self, ai: str) -> str | None:
        """The value of `ai`, if present."""
        return next((value for key, value in self.elements if key == ai), None)

    @property
    def gtin(self) -> str | None:
        """The GTIN-14 (AI 01), check digit verified at parse time."""
        return self.get("01")


def _ai_at(text: str, position: int) -> str:
    for length in (2, 3, 4):
        candidate = text[position : position + length]
        if candidate in _AIS:
            return candidate
    raise InputError("GS1 element string", f"unknown application identifier at {position}")


def _checked(ai: str, value: str) -> str:
    fixed, maximum, numeric, _ = _AIS[ai]
    if not value or len(value) > maximum or (fixed is not None and len(value) != fixed):
        raise InputError("GS1 element string", f"AI ({ai}) has a value of the wrong length")
    if numeric and not (value.isascii() and value.isdigit()):
        raise InputError("GS1 element string", f"AI ({ai}) must be digits")
    if not value.isprintable() or not value.isascii():
        raise InputError("GS1 element string", f"AI ({ai}) has characters GS1 does not allow")
    if ai in ("01", "02"):
        return normalize_gtin(value)
    if fixed == 6 and ai[0] == "1" and not _valid_yymmdd(value):
        raise InputError("GS1 element string", f"AI ({ai}) is not a YYMMDD date")
    return value


def _valid_yymmdd(value: str) -> bool:
    month, day = int(value[2:4]), int(value[4:6])
    return 1 <= month <= 12 and 0 <= day <= 31  # day 00 means "end of month" in GS1


def parse_element_string(text: str) -> GS1Elements:
    """Parse a GS1 element string: raw (FNC1 as GS, optional ]C1/]d2/]Q3 prefix) or HRI "(01)...".

    Raises InputError for anything malformed: an unknown AI, a wrong length, a bad
    check digit, a date that is not one.
    """
    if len(text) > MAX_CODE_TEXT:
        raise InputError("GS1 element string", "too long")
    if text.startswith("("):
        return _parse_hri(text)
    for prefix in _SYMBOLOGY_IDS:
        text = text.removeprefix(prefix)
    elements = []
    position = 0
    while position < len(text):
        if text[position] == GS:
            position += 1
            continue
        ai = _ai_at(text, position)
        fixed = _AIS[ai][0]
        start = position + len(ai)
        end = start + fixed if fixed is not None else text.find(GS, start)
        if end == -1:
            end = len(text)
        elements.append((ai, _checked(ai, text[start:end])))
        position = end
    if not elements:
        raise InputError("GS1 element string", "no application identifier")
    return GS1Elements(tuple(elements))


def _parse_hri(text: str) -> GS1Elements:
    elements = []
    rest = text
    while rest:
        if not rest.startswith("(") or ")" not in rest:
            raise InputError("GS1 element string", "expected (AI)value")
        ai, _, rest = rest[1:].partition(")")
        if ai not in _AIS:
            raise InputError("GS1 element string", "unknown application identifier")
        value, bracket, tail = rest.partition("(")
        rest = bracket + tail
        elements.append((ai, _checked(ai, value)))
    if not elements:
        raise InputError("GS1 element string", "no application identifier")
    return GS1Elements(tuple(elements))


# Digital Link path keys: primary key then qualifiers in their defined order.
_DL_PRIMARY = {"01", "gtin"}
_DL_ALIASES = {"gtin": "01", "lot": "10", "ser": "21", "cpv": "22", "exp": "17"}


def parse_digital_link(uri: str) -> GS1Elements:
    """Parse a GS1 Digital Link URI (any domain): /01/{gtin}[/22/..][/10/..][/21/..]?17=...

    Raises InputError if it is not a Digital Link with a valid GTIN.
    """
    if len(uri) > MAX_CODE_TEXT:
        raise InputError("GS1 Digital Link", "too long")
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("GS1 Digital Link", "not an http(s) URI")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    for index, segment in enumerate(segments):
        if segment in _DL_PRIMARY and len(segments) > index + 1:
            path = segments[index:]
            break
    else:
        raise InputError("GS1 Digital Link", "no /01/{gtin} in the path")
    if len(path) % 2:
        raise InputError("GS1 Digital Link", "a path key has no value")
    pairs = [(_DL_ALIASES.get(path[i], path[i]), path[i + 1]) for i in range(0, len(path), 2)]
    for key, values in parse_qs(parts.query, keep_blank_values=False).items():
        ai = _DL_ALIASES.get(key, key)
        if ai in _AIS:  # other query parameters (linkType, tracking) are not data
            pairs.append((ai, values[0]))
    elements = []
    for ai, value in pairs:
        if ai not in _AIS:
            raise InputError("GS1 Digital Link", "unknown key in the path")
        # A Digital Link may carry a GTIN-8, -12 or -13: it stands for its GTIN-14.
        elements.append((ai, _checked(ai, normalize_gtin(value) if ai == "01" else value)))
    return GS1Elements(tuple(elements))
