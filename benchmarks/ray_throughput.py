"""Throughput of ``wmark embed|extract`` in one process and with ``--ray local -j N``.

Cuts N_IMAGES 512×512 crops (seeded) out of the photos of ``../shared/data/eval`` that
are at least that large, writes them as PNG into a temporary folder, then times each
command end to end, as a user runs it (the console script in a fresh process, with the
packaged default model): once in one process, once on a new local Ray instance with
WORKERS actors of one CPU each. The Ray run includes starting Ray and its actors; a
run on 4 of the images measures that fixed cost, and the steady rate leaves it out.
The embed outputs of both runs are checked to be byte-identical.

    python benchmarks/ray_throughput.py [--images 200] [--workers 2] [--data DIR]
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

ROOT = Path(__file__).resolve().parent.parent
SIZE = 512


def make_crops(data: Path, folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` SIZE×SIZE crops at seeded places of the photos of ``data`` that hold one."""
    sources = []
    for path in sorted(data.iterdir()):
        try:
            with Image.open(path) as image:
                if min(image.size) >= SIZE:
                    sources.append(np.array(image.convert("RGB")))
        except OSError:
            continue
    if not sources:
        raise SystemExit(f"no photo of at least {SIZE}×{SIZE} in {data}")
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        rgb = sources[index % len(sources)]
        top, left = rng.integers(0, rgb.shape[0] - SIZE + 1), rng.integers(0, rgb.shape[1] - SIZE + 1)
        path = folder / f"crop{index:03d}.png"
        Image.fromarray(rgb[top:top + SIZE, left:left + SIZE]).save(path)
        paths.append(path)
    return paths


def timed(argv: list[str]) -> float:
    """Wall seconds of one run of ``argv`` (its status 0 or 1: 1 is an unread mark, still work done)."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def compare(first: Path, second: Path, names: list[str]) -> str:
    """How many outputs are byte-identical, and the largest pixel difference of the others.

    Torch sums in another order with another number of threads (one process uses all
    cores, an actor one): a pixel may then differ by one level.
    """
    same, largest = 0, 0
    for name in names:
        a, b = (first / name).read_bytes(), (second / name).read_bytes()
        if a == b:
            same += 1
            continue
        with Image.open(first / name) as x, Image.open(second / name) as y:
            largest = max(largest, int(np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max()))
    note = f" (the others differ by at most {largest} level)" if same < len(names) else ""
    return f"embed outputs byte-identical: {same}/{len(names)}{note}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="number of 512×512 crops")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors (one CPU each)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "eval")
    args = parser.parse_args()
    script = Path(sys.executable).with_name("wmark")
    wmark = [str(script)] if script.exists() else [sys.executable, "-m", "wmark"]

    with tempfile.TemporaryDirectory(prefix="wmark-ray-bench-") as scratch:
        scratch_dir = Path(scratch)
        (scratch_dir / "in").mkdir()
        photos = make_crops(args.data, scratch_dir / "in", args.images)
        few = photos[:4]
        ways = {"one process": [], f"Ray, {args.workers} actors": ["--ray", "local", "-j", str(args.workers)]}
        print(f"{len(photos)} crops of {SIZE}×{SIZE} from {args.data}; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} before the runs")
        print(f"{'command':<8} {'path':<16} {'total s':>8} {'images/s':>9} {'start-up s':>11} {'steady images/s':>16}")
        for command in ("embed", "extract"):
            outputs = {}
            for way, extra in ways.items():
                out = scratch_dir / f"{command}-{len(outputs)}"
                if command == "embed":
                    runs = [[*wmark, "-q", "embed", *map(str, subset), "--msg", "bench", "-o", str(target), *extra]
                            for subset, target in ((few, out / "few"), (photos, out / "all"))]
                else:
                    marked = sorted((scratch_dir / "embed-0" / "all").iterdir())
                    runs = [[*wmark, "-q", "extract", *map(str, subset), *extra] for subset in (marked[:4], marked)]
                small, total = timed(runs[0]), timed(runs[1])
                if total > small:  # per image: (total - small) / (N - 4); start-up: what is left of small
                    startup = f"{small - (total - small) * len(few) / (len(photos) - len(few)):.1f}"
                    steady = f"{(len(photos) - len(few)) / (total - small):.2f}"
                else:  # too few images to tell start-up from work
                    startup = steady = "n/a"
                print(f"{command:<8} {way:<16} {total:8.1f} {len(photos) / total:9.2f} {startup:>11} {steady:>16}",
                      flush=True)
                outputs[way] = out / "all"
            if command == "embed":
                print(compare(*outputs.values(), [p.name for p in photos]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
