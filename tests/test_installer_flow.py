"""What the installer's screen does with the codes the camera reads (kiosk/installer.py),
against a real hub's enrolment endpoint on loopback."""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import replace
from pathlib import Path

from edge.enrol.code import EnrolCode
from edge.enrol.messages import ENROLLED, NOT_A_CODE, USED
from kiosk.installer import (
    OTHER_HUB,
    SAME_CODE_QUIET_SECONDS,
    EnrolmentFlow,
    EnrolmentOutcome,
    ca_sha256,
)
from tests.hub_enrolment import Hub, running_hub


def reachable(hub: Hub, code: EnrolCode) -> EnrolCode:
    """The code as the hub prints it, with the test hub's own port."""
    return replace(code, hub_url=f"https://127.0.0.1:{hub.server.port}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_kiosk_enrols_once_and_a_refused_code_in_view_is_not_sent_again(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kiosk" / "kiosk.toml"
    clock = Clock()
    with running_hub(tmp_path / "hub") as hub:
        code = reachable(hub, hub.enroller.new_code("paris-01", "kiosk-05")).text()
        flow = EnrolmentFlow(config, clock=clock)

        async def scenario() -> list[EnrolmentOutcome | None]:
            first = await flow.code_read(code)
            # The same code still before the camera of another kiosk: refused once...
            other = EnrolmentFlow(tmp_path / "other" / "kiosk.toml", clock=clock)
            refused = await other.code_read(code)
            again = await other.code_read(code)  # ...then not asked again while in view
            clock.now += SAME_CODE_QUIET_SECONDS + 1
            later = await other.code_read(code)
            return [first, refused, again, later]

        first, refused, again, later = asyncio.run(scenario())
    assert first is not None
    assert first.ok
    assert first.headline == ENROLLED
    assert first.params == {"device": "kiosk-05", "store": "paris-01"}
    assert flow.device_id == "kiosk-05"
    assert tomllib.loads(config.read_text())["device"]["device_id"] == "kiosk-05"
    assert refused is not None
    assert refused.headline == USED
    assert again is None
    assert later is not None
    assert later.headline == USED
    assert not (tmp_path / "other" / "kiosk.toml").exists()


def test_an_enrolled_kiosk_refuses_a_code_from_another_hub(tmp_path: Path) -> None:
    config = tmp_path / "kiosk" / "kiosk.toml"
    with running_hub(tmp_path / "hub") as hub, running_hub(tmp_path / "stranger") as stranger:
        ours = tmp_path / "ca.pem"
        ours.write_bytes(hub.ca.certificate_pem)
        flow = EnrolmentFlow(config, device_id="kiosk-05", hub_ca_sha256=ca_sha256(str(ours)))
        theirs = reachable(stranger, stranger.enroller.new_code("paris-01")).text()
        outcome = asyncio.run(flow.code_read(theirs))
        # Its own hub's code is taken.
        own = reachable(hub, hub.enroller.new_code("paris-01", "kiosk-05")).text()
        enrolled = asyncio.run(flow.code_read(own))
    assert outcome is not None
    assert outcome.headline == OTHER_HUB
    assert not outcome.ok
    assert enrolled is not None
    assert enrolled.ok


def test_text_that_is_no_code_says_so_and_asks_nobody(tmp_path: Path) -> None:
    flow = EnrolmentFlow(tmp_path / "kiosk.toml")
    outcome = asyncio.run(flow.code_read("borne-enrol:1?hub=http://evil&token=x"))
    assert outcome is not None
    assert outcome.headline == NOT_A_CODE
    assert "missing" in outcome.params["problem"]
    assert not flow.busy
    assert not (tmp_path / "kiosk.toml").exists()
