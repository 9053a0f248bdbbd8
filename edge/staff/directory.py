"""Who may log in at the kiosk: the staff directory, by badge pseudonym.

The platform sends it as the `staff` stream (one item per badge pseudonym: name, role,
PIN hash); the kiosk checks PINs against it offline. No badge id and no clear PIN are
ever in it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edge.errors import BorneError, ConfigError
from edge.lockdown import is_pin_hash
from edge.staff.view import ROLES
from edge.sync.messages import Stream

log = logging.getLogger(__name__)

NAME_MAX = 80


class StaffError(BorneError):
    """A staff directory item, or something a staff member asked for, cannot be used."""


@dataclass(frozen=True, slots=True)
class StaffEntry:
    """One badge of the directory."""

    name: str  # as shown: "Léa D."
    role: str  # one of ROLES
    pin_hash: str  # edge.lockdown's format

    def __repr__(self) -> str:  # a PIN hash is never in a log
        return f"StaffEntry(role={self.role!r})"


def staff_entry_from_value(value: Mapping[str, Any]) -> StaffEntry:
    """A staff item of the platform, read strictly (StaffError if it cannot be used)."""
    name, role, pin_hash = value.get("name"), value.get("role"), value.get("pin_hash")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise StaffError(f"staff item: name: expected 1-{NAME_MAX} characters")
    if role not in ROLES:
        raise StaffError(f"staff item: role: expected one of {', '.join(ROLES)}")
    if not isinstance(pin_hash, str) or not is_pin_hash(pin_hash):
        raise StaffError("staff item: pin_hash: expected a pbkdf2-sha256 hash")
    return StaffEntry(name.strip(), str(role), pin_hash)


class StaffDirectory(Protocol):
    """Looks a badge up by its pseudonym."""

    def lookup(self, badge: str) -> StaffEntry | None:
        """The badge's entry, or None if the directory does not list it (or it is broken)."""


class StaffItems(Protocol):
    """Where the staff stream's items are held (`StreamCache`, `StreamFile`)."""

    def item(self, stream: Stream, key: str) -> dict[str, Any] | None:
        """The item `key` of `stream`, or None."""


class StreamDirectory:
    """The directory as the platform last sent it, read from the kiosk's stream cache."""

    def __init__(self, items: StaffItems) -> None:
        self._items = items

    def lookup(self, badge: str) -> StaffEntry | None:
        value = self._items.item(Stream.STAFF, badge)
        if value is None:
            return None
        try:
            return staff_entry_from_value(value)
        except StaffError as error:
            log.warning("a staff badge cannot be used: %s", error)
            return None


class FixedDirectory:
    """A directory given whole (tests, and a kiosk that has no stream cache: empty)."""

    def __init__(self, entries: Mapping[str, StaffEntry] | None = None) -> None:
        self._entries = dict(entries or {})

    def lookup(self, badge: str) -> StaffEntry | None:
        return self._entries.get(badge)


def load_directory_file(
    path: Path, pseudonymize: Callable[[str], str], store_id: str
) -> FixedDirectory:
    """The staff of this store from a staff feed file (JSON Lines, docs/feeds.md), for
    a kiosk the platform does not feed: badges keyed as the kiosk keys them, PIN hashes
    only. A line that cannot be used refuses the file whole (ConfigError)."""
    from edge.hub.feeds.errors import FeedValueError  # the hub's reader of the same feed
    from edge.hub.feeds.staff import staff_from_line

    where = "staff.directory_file"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(where, f"{path} cannot be read ({error})") from None
    entries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = staff_from_line(json.loads(line), pseudonymize)
        except (ValueError, FeedValueError) as error:
            raise ConfigError(where, f"{path} line {number}: {error}") from None
        if record.works_in(store_id):
            entries[record.pseudonym] = StaffEntry(record.name, record.role, record.pin_hash)
    return FixedDirectory(entries)
