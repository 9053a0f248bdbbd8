"""What the stream store needs of a database: its tables, and transactions over them.

Two backends implement it: SQLite (`sql.py`, the default, one file) and PostgreSQL
(`postgres.py`, production). Both keep values as canonical JSON text, compared as text
to find what changed, and both order keys by their bytes, so the same import gives the
same messages on either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

InventoryRow = tuple[str, str, str, str]  # GTIN, store code, row text, when it changed
# An order as kept: its number, its customer's pseudonym, when it was placed (RFC 3339
# UTC, to list a customer's newest first), its status, its value text.
OrderRow = tuple[str, str, str, str, str]


class StreamTables(Protocol):
    """The stream store's tables; the caller holds the transaction."""

    def stores(self) -> list[str]:
        """Every store the hub knows, in order."""
        ...

    def add_store(self, store_id: str) -> None:
        """Register a store (nothing if it is known)."""
        ...

    def position(self, store_id: str, stream: str) -> tuple[str, int] | None:
        """A stream's epoch and current version, None when it does not exist yet."""
        ...

    def create_stream(self, store_id: str, stream: str, epoch: str) -> None:
        """A new stream at version 0 (its first change set makes version 1)."""
        ...

    def items(self, store_id: str, stream: str) -> dict[str, str]:
        """A stream's current items, key -> value text, in key order."""
        ...

    def items_of(self, store_id: str, stream: str, keys: Iterable[str]) -> dict[str, str]:
        """The current items of a stream with these keys (those it holds)."""
        ...

    def record(
        self,
        store_id: str,
        stream: str,
        version: int,
        changes: Mapping[str, str | None],
        changes_text: str | None,
    ) -> None:
        """Apply one change set to the items (None: removed) and keep it as `version`."""
        ...

    def forget_before(self, store_id: str, stream: str, version: int) -> None:
        """Drop the change sets older than `version`."""
        ...

    def change_sets(self, store_id: str, stream: str, after: int) -> list[tuple[int, str | None]]:
        """The change sets kept after version `after`, in order: (version, changes text)."""
        ...

    def sources(self, stream: str) -> dict[str, str]:
        """The hub-wide items of a stream, key -> value text, in key order."""
        ...

    def replace_sources(self, stream: str, items: Mapping[str, str]) -> None:
        """Replace the hub-wide items of a stream (a full feed)."""
        ...

    def skus(self) -> dict[str, str]:
        """The retailer's ids of the products imported, id -> GTIN-14."""
        ...

    def skus_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The GTIN-14s of these retailer ids (those imported)."""
        ...

    def replace_skus(self, skus: Mapping[str, str]) -> None:
        """Replace the id -> GTIN map (a product feed is full)."""
        ...

    def inventory(self) -> list[InventoryRow]:
        """Every stock row, by GTIN then store code."""
        ...

    def inventory_of(self, gtins: Iterable[str]) -> list[InventoryRow]:
        """The stock rows of these products, as `inventory` gives them."""
        ...

    def put_inventory(self, rows: Iterable[InventoryRow]) -> None:
        """Set stock rows (a row of the same product and store is replaced)."""
        ...

    def sources_of(self, stream: str, keys: Iterable[str]) -> dict[str, str]:
        """The hub-wide items of a stream with these keys (those it holds)."""
        ...

    def replace_profiles(self, profiles: Mapping[str, str]) -> None:
        """Replace the customers' profiles, pseudonym -> value text (a full loyalty feed)."""
        ...

    def profile(self, pseudonym: str) -> str | None:
        """A customer's profile text, None when the loyalty feed gave none."""
        ...

    def handed_over(self) -> set[str]:
        """The numbers of the orders the hub marked handed over."""
        ...

    def replace_orders(self, rows: Iterable[OrderRow]) -> None:
        """Replace every order (a full orders feed)."""
        ...

    def orders_of(self, customer: str) -> list[OrderRow]:
        """A customer's orders, newest first."""
        ...

    def order(self, number: str) -> OrderRow | None:
        """One order by its number."""
        ...

    def set_order(self, number: str, status: str, value: str) -> None:
        """Change an order's status and value text."""
        ...


class StreamDatabase(Protocol):
    """A database holding the stream tables, shared safely by threads and processes.

    Its errors come out as `StreamDatabaseError`, the database's own never escape.
    """

    def writing(self, what: str) -> AbstractContextManager[StreamTables]:
        """One write transaction, alone against every other process's: committed when
        the block ends, rolled back whole if it raises. `what` names it in errors."""
        ...

    def reading(self, what: str) -> AbstractContextManager[StreamTables]:
        """One read transaction: what is read together was committed together."""
        ...

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        ...
