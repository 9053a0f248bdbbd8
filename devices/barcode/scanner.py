"""The camera scanner: frames in, `BarcodeScan` readings out, in a thread of its own.

Capture and decoding block, so they never run on the event loop. The scanner hands
each reading to `on_scan`, which the runtime makes thread-safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from devices.backoff import Backoff
from devices.barcode.capture import FrameSource
from devices.barcode.debounce import ScanDebouncer
from devices.barcode.decoder import BarcodeDecoder, DecodedCode
from devices.barcode.meaning import interpret
from devices.errors import InputError
from devices.readings import BarcodeScan
from devices.status import DeviceStatus
from devices.worker import SourceWorker

log = logging.getLogger(__name__)


def scan_from_code(code: DecodedCode, source: str, at: float) -> BarcodeScan:
    """Interpret a decoded code; a wrong check digit or broken GS1 data is refused."""
    meaning = interpret(code.symbology, code.text, gs1=code.gs1)
    return BarcodeScan(
        symbology=code.symbology,
        text=code.text,
        gtin=meaning.gtin,
        source=source,
        at=at,
        kind=meaning.kind,
    )


class CameraScanner(SourceWorker[FrameSource]):
    """Runs capture → decode → de-duplicate in a thread and reports scans and status."""

    kind = "camera"

    def __init__(
        self,
        source: FrameSource,
        on_scan: Callable[[BarcodeScan], None],
        *,
        on_status: Callable[[DeviceStatus], None] = lambda status: None,
        decoder: BarcodeDecoder | None = None,
        debouncer: ScanDebouncer | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            source, on_status=on_status, backoff=backoff or Backoff(base=0.5, cap=30.0), clock=clock
        )
        self._on_scan = on_scan
        self._decoder = decoder or BarcodeDecoder()
        self._debouncer = debouncer or ScanDebouncer()

    def _serve(self, source: FrameSource) -> None:
        while not self.stopping:
            frame = source.read()
            if frame is None:
                continue
            self._healthy()
            now = self._clock()
            for code in self._debouncer.feed(self._decoder.decode(frame), now):
                try:
                    scan = scan_from_code(code, source.name, now)
                except InputError as error:
                    log.info("barcode refused: %s", error)
                    continue
                self._delivered(now)
                self._on_scan(scan)
