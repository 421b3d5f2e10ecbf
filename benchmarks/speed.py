"""Library speed on large photos: ``wmark.embed`` and ``wmark.extract`` of a JPEG, after a
one-time model load that is timed apart.

    python benchmarks/speed.py runs/big/*.jpg [--repeat 3] [--method auto] [--model NAME] [--device cuda]

For each photo prints the decode time of the file, then the best and median of
``--repeat`` embeds (default method: auto, with its self-checks, as ``wmark embed`` runs)
and of as many extracts of the marked photo. Nothing is written.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from wmark import api, zoo
from wmark.imageio import read_image


def timed(function, repeat: int) -> tuple[float, float, object]:
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps")
    args = parser.parse_args()
    start = time.perf_counter()
    device = zoo.resolve_device(args.device)
    model = zoo.load_model(args.model, device)
    print(f"model load {time.perf_counter() - start:.2f} s")
    for path in args.photos:
        start = time.perf_counter()
        rgb = read_image(path).rgb
        decode = time.perf_counter() - start
        best, median, marked = timed(lambda: api.embed(rgb, "owner", model=model, method=args.method,
                                                            device=device), args.repeat)
        read_best, read_median, found = timed(lambda: api.extract(marked.image, model=model, device=device), args.repeat)
        height, width = rgb.shape[:2]
        print(f"{path.name} {width}x{height} ({width * height / 1e6:.1f} MP): decode {decode:.2f} s; "
              f"embed {best:.2f} s best, {median:.2f} median ({marked.method}, {marked.psnr:.1f} dB); "
              f"extract {read_best:.2f} s best, {read_median:.2f} median (found: {found.found})")


if __name__ == "__main__":
    main()
