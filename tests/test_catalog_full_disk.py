"""Sending needs no disk, nor does showing the catalog: a cache on a full disk opens read-only.

The campaign filled a 2 MiB data folder while the broker was away; on restart, with the
disk still full, "catalog open failed: database or disk is full" stopped the runtime,
and the 109 queued events could not leave even with the broker up. Here the disk is a
real tmpfs, really full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.bootstrap import build_runtime
from edge.catalog import CATALOG_CACHE, Catalog
from edge.config import load_config
from edge.demo import DEMO_CATALOG
from edge.errors import CatalogError
from edge.events import EventDraft
from tests.conftest import Subscriber, write_config
from tests.mosquitto import Broker, free_port


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own (the tests run as root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Write until the filesystem refuses another byte."""
    with (disk / "filler").open("wb", buffering=0) as filler:
        for block in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * block)
    assert os.statvfs(disk).f_bavail == 0


def test_a_catalog_that_cannot_be_written_serves_what_it_has_and_refuses_loads_cleanly(
    tmp_path: Path, small_disk: Path
) -> None:
    path = small_disk / CATALOG_CACHE
    catalog = Catalog(path)
    catalog.load_source(DEMO_CATALOG)
    count = catalog.count()
    catalog.close()
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        assert not leftover.exists(), "a clean close leaves the cache whole"
    fill(small_disk)

    catalog = Catalog(path)
    try:
        assert catalog.read_only
        assert catalog.count() == count
        changed = tmp_path / "catalog.json"
        changed.write_bytes(DEMO_CATALOG.read_bytes().replace(b"Caf", b"Kaf", 1))
        with pytest.raises(CatalogError, match="read-only"):
            catalog.load_source(changed)
        assert catalog.count() == count, "what it served stays"
    finally:
        catalog.close()


# A 4 MiB disk is all margin at the default (16 MiB): this kiosk keeps 64 KiB free.
ENVIRONMENT = {
    "BORNE_DEVICES__CAMERA": "",
    "BORNE_DEVICES__NFC": "",
    "BORNE_STORAGE__DISK_MARGIN_BYTES": "65536",
}


def scan(number: int) -> EventDraft:
    return EventDraft("io.borne.product.scanned", {"gtin": f"{number:014d}", "found": True})


def test_a_kiosk_restarted_on_a_full_disk_sends_what_it_had_queued(
    tmp_path: Path, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = small_disk / "data"
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory, free_port())
    offline = load_config(write_config(tmp_path / "offline.toml", data), ENVIRONMENT)
    online = load_config(write_config(tmp_path / "kiosk.toml", data, broker.port), ENVIRONMENT)

    async def queue_while_offline() -> None:
        runtime, _ = await build_runtime(offline)
        try:
            await runtime.outbox.append(*(scan(n) for n in range(109)))
        finally:
            await runtime.close()

    async def restart_and_deliver(subscriber: Subscriber) -> None:
        runtime, _ = await build_runtime(online)
        await runtime.start()
        try:
            assert runtime.catalog.lookup("3760123450010") is not None, "the kiosk still shows"
            # They leave, though no byte can be written: their deletes wait for room.
            await asyncio.to_thread(
                subscriber.wait_for,
                lambda s: {int(e["sequence"]) for e in s.events()} >= set(range(1, 110)),
                60,
            )
        finally:
            await runtime.close()

    asyncio.run(queue_while_offline())
    fill(small_disk)
    broker.start()
    subscriber = Subscriber(broker.port)
    subscriber.start()
    try:
        with caplog.at_level(logging.WARNING):
            asyncio.run(restart_and_deliver(subscriber))
    finally:
        subscriber.stop()
        broker.kill(signal.SIGTERM)
    read_only = [r for r in caplog.records if "read-only" in r.getMessage()]
    assert len(read_only) == 1, [r.getMessage() for r in caplog.records]
    assert str(data / CATALOG_CACHE) in read_only[0].getMessage()
