"""The display and its touch panel, as the system lists them.

Outputs come from the kernel's DRM connectors (`/sys/class/drm/card*-*/status` and
`modes`), touch panels from evdev: a device reporting multi-touch positions or a
touch button. Watching touches needs read access to /dev/input (the `input` group).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path
from typing import Any

import evdev
from evdev import ecodes

from edge.doctor.source import DisplayObservation, Output

log = logging.getLogger(__name__)
DRM_ROOT = Path("/sys/class/drm")
_CONNECTOR = re.compile(r"card[0-9]+-(?P<name>[A-Za-z0-9_.-]{1,40})")
_MODE = re.compile(r"[0-9]{1,5}x[0-9]{1,5}[a-z]?")


def parse_connector(folder_name: str, status: str, modes: str) -> Output | None:
    """The output a DRM connector folder describes, if it is connected (None if not).

    `status` and `modes` are the files' texts; the first mode listed is the preferred
    one. Whatever the kernel (or a broken file) says, the answer is an Output or None.
    """
    match = _CONNECTOR.fullmatch(folder_name)
    if match is None or status.strip() != "connected":
        return None
    first = modes.strip().splitlines()[0].strip() if modes.strip() else ""
    return Output(match["name"], first if _MODE.fullmatch(first) else "")


def connected_outputs(root: Path = DRM_ROOT) -> tuple[Output, ...]:
    """The connected outputs under a DRM sysfs folder, by name."""
    outputs = []
    try:
        folders = sorted(root.iterdir())
    except OSError:
        return ()
    for folder in folders:
        try:
            status = (folder / "status").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # not a connector (the cards themselves, "version")
        try:
            modes = (folder / "modes").read_text(encoding="ascii", errors="replace")
        except OSError:
            modes = ""
        output = parse_connector(folder.name, status, modes)
        if output is not None:
            outputs.append(output)
    return tuple(outputs)


def _is_touch(capabilities: dict[int, Any]) -> bool:
    axes = [
        code if isinstance(code, int) else code[0] for code in capabilities.get(ecodes.EV_ABS, [])
    ]
    keys = capabilities.get(ecodes.EV_KEY, [])
    return ecodes.ABS_MT_POSITION_X in axes or ecodes.BTN_TOUCH in keys


def touch_devices() -> list[evdev.InputDevice[str]]:
    """The touch panels this user can read (others are not listed by evdev)."""
    found = []
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            touch = _is_touch(device.capabilities())
        except OSError:
            touch = False
        if touch:
            found.append(device)
        else:
            device.close()
    return found


async def _count_touches(devices: list[evdev.InputDevice[str]], deadline: float) -> int:
    """Touches (a finger put down) on any of the devices until one is seen or the deadline."""
    touched = asyncio.Event()
    count = 0

    async def watch(device: evdev.InputDevice[str]) -> None:
        nonlocal count
        async for event in device.async_read_loop():
            down = (
                event.type == ecodes.EV_KEY and event.code == ecodes.BTN_TOUCH and event.value == 1
            ) or (
                event.type == ecodes.EV_ABS
                and event.code == ecodes.ABS_MT_TRACKING_ID
                and event.value >= 0
            )
            if down:
                count += 1
                touched.set()

    tasks = [asyncio.create_task(watch(device)) for device in devices]
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await touched.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return count


async def observe_system_display(
    deadline: float, *, drm_root: Path = DRM_ROOT, watch_touches: bool
) -> DisplayObservation:
    """The outputs, the touch panels, and (if `watch_touches`) touches until `deadline`."""
    outputs = await asyncio.to_thread(connected_outputs, drm_root)
    devices = await asyncio.to_thread(touch_devices)
    try:
        names = tuple(str(device.name or device.path) for device in devices)
        touches = await _count_touches(devices, deadline) if watch_touches and devices else None
    finally:
        for device in devices:
            device.close()
    return DisplayObservation(outputs=outputs, touch_devices=names, touches=touches)
