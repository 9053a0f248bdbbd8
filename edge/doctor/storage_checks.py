"""The checks of what the kiosk keeps: free space, the outbox's backlog, the catalog.

They read the kiosk's files read-only, so they run beside a running kiosk.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from edge.catalog import CATALOG_CACHE, Catalog
from edge.catalog_live import STREAM_CACHE
from edge.config import check_data_dir
from edge.doctor import messages as m
from edge.doctor.context import CheckContext, human_age, human_bytes, result
from edge.doctor.report import CheckResult, Outcome, Param
from edge.errors import BorneError, ConfigError, OutboxError
from edge.outbox import read_status
from edge.sync.messages import Stream
from edge.sync.status import read_sync_status

GIB = 1 << 30
MIB = 1 << 20
DISK_WARN_BELOW = 1 * GIB
DISK_FAIL_BELOW = 200 * MIB
STREAMS_STALE_AFTER = 3600.0  # seconds: a connected kiosk has its streams confirmed each minute
FILE_OLD_AFTER = 7 * 86_400.0  # a catalog file not updated for a week is forgotten
DAMAGE_RECENT = 7 * 86_400.0  # a replaced outbox is mentioned for a week
OUTBOX_FILE = "outbox.sqlite"  # as edge.bootstrap.open_outbox names it


def _free_space(folder: Path) -> int:
    """Free bytes for this user where `folder` is (or will be created)."""
    for candidate in (folder, *folder.absolute().parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return shutil.disk_usage("/").free


async def check_disk(ctx: CheckContext) -> CheckResult:
    """Room for the outbox and the catalog under [storage] data_dir."""
    try:
        folder = check_data_dir(ctx.config)
    except ConfigError as error:
        return result(
            "disk", Outcome.FAIL, m.DISK_UNUSABLE, m.DISK_UNUSABLE_FIX, problem=error.problem
        )
    free = await asyncio.to_thread(_free_space, folder)
    params = {"free": human_bytes(free), "folder": str(folder)}
    details = {"free_bytes": free}
    if free < DISK_FAIL_BELOW:
        return result("disk", Outcome.FAIL, m.DISK_LOW, m.DISK_LOW_FIX, details, **params)
    if free < DISK_WARN_BELOW:
        return result("disk", Outcome.WARN, m.DISK_LOW, m.DISK_LOW_FIX, details, **params)
    return result("disk", Outcome.PASS, m.DISK_OK, "", details, **params)


async def check_outbox(ctx: CheckContext) -> CheckResult:
    """No event waits to be sent (events wait while the broker is away)."""
    path = ctx.config.data_dir / OUTBOX_FILE
    max_bytes = ctx.config.storage.outbox_max_bytes
    try:
        status = await asyncio.to_thread(read_status, path, max_bytes=max_bytes)
    except OutboxError as error:
        return result(
            "outbox",
            Outcome.FAIL,
            m.OUTBOX_UNREADABLE,
            m.OUTBOX_UNREADABLE_FIX,
            problem=str(error),
            path=str(path),
        )
    if status.damaged:
        return result(
            "outbox", Outcome.FAIL, m.OUTBOX_DAMAGED, m.OUTBOX_DAMAGED_FIX, path=status.damaged
        )
    details = {
        "queued": status.queued,
        "queued_bytes": status.queued_bytes,
        "shed_total": status.shed_total,
        "refused_total": status.refused_total,
        "link_state": status.link_state,
    }
    damaged_at = status.last_damage_at
    if damaged_at is not None and ctx.clock() - damaged_at < DAMAGE_RECENT:
        # The runtime replaced it: say where the old one is while it matters.
        return result(
            "outbox",
            Outcome.WARN,
            m.OUTBOX_WAS_DAMAGED,
            m.OUTBOX_WAS_DAMAGED_FIX,
            details,
            path=status.last_damage_path,
            salvaged=status.last_damage_salvaged,
        )
    if not status.queued:
        return result(
            "outbox", Outcome.PASS, m.OUTBOX_EMPTY, "", details, delivered=status.delivered_total
        )
    oldest = status.oldest_created_at
    age = human_age(ctx.clock() - oldest) if oldest is not None else "-"
    return result(
        "outbox",
        Outcome.WARN,
        m.OUTBOX_WAITING,
        m.OUTBOX_WAITING_FIX,
        details,
        queued=status.queued,
        age=age,
    )


def _products(folder: Path) -> int | None:
    """Products in the catalog cache (None: the kiosk has not made one yet)."""
    path = folder / CATALOG_CACHE
    if not path.is_file():
        return None
    catalog = Catalog(path, read_only=True)
    try:
        return catalog.count()
    finally:
        catalog.close()


async def check_catalog(ctx: CheckContext) -> CheckResult:
    """A catalog is there, and it is fresh: synced lately, or its file is recent."""
    config = ctx.config
    folder = config.data_dir
    now = ctx.clock()
    from_streams = bool(config.mqtt.host) and not config.catalog.source
    try:
        products = await asyncio.to_thread(_products, folder)
        if from_streams:
            streams = folder / STREAM_CACHE
            synced = None
            if streams.is_file():
                status = await asyncio.to_thread(read_sync_status, streams)
                held = [s for s in status.streams if s.stream is Stream.CATALOG]
                synced = held[0].synced_at if held else None
    except BorneError as error:
        return result(
            "catalog",
            Outcome.FAIL,
            m.CATALOG_UNREADABLE,
            m.CATALOG_UNREADABLE_FIX,
            problem=str(error),
        )
    if from_streams:
        if not products:
            return result("catalog", Outcome.FAIL, m.CATALOG_NONE, m.CATALOG_NONE_STREAMS_FIX)
        age = None if synced is None else now - synced
        details = {"products": products, "age_seconds": None if age is None else round(age)}
        params: dict[str, Param] = {
            "products": products,
            "age": "-" if age is None else human_age(age),
        }
        if age is None or age > STREAMS_STALE_AFTER:
            return result(
                "catalog", Outcome.WARN, m.CATALOG_STALE, m.CATALOG_STALE_FIX, details, **params
            )
        return result("catalog", Outcome.PASS, m.CATALOG_SYNCED, "", details, **params)
    source = Path(config.catalog.source) if config.catalog.source else folder / CATALOG_CACHE
    try:
        written = source.stat().st_mtime
    except OSError:
        written = None
    if not products:
        if products is None and config.catalog.source and written is not None:
            return result("catalog", Outcome.WARN, m.CATALOG_NOT_LOADED)
        return result("catalog", Outcome.FAIL, m.CATALOG_NONE, m.CATALOG_NONE_FILE_FIX)
    age = None if written is None else now - written
    details = {"products": products, "age_seconds": None if age is None else round(age)}
    params = {"products": products, "age": "-" if age is None else human_age(age)}
    if age is None or age > FILE_OLD_AFTER:
        return result(
            "catalog", Outcome.WARN, m.CATALOG_FILE, m.CATALOG_FILE_OLD_FIX, details, **params
        )
    return result("catalog", Outcome.PASS, m.CATALOG_FILE, "", details, **params)
