#!/usr/bin/env bash
# The reference table on the held-out split (benchmarks/heldout.txt) and, beside it, on the
# eval photos training validated on: the encoder alone, 512x512, the 15 reference attacks,
# raw bits and Reed-Solomon messages, seed 0.
#
#   benchmarks/heldout.sh wmark-v4                      # the three sets
#   benchmarks/heldout.sh wmark-v4 heldout-eval          # one set: heldout-eval, heldout-train or tune-eval
#   benchmarks/heldout.sh wmark-v4 heldout-eval --limit 8  # more options go to `wmark bench`
#
# Sets: heldout-eval (33 eval photos no model trained on and v4's validation never read),
# heldout-train (113 train photos v4 never trained on), tune-eval (the other 32 eval
# photos: training's validation proxy). Writes benchmarks/results/heldout-MODEL-SET-DATE/
# (OUT_ROOT=DIR overrides benchmarks/results). Environment: PYTHON (default
# .venv/bin/python), WMARK_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
DATA=${WMARK_DATA:-../shared/data}
OUT_ROOT=${OUT_ROOT:-benchmarks/results}
model=${1:?usage: benchmarks/heldout.sh MODEL [SET] [bench options]}
shift
sets=(heldout-eval heldout-train tune-eval)
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    sets=("$1")
    shift
fi

links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
# One folder of symbolic links per set: the split's names, found in eval/ or train/.
"$PYTHON" - "$DATA" "$links" benchmarks/heldout.txt <<'EOF'
import sys
from pathlib import Path

data, links, listing = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), Path(sys.argv[3])
held = [line.split("#")[0].strip() for line in listing.read_text().splitlines()]
held = {name for name in held if name}
folders = {name: links / name for name in ("heldout-eval", "heldout-train", "tune-eval")}
for folder in folders.values():
    folder.mkdir()
for photo in sorted((data / "eval").iterdir()):
    (folders["heldout-eval" if photo.name in held else "tune-eval"] / photo.name).symlink_to(photo)
for photo in sorted((data / "train").iterdir()):
    if photo.name in held:
        (folders["heldout-train"] / photo.name).symlink_to(photo)
EOF

for set in "${sets[@]}"; do
    [ -d "$links/$set" ] || { echo "unknown set: $set (heldout-eval, heldout-train, tune-eval)" >&2; exit 2; }
    echo "== $model on $set ($(ls "$links/$set" | wc -l) photos)"
    "$PYTHON" -m wmark bench "$links/$set" --size 512 --attacks reference --method encoder --seed 0 \
        --messages both --model "$model" --out "$OUT_ROOT/heldout-$model-$set-$(date -u +%Y-%m-%d)" "$@"
done
