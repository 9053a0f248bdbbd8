"""What the installer's screen says when an enrolment does not happen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.enrol.answer import (
    REFUSAL_REASONS,
    BadAnswer,
    EnrolRefused,
    HubNotTrusted,
    HubUnreachable,
    NotInstalled,
)
from edge.enrol.code import EnrolCode, EnrolCodeError
from edge.enrol.messages import SCREEN_MESSAGES, explain
from edge.errors import BorneError

CODE = EnrolCode(
    hub_url="https://hub.example:8443",
    store_id="PARIS-01",
    ca_sha256="ab" * 32,
    token="T" * 32,
    expires_at=datetime(2026, 12, 1, 9, 42, tzinfo=UTC),
)


@pytest.mark.parametrize(
    "error",
    [
        EnrolCodeError("field 'ca' is missing"),
        *(EnrolRefused(reason, "the hub's words") for reason in REFUSAL_REASONS),
        EnrolRefused("teapot", "a reason this kiosk does not know"),
        HubNotTrusted("the hub's CA does not match the code: ..."),
        HubUnreachable("connection refused"),
        BadAnswer("certificate is missing or not a string"),
        NotInstalled("/etc/borne/device.pem cannot be written (Read-only file system)"),
    ],
)
def test_every_failure_has_a_screen_message_it_can_fill(error: BorneError) -> None:
    explanation = explain(error, CODE)

    assert explanation.template in SCREEN_MESSAGES
    assert explanation.text()  # every {field} of the template is given
    # A code that cannot work is said so; a network problem invites the same code again.
    assert explanation.refused == (not isinstance(error, HubUnreachable | BadAnswer | NotInstalled))


def test_an_expired_code_says_when_it_expired() -> None:
    explanation = explain(EnrolRefused("expired_code", "expired"), CODE)

    local = CODE.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert local in explanation.text()
    assert explanation.detail == "expired"


def test_a_code_for_another_hub_is_not_taken_for_a_network_problem() -> None:
    explanation = explain(HubNotTrusted("the hub's CA does not match the code"), CODE)

    assert explanation.text() == (
        "This code is for another hub: the hub at https://hub.example:8443 does not show"
        " the certificate it names."
    )
