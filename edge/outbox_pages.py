"""Event rows read straight from an outbox file's pages, around the damaged ones.

When an interior page of the events table is overwritten, SQLite can no longer reach
the intact leaf pages under it. This reads every table leaf page of the file
(SQLite's file format, https://sqlite.org/fileformat.html) and keeps the records
that have the events table's shape; pages on the freelist (deleted rows) are
skipped. What it finds is only a candidate: each row's checksum is verified before
it is carried on, like any other.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_TABLE_LEAF = 0x0D
_HEADER = 100  # the file header, on page 1
_ID_LENGTH = 36  # a UUID as text
_META_KEYS = frozenset({"stream_epoch", "last_sequence", "last_id_ms", "boot_count"})
Value = int | float | str | bytes | None


@dataclass(frozen=True, slots=True)
class SalvagedRow:
    """An event row read out of a damaged outbox, as it was stored."""

    sequence: int
    event_id: str
    topic: str
    payload: bytes
    priority: int
    created_at: float
    checksum: str | None
    delivered: bool


@dataclass(slots=True)
class PageScan:
    """What the pages held: event rows by sequence, and meta values."""

    events: list[SalvagedRow] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def scan_pages(path: Path) -> PageScan:
    """The event rows and meta values found on the table leaf pages of the file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        log.warning("cannot read %s: %s", path, error)
        return PageScan()
    found = PageScan()
    if len(data) < _HEADER or not data.startswith(b"SQLite format 3\0"):
        return found
    page_size = struct.unpack_from(">H", data, 16)[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return found
    usable = page_size - data[20]
    free = _freelist(data, page_size)
    seen: set[int] = set()
    for number in range(1, len(data) // page_size + 1):
        if number in free:
            continue
        for rowid, record in _leaf_records(data, number, page_size, usable):
            _classify(found, seen, rowid, record)
    found.events.sort(key=lambda row: row.sequence)
    return found


def _classify(found: PageScan, seen: set[int], rowid: int, record: list[Value]) -> None:
    if len(record) == 2 and isinstance(record[0], str) and record[0] in _META_KEYS:
        found.meta.setdefault(record[0], record[1])
        return
    if not 6 <= len(record) <= 8 or rowid in seen:
        return
    _, event_id, topic, payload, priority, created_at, *rest = record
    delivered = rest[0] if rest else None
    checksum = rest[1] if len(rest) > 1 else None
    if (
        record[0] is None
        and isinstance(event_id, str)
        and len(event_id) == _ID_LENGTH
        and isinstance(topic, str)
        and topic.startswith("borne/")
        and isinstance(payload, bytes)
        and isinstance(priority, int)
        and isinstance(created_at, int | float)
        and (checksum is None or isinstance(checksum, str))
    ):
        seen.add(rowid)
        found.events.append(
            SalvagedRow(
                rowid,
                event_id,
                topic,
                payload,
                priority,
                float(created_at),
                checksum if isinstance(checksum, str) else None,
                delivered is not None,
            )
        )


def _freelist(data: bytes, page_size: int) -> set[int]:
    """Pages on the freelist (their rows were deleted), as far as its trunk can be read."""
    free: set[int] = set()
    trunk = struct.unpack_from(">I", data, 32)[0]
    while trunk and trunk not in free and trunk * page_size <= len(data):
        free.add(trunk)
        start = (trunk - 1) * page_size
        following, count = struct.unpack_from(">II", data, start)
        if count > (page_size - 8) // 4:
            break  # a damaged trunk: the rest of the list is unknown
        free.update(struct.unpack_from(f">{count}I", data, start + 8))
        trunk = following
    return free


def _leaf_records(
    data: bytes, number: int, page_size: int, usable: int
) -> list[tuple[int, list[Value]]]:
    """The (rowid, record) of each cell of page `number` if it is a table leaf."""
    start = (number - 1) * page_size
    header = start + (_HEADER if number == 1 else 0)
    if data[header] != _TABLE_LEAF:
        return []
    (cells,) = struct.unpack_from(">H", data, header + 3)
    records = []
    for index in range(min(cells, page_size // 4)):
        (offset,) = struct.unpack_from(">H", data, header + 8 + 2 * index)
        try:
            records.append(_cell(data, start, offset, page_size, usable))
        except (IndexError, ValueError, struct.error, UnicodeDecodeError):
            continue  # a damaged cell: the others on the page may be fine
    return records


def _cell(
    data: bytes, start: int, offset: int, page_size: int, usable: int
) -> tuple[int, list[Value]]:
    if not 8 <= offset < page_size:
        raise ValueError("cell outside its page")
    position = start + offset
    size, position = _varint(data, position)
    rowid, position = _varint(data, position)
    payload = _payload(data, position, size, start + page_size, page_size, usable)
    return rowid, _record(payload)


def _payload(
    data: bytes, position: int, size: int, page_end: int, page_size: int, usable: int
) -> bytes:
    """A cell's payload, following its overflow pages when it does not fit."""
    most_local = usable - 35
    if size <= most_local:
        if position + size > page_end:
            raise ValueError("payload past its page")
        return data[position : position + size]
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    local = local if local <= most_local else least
    parts = [data[position : position + local]]
    (overflow,) = struct.unpack_from(">I", data, position + local)
    left = size - local
    visited: set[int] = set()
    while left > 0:
        if overflow == 0 or overflow in visited or overflow * page_size > len(data):
            raise ValueError("broken overflow chain")
        visited.add(overflow)
        page = (overflow - 1) * page_size
        (overflow,) = struct.unpack_from(">I", data, page)
        take = min(left, usable - 4)
        parts.append(data[page + 4 : page + 4 + take])
        left -= take
    return b"".join(parts)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for index in range(9):
        byte = data[position + index]
        if index == 8:
            return (value << 8) | byte, position + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, position + index + 1
    raise ValueError("unreachable")


_INTEGER_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _record(payload: bytes) -> list[Value]:
    header_size, position = _varint(payload, 0)
    if header_size > len(payload):
        raise ValueError("record header past its payload")
    types = []
    while position < header_size:
        serial, position = _varint(payload, position)
        types.append(serial)
    values: list[Value] = []
    body = header_size
    for serial in types:
        if serial == 0:
            values.append(None)
        elif serial in _INTEGER_SIZES:
            width = _INTEGER_SIZES[serial]
            values.append(int.from_bytes(payload[body : body + width], "big", signed=True))
            body += width
        elif serial == 7:
            values.append(struct.unpack_from(">d", payload, body)[0])
            body += 8
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial >= 12:
            length = (serial - 12) // 2
            chunk = payload[body : body + length]
            values.append(chunk if serial % 2 == 0 else chunk.decode())
            body += length
        else:
            raise ValueError("reserved serial type")
        if body > len(payload):
            raise ValueError("record past its payload")
    return values
