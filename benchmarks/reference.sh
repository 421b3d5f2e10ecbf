#!/usr/bin/env bash
# The reference table (DESIGN.md, "What good means"; issue 8): the 65 eval photos,
# centre-cropped to a square and resized to 512x512, the 15 reference attacks, raw-bit
# accuracy and exact Reed-Solomon message recovery for wmark's default model (encoder and
# ISMark), side by side with the pip-installable peers (invisible-watermark dwtDct/dwtDctSvd/rivaGan,
# blind-watermark: pip install -e '.[bench]' onnxruntime; a missing one is skipped).
#
#   benchmarks/reference.sh                      # the full table (about 3 h on 2 CPUs: rivaGan ~100 s a photo)
#   benchmarks/reference.sh --limit 3            # a quick check of the command
#   benchmarks/reference.sh --model NAME --device cuda
#
# Writes report.md, report.json (every per-photo number, versions, hardware) and
# report.csv into benchmarks/results/reference-DATE/ (reference-DATE-partial/ when
# --limit is given; OUT=DIR overrides) and prints the tables on stdout.
# Environment: PYTHON (default .venv/bin/python), WMARK_EVAL (default ../shared/data/eval).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
DATA=${WMARK_EVAL:-../shared/data/eval}
suffix=""
for arg in "$@"; do
    case "$arg" in --limit|--limit=*) suffix="-partial" ;; esac
done
OUT=${OUT:-benchmarks/results/reference-$(date -u +%Y-%m-%d)$suffix}
exec "$PYTHON" -m wmark bench "$DATA" --size 512 --attacks reference --method encoder,ismark --seed 0 \
    --peers --out "$OUT" "$@"
