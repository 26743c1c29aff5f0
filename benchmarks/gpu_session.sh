#!/usr/bin/env bash
# One prepared session on a lent GPU machine (its image's torch, Python 3.12): the model-2.0 whole-network
# fine-tunes (main, a no-burned-text control, and the leave-one-source-out runs, all in parallel on the
# one GPU), raw forward/train-step ceilings, the CUDA tests and a CUDA vs CPU screen of a 224-px copy.
# Carried: gpu_pack/ (`python -m training.pack --data …cxr/manifest.csv --data …ood/manifest.csv
# --out gpu_pack` + gpu_pack/backbone_fp16.pth) and .whl/ (pydicom). $OUT gets at most 8 files.
set -u
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" /tmp/runs
LOG=$OUT/session.log
note() { echo "== $(date +%T) $*" >>"$LOG"; }
nvidia-smi -L >"$LOG" 2>&1; nproc >>"$LOG"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'tv', torchvision.__version__)" >>"$LOG" 2>&1
P=gpu_pack
EPOCHS=${EPOCHS:-16}
COMMON="--data $P/cxr/manifest.csv --ood $P/ood/manifest.csv --backbone-weights $P/backbone_fp16.pth \
 --mode finetune --device cuda --epochs $EPOCHS --batch-size 64 --lr 1e-3 --backbone-lr-factor 0.3 \
 --lr-schedule cosine --weight-decay 1e-4 --bn-train --augment source --workers 4 --threads 2 \
 --cache-dir /tmp/cache --no-progress"
note "six fine-tunes in parallel"
t0=$(date +%s)
timeout ${TRAIN_TIMEOUT:-420} python3 -m training $COMMON --burned-text 0.5 --output-dir /tmp/runs/main --n-boot 200 \
  --model-version 2.0.0 --export /tmp/runs/main/bundle >/tmp/runs/main.log 2>&1 &
timeout ${TRAIN_TIMEOUT:-420} python3 -m training $COMMON --burned-text 0 --output-dir /tmp/runs/notext --n-boot 20 \
  >/tmp/runs/notext.log 2>&1 &
for h in ieee8023 cxnet actualmed,figure1 nih; do
  timeout ${TRAIN_TIMEOUT:-420} python3 -m training $COMMON --burned-text 0.5 --holdout-source $h \
    --output-dir /tmp/runs/loso-${h/,/+} --n-boot 10 >/tmp/runs/loso-${h/,/+}.log 2>&1 &
done
wait
note "fine-tunes took $(( $(date +%s) - t0 )) s"
cp /tmp/runs/main/best.pt "$OUT/main_best.pt" 2>>"$LOG"
cp /tmp/runs/notext/best.pt "$OUT/notext_best.pt" 2>>"$LOG"
tar czf "$OUT/runs.tgz" --exclude='*.pt' -C /tmp runs 2>>"$LOG"
for f in /tmp/runs/*.log; do echo "-- $f" >>"$LOG"; grep -E "epoch [0-9]+/|test:|held-out|Error|error" "$f" | tail -4 | cut -c1-400 >>"$LOG"; done
[ -n "${ONLY_TRAIN:-}" ] || {
note "ceilings"
timeout 60 python3 benchmarks/bench_gpu_ceiling.py >>"$LOG" 2>&1
}
note "CUDA tests"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/inference/test_device.py \
  "tests/inference/test_classifier.py::test_cuda_out_of_memory_falls_back_to_the_cpu" >>"$LOG" 2>&1
[ -n "${ONLY_TRAIN:-}" ] && { note done; exit 0; }
note "screening a 224-px JPEG copy"
python3 - <<'PY' >>"$LOG" 2>&1
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from PIL import Image
src = sorted(Path("gpu_pack/cxr").rglob("*.webp"))
def conv(p):
    out = Path("/tmp/jpg224") / p.relative_to("gpu_pack/cxr").with_name(p.name.replace(".prepared.webp", ".jpg"))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.open(p).save(out, quality=90)
with ProcessPoolExecutor(12) as pool:
    list(pool.map(conv, src, chunksize=64))
print("jpg224:", len(src))
PY
B=/tmp/runs/main/bundle; [ -f $B/model.pt ] || B=resources/model
for d in cuda cpu; do
  timeout 100 /usr/bin/time -f "screen $d: %e s wall, %M KB peak" python3 -m radiview screen /tmp/jpg224 \
    --recursive --device $d --model $B --out /tmp/runs/screen-$d.csv >>"$LOG" 2>&1
  tail -1 /tmp/runs/screen-$d.csv >/dev/null 2>&1
done
note "done"
