"""From parsed beacon frames to `BeaconSighting` readings (pure)."""

from __future__ import annotations

from devices.ble.frames import AltBeacon, EddystoneUID, Frame, IBeacon
from devices.readings import BeaconSighting

# Eddystone advertises its power at 0 m; at 1 m a 2.4 GHz signal is ~41 dB weaker.
EDDYSTONE_0M_TO_1M_DB = 41


def sightings(frames: tuple[Frame, ...], rssi: int, source: str, at: float) -> list[BeaconSighting]:
    """A sighting per identifying frame (telemetry and URL frames identify no one)."""
    found = []
    for frame in frames:
        if isinstance(frame, IBeacon):
            beacon_id = f"{frame.uuid}/{frame.major}/{frame.minor}"
            found.append(BeaconSighting(beacon_id, frame.uuid, rssi, frame.tx_power, source, at))
        elif isinstance(frame, EddystoneUID):
            beacon_id = f"{frame.namespace}/{frame.instance}"
            power = frame.tx_power - EDDYSTONE_0M_TO_1M_DB
            found.append(BeaconSighting(beacon_id, frame.namespace, rssi, power, source, at))
        elif isinstance(frame, AltBeacon):
            beacon_id = f"{frame.id1}/{frame.id2}/{frame.id3}"
            found.append(BeaconSighting(beacon_id, frame.id1, rssi, frame.ref_rssi, source, at))
    return found
