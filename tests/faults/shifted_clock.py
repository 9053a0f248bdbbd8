"""`borne` with a wall clock that jumps: the runtime's clock, injected from outside.

`python tests/faults/shifted_clock.py ARGS` runs `borne ARGS` with `time.time` and
`time.time_ns` (the wall clock every part of the runtime and nfcpy read) shifted by
BORNE_FAULTS_CLOCK_SHIFT seconds; each SIGUSR1 moves it a further day backwards, as an
NTP step or a dead RTC battery would. The monotonic clock is left alone: it never jumps.
They are replaced before anything imports them, so defaults bound at import see them.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

DAY = 86_400.0
_real_time = time.time
_real_time_ns = time.time_ns
_shift_ns = [int(float(os.environ.get("BORNE_FAULTS_CLOCK_SHIFT", "0")) * 1e9)]


def _time() -> float:
    return _real_time() + _shift_ns[0] / 1e9


def _time_ns() -> int:
    return _real_time_ns() + _shift_ns[0]


def _day_back(_: int, __: FrameType | None) -> None:
    _shift_ns[0] -= int(DAY * 1e9)


def main() -> int:
    """Shift the clock, then run the `borne` command line."""
    time.time = _time
    time.time_ns = _time_ns
    signal.signal(signal.SIGUSR1, _day_back)
    # Run as a file, its own folder leads the path: the runtime's modules must not be
    # looked for among the campaign's.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    from kiosk.cli import main as borne

    return borne(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
