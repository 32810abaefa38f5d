"""`python -m bench [name ...]`: run Baton's benchmarks and print one table of ratios.

Each benchmark module exposes `async def run() -> list[Row]`; every ratio is measured side
by side with its baseline in the same run. Missing targets never fail the command: the
benchmark is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.table import Row, format_table

# In the order the table shows them.
BENCHMARKS = ("ack", "crowd", "statements", "sweep", "digest", "outbox")

Benchmark = Callable[[], Awaitable[list[Row]]]


def machine() -> str:
    """The machine the figures were taken on, as the performance notes record it."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}{load}"
    )


def load(name: str) -> Benchmark:
    module = importlib.import_module(f"bench.{name}")
    run: Benchmark = module.run
    return run


async def run_all(names: list[str]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    failed: list[str] = []
    for name in names:
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            found = await load(name)()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        rows.extend(found)
        took = time.perf_counter() - started
        print(format_table(found), file=sys.stderr)
        print(f"-- {name}: {took:.0f} s", file=sys.stderr, flush=True)
    return rows, failed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    started = time.perf_counter()
    rows, failed = asyncio.run(run_all(names))
    print(f"\nMachine: {machine()}")
    print(f"Took {time.perf_counter() - started:.0f} s\n")
    print(format_table(rows))
    if failed:
        print(f"\nFailed to run: {', '.join(failed)} (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
