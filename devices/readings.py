"""Typed, immutable readings that devices hand to the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BarcodeScan:
    """One product shown to a scanner: one reading until it leaves the view."""

    symbology: str
    text: str
    gtin: str | None
    source: str
    at: float = field(compare=False)
    kind: str = "gtin"  # gtin, gs1, digital_link, url or text (devices.barcode.meaning)

    def __repr__(self) -> str:  # codes can be order QR codes: keep them out of logs
        return (
            f"BarcodeScan(symbology={self.symbology!r}, kind={self.kind!r}, "
            f"gtin={self.gtin!r}, source={self.source!r})"
        )


@dataclass(frozen=True, slots=True)
class CardTap:
    """A loyalty card or staff badge placed on the NFC reader."""

    card_number: str
    uid: str
    tag_type: str
    source: str
    at: float = field(compare=False)

    def __repr__(self) -> str:  # the card number is shopper data: never in a repr
        return f"CardTap(tag_type={self.tag_type!r}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class BeaconSighting:
    """One beacon advertisement heard: the beacon's own ids, never the phone's address.

    `beacon_id` is stable for a beacon (iBeacon "uuid/major/minor", Eddystone
    "namespace/instance", AltBeacon "id1/id2/id3"); phones rotate their MAC address.
    `tx_power` is the advertised power at 1 m (Eddystone's 0 m figure is converted).
    """

    beacon_id: str
    uuid: str
    rssi: int
    tx_power: int
    source: str
    at: float = field(compare=False)


@dataclass(frozen=True, slots=True)
class CardRemoved:
    """The card of the last tap left the reader (a badge lifted ends staff mode)."""

    uid: str
    source: str
    at: float = field(compare=False)


Reading = BarcodeScan | CardTap | CardRemoved | BeaconSighting
