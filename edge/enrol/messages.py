"""What the installer is told when an enrolment does not happen, on the screen and headless.

Each message is an English template (translated by the kiosk, assets/locales) with
`{name}` fields filled from `params`; `detail` carries the hub's or the parser's own
words, untranslated, for the installer's call to support. (`borne enrol` words its
own, with the commands to type: kiosk/enrol_cli.py.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.enrol.answer import (
    BadAnswer,
    EnrolFailed,
    EnrolRefused,
    HubNotTrusted,
    HubUnreachable,
    NotInstalled,
)
from edge.enrol.code import EnrolCode, EnrolCodeError
from edge.errors import BorneError, ConfigError

__all__ = ["SCREEN_MESSAGES", "Explanation", "explain"]

ENROLLED = "Enrolled: kiosk {device} of store {store}."
NOT_A_CODE = "This is not an enrolment code: {problem}."
USED = "This code was already used. Ask for a new code."
EXPIRED = "This code expired at {expired}. Ask for a new code."
UNKNOWN = "This code is not one the hub issued. Ask for a new code."
OTHER_DEVICE = "This code is for another kiosk. Ask for a code for this one."
DEVICE_TAKEN = (
    "This kiosk's name is already enrolled. Ask for a code made for this kiosk (--device)."
)
NOT_ENROLLING = (
    "The hub does not enrol kiosks at the moment. Ask its operator to turn enrolment on."
)
UNREADABLE_REQUEST = "The hub could not read this kiosk's request."
NOT_TRUSTED = (
    "This code is for another hub: the hub at {hub} does not show the certificate it names."
)
UNREACHABLE = "The hub at {hub} cannot be reached. Check the network, then try the code again."
BAD_ANSWER = "The hub at {hub} answered something this kiosk cannot use."
NOT_SAVED = "The enrolment could not be saved on this kiosk."
REFUSED = {
    "used_code": USED,
    "expired_code": EXPIRED,
    "unknown_code": UNKNOWN,
    "device_mismatch": OTHER_DEVICE,
    "device_taken": DEVICE_TAKEN,
    "not_enrolling": NOT_ENROLLING,
    "bad_request": UNREADABLE_REQUEST,
    "bad_csr": UNREADABLE_REQUEST,
}
SCREEN_MESSAGES = (
    ENROLLED,
    NOT_A_CODE,
    USED,
    EXPIRED,
    UNKNOWN,
    OTHER_DEVICE,
    DEVICE_TAKEN,
    NOT_ENROLLING,
    UNREADABLE_REQUEST,
    NOT_TRUSTED,
    UNREACHABLE,
    BAD_ANSWER,
    NOT_SAVED,
)


@dataclass(frozen=True)
class Explanation:
    """One message: its template, the fields it needs, and the untranslated detail."""

    template: str  # one of SCREEN_MESSAGES
    params: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    refused: bool = False  # the code cannot be used; else the same code may work later

    def text(self) -> str:
        """The English sentence."""
        return self.template.format(**self.params)


def explain(error: BorneError, code: EnrolCode | None) -> Explanation:
    """What to tell the installer about `error`, raised enrolling with `code`."""
    hub = code.hub_url if code is not None else ""
    if isinstance(error, EnrolCodeError):
        return Explanation(NOT_A_CODE, {"problem": error.problem}, refused=True)
    if isinstance(error, EnrolRefused):
        params: dict[str, str] = {}
        if error.reason == "expired_code" and code is not None:
            params["expired"] = code.expires_at.astimezone().strftime("%Y-%m-%d %H:%M %Z")
        elif error.reason == "expired_code":
            params["expired"] = "?"
        template = REFUSED.get(error.reason, UNREADABLE_REQUEST)
        return Explanation(template, params, error.message, refused=True)
    if isinstance(error, HubNotTrusted):
        return Explanation(NOT_TRUSTED, {"hub": hub}, error.problem, refused=True)
    if isinstance(error, HubUnreachable):
        return Explanation(UNREACHABLE, {"hub": hub}, error.problem)
    if isinstance(error, BadAnswer):
        return Explanation(BAD_ANSWER, {"hub": hub}, error.problem)
    if isinstance(error, NotInstalled | ConfigError):
        return Explanation(NOT_SAVED, detail=str(error))
    if isinstance(error, EnrolFailed):
        return Explanation(BAD_ANSWER, {"hub": hub}, error.problem)
    return Explanation(NOT_SAVED, detail=str(error))
