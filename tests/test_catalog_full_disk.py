"""Sending needs no disk, nor does showing the catalog: a cache on a full disk opens read-only.

The campaign filled a 2 MiB data folder while the broker was away; on restart, with the
disk still full, "catalog open failed: database or disk is full" stopped the runtime,
and the 109 queued events could not leave even with the broker up. Here the disk is a
real tmpfs, really full.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.catalog import CATALOG_CACHE, Catalog
from edge.demo import DEMO_CATALOG
from edge.errors import CatalogError


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
