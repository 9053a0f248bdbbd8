"""What the hub remembers of enrolment: codes, certificates, devices (SQLite).

`{[store] data_dir}/enrolment.sqlite` holds:
- codes: the SHA-256 of each token (never the token: a copy of the file enrols no
  one), its store, the device it names, when it expires, and once used when, by which
  device and key, and the certificate it gave;
- certificates: serial, device, store, the public key's fingerprint, PEM, dates, and
  when it was revoked;
- devices: each enrolled device's store (how `borne hub serve` knows a kiosk's store
  before it has sent any event, and what the broker ACL lets it read);
- broker_reload: the last failure of `[enrol] broker_reload` (when, what it said), kept
  until a reload succeeds: until then the broker may enforce an old ACL and CRL.

Every change happens in one `BEGIN IMMEDIATE` transaction, so the HTTPS endpoint's
threads, `borne hub revoke` and a second hub process never interleave halfway. A new
connection per transaction keeps the object safe to share between threads.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.errors import BorneError

__all__ = [
    "CertificateRecord",
    "CodeRecord",
    "EnrolledDevice",
    "Registry",
    "RegistryError",
    "RegistryTransaction",
    "ReloadFailure",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS codes (
    token_sha256 TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    used_by TEXT NOT NULL DEFAULT '',
    used_key TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    pem TEXT NOT NULL,
    issued_at REAL NOT NULL,
    not_after REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS certificates_by_device ON certificates (device_id);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    enrolled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS broker_reload (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    failed_at REAL NOT NULL,
    problem TEXT NOT NULL
);
"""


class RegistryError(BorneError):
    """The enrolment database cannot be used (disk, permissions, corruption)."""

    retryable = True


@dataclass(frozen=True)
class CodeRecord:
    """An enrolment code as the hub keeps it."""

    token_sha256: str
    store_id: str
    device_id: str  # empty: the code names no device
    expires_at: datetime
    used_at: datetime | None
    used_by: str
    used_key: str
    serial: int | None  # the certificate it gave


@dataclass(frozen=True)
class CertificateRecord:
    """A device certificate the CA signed."""

    serial: int
    device_id: str
    store_id: str
    key_sha256: str
    pem: str
    issued_at: datetime
    not_after: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class EnrolledDevice:
    """An enrolled device, with its newest live certificate (None: all revoked)."""

    device_id: str
    store_id: str
    enrolled_at: datetime
    certificate: CertificateRecord | None


@dataclass(frozen=True)
class ReloadFailure:
    """The last failure of the broker reload command, not followed by a success."""

    failed_at: datetime
    problem: str


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _certificate(row: sqlite3.Row) -> CertificateRecord:
    return CertificateRecord(
        serial=int(row["serial"], 16),
        device_id=row["device_id"],
        store_id=row["store_id"],
        key_sha256=row["key_sha256"],
        pem=row["pem"],
        issued_at=datetime.fromtimestamp(row["issued_at"], UTC),
        not_after=datetime.fromtimestamp(row["not_after"], UTC),
        revoked_at=_time(row["revoked_at"]),
    )


class RegistryTransaction:
    """The reads and writes of one transaction (see `Registry.transaction`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def code(self, token_sha256: str) -> CodeRecord | None:
        """The code whose token hashes to `token_sha256`, if the hub made it."""
        row = self._db.execute(
            "SELECT * FROM codes WHERE token_sha256 = ?", (token_sha256,)
        ).fetchone()
        if row is None:
            return None
        return CodeRecord(
            token_sha256=row["token_sha256"],
            store_id=row["store_id"],
            device_id=row["device_id"],
            expires_at=datetime.fromtimestamp(row["expires_at"], UTC),
            used_at=_time(row["used_at"]),
            used_by=row["used_by"],
            used_key=row["used_key"],
            serial=int(row["serial"], 16) if row["serial"] else None,
        )

    def add_code(
        self,
        token_sha256: str,
        store_id: str,
        device_id: str,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Remember a new code."""
        self._db.execute(
            "INSERT INTO codes (token_sha256, store_id, device_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_sha256, store_id, device_id, created_at.timestamp(), expires_at.timestamp()),
        )

    def use_code(
        self, token_sha256: str, when: datetime, device_id: str, key_sha256: str, serial: int
    ) -> None:
        """Mark a code used, by whom, and what it gave."""
        self._db.execute(
            "UPDATE codes SET used_at = ?, used_by = ?, used_key = ?, serial = ?"
            " WHERE token_sha256 = ?",
            (when.timestamp(), device_id, key_sha256, f"{serial:x}", token_sha256),
        )

    def certificate(self, serial: int) -> CertificateRecord | None:
        """The certificate of this serial."""
        row = self._db.execute(
            "SELECT * FROM certificates WHERE serial = ?", (f"{serial:x}",)
        ).fetchone()
        return None if row is None else _certificate(row)

    def live_certificates(self, device_id: str, now: datetime) -> list[CertificateRecord]:
        """The device's certificates neither revoked nor expired."""
        rows = self._db.execute(
            "SELECT * FROM certificates WHERE device_id = ? AND revoked_at IS NULL"
            " AND not_after > ? ORDER BY issued_at",
            (device_id, now.timestamp()),
        ).fetchall()
        return [_certificate(row) for row in rows]

    def add_certificate(self, record: CertificateRecord) -> None:
        """Remember a certificate the CA just signed."""
        self._db.execute(
            "INSERT INTO certificates (serial, device_id, store_id, key_sha256, pem,"
            " issued_at, not_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                f"{record.serial:x}",
                record.device_id,
                record.store_id,
                record.key_sha256,
                record.pem,
                record.issued_at.timestamp(),
                record.not_after.timestamp(),
            ),
        )

    def revoke(self, serial: int, when: datetime) -> None:
        """Revoke one certificate (it goes into the CRL)."""
        self._db.execute(
            "UPDATE certificates SET revoked_at = ? WHERE serial = ? AND revoked_at IS NULL",
            (when.timestamp(), f"{serial:x}"),
        )

    def set_device(self, device_id: str, store_id: str, when: datetime) -> None:
        """Record (or move) an enrolled device in its store."""
        self._db.execute(
            "INSERT INTO devices (device_id, store_id, enrolled_at) VALUES (?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET store_id = excluded.store_id,"
            " enrolled_at = excluded.enrolled_at",
            (device_id, store_id, when.timestamp()),
        )

    def forget_device(self, device_id: str) -> bool:
        """Remove a device from the enrolled ones; False when it was not there."""
        return (
            self._db.execute("DELETE FROM devices WHERE device_id = ?", (device_id,)).rowcount > 0
        )

    def device_store(self, device_id: str) -> str | None:
        """The store of an enrolled device (None: not enrolled)."""
        row = self._db.execute(
            "SELECT store_id FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def device_ids(self) -> set[str]:
        """Every device id the hub ever gave a certificate or enrolled."""
        rows = self._db.execute(
            "SELECT device_id FROM devices UNION SELECT device_id FROM certificates"
        ).fetchall()
        return {row[0] for row in rows}


class Registry:
    """The enrolment database at `path` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        # Token hashes and the fleet's list are the hub's own business; SQLite gives
        # its WAL files the database file's mode, so it is made private from the start.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        with self._connection() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[RegistryTransaction]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield RegistryTransaction(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def devices(self) -> list[EnrolledDevice]:
        """Every enrolled device, by id, with its newest live certificate."""
        with self._connection() as db:
            devices = db.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
            result = []
            for row in devices:
                newest = db.execute(
                    "SELECT * FROM certificates WHERE device_id = ? AND revoked_at IS NULL"
                    " ORDER BY issued_at DESC LIMIT 1",
                    (row["device_id"],),
                ).fetchone()
                result.append(
                    EnrolledDevice(
                        device_id=row["device_id"],
                        store_id=row["store_id"],
                        enrolled_at=datetime.fromtimestamp(row["enrolled_at"], UTC),
                        certificate=None if newest is None else _certificate(newest),
                    )
                )
        return result

    def stores(self) -> dict[str, str]:
        """Each enrolled device's store (device id -> store id)."""
        with self._connection() as db:
            return dict(db.execute("SELECT device_id, store_id FROM devices").fetchall())

    def store_of(self, device_id: str) -> str | None:
        """The store an enrolled device belongs to (None: not enrolled)."""
        with self._connection() as db:
            row = db.execute(
                "SELECT store_id FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def revoked(self) -> list[tuple[int, datetime]]:
        """Every revoked certificate (serial, when): what the CRL lists."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL"
                " ORDER BY revoked_at"
            ).fetchall()
        return [(int(serial, 16), datetime.fromtimestamp(when, UTC)) for serial, when in rows]

    def reload_failed(self, when: datetime, problem: str) -> None:
        """Remember that the broker reload command failed (replacing an older failure)."""
        with self._connection() as db:
            db.execute(
                "INSERT INTO broker_reload (id, failed_at, problem) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET failed_at = excluded.failed_at,"
                " problem = excluded.problem",
                (when.timestamp(), problem),
            )

    def reload_succeeded(self) -> None:
        """Forget the last reload failure: the broker has the current ACL and CRL."""
        with self._connection() as db:
            db.execute("DELETE FROM broker_reload")

    def last_reload_failure(self) -> ReloadFailure | None:
        """The reload failure no reload has made good since (None: none)."""
        with self._connection() as db:
            row = db.execute("SELECT failed_at, problem FROM broker_reload").fetchone()
        if row is None:
            return None
        return ReloadFailure(datetime.fromtimestamp(row[0], UTC), str(row[1]))

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        except sqlite3.Error as error:
            raise RegistryError(f"{self.path} cannot be opened ({error})") from None
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode = WAL")
            yield db
        except sqlite3.Error as error:
            raise RegistryError(f"{self.path}: {error}") from None
        finally:
            db.close()
