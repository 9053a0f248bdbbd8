"""GS1 data read from retail barcodes: GTINs, element strings, Digital Link URIs.

Pure functions, no I/O; anything malformed is an InputError, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from biip import EncodeError, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.upc import Upc

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


def upce_to_gtin12(text: str) -> str:
    """The GTIN-12 (UPC-A) a UPC-E's 8 digits stand for: "01234565" -> "012345000065".

    A UPC-E is a zero-suppressed UPC-A, and its check digit is the UPC-A's: it is only
    a product number once expanded. Raises InputError for anything that is not a valid
    UPC-E (8 digits, number system 0 or 1, the expansion's check digit).
    """
    if not text.isascii() or not text.isdigit() or len(text) != 8:
        raise InputError("UPC-E", "expected 8 digits")
    try:
        return Upc.parse(text).as_upc_a()
    except ParseError as error:
        reason = "wrong check digit" if "check digit" in str(error) else "not a UPC-E"
        raise InputError("UPC-E", reason) from None


def upce_from_gtin(gtin: str) -> str | None:
    """The UPC-E a GTIN-12/13/14 compresses to, if it can be one (None otherwise)."""
    digits = gtin.lstrip("0").zfill(12)
    if len(digits) != 12 or digits[0] not in "01":
        return None
    try:
        return Upc.parse(digits).as_upc_e()
    except (ParseError, EncodeError):
        return None


def display_gtin(gtin14: str) -> str:
    """The shortest usual form of a GTIN-14: EAN-13 for retail goods, else as is."""
    return gtin14[1:] if gtin14.startswith("0") else gtin14


# --- GS1 element strings and Digital Link ---------------------------------------------

GS = "\x1d"  # the FNC1 separator as scanners transmit it
_PRINTABLE_OR_GS = frozenset(map(chr, range(0x20, 0x7F))) | {GS}
MAX_CODE_TEXT = 8192  # above any QR code's capacity: longer texts are refused unparsed

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


def _refusal(error: ParseError) -> InputError:
    """biip's reason, in Borne's words and without the code's data (it may be a serial)."""
    message = str(error)
    if "Application Identifier" in message:
        return InputError("GS1 element string", "unknown application identifier")
    ai = message.partition("AI (")[2].partition(")")[0]
    where = f"AI ({ai})" if ai.isdigit() else "an element"
    if "date" in message:
        return InputError("GS1 element string", f"{where} is not a date")
    return InputError("GS1 element string", f"{where} does not fit its GS1 format")


def _checked(element: GS1ElementString) -> tuple[str, str]:
    """(AI, value) of one element biip accepted, with the GTIN check digit enforced.

    biip knows every AI's format (lengths, character sets, dates); it only notes a
    wrong GTIN check digit, which Borne refuses.
    """
    ai, value = element.ai.ai, element.value
    if ai in ("01", "02"):
        value = normalize_gtin(value)
    return ai, value


def _element(ai: str, value: str) -> tuple[str, str]:
    """One (AI)value pair, checked against the AI's GS1 format; the value must fill it exactly."""
    if not ai.isascii() or not ai.isdigit() or not 2 <= len(ai) <= 4:
        raise InputError("GS1 element string", "unknown application identifier")
    if not value:
        raise InputError("GS1 element string", f"AI ({ai}) has no value")
    try:
        element = GS1ElementString.extract(ai + value)
    except ParseError as error:
        raise _refusal(error) from None
    if element.ai.ai != ai:
        raise InputError("GS1 element string", "unknown application identifier")
    if element.value != value:
        raise InputError("GS1 element string", f"AI ({ai}) does not fit its GS1 format")
    return _checked(element)


def parse_element_string(text: str) -> GS1Elements:
    """Parse a GS1 element string: raw (FNC1 as GS, optional ]C1/]d2/]Q3 prefix) or HRI "(01)...".

    Every AI in the GS1 General Specifications is understood (biip's table), so real
    labels with (7003), (8008)... are read. Raises InputError for anything malformed:
    an unknown AI, a value that does not fit its AI, a bad check digit, a date that is
    not one.
    """
    if len(text) > MAX_CODE_TEXT:
        raise InputError("GS1 element string", "too long")
    if text.startswith("("):
        return _parse_hri(text)
    for prefix in _SYMBOLOGY_IDS:
        text = text.removeprefix(prefix)
    if set(text) - _PRINTABLE_OR_GS:
        raise InputError("GS1 element string", "has characters GS1 does not allow")
    try:
        message = GS1Message.parse(text.lstrip(GS))
    except ParseError as error:
        raise _refusal(error) from None
    if not message.element_strings:
        raise InputError("GS1 element string", "no application identifier")
    return GS1Elements(tuple(_checked(element) for element in message.element_strings))


def _parse_hri(text: str) -> GS1Elements:
    # biip's own HRI reader skips an empty "(01)": each pair is read here, then checked.
    elements = []
    rest = text
    while rest:
        if not rest.startswith("(") or ")" not in rest:
            raise InputError("GS1 element string", "expected (AI)value")
        ai, _, rest = rest[1:].partition(")")
        value, bracket, tail = rest.partition("(")
        rest = bracket + tail
        elements.append(_element(ai, value))
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
        if _is_ai(ai):  # other query parameters (linkType, tracking) are not data
            pairs.append((ai, values[0]))
    elements = []
    for ai, value in pairs:
        if not _is_ai(ai):
            raise InputError("GS1 Digital Link", "unknown key in the path")
        # A Digital Link may carry a GTIN-8, -12 or -13: it stands for its GTIN-14.
        elements.append(_element(ai, normalize_gtin(value) if ai == "01" else value))
    return GS1Elements(tuple(elements))


def _is_ai(key: str) -> bool:
    """Whether `key` is a GS1 application identifier (all digits, known to GS1)."""
    if not key.isascii() or not key.isdigit() or not 2 <= len(key) <= 4:
        return False
    try:
        return GS1ApplicationIdentifier.extract(key).ai == key
    except ParseError:
        return False
