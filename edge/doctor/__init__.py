"""`borne doctor`: the installer's self-test of a kiosk, check by check.

Each check (`CHECKS`: camera, nfc, ble, display, broker, clock, disk, outbox,
catalog) gives a `CheckResult`: pass, warn, fail or skip, an English summary and,
unless it passed, a remedy an installer can act on. Both are templates filled from
the result's params (`edge.doctor.messages.SCREEN_MESSAGES` lists them all, for the
screen's translations). The device checks wait together, up to `wait` seconds, for
what the installer does: a barcode held up, a card tapped, a phone running the store
app held at 1 m (its median RSSI, saved as `[presence] power_at_1m` with
`calibrate`), a touch.

Two entry points, one function:

    report = await run_doctor(config, source=DeviceSource(config), wait=20)  # borne doctor
    sending = await source.send(report)  # the io.borne.device.checked event, via the outbox

- `DeviceSource(config)` (edge.doctor.device_source) opens the configured devices
  itself with the kiosk's drivers; for `borne doctor`, with the kiosk stopped (a
  camera or reader is held by one process at a time).
- `RuntimeSource(runtime, config, window=(w, h), rotation=r)`
  (edge.doctor.runtime_source) borrows a running kiosk's devices for the installer
  screen: readings are diverted from the session while the test runs, the screen
  calls `source.touched()` on each touch, and the report is committed to the kiosk's
  own outbox. The camera's fps and sharpness are measured when the runtime's camera
  reads through a `FrameMeter` (edge.bootstrap wraps it so).

`progress(check, None)` is called when a check starts and `progress(check, result)`
when it ends, on the loop: the screen shows big marks as they come.
"""

from __future__ import annotations

from edge.doctor.frames import FrameMeter
from edge.doctor.report import CHECKS, REPORT_EVENT_TYPE, CheckResult, Outcome, Report
from edge.doctor.runner import DEFAULT_WAIT, Progress, UnknownCheckError, run_doctor
from edge.doctor.source import DisplayObservation, DoctorSource, Output, Sending

__all__ = [
    "CHECKS",
    "DEFAULT_WAIT",
    "REPORT_EVENT_TYPE",
    "CheckResult",
    "DisplayObservation",
    "DoctorSource",
    "FrameMeter",
    "Outcome",
    "Output",
    "Progress",
    "Report",
    "Sending",
    "UnknownCheckError",
    "run_doctor",
]
