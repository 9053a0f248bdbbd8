"""The rules of enrolment: which code enrols which device, and what a kiosk is given.

- A code is used once. The same token again from the same device with the same public
  key is answered with the same certificate (the kiosk lost the first answer and
  retried); anyone else is refused (`used_code`). An expired code is refused
  (`expired_code`), a token the hub never made too (`unknown_code`).
- The device id is the code's device when it names one (another proposed id is
  refused, `device_mismatch`), else the kiosk's proposal, else the hub names it
  `{store}-kNN`, the first number no device ever had.
- A device id the hub already enrolled is taken: only a code naming that device
  (`enrol-code --device`) may replace it (`device_taken` otherwise), so a code for one
  store never takes over another store's kiosk. Replacing it (a broken or reset kiosk,
  a new key) revokes its live certificates, so the CRL refuses them.
- The hub's own broker name is never a kiosk's: the hub's client id, the CN of its
  `hub.pem`, and any id starting `borne-hub` are refused (`bad_request`), since the
  ACL lets the hub's name read and write every topic.
- After every enrolment and revocation the broker's ACL and CRL are written again
  (`broker_files`) and `[enrol] broker_reload` is run.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization

from edge.enrol.code import EnrolCode
from edge.errors import BorneError
from edge.hub.enrolment.broker_files import RESERVED_PREFIX, BrokerFiles
from edge.hub.enrolment.ca import Clock, HubCA, utc_now
from edge.hub.enrolment.codes import new_token, token_sha256
from edge.hub.enrolment.errors import EnrolmentRefused
from edge.hub.enrolment.registry import CertificateRecord, Registry, RegistryTransaction
from edge.hub.enrolment.request import EnrolRequest

__all__ = ["EnrolAnswer", "Enroller", "HubIdentity", "revoke_device"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubIdentity:
    """What the hub hands every kiosk it enrols, besides the certificate."""

    public_url: str
    broker_host: str
    broker_port: int
    pseudonym_key_hex: str
    installer_pin_hash: str = ""
    store_names: tuple[tuple[str, str], ...] = ()  # store id -> name shown
    certificate_days: int = 397
    code_minutes: int = 10
    hub_client_id: str = ""  # the hub's own MQTT client id: never a kiosk's


@dataclass(frozen=True)
class EnrolAnswer:
    """A successful enrolment: the device's certificate and where it belongs."""

    device_id: str
    store_id: str
    certificate: CertificateRecord
    revoked: tuple[int, ...] = ()  # serials of the certificates this enrolment replaced
    retried: bool = False  # the answer to a retry: the certificate given the first time


class Enroller:
    """Makes codes and answers enrolment requests for one hub."""

    def __init__(
        self,
        ca: HubCA,
        registry: Registry,
        identity: HubIdentity,
        broker: BrokerFiles | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.ca = ca
        self.registry = registry
        self.identity = identity
        self._broker = broker
        self._clock = clock
        # The broker files are rewritten whole: two enrolments finishing together must
        # not interleave their writes (the registry is consistent either way).
        self._broker_lock = threading.Lock()

    def new_code(self, store_id: str, device_id: str = "") -> EnrolCode:
        """A fresh one-time code for `store_id` (and for `device_id` only, if given)."""
        now = self._clock()
        token = new_token()
        expires_at = now + timedelta(minutes=self.identity.code_minutes)
        with self.registry.transaction() as tx:
            tx.add_code(token_sha256(token), store_id, device_id, now, expires_at)
        return EnrolCode(
            hub_url=self.identity.public_url,
            store_id=store_id,
            ca_sha256=self.ca.sha256,
            token=token,
            expires_at=expires_at.replace(microsecond=0),
            device_id=device_id,
        )

    def enrol(self, request: EnrolRequest) -> EnrolAnswer:
        """Enrol the requesting kiosk; raises EnrolmentRefused with the reason."""
        now = self._clock()
        with self.registry.transaction() as tx:
            answer = self._enrol(tx, request, now)
        if not answer.retried:
            self._update_broker()
        return answer

    def answer_document(self, answer: EnrolAnswer) -> dict[str, Any]:
        """The JSON body of a successful `POST /v1/enrol`."""
        identity = self.identity
        return {
            "device_id": answer.device_id,
            "store_id": answer.store_id,
            "store_name": dict(identity.store_names).get(answer.store_id, ""),
            "certificate": answer.certificate.pem,
            "ca": self.ca.certificate_pem.decode("ascii"),
            "broker": {"host": identity.broker_host, "port": identity.broker_port},
            "pseudonym_key": identity.pseudonym_key_hex,
            "command_key": self.ca.command_public_pem().decode("ascii"),
            "installer_pin_hash": identity.installer_pin_hash,
        }

    def revoke(self, device_id: str) -> list[int]:
        """Revoke every live certificate of `device_id` (see `revoke_device`)."""
        with self._broker_lock:
            return revoke_device(self.registry, self._broker, device_id, self._clock())

    def _enrol(self, tx: RegistryTransaction, request: EnrolRequest, now: datetime) -> EnrolAnswer:
        code = tx.code(token_sha256(request.token))
        if code is None:
            raise EnrolmentRefused("unknown_code", "this enrolment code was not made by this hub")
        if code.used_at is not None:
            return self._retry(tx, code.used_by, code.used_key, code.serial, request)
        if code.expires_at <= now:
            raise EnrolmentRefused(
                "expired_code", "this enrolment code has expired: ask the hub for a new one"
            )
        if code.device_id and request.device_id and request.device_id != code.device_id:
            raise EnrolmentRefused(
                "device_mismatch",
                f"this enrolment code is for device {code.device_id}, not another one",
            )
        device_id = code.device_id or request.device_id or _next_name(tx, code.store_id)
        self._refuse_reserved(device_id)
        if not code.device_id and _is_taken(tx, device_id, now):
            raise EnrolmentRefused(
                "device_taken",
                f"device {device_id} is already enrolled: replacing it needs a code made"
                f" for it (borne hub enrol-code --device {device_id})",
            )
        replaced = [
            record.serial
            for record in tx.live_certificates(device_id, now)
            if record.key_sha256 != request.key_sha256
        ]
        for serial in replaced:
            tx.revoke(serial, now)
        certificate = self.ca.sign_device(
            request.public_key, device_id, days=self.identity.certificate_days
        )
        record = CertificateRecord(
            serial=certificate.serial_number,
            device_id=device_id,
            store_id=code.store_id,
            key_sha256=request.key_sha256,
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            issued_at=now,
            not_after=certificate.not_valid_after_utc,
        )
        tx.add_certificate(record)
        tx.use_code(code.token_sha256, now, device_id, request.key_sha256, record.serial)
        tx.set_device(device_id, code.store_id, now)
        return EnrolAnswer(device_id, code.store_id, record, tuple(replaced))

    def _refuse_reserved(self, device_id: str) -> None:
        """Refuse the hub's own broker name, or one a hub could be given by default."""
        hub_names = {self.identity.hub_client_id}
        written = self._broker.written_hub_user() if self._broker is not None else None
        if written is not None:
            hub_names.add(written)
        if device_id in hub_names or device_id.lower().startswith(RESERVED_PREFIX):
            raise EnrolmentRefused(
                "bad_request",
                f"the name {device_id} is reserved for the hub's own broker connection:"
                " choose another kiosk name",
            )

    @staticmethod
    def _retry(
        tx: RegistryTransaction,
        used_by: str,
        used_key: str,
        serial: int | None,
        request: EnrolRequest,
    ) -> EnrolAnswer:
        """The answer to a used code: the same certificate to the same kiosk, if still live."""
        same_kiosk = used_key == request.key_sha256 and request.device_id in ("", used_by)
        record = tx.certificate(serial) if serial is not None and same_kiosk else None
        if record is None or record.revoked_at is not None:
            raise EnrolmentRefused("used_code", "this enrolment code has already been used")
        return EnrolAnswer(record.device_id, record.store_id, record, retried=True)

    @property
    def manages_broker(self) -> bool:
        """Whether this hub keeps the broker's ACL and CRL (`[enrol] broker_dir`)."""
        return self._broker is not None

    def refresh_broker(self) -> None:
        """Write the ACL and a freshly dated CRL again, then reload the broker.

        An expired CRL makes mosquitto refuse every kiosk, so `borne hub serve` calls
        this at start and every day (edge.hub.enrolment.broker_upkeep).
        """
        self._update_broker()

    def _update_broker(self) -> None:
        if self._broker is None:
            return
        with self._broker_lock:
            try:
                self._broker.update(self.registry)
            except (BorneError, OSError) as error:
                # The enrolment is committed and answered all the same: the broker
                # files are written again at the next enrolment or broker-config.
                log.error("enrolment: the broker's ACL and CRL cannot be written: %s", error)


def revoke_device(
    registry: Registry, broker: BrokerFiles | None, device_id: str, now: datetime
) -> list[int]:
    """Revoke every live certificate of `device_id`, forget its store, rewrite the
    broker's ACL and CRL; returns the revoked serials (empty, and nothing changed, for
    a device the hub does not know)."""
    with registry.transaction() as tx:
        serials = [record.serial for record in tx.live_certificates(device_id, now)]
        for serial in serials:
            tx.revoke(serial, now)
        forgotten = tx.forget_device(device_id)
    if (serials or forgotten) and broker is not None:
        broker.update(registry)
    return serials


def _is_taken(tx: RegistryTransaction, device_id: str, now: datetime) -> bool:
    """Whether `device_id` is an enrolled kiosk (in a store, or holding a live certificate)."""
    return tx.device_store(device_id) is not None or bool(tx.live_certificates(device_id, now))


def _next_name(tx: RegistryTransaction, store_id: str) -> str:
    """`{store}-kNN`: the first number no device of the hub ever had."""
    taken = tx.device_ids()
    number = 1
    while True:
        suffix = f"-k{number:02d}"
        name = store_id[: 64 - len(suffix)] + suffix  # one topic level: 64 characters
        if name not in taken:
            return name
        number += 1
