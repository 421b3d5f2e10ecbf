"""False positives of ``wmark verify`` and ``wmark extract`` on unmarked photos, or on
photos marked with a secret key and read with another (``--wrong-key``).

    python benchmarks/verify_fpr.py ../shared/data/eval --trials 2000 [--model NAME]
    python benchmarks/verify_fpr.py ../shared/data/eval --trials 1000 --wrong-key

Each trial takes a random crop (64 px to the whole photo, any aspect) of a photo and a
random message, and runs verify and extract. With ``--wrong-key`` the crop is first
marked with that message under a fresh random key, then read with another fresh key
(verify tests the true message) and with no key (extract only). Prints, for several
thresholds, how often verify's p-value fell at or under it (a calibrated test stays
at or under the threshold), the smallest p-value seen, and how many times extract
claimed a message. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from wmark import api
from wmark.imageio import iter_image_paths, read_image
from wmark.keys import generate_key
from wmark.payload import Message

THRESHOLDS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wrong-key", action="store_true",
                        help="mark each crop under a random key, read with another key and with none")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    photos = [read_image(path).rgb for path in iter_image_paths([args.folder])]
    p_values, found, started = [], 0, time.perf_counter()
    for _ in range(args.trials):
        rgb = photos[rng.integers(len(photos))]
        height, width = rgb.shape[:2]
        h, w = (int(rng.integers(64, side + 1)) for side in (height, width))
        top, left = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
        crop = np.ascontiguousarray(rgb[top:top + h, left:left + w])
        message = Message("bytes", rng.integers(0, 256, 3, dtype=np.uint8).tobytes())
        wrong_key = None
        if args.wrong_key:
            crop = api.embed(crop, message, model=args.model, method="encoder", key=generate_key(),
                             check=False).image
            wrong_key = generate_key()
            found += api.extract(crop, model=args.model).found  # no key
        p_values.append(api.verify(crop, message, model=args.model, key=wrong_key).p_value)
        found += api.extract(crop, model=args.model, key=wrong_key).found
    p = np.array(p_values)
    report = {
        "trials": args.trials, "photos": len(photos), "model": args.model, "wrong_key": args.wrong_key,
        "verify_rate_at_or_under": {f"{t:g}": float(np.mean(p <= t)) for t in THRESHOLDS},
        "verify_min_p": float(p.min()), "extract_false_decodes": int(found),
        "extract_reads": args.trials * (2 if args.wrong_key else 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
