"""Benchmark: how fast the native stack starts with warm caches, and what an idempotent `up` costs.

Runs N cycles of `down` -> timed `up` (every service from stopped to healthy) -> timed second `up`
(the no-op). Prints the median of each and their ratio. Run with the stack's own venv:

    .venv/bin/python tests/benchmarks/stack_startup.py --cycles 3

It stops the stack at the end if it was not running at the start.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = [sys.executable, str(ROOT / "dev" / "stack.py")]


def timed(*args: str) -> float:
    began = time.perf_counter()
    result = subprocess.run([*STACK, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"stack {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    was_up = subprocess.run([*STACK, "is-up"]).returncode == 0
    ups, noops = [], []
    try:
        for cycle in range(1, args.cycles + 1):
            timed("down")
            ups.append(timed("up"))
            noops.append(timed("up"))
            print(f"cycle {cycle}: up {ups[-1]:.1f}s, second up {noops[-1]:.2f}s", flush=True)
    finally:
        if not was_up:
            timed("down")
    up, noop = statistics.median(ups), statistics.median(noops)
    print(f"median up (stopped -> all healthy, warm caches): {up:.1f}s")
    print(f"median second up (no-op):                        {noop:.2f}s")
    print(f"ratio no-op / up: {noop / up:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
