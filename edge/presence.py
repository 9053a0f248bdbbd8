"""Presence: who is near the kiosk, from beacon sightings. No I/O, built for speed.

Per beacon, RSSI is smoothed (exponential moving average) and turned into a zone
(immediate / near / far) against thresholds derived from the beacon's own power at
1 m, with hysteresis so that a shopper standing on a boundary does not flicker in
and out. Only beacons of the store app's UUID are shoppers (they opted in by
running the app) and give presence events; every other beacon is only counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from devices.readings import BeaconSighting
from edge.events import EventDraft, Priority


class Zone(IntEnum):
    """How close a beacon is; ordered from far to immediate."""

    FAR = 0
    NEAR = 1
    IMMEDIATE = 2


ZONE_NAMES = {Zone.FAR: "far", Zone.NEAR: "near", Zone.IMMEDIATE: "immediate"}


@dataclass(slots=True)
class _Track:
    rssi: float  # smoothed
    tx_power: int
    zone: Zone
    entered_at: float
    last_seen: float
    dwelled: bool
    shopper: bool


@dataclass(frozen=True, slots=True)
class PresenceSettings:
    """Tuning for a store; the defaults suit a kiosk against a wall."""

    smoothing: float = 0.25  # weight of a new sample in the moving average
    path_loss: float = 2.2  # indoor path-loss exponent
    immediate_m: float = 0.7
    near_m: float = 2.5
    hysteresis_db: float = 3.0
    dwell_after: float = 20.0  # seconds near or closer before "dwelled"
    exit_after: float = 8.0  # seconds unheard before "exited"


def distance_m(rssi: float, tx_power: int, path_loss: float) -> float:
    """Log-distance estimate from the power at 1 m (metres)."""
    return float(10 ** ((tx_power - rssi) / (10 * path_loss)))


class PresenceEngine:
    """Tracks beacons; returns presence events for shoppers, counts everyone else."""

    def __init__(
        self,
        store_app_uuid: str,
        pseudonymize: Callable[[str], str],
        settings: PresenceSettings | None = None,
    ) -> None:
        self.store_app_uuid = store_app_uuid.lower()
        self._pseudonymize = pseudonymize
        self.settings = settings or PresenceSettings()
        s = self.settings
        # dB below the 1 m power at which each zone boundary lies.
        self._immediate_db = 10 * s.path_loss * math.log10(s.immediate_m)
        self._near_db = 10 * s.path_loss * math.log10(s.near_m)
        self._tracks: dict[str, _Track] = {}

    def _zone(self, track: _Track) -> Zone:
        """The zone after this sample, moving only when past the boundary by the margin."""
        loss = track.tx_power - track.rssi  # how far below the 1 m power we hear it
        margin = self.settings.hysteresis_db
        zone = track.zone
        if zone < Zone.IMMEDIATE and loss < self._immediate_db - margin:
            return Zone.IMMEDIATE
        if zone < Zone.NEAR and loss < self._near_db - margin:
            return Zone.NEAR
        if zone > Zone.FAR and loss > self._near_db + margin:
            return Zone.FAR
        if zone == Zone.IMMEDIATE and loss > self._immediate_db + margin:
            return Zone.NEAR
        return zone

    def observe(self, sighting: BeaconSighting) -> list[EventDraft]:
        """Take one sighting into account; the events it causes (often none)."""
        track = self._tracks.get(sighting.beacon_id)
        if track is None:
            track = _Track(
                rssi=float(sighting.rssi),
                tx_power=sighting.tx_power,
                zone=Zone.FAR,
                entered_at=sighting.at,
                last_seen=sighting.at,
                dwelled=False,
                shopper=sighting.uuid.lower() == self.store_app_uuid,
            )
            self._tracks[sighting.beacon_id] = track
            track.zone = self._zone(track)
            if track.shopper:
                return [self._event("entered", sighting.beacon_id, track)]
            return []
        alpha = self.settings.smoothing
        track.rssi += alpha * (sighting.rssi - track.rssi)
        track.tx_power = sighting.tx_power
        track.last_seen = sighting.at
        zone = self._zone(track)
        if zone != track.zone:
            track.zone = zone
            if track.shopper:
                return [self._event("entered", sighting.beacon_id, track)]
        elif (
            track.shopper
            and not track.dwelled
            and zone >= Zone.NEAR
            and sighting.at - track.entered_at >= self.settings.dwell_after
        ):
            track.dwelled = True
            return [self._event("dwelled", sighting.beacon_id, track)]
        return []

    def expire(self, now: float) -> list[EventDraft]:
        """Beacons unheard for long enough have left: forget them."""
        gone = [
            beacon_id
            for beacon_id, track in self._tracks.items()
            if now - track.last_seen >= self.settings.exit_after
        ]
        events = []
        for beacon_id in gone:
            track = self._tracks.pop(beacon_id)
            if track.shopper:
                events.append(self._event("exited", beacon_id, track))
        return events

    def counts(self) -> dict[str, int]:
        """Beacons present now by zone, shoppers and others together (anonymous)."""
        counts = dict.fromkeys(ZONE_NAMES.values(), 0)
        for track in self._tracks.values():
            counts[ZONE_NAMES[track.zone]] += 1
        return counts

    def _event(self, what: str, beacon_id: str, track: _Track) -> EventDraft:
        if what == "entered":
            track.entered_at = track.last_seen
            track.dwelled = False
        data = {
            "shopper": self._pseudonymize(beacon_id),
            "zone": ZONE_NAMES[track.zone],
            "distance_m": round(distance_m(track.rssi, track.tx_power, self.settings.path_loss), 1),
        }
        return EventDraft(f"io.borne.presence.{what}", data, Priority.NORMAL)
