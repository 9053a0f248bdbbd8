"""The kiosk on screen: cold start to Attract, barcode in view -> product screen drawn,
and memory across shopper sessions. Real Kivy windows on a virtual screen (Xvfb).

Baselines in the same run: the cold start of a bare Kivy window with one label (the
floor of any Kivy app on this machine), and a barcode reading handed to the runtime
directly (the same path minus the camera and the decoder).
Budgets (shared/BENCHMARKS.md): cold start <= 3 s; in view -> drawn p95 <= 100 ms;
memory flat (< 5 % growth) over 1,000 sessions.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from tests.virtual_screen import virtual_screen


def _probe(display: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.kiosk_probe", *args],
        env={**os.environ, "DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def _cold(display: str, flag: str) -> float:
    return float(_probe(display, flag, repr(time.time()))["cold_start_s"])


def _p(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run(scans: int = 60, sessions: int = 1000, starts: int = 3) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    with virtual_screen() as display:
        bare = statistics.median(_cold(display, "--bare") for _ in range(starts))
        kiosk = statistics.median(_cold(display, "--cold") for _ in range(starts))
        running = _probe(display, "--scans", str(scans), "--sessions", str(sessions))
    camera_ms = [s * 1000 for s in running["camera_to_screen_s"]]
    direct_ms = [s * 1000 for s in running["reading_to_screen_s"]]
    first, last = running["memory"]
    growth = last["rss_bytes"] / first["rss_bytes"] - 1
    figures = {
        "cold_start_s": {"kiosk": kiosk, "bare_kivy": bare, "ratio": kiosk / bare},
        "in_view_to_drawn_ms": {
            "p50": statistics.median(camera_ms),
            "p95": _p(camera_ms, 0.95),
            "reading_to_drawn_p50": statistics.median(direct_ms),
            "reading_to_drawn_p95": _p(direct_ms, 0.95),
        },
        "memory": {
            "sessions": sessions,
            "rss_mb_after_warmup": first["rss_bytes"] / 2**20,
            "rss_mb_at_end": last["rss_bytes"] / 2**20,
            "growth": growth,
        },
    }
    print(f"\nKiosk ({scans} scans at 30 fps, {sessions} sessions)")
    print(f"{'what':<44} {'figure':>12} {'baseline':>12} {'ratio':>7}")
    print(
        f"{'cold start to Attract on screen (s)':<44} {kiosk:>12.2f} {bare:>12.2f} "
        f"{kiosk / bare:>6.2f}x"
    )
    camera, direct = figures["in_view_to_drawn_ms"], figures["in_view_to_drawn_ms"]
    print(
        f"{'barcode in view -> product on screen p50 (ms)':<44} {camera['p50']:>12.1f} "
        f"{direct['reading_to_drawn_p50']:>12.1f}"
    )
    print(
        f"{'barcode in view -> product on screen p95 (ms)':<44} {camera['p95']:>12.1f} "
        f"{direct['reading_to_drawn_p95']:>12.1f}"
    )
    memory = figures["memory"]
    print(
        f"{'resident memory after warm-up -> end (MiB)':<44} "
        f"{memory['rss_mb_after_warmup']:>12.1f} {memory['rss_mb_at_end']:>12.1f} "
        f"{growth:>+6.1%}"
    )
    return figures
