"""A device served by a thread of its own: open it, serve it until it fails, retry.

A missing or failing device is reported (`DeviceStatus`) and tried again with
jittered backoff; it never ends the thread, let alone the kiosk.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from devices.backoff import Backoff
from devices.errors import DeviceError
from devices.status import DeviceState, DeviceStatus

log = logging.getLogger(__name__)
Handle = TypeVar("Handle")


class Source(Protocol):
    """A backend that opens and closes itself (a camera, a key source)."""

    name: str

    def open(self) -> None:
        """Acquire the device; raise DeviceError if it is not there."""

    def close(self) -> None:
        """Release the device."""


SourceT = TypeVar("SourceT", bound=Source)


class DeviceWorker(ABC, Generic[Handle]):
    """The thread, the retry loop and the status reports shared by every device."""

    kind = "device"

    def __init__(
        self,
        backend: str,
        *,
        on_status: Callable[[DeviceStatus], None],
        backoff: Backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self._on_status = on_status
        self._backoff = backoff
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reading_at: float | None = None

    @abstractmethod
    def _open(self) -> Handle:
        """Acquire the device; raise DeviceError if it is not there."""

    @abstractmethod
    def _serve(self, handle: Handle) -> None:
        """Deliver readings until stopped (return) or the device fails (raise)."""

    @abstractmethod
    def _close(self, handle: Handle) -> None:
        """Release the device."""

    def start(self) -> None:
        """Start serving the device in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.kind, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        return self._stop.is_set()

    def _healthy(self) -> None:
        """The device answered: past failures are forgotten."""
        self._backoff.reset()

    def _delivered(self, at: float) -> None:
        """Note a reading."""
        self._last_reading_at = at

    def _report(self, state: DeviceState, detail: str = "") -> None:
        self._on_status(DeviceStatus(self.kind, self.backend, state, detail, self._last_reading_at))

    def _run(self) -> None:
        self._report(DeviceState.STARTING)
        while not self._stop.is_set():
            try:
                handle = self._open()
            except DeviceError as error:
                self._report(DeviceState.MISSING, str(error))
                self._stop.wait(self._backoff.next_delay())
                continue
            self._report(DeviceState.OK)
            try:
                self._serve(handle)
            except DeviceError as error:
                log.warning("%s failed, reopening: %s", self.kind, error)
                self._report(DeviceState.FAILING, str(error))
                self._stop.wait(self._backoff.next_delay())
            except Exception as error:
                log.exception("%s failed unexpectedly, reopening", self.kind)
                self._report(DeviceState.FAILING, f"{type(error).__name__}: {error}")
                self._stop.wait(self._backoff.next_delay())
            finally:
                self._close(handle)
        self._report(DeviceState.STOPPED)


class SourceWorker(DeviceWorker[SourceT]):
    """A device worker whose backend is a `Source`: opened, served, closed."""

    def __init__(
        self,
        source: SourceT,
        *,
        on_status: Callable[[DeviceStatus], None],
        backoff: Backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(source.name, on_status=on_status, backoff=backoff, clock=clock)
        self.source = source

    def _open(self) -> SourceT:
        self.source.open()
        return self.source

    def _close(self, source: SourceT) -> None:
        source.close()
