"""When readings of one retail code disagree, the kiosk shows no product rather than a wrong one."""

from __future__ import annotations

from devices.barcode.agreement import WHOLE_FRAME, Reading, agreed
from devices.barcode.decoder import DecodedCode
from devices.barcode.symbology import Symbology

HERE = (100.0, 200.0, 400.0, 260.0)
ELSEWHERE = (900.0, 100.0, 1200.0, 160.0)
RIGHT, WRONG = "3760123450010", "3760123450027"  # both with a valid check digit


def _reading(text: str, source: str, box: tuple[float, float, float, float] = HERE) -> Reading:
    engine = "zbar" if source.startswith("zbar") else "zxing-cpp"
    return Reading(box, DecodedCode(Symbology.EAN13, text, engine), source)


def _texts(readings: list[Reading], failed: list[tuple[float, float, float, float]]) -> list[str]:
    return [code.text for code in agreed(readings, failed)]


def test_one_engine_alone_is_believed_when_nothing_contradicts_it() -> None:
    assert _texts([_reading(RIGHT, WHOLE_FRAME)], []) == [RIGHT]
    assert _texts([_reading(RIGHT, "zbar second look")], [HERE]) == [RIGHT]


def test_two_engines_that_disagree_with_no_second_opinion_give_no_product() -> None:
    assert _texts([_reading(RIGHT, WHOLE_FRAME), _reading(WRONG, "zbar second look")], []) == []


def test_a_reading_confirmed_by_a_second_look_wins_a_dispute() -> None:
    readings = [
        _reading(WRONG, WHOLE_FRAME),
        _reading(RIGHT, "zbar second look"),
        _reading(RIGHT, "zxing-cpp second look"),
    ]
    assert _texts(readings, []) == [RIGHT]


def test_a_tie_gives_no_product() -> None:
    readings = [
        _reading(WRONG, WHOLE_FRAME),
        _reading(WRONG, "zxing-cpp second look"),
        _reading(RIGHT, "zbar"),
        _reading(RIGHT, "zbar second look"),
    ]
    assert _texts(readings, []) == []


def test_zxing_unsure_of_a_place_confirms_nothing_there() -> None:
    # zxing-cpp both read and failed to read this place: only another pass can vouch.
    assert _texts([_reading(RIGHT, WHOLE_FRAME)], [HERE]) == []
    readings = [
        _reading(WRONG, WHOLE_FRAME),
        _reading(WRONG, "zxing-cpp second look"),
        _reading(RIGHT, "zbar"),
        _reading(RIGHT, "zbar second look"),
    ]
    assert _texts(readings, [HERE]) == [RIGHT]


def test_codes_in_two_places_are_judged_apart() -> None:
    readings = [
        _reading(RIGHT, WHOLE_FRAME),
        _reading(WRONG, WHOLE_FRAME, ELSEWHERE),
    ]
    assert sorted(_texts(readings, [])) == [RIGHT, WRONG]


def test_a_short_code_read_in_the_bars_of_a_long_one_gives_way_to_it() -> None:
    # zxing-cpp finds a "UPC-E" in the right half of a tilted EAN-13, on both passes.
    fragment = DecodedCode(Symbology.UPCE, "17742403", "zxing-cpp")
    readings = [
        _reading(RIGHT, WHOLE_FRAME),
        _reading(RIGHT, "zxing-cpp second look"),
        Reading((105.0, 265.0, 280.0, 266.0), fragment, WHOLE_FRAME),
        Reading((105.0, 265.0, 280.0, 266.0), fragment, "zxing-cpp second look"),
    ]
    assert _texts(readings, []) == [RIGHT]
    # Read once each, nothing confirms either: no product.
    assert _texts([readings[0], readings[2]], []) == []
