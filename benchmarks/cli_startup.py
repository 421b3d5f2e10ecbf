"""How fast does ``wmark --help`` answer? (DESIGN.md: import torch only where needed.)

Runs ``wmark --help`` (the console script beside this Python or on PATH, else
``python -m wmark``; ``--module`` forces the latter) and ``python -c pass`` N times each
in fresh subprocesses and prints the median wall times. The goal recorded in the README
is ``wmark --help`` < 0.3 s; the exit status is 1 when it is missed.

    python benchmarks/cli_startup.py [-n 15] [--module] [--command attack]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.3


def median_wall(argv: list[str], runs: int) -> float:
    """Median wall time of ``argv`` over ``runs`` runs (after one warm-up run)."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="runs per command (median taken)")
    parser.add_argument("--module", action="store_true", help="time `python -m wmark`, not the console script")
    parser.add_argument("--command", default=None, help="time `wmark COMMAND --help` as well")
    args = parser.parse_args()

    beside = Path(sys.executable).with_name("wmark")
    exe = str(beside) if beside.exists() else shutil.which("wmark")
    wmark = [exe] if exe and not args.module else [sys.executable, "-m", "wmark"]
    print(f"timing: {' '.join(wmark)} --help")

    baseline = median_wall([sys.executable, "-c", "pass"], args.runs)
    help_time = median_wall([*wmark, "--help"], args.runs)
    print(f"python -c pass      : {baseline:.3f} s (median of {args.runs})")
    print(f"wmark --help        : {help_time:.3f} s (median of {args.runs})")
    print(f"wmark's own share   : {help_time - baseline:.3f} s")
    if args.command:
        sub = median_wall([*wmark, args.command, "--help"], args.runs)
        print(f"wmark {args.command} --help : {sub:.3f} s (median of {args.runs})")
    verdict = "meets" if help_time < GOAL_S else "MISSES"
    print(f"{verdict} the goal of {GOAL_S} s")
    return 0 if help_time < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
