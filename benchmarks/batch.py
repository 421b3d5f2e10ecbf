"""Batch throughput and memory of the CLI: ``wmark embed`` then ``wmark extract`` over a
folder of N photos cut from the eval set, as a user would run them.

    python benchmarks/batch.py --count 200 --size 512 --jobs 1 2    # images/s at 512x512
    python benchmarks/batch.py --count 100 10000 --size 96          # peak memory vs batch size

Prints one line per (count, jobs, command): images/s and the peak resident memory of
the wmark process (from wait4, so only that process is counted). Bounded memory means
the peak stays flat as the count grows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"


def make_photos(folder: Path, count: int, size: int, seed: int = 0, source_dir: Path = EVAL) -> None:
    """``count`` JPEG crops of ``size`` px, cut at random places from the photos of ``source_dir``."""
    rng = np.random.default_rng(seed)
    sources = [np.asarray(Image.open(path).convert("RGB")) for path in sorted(source_dir.iterdir())
               if path.suffix.lower() in (".png", ".jpg", ".jpeg")]
    sources = [s for s in sources if min(s.shape[:2]) >= size]
    folder.mkdir(parents=True)
    for index in range(count):
        source = sources[index % len(sources)]
        top = rng.integers(0, source.shape[0] - size + 1)
        left = rng.integers(0, source.shape[1] - size + 1)
        Image.fromarray(source[top:top + size, left:left + size]).save(folder / f"{index:05d}.jpg", quality=92)


def run(args: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit status) of one wmark command."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "wmark", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        sys.exit(f"wmark {' '.join(args)} failed ({process.returncode}): {process.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, nargs="+", default=[200])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (wmark's --device)")
    parser.add_argument("--method", default="auto", help="embed's --method: auto, encoder or ismark")
    parser.add_argument("--photos", type=Path, default=EVAL, help="where the crops are cut from (the eval set)")
    options = parser.parse_args()
    print("| photos | size | jobs | command | images/s | peak RSS MiB |\n| --- | --- | --- | --- | --- | --- |")
    for count in options.count:
        with tempfile.TemporaryDirectory(prefix="wmark-batch-") as tmp:
            photos = Path(tmp) / "in"
            make_photos(photos, count, options.size, source_dir=options.photos)
            for jobs in options.jobs:
                marked = Path(tmp) / f"out{jobs}"
                commands = {"embed": ["-q", "embed", str(photos), "--msg", "owner", "-o", str(marked), "--json",
                                      "--no-score", "--method", options.method],
                            "extract": ["-q", "extract", str(marked), "--json"]}
                for name, args in commands.items():
                    seconds, peak, _ = run([*args, "--jobs", str(jobs), "--device", options.device])
                    print(f"| {count} | {options.size} | {jobs} | {name} | {count / seconds:.1f} | {peak:.0f} |",
                          flush=True)


if __name__ == "__main__":
    main()
