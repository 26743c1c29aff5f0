#!/usr/bin/env bash
# Second GPU session (model 2.0 selection on VAL): three 8-epoch whole-network fine-tunes in parallel that
# differ in BatchNorm handling and backbone learning rate. Carried as gpu_session.sh; $OUT: best.pt of
# each + runs.tgz + log.
set -u
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" /tmp/runs; LOG=$OUT/select.log
P=gpu_pack
COMMON="--data $P/cxr/manifest.csv --ood $P/ood/manifest.csv --backbone-weights $P/backbone_fp16.pth \
 --mode finetune --device cuda --epochs 8 --batch-size 64 --lr 1e-3 --lr-schedule cosine --weight-decay 1e-4 \
 --augment source --burned-text 0.5 --workers 4 --threads 4 --cache-dir /tmp/cache --no-progress --n-boot 20"
t0=$(date +%s)
timeout 190 python3 -m training $COMMON --backbone-lr-factor 0.3 --output-dir /tmp/runs/bnfix03 >/tmp/runs/bnfix03.log 2>&1 &
timeout 190 python3 -m training $COMMON --backbone-lr-factor 0.3 --bn-train --output-dir /tmp/runs/bntrain03 >/tmp/runs/bntrain03.log 2>&1 &
timeout 190 python3 -m training $COMMON --backbone-lr-factor 0.1 --output-dir /tmp/runs/bnfix01 >/tmp/runs/bnfix01.log 2>&1 &
wait
echo "took $(( $(date +%s) - t0 )) s" >"$LOG"
for r in bnfix03 bntrain03 bnfix01; do cp /tmp/runs/$r/best.pt "$OUT/$r.pt" 2>>"$LOG"; grep -E "epoch 8/|test:" /tmp/runs/$r.log | cut -c1-300 >>"$LOG"; done
tar czf "$OUT/select.tgz" --exclude='*.pt' -C /tmp runs 2>>"$LOG"
cat "$LOG"
