"""The self-test on the installer's panel: `borne doctor`'s checks on the kiosk's own
devices, each row turning into a big mark as its check ends.

While it runs, every reading is the test's (edge.doctor.RuntimeSource): the card the
installer taps and the barcode they hold up start no shopper session. The report then
goes to the platform as an event, as `borne doctor`'s does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kivy.core.window import Window

from edge.doctor.messages import SELF_TEST_BUSY
from edge.doctor.report import CHECKS, CheckResult, Report
from edge.doctor.runner import run_doctor
from edge.doctor.runtime_source import RuntimeSource, SelfTestBusy

if TYPE_CHECKING:
    from kiosk.installer_controller import InstallerController

log = logging.getLogger(__name__)

TITLES = {
    "camera": "Camera",
    "nfc": "NFC reader",
    "ble": "Bluetooth",
    "display": "Display and touch",
    "broker": "Platform link",
    "clock": "Clock",
    "disk": "Storage",
    "outbox": "Events waiting",
    "catalog": "Catalog",
}
TESTING = (
    "Self-test: tap a card, hold up a barcode and a phone with the store app at 1 m,"
    " touch the screen."
)
ALL_PASSED = "Every check passed."
SOME_WARN = "The kiosk works; some checks ask for attention."
SOME_FAILED = "Some checks failed: see what to do beside each."
RUNNING = "checking…"
SCREEN_MESSAGES = (*TITLES.values(), TESTING, ALL_PASSED, SOME_WARN, SOME_FAILED, RUNNING)


async def run_self_test(controller: InstallerController) -> Report | None:
    """Run every check on the running kiosk and show them as they end."""
    app = controller.app
    panel = controller.panel
    _ = app.tr._
    if panel.testing:
        return None
    panel.testing = True
    panel.headline = _(TESTING)
    panel.headline_tone = "text"
    panel.detail = ""
    rows: dict[str, dict[str, str]] = {
        check: {"outcome": "running", "title": _(TITLES[check]), "summary": _(RUNNING)}
        for check in CHECKS
    }
    panel.show_checks(list(rows.values()))
    source = RuntimeSource(
        app.runtime,
        controller.setup.config,
        window=(int(Window.width), int(Window.height)),
        rotation=app.rotation,
    )

    def touched(*_: Any) -> None:
        source.touched()

    def progress(check: str, result: CheckResult | None) -> None:
        if result is None:
            return
        rows[check] = _row(result, app.tr._)
        panel.show_checks(list(rows.values()))

    Window.bind(on_touch_down=touched)
    try:
        report = await run_doctor(controller.setup.config, source=source, progress=progress)
        sending = await source.send(report)
        log.info("self-test report: %s", sending.note)
    except SelfTestBusy:  # the platform's `doctor` command is testing the devices
        panel.show_checks([])
        panel.headline, panel.headline_tone = _(SELF_TEST_BUSY), "warn"
        return None
    finally:
        Window.unbind(on_touch_down=touched)
        panel.testing = False
        controller.stay_open()  # the installer gets the whole quiet time to read them
    outcomes = {str(result.outcome) for result in report.results}
    if "fail" in outcomes:
        panel.headline, panel.headline_tone = _(SOME_FAILED), "warn"
    elif "warn" in outcomes:
        panel.headline, panel.headline_tone = _(SOME_WARN), "text"
    else:
        panel.headline, panel.headline_tone = _(ALL_PASSED), "good"
    return report


def _row(result: CheckResult, translate: Any) -> dict[str, str]:
    """One check's row, in the kiosk's language."""
    params = dict(result.params)
    return {
        "outcome": str(result.outcome),
        "title": translate(TITLES.get(result.check, result.check)),
        "summary": translate(result.summary, **params),
        "remedy": translate(result.remedy, **params) if result.remedy else "",
    }
