"""GS1 data: GTIN check digits (a wrong one is refused, never looked up), element
strings, Digital Link URIs, and what any other code is taken to be."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.barcode.gs1 import (
    GS,
    display_gtin,
    gtin_check_digit,
    normalize_gtin,
    parse_digital_link,
    parse_element_string,
    upce_from_gtin,
    upce_to_gtin12,
)
from devices.barcode.meaning import CodeKind, interpret
from devices.barcode.symbology import Symbology
from devices.errors import InputError


@pytest.mark.parametrize(
    ("code", "gtin14"),
    [
        ("3017620422003", "03017620422003"),  # EAN-13
        ("96385074", "00000096385074"),  # EAN-8
        ("036000291452", "00036000291452"),  # UPC-A
        ("10614141000415", "10614141000415"),  # GTIN-14
    ],
)
def test_real_gtins_normalize(code: str, gtin14: str) -> None:
    assert normalize_gtin(code) == gtin14


@pytest.mark.parametrize("code", ["3017620422004", "12345", "30176204220031", "abcdefghijklm", ""])
def test_bad_codes_are_refused(code: str) -> None:
    with pytest.raises(InputError):
        normalize_gtin(code)


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_any_body_with_its_check_digit_is_valid(body: str) -> None:
    code = body + str(gtin_check_digit(body))
    assert display_gtin(normalize_gtin(code)) == code


@given(
    st.text(alphabet="0123456789", min_size=12, max_size=12),
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_error_is_caught(body: str, position: int, delta: int) -> None:
    code = body + str(gtin_check_digit(body))
    wrong = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1 :]
    with pytest.raises(InputError):
        normalize_gtin(wrong)


@given(st.text(max_size=64))
def test_anything_else_is_a_typed_error_or_a_gtin(text: str) -> None:
    with contextlib.suppress(InputError):
        assert len(normalize_gtin(text)) == 14


# --- element strings, Digital Link, what a code means --------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "(01)03760123450010(17)271231(10)LOT42(21)SN1",
        "]C1010376012345001017271231" + "10LOT42" + GS + "21SN1",
        "]d2010376012345001017271231" + "10LOT42" + GS + "21SN1",
        GS + "010376012345001017271231" + "10LOT42" + GS + "21SN1",
    ],
)
def test_element_strings_raw_or_human_readable(text: str) -> None:
    elements = parse_element_string(text)
    assert elements.gtin == "03760123450010"
    assert elements.get("17") == "271231"
    assert elements.get("10") == "LOT42"
    assert elements.get("21") == "SN1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(01)03760123450011", "check digit"),
        ("(01)0376012345001", "AI (01) does not fit its GS1 format"),
        ("(17)271332", "AI (17) does not fit"),
        ("(17)270231", "AI (17) is not a date"),  # 31 February
        ("(99", "expected (AI)value"),
        ("(77)abc", "unknown application identifier"),
        ("(01)(10)LOT42", "AI (01) has no value"),
        ("0103760123450010" + "10" + "X" * 21, "unknown application identifier"),
        ("(10)LOT\x00", "AI (10) does not fit"),
        ("0103760123450010\x00", "characters GS1 does not allow"),
        ("", "no application identifier"),
    ],
)
def test_broken_element_strings_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=re.escape(reason)):
        parse_element_string(text)


@pytest.mark.parametrize(
    ("uri", "gtin", "qualifiers"),
    [
        ("https://id.gs1.org/01/03760123450010", "03760123450010", {}),
        (
            "https://id.gs1.org/01/03760123450010/10/LOT42?17=271231",
            "03760123450010",
            {"10": "LOT42", "17": "271231"},
        ),
        (
            "https://shop.example.fr/p/01/3760123450010/21/A%2FB?linkType=gs1:pip",
            "03760123450010",
            {"21": "A/B"},
        ),
        ("http://example.com/gtin/96385074/lot/L1", "00000096385074", {"10": "L1"}),
    ],
)
def test_digital_link_uris(uri: str, gtin: str, qualifiers: dict[str, str]) -> None:
    elements = parse_digital_link(uri)
    assert elements.gtin == gtin
    assert {k: v for k, v in elements.elements if k != "01"} == qualifiers


@pytest.mark.parametrize(
    "uri",
    [
        "https://id.gs1.org/01/03760123450011",  # wrong check digit
        "https://id.gs1.org/10/LOT42",  # no GTIN
        "https://id.gs1.org/01/03760123450010/10",  # key without value
        "ftp://id.gs1.org/01/03760123450010",
        "https://example.com/",
    ],
)
def test_not_digital_links(uri: str) -> None:
    with pytest.raises(InputError):
        parse_digital_link(uri)


@pytest.mark.parametrize(
    ("symbology", "text", "gs1", "kind", "gtin"),
    [
        (Symbology.EAN13, "3760123450010", False, CodeKind.GTIN, "03760123450010"),
        (Symbology.DATAMATRIX, "(01)03760123450010(10)L1", True, CodeKind.GS1, "03760123450010"),
        (
            Symbology.QR,
            "https://id.gs1.org/01/03760123450010",
            False,
            CodeKind.DIGITAL_LINK,
            "03760123450010",
        ),
        (Symbology.QR, "https://id.gs1.org/01/03760123450011", False, CodeKind.URL, None),
        (Symbology.QR, "https://example.com/commande/8812", False, CodeKind.URL, None),
        (Symbology.QR, "CMD-8812;Mme Dupont", False, CodeKind.TEXT, None),
        (Symbology.QR, "<script>alert(1)</script>[b]x[/b]", False, CodeKind.TEXT, None),
        (Symbology.QR, "x" * 4096, False, CodeKind.TEXT, None),
        (Symbology.CODE128, "(01)03760123450010", False, CodeKind.TEXT, None),
    ],
)
def test_what_a_code_means(
    symbology: Symbology, text: str, gs1: bool, kind: CodeKind, gtin: str | None
) -> None:
    meaning = interpret(symbology, text, gs1=gs1)
    assert meaning.kind is kind
    assert meaning.gtin == gtin


def test_codes_longer_than_any_symbol_are_refused() -> None:
    with pytest.raises(InputError, match="longer than any real code"):
        interpret(Symbology.QR, "x" * 9000)


@given(st.text(max_size=300))
def test_any_text_is_understood_or_refused(text: str) -> None:
    for parse in (parse_element_string, parse_digital_link):
        with contextlib.suppress(InputError):
            elements = parse(text)
            assert elements.elements
    for symbology in (Symbology.QR, Symbology.CODE128):
        with contextlib.suppress(InputError):
            interpret(symbology, text, gs1=True)
        if not text.startswith(("]C1", "]d2", "]Q3", "]e0")):  # those claim to be GS1
            assert interpret(symbology, text).kind in set(CodeKind)


@given(
    st.lists(
        st.sampled_from(["01", "10", "17", "21", "3103", "92", "(", ")", GS, "]C1"])
        | st.text(alphabet="0123456789ABZ-/", max_size=16),
        max_size=10,
    )
)
def test_element_string_fragments_never_crash(parts: list[str]) -> None:
    with contextlib.suppress(InputError):
        parse_element_string("".join(parts))


# --- UPC-E and labels with AIs beyond the everyday ones ------------------------------


@pytest.mark.parametrize(
    ("upce", "gtin14"),
    [
        ("01234565", "00012345000065"),  # last digit 5..9: the item number's last digit
        ("04252614", "00042100005264"),  # last digit 0..2: part of the manufacturer number
        ("01234531", "00012300000451"),  # last digit 3
        ("11234562", "00112345000062"),  # number system 1
    ],
)
def test_a_upc_e_names_the_product_of_its_gtin_12(upce: str, gtin14: str) -> None:
    meaning = interpret(Symbology.UPCE, upce)
    assert meaning.kind is CodeKind.GTIN
    assert meaning.gtin == gtin14


@pytest.mark.parametrize(
    ("upce", "reason"),
    [("01234566", "check digit"), ("91234565", "not a UPC-E"), ("0123456", "digits")],
)
def test_a_broken_upc_e_is_refused(upce: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        interpret(Symbology.UPCE, upce)


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_every_compressible_upc_a_expands_back_to_itself(upca: str) -> None:
    upca = upca[:11] + str(gtin_check_digit(upca[:11]))
    upce = upce_from_gtin(upca)
    if upce is not None:
        assert upce_to_gtin12(upce) == upca
        assert interpret(Symbology.UPCE, upce).gtin == upca.zfill(14)


@given(st.text(max_size=12))
def test_any_upc_e_text_is_a_gtin_12_or_a_typed_error(text: str) -> None:
    with contextlib.suppress(InputError):
        gtin12 = upce_to_gtin12(text)
        assert len(gtin12) == 12
        assert normalize_gtin(gtin12)


def test_real_labels_with_less_common_ais_are_read() -> None:
    # A fresh-fish label: expiry date and time (7003), a meat cut's production time (8008),
    # a catch area (7005) and a net weight in kg (3103).
    text = "]d2" + "0103760123450010" + "70032512311230" + GS + "800825123112" + GS
    text += "700527" + GS + "3103001250"
    elements = parse_element_string(text)
    assert elements.gtin == "03760123450010"
    assert elements.get("7003") == "2512311230"
    assert elements.get("8008") == "25123112"
    assert elements.get("7005") == "27"
    assert elements.get("3103") == "001250"
    hri = parse_element_string("(01)03760123450010(7003)2512311230(8008)25123112")
    assert hri.get("8008") == "25123112"
    link = parse_digital_link("https://id.gs1.org/01/03760123450010?7003=2512311230")
    assert link.get("7003") == "2512311230"


@given(
    st.lists(
        st.sampled_from(["01", "7003", "8008", "7005", "3103", "17", "(", ")", GS, "]d2"])
        | st.text(alphabet="0123456789AZ-", max_size=14),
        max_size=10,
    )
)
def test_fragments_with_rarer_ais_are_read_or_refused(parts: list[str]) -> None:
    text = "".join(parts)
    with contextlib.suppress(InputError):
        elements = parse_element_string(text)
        assert elements.elements
        if elements.gtin is not None:
            assert normalize_gtin(elements.gtin) == elements.gtin
