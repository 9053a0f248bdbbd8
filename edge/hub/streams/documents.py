"""The JSON documents of the downlink (docs/platform-link.md), built from stored text.

Every document fits what `edge.sync.messages.parse_message` accepts: at most
`MAX_ITEMS` changes or items, and well under `MAX_MESSAGE_BYTES`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from edge.sync.messages import MAX_ITEMS, MAX_MESSAGE_BYTES

# Room left in a message for the envelope and JSON's escapes of the item texts.
PAGE_BYTES = MAX_MESSAGE_BYTES // 2


def changes_text(changes: Mapping[str, str | None]) -> str | None:
    """A change set's `changes` list as JSON text, None when it cannot fit one message."""
    if len(changes) > MAX_ITEMS:
        return None
    listed = [
        {"key": key} if value is None else {"key": key, "value": json.loads(value)}
        for key, value in changes.items()
    ]
    text = json.dumps(listed, separators=(",", ":"), ensure_ascii=False)
    return None if len(text.encode()) > PAGE_BYTES else text


def change_set_document(
    store_id: str, stream: str, epoch: str, version: int, changes: str
) -> dict[str, Any]:
    """The message that makes `version` from `version - 1`."""
    return {
        "store": store_id,
        "stream": stream,
        "epoch": epoch,
        "version": version,
        "changes": json.loads(changes),
    }


def snapshot_documents(
    store_id: str,
    stream: str,
    epoch: str,
    version: int,
    items: Mapping[str, str],
    page_size: int,
) -> list[dict[str, Any]]:
    """The whole stream as of `version`, cut into pages of at most `page_size` items.

    A page is also closed before its items' text passes `PAGE_BYTES`. An empty stream is
    one empty page, so the kiosk still learns the epoch and version.
    """
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for key, value in items.items():
        cost = len(key.encode()) + len(value.encode()) + 32
        if pages[-1] and (len(pages[-1]) >= page_size or size + cost > PAGE_BYTES):
            pages.append([])
            size = 0
        pages[-1].append({"key": key, "value": json.loads(value)})
        size += cost
    return [
        {
            "store": store_id,
            "stream": stream,
            "epoch": epoch,
            "version": version,
            "page": number,
            "pages": len(pages),
            "items": page,
        }
        for number, page in enumerate(pages, start=1)
    ]
