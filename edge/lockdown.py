"""The kiosk's lock: only a staff PIN closes the fullscreen kiosk.

The PIN is never stored: the configuration holds a salted PBKDF2-SHA256 hash
(`borne pin-hash` makes one). Guessing is slowed down: after `MAX_FAILURES` wrong
PINs in a row the lock refuses every PIN for `LOCKOUT_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.errors import ConfigError

ITERATIONS = 200_000
# More rounds than this would freeze the screen for seconds at each PIN typed: a hash
# asking for them (from the platform's staff directory, say) is not one of ours.
MAX_ITERATIONS = 1_000_000
# The salt is whole bytes: an odd number of hex digits is no salt `hash_pin` made.
_HASH_FORMAT = re.compile(r"^pbkdf2-sha256\$([0-9]{4,7})\$((?:[0-9a-f]{2}){8,32})\$([0-9a-f]{64})$")
_PIN_FORMAT = re.compile(r"^[0-9]{4,12}$")


@dataclass(frozen=True, slots=True)
class PinHash:
    """A hash made by `hash_pin`, read: what checking a PIN against it needs."""

    iterations: int
    salt: bytes
    digest: bytes

    def __repr__(self) -> str:  # a PIN hash is never in a log
        return f"PinHash(iterations={self.iterations})"

    def matches(self, pin: str) -> bool:
        """Whether `pin` is the PIN behind this hash; slow on purpose."""
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), self.salt, self.iterations)
        return hmac.compare_digest(digest, self.digest)


def read_pin_hash(value: str) -> PinHash | None:
    """`value` read as a hash made by `hash_pin`, or None when it is not one (or asks
    for more than `MAX_ITERATIONS` rounds)."""
    match = _HASH_FORMAT.match(value)
    if match is None:
        return None
    iterations = int(match.group(1))
    if not 1000 <= iterations <= MAX_ITERATIONS:
        return None
    return PinHash(iterations, bytes.fromhex(match.group(2)), bytes.fromhex(match.group(3)))


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The configuration value for `pin` (4 to 12 digits)."""
    if not _PIN_FORMAT.match(pin):
        raise ValueError("a staff PIN is 4 to 12 digits")
    if not 1000 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"PBKDF2 rounds: 1000 to {MAX_ITERATIONS}")
    salt = os.urandom(16) if salt is None else salt
    if not 8 <= len(salt) <= 32:
        raise ValueError("a salt is 8 to 32 bytes")
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


def check_pin_hash(value: str, where: str) -> None:
    """Raise ConfigError unless `value` is empty or a hash made by `hash_pin`."""
    if value and read_pin_hash(value) is None:
        raise ConfigError(
            where,
            "must be a hash made by `borne pin-hash` (pbkdf2-sha256$...,"
            f" at most {MAX_ITERATIONS} rounds)",
        )


def pin_matches(pin_hash: str, pin: str) -> bool:
    """Whether `pin` is the PIN behind `pin_hash` (made by `hash_pin`); slow on purpose.

    Raises ValueError when `pin_hash` is not such a hash.
    """
    read = read_pin_hash(pin_hash)
    if read is None:
        raise ValueError("not a PIN hash made by hash_pin()")
    return read.matches(pin)


def is_pin_hash(value: str) -> bool:
    """Whether `value` is a hash made by `hash_pin` that a kiosk may check PINs against."""
    return read_pin_hash(value) is not None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the lock said to one PIN."""

    granted: bool
    locked_out: bool  # refused without looking: too many wrong PINs lately
    installer: bool = False  # granted to the installer's PIN: the installer's panel opens


class ExitLock:
    """Checks the PINs typed in the staff corner, with a lockout against guessing.

    Two PINs open it: the staff's, which closes the kiosk, and the installer's, which
    opens the installer's panel. Either may be unset (""); wrong guesses of either count
    towards one lockout.
    """

    MAX_FAILURES = 5
    LOCKOUT_SECONDS = 300.0

    def __init__(
        self,
        pin_hash: str,
        *,
        installer_hash: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hash = _read_or_none(pin_hash)
        self._installer_hash = _read_or_none(installer_hash)
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0

    def locked_out(self) -> bool:
        """Whether PINs are refused for now, after too many wrong ones."""
        return self._clock() < self._locked_until

    def attempt(self, pin: str) -> Attempt:
        """Check one PIN."""
        if self.locked_out():
            return Attempt(granted=False, locked_out=True)
        if self._hash is not None and self._hash.matches(pin):
            self._failures = 0
            return Attempt(granted=True, locked_out=False)
        if self._installer_hash is not None and self._installer_hash.matches(pin):
            self._failures = 0
            return Attempt(granted=True, locked_out=False, installer=True)
        self._failures += 1
        if self._failures >= self.MAX_FAILURES:
            self._failures = 0
            self._locked_until = self._clock() + self.LOCKOUT_SECONDS
            return Attempt(granted=False, locked_out=True)
        return Attempt(granted=False, locked_out=False)


def _read_or_none(pin_hash: str) -> PinHash | None:
    if not pin_hash:
        return None
    read = read_pin_hash(pin_hash)
    if read is None:
        raise ValueError("not a PIN hash made by hash_pin()")
    return read
