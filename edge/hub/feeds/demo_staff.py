"""The demo's staff, its customers' profiles and their orders: fixed data, the demo only.

`demo_export` writes them as the staff feed, the orders feed and the loyalty feed's
profile fields. The PIN hashes are made with a salt fixed per badge so that the export
is the same every run (a real staff feed's hashes each have a random salt: `borne
pin-hash`). Orders name their products by GTIN; titles and amounts come from the demo
catalog, so they cannot drift from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from edge.lockdown import hash_pin


@dataclass(frozen=True, slots=True)
class DemoStaff:
    """A demo staff badge and its PIN (the README lists them to try)."""

    badge: str
    name: str
    role: str
    stores: tuple[str, ...]  # empty: every store
    pin: str

    @property
    def pin_hash(self) -> str:
        """The PIN's hash, salted by the badge: the same every export."""
        salt = hashlib.sha256(f"borne-demo-staff:{self.badge}".encode()).digest()[:16]
        return hash_pin(self.pin, salt=salt)


@dataclass(frozen=True, slots=True)
class DemoOrder:
    """A demo order; its lines are (GTIN, quantity) of the demo catalog."""

    number: str
    customer: str  # the demo customer's first name (catalog.json's customers)
    channel: str
    placed: str
    where: str
    status: str
    lines: tuple[tuple[str, int], ...]
    returned: tuple[tuple[str, int], ...] = ()
    pickup_store: str | None = None


STAFF = (
    DemoStaff("LEA-0042", "Léa D.", "associate", ("paris-01",), "2468"),
    DemoStaff("MARC-0007", "Marc L.", "manager", (), "1357"),
    DemoStaff("INES-0013", "Inès B.", "associate", ("lyon-01",), "8024"),
)

# By first name; Louise declined personalisation: staff are told so, and nothing more.
PROFILES: dict[str, dict[str, object]] = {
    "Camille": {
        "last_name": "Martin",
        "tier": "Or",
        "email": "camille.martin@example.fr",
        "phone": "06 12 34 56 78",
        "preferences": ["Cuisine", "Bougies parfumées"],
        "sizes": {"Chaussures": "39", "Haut": "M"},
        "wishlist": ["3760123450263", "3760123450317"],
    },
    "Mehdi": {
        "last_name": "Benali",
        "tier": "Argent",
        "email": "mehdi.benali@example.fr",
        "phone": "07 98 76 54 32",
        "preferences": ["Course à pied", "Vélo"],
        "sizes": {"Chaussures": "43", "Haut": "L"},
        "wishlist": ["3760123450126"],
    },
    "Louise": {
        "last_name": "Garnier",
        "tier": "Platine",
        "email": "louise.garnier@example.fr",
        "phone": "06 55 44 33 22",
    },
    "Nathalie": {
        "last_name": "Roux",
        "tier": "Bronze",
        "email": "nathalie.roux@example.fr",
        "phone": "06 20 30 40 50",
        "preferences": ["Beauté", "Parfums"],
        "wishlist": ["3760123450553"],
    },
    "Bastien": {
        "last_name": "Lefèvre",
        "tier": "Argent",
        "email": "bastien.lefevre@example.fr",
        "phone": "07 11 22 33 44",
        "preferences": ["Jeux de société", "Audio"],
        "sizes": {"Chaussures": "44"},
        "wishlist": ["3760123450195"],
    },
}

WEB, APP = "borne-demo.fr", "appli"
ORDERS = (
    DemoOrder(
        "M-2026-88120",
        "Camille",
        "store",
        "2026-09-14T11:05:00+02:00",
        "paris-01",
        "delivered",
        (("3760123450041", 1), ("3760123450249", 2)),
    ),
    DemoOrder(
        "W-2026-0042",
        "Camille",
        "web",
        "2026-10-02T14:31:00+02:00",
        WEB,
        "delivered",
        (("3760123450065", 1), ("3760123450232", 1)),
    ),
    DemoOrder(
        "A-2026-0117",
        "Camille",
        "app",
        "2026-11-05T19:12:00+01:00",
        APP,
        "delivered",
        (("3760123450317", 1), ("3760123450324", 1)),
        returned=(("3760123450324", 1),),
    ),
    DemoOrder(
        "CC-2026-104233",
        "Camille",
        "web",
        "2026-11-28T09:47:00+01:00",
        WEB,
        "ready_for_pickup",
        (("3760123450089", 1),),
        pickup_store="paris-01",
    ),
    DemoOrder(
        "M-2026-87004",
        "Mehdi",
        "store",
        "2026-08-23T16:40:00+02:00",
        "lyon-01",
        "delivered",
        (("3760123450126", 1),),
    ),
    DemoOrder(
        "CC-2026-104251",
        "Mehdi",
        "app",
        "2026-11-29T18:20:00+01:00",
        APP,
        "ready_for_pickup",
        (("3760123450393", 1), ("3760123450102", 1)),
        pickup_store="paris-01",
    ),
    DemoOrder(
        "W-2026-0077",
        "Mehdi",
        "web",
        "2026-11-30T08:02:00+01:00",
        WEB,
        "shipped",
        (("3760123450423", 1),),
    ),
    DemoOrder(
        "W-2026-0055",
        "Louise",
        "web",
        "2026-10-25T10:15:00+02:00",
        WEB,
        "delivered",
        (("3760123450089", 1),),
    ),
    DemoOrder(
        "A-2026-0090",
        "Nathalie",
        "app",
        "2026-10-19T21:40:00+02:00",
        APP,
        "delivered",
        (("3760123450553", 1), ("3760123450478", 1)),
    ),
    DemoOrder(
        "CC-2026-104198",
        "Nathalie",
        "web",
        "2026-11-20T12:03:00+01:00",
        WEB,
        "ready_for_pickup",
        (("3760123450140", 1),),
        pickup_store="lyon-01",
    ),
    DemoOrder(
        "W-2026-0031",
        "Bastien",
        "web",
        "2026-09-03T20:55:00+02:00",
        WEB,
        "returned",
        (("3760123450195", 1),),
        returned=(("3760123450195", 1),),
    ),
    DemoOrder(
        "M-2026-88412",
        "Bastien",
        "store",
        "2026-11-11T15:22:00+01:00",
        "paris-01",
        "delivered",
        (("3760123450560", 1), ("3760123450577", 1)),
    ),
)
