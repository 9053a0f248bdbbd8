"""Downlink messages of a versioned stream, parsed strictly from what the broker delivered.

The platform numbers each stream's changes (`version`, from 1, gapless) within an
`epoch`: a new epoch means the platform renumbered (a rebuilt database, a new hub) and
the kiosk must take a fresh snapshot. A change message carries the changes that make
`version` from `version - 1`; a snapshot page carries part of the whole stream as of
`version`. Anything else, or anything malformed, is a `DownlinkError`: counted and
dropped by the caller, never half-applied.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from edge.errors import BorneError

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a page of a snapshot is cut smaller than this
MAX_ITEMS = 10_000  # changes in one message, items in one page
_KEY = re.compile(r"[^\x00-\x1f]{1,128}")
_EPOCH = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Problem(StrEnum):
    """Why a downlink message was refused: what counters and logs name (never its content)."""

    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    OTHER_STORE = "for another store"
    UNKNOWN_STREAM = "of a stream the kiosk does not follow"
    WRONG_TOPIC = "on another stream's topic"


class DownlinkError(BorneError):
    """A downlink message that cannot be applied: malformed, oversized, or not ours."""

    retryable = False  # the same bytes again are refused again

    def __init__(self, message: str, problem: Problem = Problem.MALFORMED) -> None:
        super().__init__(message)
        self.problem = problem


class Stream(StrEnum):
    """What comes down from the platform, one versioned stream each."""

    CATALOG = "catalog"  # products, prices, shelves
    STOCK = "stock"  # here, in the nearby stores, online
    REVIEWS = "reviews"
    OFFERS = "offers"  # promotions and personal offers
    CUSTOMERS = "customers"  # loyalty profiles, by pseudonym
    STAFF = "staff"  # the staff directory, PIN hashes only


# What the platform (the hub) publishes: every stream, the staff directory included.
PUBLISHED_STREAMS = (
    Stream.CATALOG,
    Stream.STOCK,
    Stream.REVIEWS,
    Stream.OFFERS,
    Stream.CUSTOMERS,
    Stream.STAFF,
)


@dataclass(frozen=True, slots=True)
class Change:
    """One keyed item set (`value`) or removed (`value` None)."""

    key: str
    value: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The changes that make `version` of a stream from `version - 1`."""

    stream: Stream
    epoch: str
    version: int
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class SnapshotPage:
    """Page `page` of `pages` of a stream's whole content as of `version`."""

    stream: Stream
    epoch: str
    version: int
    page: int
    pages: int
    items: tuple[Change, ...]


def parse_message(
    payload: bytes, store_id: str, topic_stream: Stream | None = None
) -> ChangeSet | SnapshotPage:
    """A downlink message for this store's kiosks, or DownlinkError saying what is wrong.

    `topic_stream`, when the message came on a stream's own topic: the message must be
    of that stream (a catalog change set on the stock topic is a platform's mistake).
    """
    if len(payload) > MAX_MESSAGE_BYTES:
        raise DownlinkError(
            f"message of {len(payload)} bytes, over {MAX_MESSAGE_BYTES}", Problem.OVERSIZED
        )
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise DownlinkError(f"not JSON: {error}") from None
    except RecursionError:  # "[[[[…" nested deeper than Python parses, well under the size bound
        raise DownlinkError("not JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise DownlinkError("not a JSON object")
    if _text(document, "store") != store_id:
        raise DownlinkError("for another store", Problem.OTHER_STORE)
    try:
        stream = Stream(_text(document, "stream"))
    except ValueError:
        raise DownlinkError(
            f"unknown stream {str(document['stream'])[:32]!r}", Problem.UNKNOWN_STREAM
        ) from None
    if topic_stream is not None and stream is not topic_stream:
        raise DownlinkError(f"a {stream} message on the {topic_stream} topic", Problem.WRONG_TOPIC)
    epoch = _text(document, "epoch")
    if not _EPOCH.fullmatch(epoch):
        raise DownlinkError("epoch: 1-64 letters, digits, '.', '_' or '-'")
    version = _count(document, "version", least=1)
    if "changes" in document:
        return ChangeSet(stream, epoch, version, _changes(document["changes"], "changes"))
    pages = _count(document, "pages", least=1)
    page = _count(document, "page", least=1)
    if page > pages:
        raise DownlinkError(f"page {page} of {pages}")
    return SnapshotPage(
        stream, epoch, version, page, pages, _changes(document.get("items"), "items")
    )


def _text(document: dict[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str):
        raise DownlinkError(f"{field}: expected a string")
    return value


def _count(document: dict[str, Any], field: str, *, least: int) -> int:
    value = document.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value < 2**63:
        raise DownlinkError(f"{field}: expected a whole number from {least}")
    return value


def _changes(raw: Any, field: str) -> tuple[Change, ...]:
    if not isinstance(raw, list):
        raise DownlinkError(f"{field}: expected a list")
    if len(raw) > MAX_ITEMS:
        raise DownlinkError(f"{field}: {len(raw)} items, over {MAX_ITEMS}")
    changes = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DownlinkError(f"{field}[{index}]: expected an object")
        key = item.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise DownlinkError(f"{field}[{index}].key: expected 1-128 printable characters")
        value = item.get("value")
        if value is not None and not isinstance(value, dict):
            raise DownlinkError(f"{field}[{index}].value: expected an object or null")
        changes.append(Change(key, value))
    return tuple(changes)
