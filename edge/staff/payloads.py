"""A staff message's JSON object, read from outside input with its size bounded.

One reader for the kiosk's answers and advisor calls (and the hub's requests, which
may use it too): anything that is not a JSON object within `limit` bytes is the
caller's typed error, never a ValueError or RecursionError escaping into a callback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from edge.errors import BorneError


def read_object(
    payload: bytes, *, limit: int, what: str, error: Callable[[str], BorneError]
) -> dict[str, Any]:
    """The JSON object `payload` holds, or `error(message)` saying why it holds none."""
    if len(payload) > limit:
        raise error(f"{what}: larger than {limit} bytes")
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise error(f"{what}: not JSON") from None
    except RecursionError:  # "[[[[…" nested deeper than Python parses, well under `limit`
        raise error(f"{what}: nested too deeply") from None
    if not isinstance(document, dict):
        raise error(f"{what}: expected an object")
    return document
