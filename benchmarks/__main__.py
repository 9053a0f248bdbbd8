"""Run the benchmarks: `python -m benchmarks [--quick] [--out FILE]`."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from benchmarks import catalog, decode, delivery, kiosk, presence


def main() -> None:
    """Run every benchmark, print a table, write JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer events, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args()
    results = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "decode": decode.run(repeats=1 if args.quick else 5),
        "catalog": catalog.run(count=10_000 if args.quick else 100_000),
        "presence": presence.run(count=20_000 if args.quick else 200_000),
        "delivery": delivery.run(events=2000 if args.quick else 20000),
        "kiosk": kiosk.run(scans=20, sessions=100) if args.quick else kiosk.run(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nJSON written to {args.out}")


if __name__ == "__main__":
    main()
