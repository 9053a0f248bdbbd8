"""The self-test's results: one `CheckResult` per check, gathered in a `Report`.

A result's summary and remedy are English templates with `{name}` fields filled from
its params: the kiosk's screen translates the template, then fills it, so the figures
stay the same in every language (see edge.doctor.messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from edge.events import EventDraft

REPORT_EVENT_TYPE = "io.borne.device.checked"
CHECKS = ("camera", "nfc", "ble", "display", "broker", "clock", "disk", "outbox", "catalog")

Param = str | int | float


class Outcome(StrEnum):
    """How a check went; the order of `SEVERITY` is the order of worry."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


SEVERITY = {Outcome.SKIP: 0, Outcome.PASS: 1, Outcome.WARN: 2, Outcome.FAIL: 3}


def worst(*outcomes: Outcome) -> Outcome:
    """The most worrying of `outcomes` (SKIP when there are none)."""
    return max(outcomes, key=SEVERITY.__getitem__, default=Outcome.SKIP)


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome, what it saw, and (unless it passed) what to do."""

    check: str
    outcome: Outcome
    summary: str  # an English template, filled from params
    remedy: str = ""  # likewise; empty when there is nothing to do
    params: dict[str, Param] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # for tools: figures, never personal

    @property
    def summary_text(self) -> str:
        """The summary in English with its figures."""
        return self.summary.format_map(self.params)

    @property
    def remedy_text(self) -> str:
        """The remedy in English with its figures ("" when there is none)."""
        return self.remedy.format_map(self.params)

    def as_json(self) -> dict[str, Any]:
        """The result for `--json` and the report event."""
        return {
            "check": self.check,
            "outcome": str(self.outcome),
            "summary": self.summary_text,
            "remedy": self.remedy_text,
            "templates": {"summary": self.summary, "remedy": self.remedy},
            "params": dict(self.params),
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Report:
    """Every check run, in the order of CHECKS, for one device at one moment."""

    device_id: str
    store_id: str
    started: datetime
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> bool:
        """Whether any check failed (`borne doctor` then exits 1)."""
        return any(result.outcome is Outcome.FAIL for result in self.results)

    @property
    def outcome(self) -> Outcome:
        """The worst outcome of all checks."""
        return worst(*(result.outcome for result in self.results))

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON object (`--json`, and the event's data)."""
        counts = {str(outcome): 0 for outcome in Outcome}
        for result in self.results:
            counts[str(result.outcome)] += 1
        return {
            "device_id": self.device_id,
            "store_id": self.store_id,
            "started": self.started.astimezone(UTC).isoformat(timespec="seconds"),
            "outcome": str(self.outcome),
            "counts": counts,
            "results": [result.as_json() for result in self.results],
        }

    def event(self) -> EventDraft:
        """The report as the event the platform receives (no personal data in it)."""
        return EventDraft(REPORT_EVENT_TYPE, self.as_json())
