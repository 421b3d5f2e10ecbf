#!/bin/bash
# One GPU lease (a machine with python3 + torch and the repo, results under $OUT): resume the
# training run RUN (default training/v5, the masked path) on the GPU for TRAIN_SECONDS, then
# time the GPU paths (benchmarks/speed.py, batch.py).
# Before it, beside the repo's root: gpu/train (training photos, long side 512), gpu/eval
# (the first 32 eval photos) and .whl (wheels of what the machine lacks: kornia, kornia_rs,
# reedsolo). The checkpoint comes back split in 8 MB parts: cat ckpt.part-a? > checkpoint.pt
export PYTHONUNBUFFERED=1 TRAIN_SECONDS=${TRAIN_SECONDS:-480} DEVICE=${DEVICE:-cuda} COUNT=${COUNT:-200}
RUN=${RUN:-training/v5}
PY=${PY:-python3}
if [ -d .whl ]; then $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD; fi
nvidia-smi --query-gpu=name,memory.total --format=csv > $OUT/bench.log 2>&1
mkdir -p runs/gpu && cp "$RUN"/checkpoint.pt "$RUN"/log.jsonl runs/gpu/
timeout -s TERM $TRAIN_SECONDS $PY -m wmark.train --data gpu/train --val-data gpu/eval --out runs/gpu --steps 200000 \
    --threads 8 --device $DEVICE --resume > $OUT/train.log 2>&1
cp runs/gpu/log.jsonl $OUT/log.jsonl
(cd runs/gpu && split -b 8000000 checkpoint.pt $OUT/ckpt.part-)
{
  $PY -c "from PIL import Image; Image.open('gpu/eval/kodak24_kodim01.jpg').resize((4000,3000), Image.BICUBIC).save('/tmp/big12mp.jpg', quality=90)"
  for m in encoder auto; do echo "## speed.py $m"; timeout 60 $PY benchmarks/speed.py /tmp/big12mp.jpg --repeat 3 --method $m --device $DEVICE; done
  for m in encoder auto; do echo "## batch.py $m"; timeout 100 $PY benchmarks/batch.py --count $COUNT --size 512 --jobs 8 --device $DEVICE --photos gpu/eval --method $m; done
} >> $OUT/bench.log 2>&1
ls -la $OUT
