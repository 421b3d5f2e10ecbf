"""How often ``--method auto`` falls back to ISMark, and what the default embed costs
through the CLI, on photos no model trained or was tuned on.

    python benchmarks/auto_fallback.py                      # held-out split, 512x512, message "owner"
    python benchmarks/auto_fallback.py --bits --limit 20    # 100 raw bits (self-check: <= 1 % wrong)
    python benchmarks/auto_fallback.py --model wmark-v4-wide --large

Photos: the held-out split (benchmarks/heldout.txt, found in ../shared/data/eval and
train), each resized and centre-cropped to ``--size`` and saved as JPEG 92. One ``wmark
embed FOLDER`` process marks them all, as a user scripting over a folder would: prints
the photos that fell back, the rate, and the wall time per photo (process start and model
load included). ``--large`` also times ``wmark embed`` of one 12 MP JPEG (a held-out
photo upscaled to 4000x3000) against a 128x128 one (the working size), each in its own process (median of
``--repeat``), and prints the difference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from batch import run  # the same benchmarks folder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def heldout_photos(data: Path = DATA) -> list[Path]:
    """The held-out split's photos, in the listing's order."""
    names = [line.split("#")[0].strip() for line in (ROOT / "benchmarks" / "heldout.txt").read_text().splitlines()]
    found = {path.name: path for folder in ("eval", "train") for path in sorted((data / folder).iterdir())}
    return [found[name] for name in names if name in found]


def square(path: Path, size: int) -> Image.Image:
    """``path`` resized so its short side is ``size``, centre-cropped to a square."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = size / min(rgb.size)
    rgb = rgb.resize((max(size, round(rgb.width * scale)), max(size, round(rgb.height * scale))), Image.LANCZOS)
    left, top = (rgb.width - size) // 2, (rgb.height - size) // 2
    return rgb.crop((left, top, left + size, top + size))


def embed_folder(folder: Path, out: Path, message: list[str], model: str) -> tuple[float, list[dict]]:
    """Wall seconds of one ``wmark embed`` over ``folder`` and its JSON lines."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "wmark", "-q", "embed", str(folder), "-o", str(out), "--json",
                           "--no-score", "--model", model, *message], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"wmark embed failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def large_over_tiny(tmp: Path, source: Path, model: str, repeat: int) -> tuple[float, float]:
    """Median CLI seconds of a 12 MP and of a 128x128 JPEG embed (default method)."""
    photos = {"large": square(source, 3000).resize((4000, 3000), Image.LANCZOS), "tiny": square(source, 128)}
    medians = {}
    for name, image in photos.items():
        image.save(tmp / f"{name}.jpg", quality=92)
        seconds = [run(["-q", "embed", str(tmp / f"{name}.jpg"), "-o", str(tmp / f"{name}.{index}.wm.jpg"),
                        "--msg", "owner", "--model", model])[0] for index in range(repeat)]
        medians[name] = statistics.median(seconds)
    return medians["large"], medians["tiny"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--limit", type=int, default=None, help="the first N held-out photos")
    parser.add_argument("--model", default="default")
    parser.add_argument("--bits", action="store_true", help="random raw bits of the model's width, not 'owner'")
    parser.add_argument("--large", action="store_true", help="also time a 12 MP JPEG against a 128x128 one")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    photos = heldout_photos()[:options.limit]
    with tempfile.TemporaryDirectory(prefix="wmark-fallback-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for path in photos:
            square(path, options.size).save(folder / f"{path.stem}.jpg", quality=92)
        message = ["--msg", "owner"]
        if options.bits:
            from wmark import zoo

            width = zoo.load_model(options.model, "cpu").cfg.bits
            message = ["--bits", "".join(map(str, np.random.default_rng(0).integers(0, 2, width)))]
        seconds, rows = embed_folder(folder, Path(tmp) / "out", message, options.model)
        fell_back = sorted(Path(row["path"]).stem for row in rows if row.get("method") == "ismark")
        failed = len(photos) - len(rows)
        print(f"{len(photos)} held-out photos at {options.size}x{options.size}, {' '.join(message)[:40]}, "
              f"model {options.model}: ISMark fallback on {len(fell_back)} ({100 * len(fell_back) / len(photos):.1f} %)"
              f"{f', {failed} not marked' if failed else ''}; {seconds / len(photos):.2f} s a photo "
              f"({seconds:.1f} s in all, process start included)")
        if fell_back:
            print("fell back:", " ".join(fell_back))
        if options.large:
            large, tiny = large_over_tiny(Path(tmp), photos[0], options.model, options.repeat)
            print(f"wmark embed, median of {options.repeat}: 12 MP JPEG {large:.2f} s, 128x128 JPEG {tiny:.2f} s: "
                  f"{large - tiny:.2f} s over the tiny one")


if __name__ == "__main__":
    main()
