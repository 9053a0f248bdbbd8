"""Presence: who is near the kiosk, from beacon sightings. No I/O, built for speed.

Per beacon, RSSI is smoothed (exponential moving average) and turned into a zone
(immediate / near / far) against thresholds derived from the beacon's own power at
1 m, with hysteresis so that a shopper standing on a boundary does not flicker in
and out. Only beacons of the store app's UUID are shoppers (they opted in by
running the app) and give presence events; every other beacon is only counted.

Anyone can broadcast the store app's UUID with random major/minor values, so the
engine is bounded: at most `MAX_TRACKS` beacons are tracked, and presence events
leave through a token bucket per kind. The platform still hears a coherent story:
a shopper whose "entered" was held back is announced at a later sighting when the
bucket allows, and "dwelled" and "exited" are only told of announced shoppers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from devices.readings import BeaconSighting
from edge.events import EventDraft


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
    announced: bool = False  # the platform was told this shopper entered


class TokenBucket:
    """At most `burst` at once and `rate` per second on average, on the caller's clock.

    A clock that steps back refills nothing (sightings from several radios may
    arrive slightly out of order).
    """

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = -math.inf

    def take(self, now: float) -> bool:
        """Spend one token at `now`; False when none is left."""
        if now > self._at:
            if self._at != -math.inf:
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass(frozen=True, slots=True)
class PresenceStats:
    """What the engine holds and what its bounds refused, for health telemetry."""

    tracked: int  # beacons tracked now, shoppers and others
    shoppers: int  # of which store-app beacons
    evicted: int  # other beacons forgotten early to make room
    untracked_shoppers: int  # sightings of new store-app beacons while full of shoppers
    untracked_others: int  # sightings of other new beacons while full of shoppers
    dropped: Mapping[str, int]  # events held back by the rate limit, by kind


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
    """Tracks beacons; returns presence events for shoppers, counts everyone else.

    When `MAX_TRACKS` beacons are tracked, a new beacon takes the place of the other
    (non-shopper) beacon heard least recently; with none left, the new beacon is
    counted, not tracked. "entered" and "dwelled" events each pass a token bucket
    of `EVENT_BURST` events refilled at `EVENT_RATE` per second. "exited" has none:
    there is at most one per announced shopper, so the "entered" bucket bounds it,
    and holding one back would leave the platform believing a shopper is still here.
    """

    MAX_TRACKS = 512  # above a busy store's beacons in range; bounds memory and expire()
    EVENT_RATE = 5.0  # events per second, per kind, on average
    EVENT_BURST = 50  # events at once, per kind (a crowd walking in)

    def __init__(
        self,
        store_app_uuid: str,
        pseudonymize: Callable[[str], str],
        settings: PresenceSettings | None = None,
        *,
        power_at_1m: int | None = None,
    ) -> None:
        self.store_app_uuid = store_app_uuid.lower()
        # The store app's power at 1 m as this kiosk hears it ([presence] power_at_1m,
        # measured by `borne doctor --calibrate`): phones advertise a figure of their own
        # that the adapter, its antenna and the kiosk's case do not hear the same way.
        # None: each beacon's advertised power. Public: a calibration applies at once.
        self.power_at_1m = power_at_1m
        self._pseudonymize = pseudonymize
        self.settings = settings or PresenceSettings()
        s = self.settings
        # dB below the 1 m power at which each zone boundary lies.
        self._immediate_db = 10 * s.path_loss * math.log10(s.immediate_m)
        self._near_db = 10 * s.path_loss * math.log10(s.near_m)
        # Least recently heard first: the eviction order for other beacons.
        self._tracks: OrderedDict[str, _Track] = OrderedDict()
        self._others = 0  # tracks that are not shoppers: eviction candidates
        self._buckets = {
            kind: TokenBucket(self.EVENT_RATE, self.EVENT_BURST) for kind in ("entered", "dwelled")
        }
        self._dropped = dict.fromkeys(self._buckets, 0)
        self._evicted = 0
        self._untracked_shoppers = 0
        self._untracked_others = 0

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

    def observe(self, sighting: BeaconSighting, now: float | None = None) -> list[EventDraft]:
        """Take one sighting into account; the events it causes (often none).

        Dwell and exit are timed on `now` when given (the monotonic clock as the
        sighting is handled, with `expire` given the same clock), else on the time the
        sighting carries, which is the wall clock's: set by a day, it would hold a
        shopper a day, or let all leave at once.
        """
        at = sighting.at if now is None else now
        beacon_id = sighting.beacon_id
        track = self._tracks.get(beacon_id)
        if track is None:
            return self._first_sighting(sighting, at)
        self._tracks.move_to_end(beacon_id)
        alpha = self.settings.smoothing
        track.rssi += alpha * (sighting.rssi - track.rssi)
        track.tx_power = self._power_at_1m(sighting)
        track.last_seen = at
        zone = self._zone(track)
        if zone != track.zone:
            track.zone = zone
            track.entered_at = at
            track.dwelled = False
            if track.shopper:  # an unannounced shopper's arrival was counted already
                return self._limited("entered", beacon_id, track, count_drop=track.announced)
        elif track.shopper:
            if not track.announced:
                # Held back when first heard: told now if the bucket allows (the
                # arrival was already counted as dropped).
                return self._limited("entered", beacon_id, track, count_drop=False)
            if (
                not track.dwelled
                and zone >= Zone.NEAR
                and at - track.entered_at >= self.settings.dwell_after
            ):
                track.dwelled = True
                return self._limited("dwelled", beacon_id, track)
        return []

    def _first_sighting(self, sighting: BeaconSighting, at: float) -> list[EventDraft]:
        shopper = sighting.uuid.lower() == self.store_app_uuid
        if len(self._tracks) >= self.MAX_TRACKS and not self._make_room():
            if shopper:
                self._untracked_shoppers += 1
            else:
                self._untracked_others += 1
            return []
        track = _Track(
            rssi=float(sighting.rssi),
            tx_power=self._power_at_1m(sighting),
            zone=Zone.FAR,
            entered_at=at,
            last_seen=at,
            dwelled=False,
            shopper=shopper,
        )
        track.zone = self._zone(track)
        self._tracks[sighting.beacon_id] = track
        if not shopper:
            self._others += 1
            return []
        return self._limited("entered", sighting.beacon_id, track)

    def _power_at_1m(self, sighting: BeaconSighting) -> int:
        """The calibrated power for the store app's beacons, else the advertised one."""
        shopper = sighting.uuid.lower() == self.store_app_uuid
        if shopper and self.power_at_1m is not None:
            return self.power_at_1m
        return sighting.tx_power

    def _make_room(self) -> bool:
        """Forget the other beacon heard least recently; False if every track is a shopper."""
        if not self._others:
            return False
        for beacon_id, track in self._tracks.items():
            if not track.shopper:
                del self._tracks[beacon_id]
                self._others -= 1
                self._evicted += 1
                return True
        return False  # unreachable while `_others` counts right; refusing is the safe answer

    def _limited(
        self, kind: str, beacon_id: str, track: _Track, *, count_drop: bool = True
    ) -> list[EventDraft]:
        """The event if its bucket has a token; otherwise nothing, and the drop is counted."""
        if not self._buckets[kind].take(track.last_seen):
            if count_drop:
                self._dropped[kind] += 1
            return []
        track.announced = True
        return [self._event(kind, beacon_id, track)]

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
            if not track.shopper:
                self._others -= 1
            elif track.announced:
                events.append(self._event("exited", beacon_id, track))
        return events

    def counts(self) -> dict[str, int]:
        """Beacons present now by zone, shoppers and others together (anonymous)."""
        counts = dict.fromkeys(ZONE_NAMES.values(), 0)
        for track in self._tracks.values():
            counts[ZONE_NAMES[track.zone]] += 1
        return counts

    def stats(self) -> PresenceStats:
        """A snapshot of what is tracked and what the bounds refused since the start."""
        return PresenceStats(
            tracked=len(self._tracks),
            shoppers=len(self._tracks) - self._others,
            evicted=self._evicted,
            untracked_shoppers=self._untracked_shoppers,
            untracked_others=self._untracked_others,
            dropped=dict(self._dropped),
        )

    def _event(self, what: str, beacon_id: str, track: _Track) -> EventDraft:
        data = {
            "shopper": self._pseudonymize(beacon_id),
            "zone": ZONE_NAMES[track.zone],
            "distance_m": round(distance_m(track.rssi, track.tx_power, self.settings.path_loss), 1),
        }
        return EventDraft(f"io.borne.presence.{what}", data)  # sampled: shed first
