"""Logs are shared with installers and support: shopper data never reaches them."""

from __future__ import annotations

import logging

import pytest

from edge.logs import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 9250000000017 refused", "card ******17 refused"),
        ("card 4970 1234 5678 9012 read", "card ******12 read"),
        ("tag uid:04517ca1e1ed25 gone", "tag uid:<redacted> gone"),
        ("sequence 42 of /stores/paris-01", "sequence 42 of /stores/paris-01"),
    ],
)
def test_card_numbers_and_uids_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_redacts_formatted_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "tap %s", ("9250000000017",), None)
    try:
        raise ValueError("bad card 9250000000024")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert record.getMessage() == "tap ******17"
    assert "9250000000024" not in (record.exc_text or "")
