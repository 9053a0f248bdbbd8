"""The checks of the shopper-facing devices: camera, NFC reader, BLE adapter, display.

Each waits, at most until the context's deadline, for what the installer does: a
barcode held up, a card tapped, a phone with the store app held at 1 m, a touch. All
run at once, so one wait covers them all; each ends as soon as it has what it needs.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from devices.readings import BarcodeScan, BeaconSighting, CardTap
from devices.status import DeviceState, DeviceStatus
from edge.config_write import update_config
from edge.doctor import messages as m
from edge.doctor.context import CheckContext, one_decimal, result
from edge.doctor.frames import FrameCount, FrameMeter, frames_per_second, sharpness
from edge.doctor.report import CheckResult, Outcome, Param
from edge.errors import ConfigError

BLURRED_BELOW = 100.0  # variance of the Laplacian (see edge.doctor.frames.sharpness)
SLOW_BELOW = 5.0  # frames a second: a barcode moved through the view is missed
FPS_WINDOW = 1.0  # seconds of frames at least, for a rate worth the name
CALIBRATION_SAMPLES = 20  # store-app advertisements enough for a steady median
MIN_SAMPLES = 8  # fewer: the median is not worth saving
_TROUBLE = (DeviceState.MISSING, DeviceState.FAILING, DeviceState.STOPPED)


def _simulated(ctx: CheckContext, check: str, found: CheckResult) -> CheckResult:
    """A passing simulated device is a warning: the kiosk is not ready for shoppers."""
    if check in ctx.source.simulated and found.outcome is Outcome.PASS:
        params = {**found.params, "check": check}
        return result(check, Outcome.WARN, found.summary, m.SIMULATED_FIX, found.details, **params)
    return found


def _not_settled(ctx: CheckContext, check: str, status: DeviceStatus | None) -> CheckResult:
    return result(
        check,
        Outcome.FAIL,
        m.STILL_STARTING,
        m.STILL_STARTING_FIX,
        {"state": str(status.state) if status else "absent"},
        check=check,
        wait=round(ctx.wait),
    )


async def check_camera(ctx: CheckContext) -> CheckResult:
    """Frames arrive, they are sharp, and a barcode held up is read."""
    device = ctx.source.configured("camera")
    if not device:
        return result("camera", Outcome.SKIP, m.CAMERA_SKIPPED)
    meter = ctx.source.frames()
    before = meter.count() if meter is not None else None
    started = time.monotonic()
    status = await ctx.source.status("camera", ctx.deadline)
    if status is not None and status.state in _TROUBLE:
        problem = status.detail or str(status.state)
        return result(
            "camera",
            Outcome.FAIL,
            m.CAMERA_MISSING,
            m.CAMERA_MISSING_FIX,
            device=device,
            problem=problem,
        )
    if status is None or status.state is not DeviceState.OK:
        return _not_settled(ctx, "camera", status)
    backend = status.backend

    def camera_scans() -> list[BarcodeScan]:
        return [scan for scan in ctx.source.readings.of(BarcodeScan) if scan.source == backend]

    read = await ctx.source.readings.wait_for(lambda: bool(camera_scans()), ctx.deadline)
    if meter is not None:  # a rate over a moment is no rate: count a second at least
        enough = min(ctx.deadline, started + FPS_WINDOW) - time.monotonic()
        if enough > 0:
            await asyncio.sleep(enough)
    return await _judge_camera(ctx, device, camera_scans() if read else [], before, meter)


async def _judge_camera(
    ctx: CheckContext,
    device: str,
    scans: list[BarcodeScan],
    before: FrameCount | None,
    meter: FrameMeter | None,
) -> CheckResult:
    fps: float | str = "-"  # unknown: the kiosk's camera is not metered
    sharp: float | str = "-"
    details: dict[str, object] = {}
    if meter is not None and before is not None:
        after = meter.count()
        if after.frames == before.frames:
            return result(
                "camera",
                Outcome.FAIL,
                m.CAMERA_NO_FRAMES,
                m.CAMERA_NO_FRAMES_FIX,
                device=device,
                wait=round(ctx.wait),
            )
        fps = one_decimal(frames_per_second(before, after))
        if after.latest is not None:
            sharp = round(await asyncio.to_thread(sharpness, after.latest))
        details["frames"] = after.frames - before.frames
    if not scans:
        return result(
            "camera",
            Outcome.FAIL,
            m.CAMERA_NO_BARCODE,
            m.CAMERA_NO_BARCODE_FIX,
            details,
            wait=round(ctx.wait),
            fps=fps,
            sharpness=sharp,
        )
    # What was read says nothing about anyone: its symbology and kind, never its text
    # (an order's QR code or a loyalty card may be held up too).
    symbology = str(scans[0].symbology)
    details.update(barcodes=len(scans), kind=scans[0].kind)
    params = {"fps": fps, "sharpness": sharp, "symbology": symbology}
    if isinstance(sharp, int) and sharp < BLURRED_BELOW:
        return result(
            "camera", Outcome.WARN, m.CAMERA_BLURRED, m.CAMERA_BLURRED_FIX, details, **params
        )
    if isinstance(fps, float) and fps < SLOW_BELOW:
        return result("camera", Outcome.WARN, m.CAMERA_SLOW, m.CAMERA_SLOW_FIX, details, **params)
    return _simulated(
        ctx, "camera", result("camera", Outcome.PASS, m.CAMERA_OK, "", details, **params)
    )


async def check_nfc(ctx: CheckContext) -> CheckResult:
    """The reader opens and reads a card tapped on it (any card: its UID is enough)."""
    device = ctx.source.configured("nfc")
    if not device:
        return result("nfc", Outcome.SKIP, m.NFC_SKIPPED)
    status = await ctx.source.status("nfc", ctx.deadline)
    if status is not None and status.state in _TROUBLE:
        problem = status.detail or str(status.state)
        return result(
            "nfc", Outcome.FAIL, m.NFC_MISSING, m.NFC_MISSING_FIX, device=device, problem=problem
        )
    if status is None or status.state is not DeviceState.OK:
        return _not_settled(ctx, "nfc", status)
    backend = status.backend

    def taps() -> list[CardTap]:
        return [tap for tap in ctx.source.readings.of(CardTap) if tap.source == backend]

    if not await ctx.source.readings.wait_for(lambda: bool(taps()), ctx.deadline):
        return result("nfc", Outcome.FAIL, m.NFC_NO_CARD, m.NFC_NO_CARD_FIX, wait=round(ctx.wait))
    # The card's type only: its number and UID are a shopper's or a colleague's.
    found = result("nfc", Outcome.PASS, m.NFC_OK, tag_type=taps()[0].tag_type)
    return _simulated(ctx, "nfc", found)


async def check_ble(ctx: CheckContext) -> CheckResult:
    """The adapter scans and hears advertisements; the store app's power at 1 m is
    measured (and saved with `calibrate`)."""
    if not ctx.source.configured("ble"):
        return result("ble", Outcome.SKIP, m.BLE_SKIPPED)
    status = await ctx.source.status("ble", ctx.deadline)
    if status is not None and status.state in _TROUBLE:
        problem = status.detail or str(status.state)
        return result("ble", Outcome.FAIL, m.BLE_MISSING, m.BLE_MISSING_FIX, problem=problem)
    if status is None or status.state is not DeviceState.OK:
        return _not_settled(ctx, "ble", status)
    app = ctx.config.presence.store_app_uuid.lower()

    def store_app() -> list[int]:
        """The RSSIs of the installer's phone: among the store app's beacons heard (a
        shopper's phone may be in range too), the closest of those heard often enough."""
        phones: dict[str, list[int]] = {}
        for sighting in ctx.source.readings.of(BeaconSighting):
            if sighting.uuid.lower() == app:
                phones.setdefault(sighting.beacon_id, []).append(sighting.rssi)
        if not phones:
            return []
        steady = [rssis for rssis in phones.values() if len(rssis) >= MIN_SAMPLES]
        if not steady:
            return max(phones.values(), key=len)
        return max(steady, key=statistics.median)

    await ctx.source.readings.wait_for(
        lambda: len(store_app()) >= CALIBRATION_SAMPLES, ctx.deadline
    )
    adverts = len(ctx.source.readings.of(BeaconSighting))
    samples = store_app()
    details: dict[str, object] = {"adverts": adverts, "store_app_samples": len(samples)}
    if not adverts:
        return result(
            "ble", Outcome.WARN, m.BLE_SILENT, m.BLE_SILENT_FIX, details, wait=round(ctx.wait)
        )
    if not samples:
        return result("ble", Outcome.WARN, m.BLE_NO_APP, m.BLE_NO_APP_FIX, details, adverts=adverts)
    if len(samples) < MIN_SAMPLES:
        return result(
            "ble",
            Outcome.WARN,
            m.BLE_FEW,
            m.BLE_FEW_FIX,
            details,
            adverts=adverts,
            samples=len(samples),
        )
    rssi = round(statistics.median(samples))
    details["rssi_spread"] = max(samples) - min(samples)
    params = {"adverts": adverts, "rssi": rssi, "samples": len(samples)}
    if not ctx.calibrate:
        return _simulated(ctx, "ble", result("ble", Outcome.PASS, m.BLE_OK, "", details, **params))
    problem = await _save_power(ctx, rssi)
    if problem:
        return result(
            "ble",
            Outcome.WARN,
            m.BLE_NOT_SAVED,
            m.BLE_NOT_SAVED_FIX,
            details,
            rssi=rssi,
            problem=problem,
        )
    ctx.source.calibrated(rssi)
    return _simulated(
        ctx, "ble", result("ble", Outcome.PASS, m.BLE_CALIBRATED, "", details, **params)
    )


async def _save_power(ctx: CheckContext, rssi: int) -> str:
    """Write [presence] power_at_1m; the problem in words, or "" once saved."""
    if ctx.config_path is None:
        return "no configuration file to save it in"
    changes = {"presence": {"power_at_1m": rssi}}
    try:
        await asyncio.to_thread(update_config, ctx.config_path, changes)
    except (ConfigError, OSError) as error:
        return str(error)
    return ""


async def check_display(ctx: CheckContext) -> CheckResult:
    """A display is connected; a touch panel is there; touches are seen (when watched)."""
    seen = await ctx.source.display(ctx.deadline)
    wait = round(ctx.wait)
    if seen.window is not None:  # the kiosk's own window: it saw the touches
        width, height = seen.window
        touches = seen.touches or 0
        window: dict[str, Param] = {"width": width, "height": height, "rotation": seen.rotation}
        if touches:
            return result("display", Outcome.PASS, m.WINDOW_TOUCHED, touches=touches, **window)
        return result(
            "display", Outcome.WARN, m.WINDOW_NO_TOUCHES, m.TOUCH_FIX, wait=wait, **window
        )
    if not seen.outputs:
        return result("display", Outcome.FAIL, m.DISPLAY_NONE, m.DISPLAY_NONE_FIX)
    outputs = ", ".join(f"{o.name} {o.mode}".strip() for o in seen.outputs)
    details: dict[str, object] = {"outputs": [o.name for o in seen.outputs]}
    if not seen.touch_devices:
        return result(
            "display",
            Outcome.WARN,
            m.DISPLAY_NO_TOUCH,
            m.DISPLAY_NO_TOUCH_FIX,
            details,
            outputs=outputs,
        )
    panels = ", ".join(seen.touch_devices)
    if seen.touches is None:
        return result(
            "display",
            Outcome.PASS,
            m.DISPLAY_READY,
            "",
            details,
            outputs=outputs,
            touch_devices=panels,
        )
    if not seen.touches:
        return result(
            "display",
            Outcome.WARN,
            m.DISPLAY_NO_TOUCHES,
            m.TOUCH_FIX,
            details,
            outputs=outputs,
            touch_devices=panels,
            wait=wait,
        )
    return result(
        "display",
        Outcome.PASS,
        m.DISPLAY_TOUCHED,
        "",
        details,
        outputs=outputs,
        touch_devices=panels,
        touches=seen.touches,
    )
