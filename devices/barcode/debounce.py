"""One product held in view is one scan, not thirty a second."""

from __future__ import annotations

from dataclasses import dataclass

from devices.barcode.decoder import DecodedCode


@dataclass(slots=True)
class _InView:
    first_reported: float
    missed_frames: int = 0


class ScanDebouncer:
    """Turns per-frame decodes into scans.

    A code is reported when it comes into view, and again only after it has left
    the view (missing from `leave_after_frames` frames in a row: decoders miss the
    odd frame) or after `repeat_after` seconds in view.
    """

    def __init__(self, *, leave_after_frames: int = 4, repeat_after: float = 5.0) -> None:
        self.leave_after_frames = leave_after_frames
        self.repeat_after = repeat_after
        self._in_view: dict[str, _InView] = {}

    def feed(self, codes: list[DecodedCode], now: float) -> list[DecodedCode]:
        """The codes of this frame that count as new scans."""
        seen = {code.text for code in codes}
        for text in list(self._in_view):
            if text not in seen:
                state = self._in_view[text]
                state.missed_frames += 1
                if state.missed_frames >= self.leave_after_frames:
                    del self._in_view[text]
        new = []
        for code in codes:
            known = self._in_view.get(code.text)
            if known is None or now - known.first_reported >= self.repeat_after:
                self._in_view[code.text] = _InView(first_reported=now)
                new.append(code)
            else:
                known.missed_frames = 0
        return new
