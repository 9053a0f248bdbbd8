"""What the hub reads (and the one thing it writes) to answer staff requests.

The staff directory, the customers and their profiles, the orders: all kept beside the
streams by `StreamStore` imports (edge.hub.streams.store). Blocking: the hub calls these
from a worker thread. Nothing read here is logged or kept in memory after the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from edge.hub.streams.tables import StreamDatabase
from edge.hub.streams.values import JsonObject, canonical
from edge.sync.messages import Stream

READY = "ready_for_pickup"
HANDED_OVER = "handed_over"


@dataclass(frozen=True, slots=True)
class HubStaffMember:
    """A staff member of the hub's directory (no PIN hash: an answer never needs it)."""

    name: str = field(repr=False)
    role: str
    stores: tuple[str, ...]  # empty: every store

    def works_in(self, store_id: str) -> bool:
        """Whether the member may act at this store's kiosks."""
        return not self.stores or store_id in self.stores


@dataclass(frozen=True, slots=True)
class HubCustomer:
    """A customer as the hub holds them: the loyalty item, the profile, the orders."""

    customer: JsonObject = field(repr=False)  # the customers stream's value
    profile: JsonObject | None = field(repr=False)  # None: the feed gave no profile
    orders: tuple[JsonObject, ...] = field(repr=False)  # newest first


@dataclass(frozen=True, slots=True)
class Handover:
    """What a handover did: "ok" (now handed over), "not_ready" or "unknown"."""

    status: str
    order: JsonObject | None = field(repr=False)


class StaffLookups:
    """Reads of the stream database for staff answers, each in one transaction."""

    def __init__(self, database: StreamDatabase) -> None:
        self._database = database

    def staff(self, pseudonym: str) -> HubStaffMember | None:
        """The directory's entry of a badge pseudonym, None when it lists no such badge."""
        with self._database.reading("reading the staff directory") as tables:
            found = tables.sources_of(Stream.STAFF, [pseudonym]).get(pseudonym)
        if found is None:
            return None
        value = json.loads(found)
        return HubStaffMember(value["name"], value["role"], tuple(value.get("stores") or ()))

    def staff_names(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """The display names of these badge pseudonyms (those the directory lists)."""
        with self._database.reading("reading the staff directory") as tables:
            found = tables.sources_of(Stream.STAFF, set(pseudonyms))
        return {key: json.loads(text)["name"] for key, text in found.items()}

    def titles(self, gtins: Iterable[str]) -> dict[str, str]:
        """Product titles by GTIN-14, from the hub's catalog (those it holds)."""
        with self._database.reading("reading product titles") as tables:
            found = tables.sources_of(Stream.CATALOG, set(gtins))
        return {key: json.loads(text)["title"] for key, text in found.items()}

    def customer(self, pseudonym: str) -> HubCustomer | None:
        """A customer's loyalty item, profile and orders; None when the hub has no such
        customer in its loyalty feed."""
        with self._database.reading("reading a customer") as tables:
            found = tables.sources_of(Stream.CUSTOMERS, [pseudonym]).get(pseudonym)
            if found is None:
                return None
            profile = tables.profile(pseudonym)
            orders = tables.orders_of(pseudonym)
        return HubCustomer(
            customer=json.loads(found),
            profile=None if profile is None else json.loads(profile),
            orders=tuple(json.loads(row[4]) for row in orders),
        )

    def order(self, number: str) -> tuple[JsonObject, str] | None:
        """An order and its customer's first name ("" when the hub has no such customer)."""
        with self._database.reading("reading an order") as tables:
            row = tables.order(number)
            if row is None:
                return None
            customer = tables.sources_of(Stream.CUSTOMERS, [row[1]]).get(row[1])
        first_name: Any = "" if customer is None else json.loads(customer).get("first_name")
        return json.loads(row[4]), str(first_name or "")

    def hand_over(self, number: str, store_id: str) -> Handover:
        """Mark a click & collect order handed over, if it waits in this store.

        One write transaction, alone against other hub processes: of two associates
        handing over the same order at once, one gets "ok", the other "not_ready".
        """
        with self._database.writing("handing over an order") as tables:
            row = tables.order(number)
            if row is None:
                return Handover("unknown", None)
            value: JsonObject = json.loads(row[4])
            if row[3] != READY or value.get("pickup_store") != store_id:
                return Handover("not_ready", value)
            value["status"] = HANDED_OVER
            tables.set_order(number, HANDED_OVER, canonical(value))
        return Handover("ok", value)
