"""The installer's work on the kiosk's screen, apart from Kivy: enrolment by the code the
hub printed, read by the kiosk's own camera.

The screen (kiosk/installer_panel.py) shows what `EnrolmentFlow` answers: a headline
(an English template the screen translates, with its fields) and a detail line (the
hub's own words, for the installer's support call). The enrolment itself is the same as
`borne enrol`'s (edge.enrol.client), run off the loop: it waits on the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import Config
from edge.enrol.answer import Enrolment
from edge.enrol.client import enrol
from edge.enrol.code import EnrolCode, EnrolCodeError, is_enrol_code, parse_enrol_code
from edge.enrol.files import install_enrolment
from edge.enrol.messages import ENROLLED, Explanation, explain
from edge.errors import BorneError

__all__ = ["SCREEN_MESSAGES", "EnrolmentFlow", "EnrolmentOutcome"]

log = logging.getLogger(__name__)

# What the installer reads on the screen besides edge.enrol.messages' (translated in
# assets/locales/fr.po).
WAITING = "Show the enrolment code to the camera."
ENROLLING = "Enrolling with the hub…"
OTHER_HUB = "This code is from another hub: an enrolled kiosk stays with its own hub."
SCREEN_MESSAGES = (WAITING, ENROLLING, OTHER_HUB)
# A code still in view is read again as soon as the camera loses it for a moment: the
# same refused text is not sent to the hub again for this long.
SAME_CODE_QUIET_SECONDS = 10.0


@dataclass(frozen=True)
class EnrolmentOutcome:
    """What to show after a code was read."""

    headline: str  # an English template of SCREEN_MESSAGES
    params: dict[str, str] = field(default_factory=dict)
    detail: str = ""  # the hub's or the parser's own words, untranslated
    enrolled: Enrolment | None = None

    @property
    def ok(self) -> bool:
        """Whether the kiosk is now enrolled."""
        return self.enrolled is not None


Enrol = Callable[..., Enrolment]
Install = Callable[[Enrolment, Path, Path], Config]


class EnrolmentFlow:
    """Turns codes read by the camera into an enrolment, one at a time.

    `config_path` is the configuration the kiosk runs (`borne kiosk --config`): the
    enrolment is written there and its keys and certificates beside it.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        device_id: str = "",
        hub_ca_sha256: str = "",
        enrol_with: Enrol = enrol,
        install_with: Install = install_enrolment,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config_path = config_path
        self.folder = config_path.absolute().parent
        self.device_id = device_id  # the kiosk's id when it has one: a re-enrolment keeps it
        # An enrolled kiosk's hub (its CA's SHA-256): a code from another hub is refused,
        # so a passer-by with the installer's PIN cannot take the kiosk to their own hub.
        self.hub_ca_sha256 = hub_ca_sha256
        self._enrol = enrol_with
        self._install = install_with
        self._clock = clock
        self.busy = False
        self._last_refused: tuple[str, float] | None = None

    @staticmethod
    def wants(text: str) -> bool:
        """Whether a code read while the installer screen is open is for enrolment."""
        return is_enrol_code(text.strip())

    async def code_read(self, text: str) -> EnrolmentOutcome | None:
        """Enrol with the code `text`; None when it is ignored (busy, or just refused)."""
        if self.busy or self._just_refused(text):
            return None
        try:
            code = parse_enrol_code(text)
        except EnrolCodeError as error:
            return self._failed(text, explain(error, None))
        if self.hub_ca_sha256 and not hmac.compare_digest(code.ca_sha256, self.hub_ca_sha256):
            return self._failed(text, Explanation(OTHER_HUB, detail=code.hub_url, refused=True))
        self.busy = True
        try:
            return await asyncio.to_thread(self._enrol_and_install, code)
        except BorneError as error:
            return self._failed(text, explain(error, code))
        finally:
            self.busy = False

    def _enrol_and_install(self, code: EnrolCode) -> EnrolmentOutcome:
        enrolment = self._enrol(code, self.folder, device_id=self.device_id)
        self._install(enrolment, self.folder, self.config_path)
        self.device_id = enrolment.device_id
        log.info("enrolled as %s of store %s", enrolment.device_id, enrolment.store_id)
        params = {"device": enrolment.device_id, "store": enrolment.store_id}
        return EnrolmentOutcome(ENROLLED, params, enrolled=enrolment)

    def _failed(self, text: str, explanation: Explanation) -> EnrolmentOutcome:
        log.warning("enrolment failed: %s (%s)", explanation.text(), explanation.detail or "-")
        if explanation.refused:  # the same code cannot work: not sent again while in view
            self._last_refused = (text, self._clock())
        return EnrolmentOutcome(explanation.template, explanation.params, explanation.detail)

    def _just_refused(self, text: str) -> bool:
        if self._last_refused is None:
            return False
        refused_text, at = self._last_refused
        return refused_text == text and self._clock() - at < SAME_CODE_QUIET_SECONDS


def ca_sha256(ca_file: str) -> str:
    """The SHA-256 of the DER bytes of the PEM certificate in `ca_file` ("" when it is not
    set or cannot be read: the kiosk was provisioned by hand, no hub to stay with)."""
    if not ca_file:
        return ""
    try:
        pem = Path(ca_file).read_text(encoding="ascii")
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
