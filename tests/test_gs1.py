"""GTIN check digits: a wrong one is refused, never looked up."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.barcode.gs1 import display_gtin, gtin_check_digit, normalize_gtin
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
