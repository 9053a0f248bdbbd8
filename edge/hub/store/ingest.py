"""The part of ingest both backends share: sorting a batch into valid and refused."""

from __future__ import annotations

from collections.abc import Sequence

from edge.hub.store.errors import MalformedEventError
from edge.hub.store.incoming import IncomingEvent, RawEvent, parse_event
from edge.hub.store.model import Refusal


def validate_batch(
    events: Sequence[RawEvent | IncomingEvent],
) -> tuple[list[IncomingEvent], tuple[Refusal, ...]]:
    """The events that keep the contract, and a refusal for each that does not."""
    valid: list[IncomingEvent] = []
    refused: list[Refusal] = []
    for index, raw in enumerate(events):
        try:
            valid.append(raw if isinstance(raw, IncomingEvent) else parse_event(raw))
        except MalformedEventError as error:
            refused.append(Refusal(index, error))
    return valid, tuple(refused)
