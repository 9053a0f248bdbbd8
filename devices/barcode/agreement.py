"""Whether the readings of one retail code can be trusted: engines and passes must agree.

EAN/UPC symbols carry one check digit, so a blurred or partly hidden code can be read
as another valid number, and zxing-cpp and zbar do not fail on the same codes. Every
reading is kept with where it was read and by which pass; place by place, a number is
reported only when the readings agree, or when a second opinion settles a dispute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.barcode.locate import Box
from devices.barcode.symbology import Symbology

if TYPE_CHECKING:
    from devices.barcode.decoder import DecodedCode


def near(a: Box, b: Box) -> bool:
    """Whether two detections could be the same symbol.

    A linear code's box is often only the scanline that read it, so boxes are grown
    by a quarter of the symbol's length before they are compared.
    """
    margin = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]) / 4
    return (
        a[0] - margin <= b[2]
        and b[0] - margin <= a[2]
        and a[1] - margin <= b[3]
        and b[1] - margin <= a[3]
    )


@dataclass(frozen=True, slots=True)
class Reading:
    """One engine's reading of one place, and which pass read it (`source`)."""

    box: Box
    code: DecodedCode
    source: str


WHOLE_FRAME = "zxing-cpp"  # the one zxing-cpp pass over the whole frame


def by_place(reads: list[Reading]) -> list[list[Reading]]:
    """Readings grouped by the place they were read (overlapping boxes)."""
    places: list[list[Reading]] = []
    for read in reads:
        place = next((p for p in places if any(near(read.box, o.box) for o in p)), None)
        if place is None:
            places.append([read])
        else:
            place.append(read)
    return places


def doubted(place: list[Reading], failed: list[Box]) -> bool:
    """Readings disagree here, or zxing-cpp both read and failed to read this place."""
    if len({read.code.text for read in place}) > 1:
        return True
    first_pass_only = all(read.source == WHOLE_FRAME for read in place)
    return first_pass_only and any(near(read.box, box) for read in place for box in failed)


# Module widths of the retail symbols. Two different readings of one place cannot
# both be right, and a shorter symbol found in a longer one's bars (a "UPC-E" in the
# right half of an EAN-13) is a fragment of it: the longer reading explains them all.
_MODULES = {Symbology.EAN13: 95, Symbology.UPCA: 95, Symbology.EAN8: 67, Symbology.UPCE: 51}


def _winner(support: dict[str, tuple[DecodedCode, set[str]]]) -> DecodedCode | None:
    """The reading of a disputed place that two sources at least, and more than any
    rival, confirm; among equally confirmed ones, the only one of the widest symbol."""
    most = max(len(sources) for _, sources in support.values())
    if most < 2:
        return None
    best = [code for code, sources in support.values() if len(sources) == most]
    if len(best) == 1:
        return best[0]
    widest = max(_MODULES.get(code.symbology, 0) for code in best)
    wide = [code for code in best if _MODULES.get(code.symbology, 0) == widest]
    return wide[0] if len(wide) == 1 else None


def agreed(reads: list[Reading], failed: list[Box]) -> list[DecodedCode]:
    """What the readings of retail codes say, place by place, when they can be trusted.

    Where readings agree, the code is kept, unless zxing-cpp's whole-frame pass alone
    read it and also failed there (it is unsure: its reading confirms nothing). Where
    they disagree, neither engine wins blindly: the text read by more sources
    (whole-frame pass, zbar, second looks) than any other, and by two at least, wins
    (`_winner`); otherwise the place is left unread, since a misread is worse than no
    read.
    """
    kept = []
    for place in by_place(reads):
        unsure = any(near(read.box, box) for read in place for box in failed)
        support: dict[str, tuple[DecodedCode, set[str]]] = {}
        for read in place:
            _, sources = support.setdefault(read.code.text, (read.code, set()))
            if not (unsure and read.source == WHOLE_FRAME):
                sources.add(read.source)
        if len(support) == 1:
            ((code, sources),) = support.values()
            if sources or not unsure:
                kept.append(code)
        elif (winner := _winner(support)) is not None:
            kept.append(winner)
    return kept
