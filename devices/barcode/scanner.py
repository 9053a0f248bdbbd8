"""The camera scanner: frames in, `BarcodeScan` readings out, in a thread of its own.

Capture and decoding block, so they never run on the event loop. The scanner hands
each reading to `on_scan`, which the runtime makes thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from devices.backoff import Backoff
from devices.barcode.capture import FrameSource
from devices.barcode.debounce import ScanDebouncer
from devices.barcode.decoder import BarcodeDecoder, DecodedCode
from devices.barcode.gs1 import normalize_gtin
from devices.barcode.symbology import RETAIL_LINEAR
from devices.errors import DeviceError, InputError
from devices.readings import BarcodeScan
from devices.status import DeviceState, DeviceStatus

log = logging.getLogger(__name__)


def scan_from_code(code: DecodedCode, source: str, at: float) -> BarcodeScan:
    """Interpret a decoded code; a retail code with a wrong check digit is refused."""
    gtin = normalize_gtin(code.text) if code.symbology in RETAIL_LINEAR else None
    return BarcodeScan(symbology=code.symbology, text=code.text, gtin=gtin, source=source, at=at)


class CameraScanner:
    """Runs capture → decode → de-duplicate in a thread and reports scans and status."""

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
        self.source = source
        self._on_scan = on_scan
        self._on_status = on_status
        self._decoder = decoder or BarcodeDecoder()
        self._debouncer = debouncer or ScanDebouncer()
        self._backoff = backoff or Backoff(base=0.5, cap=30.0)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reading_at: float | None = None

    def start(self) -> None:
        """Start the capture thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="camera-scanner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the camera."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _report(self, state: DeviceState, detail: str = "") -> None:
        self._on_status(
            DeviceStatus("camera", self.source.name, state, detail, self._last_reading_at)
        )

    def _run(self) -> None:
        self._report(DeviceState.STARTING)
        while not self._stop.is_set():
            try:
                self.source.open()
            except DeviceError as error:
                self._report(DeviceState.MISSING, str(error))
                self._stop.wait(self._backoff.next_delay())
                continue
            self._report(DeviceState.OK)
            try:
                self._capture_until_failure()
            except DeviceError as error:
                log.warning("camera failed, reopening: %s", error)
                self._report(DeviceState.FAILING, str(error))
                self._stop.wait(self._backoff.next_delay())
            finally:
                self.source.close()
        self._report(DeviceState.STOPPED)

    def _capture_until_failure(self) -> None:
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                continue
            self._backoff.reset()
            now = self._clock()
            for code in self._debouncer.feed(self._decoder.decode(frame), now):
                try:
                    scan = scan_from_code(code, self.source.name, now)
                except InputError as error:
                    log.info("barcode refused: %s", error)
                    continue
                self._last_reading_at = now
                self._on_scan(scan)
