"""Which noise layers ISMark should harden against, and for how many iterations: the
reference columns of ``wmark bench`` (raw bits, 512², seed 0) after ``--method ismark``
with each attack set and iteration cap, on the photos given.

    python benchmarks/ismark_attacks.py ../shared/data/eval/mcmaster18_04.png ... \\
        --sets jpeg,resize,blur,saturation jpeg,resize,blur,saturation,brightness,contrast,crop-edge \\
        --iters 25 100 200 [--model wmark-v2]

Prints one JSON object per (set, cap): the seconds taken, the mean bit accuracy per
column, and per photo its PSNR, embed time and the columns under 99 %.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from wmark import IsmarkOptions, bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--sets", nargs="+", required=True, help="attack sets, each comma-separated")
    parser.add_argument("--iters", type=int, nargs="+", default=[200], help="iteration caps")
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    for attacks in args.sets:
        for iterations in args.iters:
            started = time.perf_counter()
            report = bench.run_benchmark(args.photos, attacks="reference", method="ismark", model=args.model,
                                         size=args.size, message_mode="bits",
                                         ismark=IsmarkOptions(iterations=iterations, attacks=attacks))
            (system,) = report.systems
            photos = {Path(image["path"]).stem: {
                "psnr": round(image["psnr"], 2), "embed_s": round(image["embed_s"], 1),
                "under_99": {column: round(value["accuracy"], 3) for column, value in image["attacks"].items()
                             if value["accuracy"] < 0.99}} for image in system.images}
            means = {column: round(system.column(column, "accuracy"), 4) for column in report.attacks}
            print(json.dumps({"attacks": attacks, "iterations": iterations,
                              "seconds": round(time.perf_counter() - started), "mean": means, "photos": photos}),
                  flush=True)


if __name__ == "__main__":
    main()
