"""Run the benchmarks: `python -m benchmarks [--quick] [--only NAME[,NAME]] [--out FILE]`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    catalog,
    decode,
    delivery,
    downlink,
    hub_ingest,
    import_to_shown,
    kiosk,
    presence,
)

Benchmark = Callable[[], dict[str, Any]]

# Each benchmark by name, at its real size and at its --quick size (a smoke run).
BENCHMARKS: dict[str, tuple[Benchmark, Benchmark]] = {
    "decode": (lambda: decode.run(repeats=5), lambda: decode.run(repeats=1)),
    "catalog": (lambda: catalog.run(count=100_000), lambda: catalog.run(count=10_000)),
    "presence": (lambda: presence.run(count=200_000), lambda: presence.run(count=20_000)),
    "delivery": (lambda: delivery.run(events=20000), lambda: delivery.run(events=2000)),
    "kiosk": (kiosk.run, lambda: kiosk.run(scans=20, sessions=100)),
    "hub_ingest": (
        lambda: hub_ingest.run(kiosks=200, events=100, rounds=3),
        lambda: hub_ingest.run(kiosks=200, events=10, rounds=1),
    ),
    "downlink": (
        lambda: downlink.run(products=100_000, rounds=3),
        lambda: downlink.run(products=10_000, rounds=1),
    ),
    "import_to_shown": (
        lambda: import_to_shown.run(products=100_000, changes=20),
        lambda: import_to_shown.run(products=10_000, changes=5),
    ),
}


def benchmark_names(value: str) -> list[str]:
    """`--only`'s comma-separated names, each a known benchmark."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        known = ", ".join(BENCHMARKS)
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown)!r}; known: {known}"
        )
    return names


def main() -> None:
    """Run the chosen benchmarks (all by default), print their tables, write JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument(
        "--only",
        type=benchmark_names,
        default=list(BENCHMARKS),
        metavar="NAME[,NAME]",
        help=f"run only these: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
    }
    for name in args.only:
        full, quick = BENCHMARKS[name]
        results[name] = quick() if args.quick else full()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nJSON written to {args.out}")


if __name__ == "__main__":
    main()
