"""A catalog source cut into its members and list items, without parsing it in one call.

`json.loads` (or pydantic's `validate_json`) of a 100,000-product file is one C call
that holds the GIL for seconds: a load in a worker thread would freeze the asyncio loop
and the UI for as long. Cut into items (each one a short call), validation can go a few
hundred products at a time and other threads run between them.
"""

from __future__ import annotations

import json
import re

_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, nothing more
_DECODER = json.JSONDecoder()


class SplitError(ValueError):
    """The text is not one JSON object (says where)."""


def split_members(text: str, lists: frozenset[str]) -> dict[str, str | list[str]]:
    """The members of the JSON object `text`: each value's text, or for the members
    named in `lists` whose value is an array, the text of each item.

    Raises SplitError if `text` is not exactly one well-formed JSON object. A repeated
    member keeps its last value, as `json.loads` does.
    """
    members: dict[str, str | list[str]] = {}
    position = _expect(text, _skip(text, 0), "{")
    if _at(text, position) == "}":
        return _end(text, position + 1, members)
    while True:
        if _at(text, position) != '"':
            raise SplitError(f"expected a member name at {position}")
        key, position = _value(text, position)
        assert isinstance(key, str)  # a JSON text starting with '"' is a string
        position = _expect(text, position, ":")
        if key in lists and _at(text, position) == "[":
            members[key], position = _items(text, position)
        else:
            start = position
            _, position = _value(text, position)
            members[key] = text[start:position]
        position = _skip(text, position)
        if _at(text, position) == "}":
            return _end(text, position + 1, members)
        position = _expect(text, position, ",")


def _items(text: str, position: int) -> tuple[list[str], int]:
    """The text of each item of the array at `position`, and where it ends."""
    items: list[str] = []
    position = _skip(text, position + 1)
    if _at(text, position) == "]":
        return items, position + 1
    while True:
        start = position
        _, position = _value(text, position)
        items.append(text[start:position])
        position = _skip(text, position)
        if _at(text, position) == "]":
            return items, position + 1
        position = _expect(text, position, ",")


def _value(text: str, position: int) -> tuple[object, int]:
    try:
        return _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as error:
        raise SplitError(f"{error.msg} at {error.pos}") from None
    except ValueError:  # an integer of more digits than Python converts
        raise SplitError(f"a number too long at {position}") from None
    except RecursionError:
        raise SplitError(f"nested too deep at {position}") from None


def _skip(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _at(text: str, position: int) -> str:
    return text[position : position + 1]


def _expect(text: str, position: int, char: str) -> int:
    position = _skip(text, position)
    if _at(text, position) != char:
        raise SplitError(f"expected {char!r} at {position}")
    return _skip(text, position + 1)


def _end(
    text: str, position: int, members: dict[str, str | list[str]]
) -> dict[str, str | list[str]]:
    if _skip(text, position) != len(text):
        raise SplitError(f"extra data at {position}")
    return members
