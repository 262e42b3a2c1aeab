#!/usr/bin/env bash
# Profile a few hundred S architectures on one H200: latency, memory, energy -> $OUT/h200_s.sqlite (+ .parquet).
# One prepared script, at most ~7.5 minutes of run time (each stage has a time budget; what is written stays).
#
# The device image has torch, pandas, pyarrow, tqdm and nvidia-ml-py but not hydra-core/omegaconf: fetch their
# wheels once, on the CPU machine, in the repo root:   bash scripts/gpu_profile.sh prepare
# then run on the device machine (device tool):        run(command="bash scripts/gpu_profile.sh", carry=[".whl"],
#                                                          timeout_s=540)
# Rehearse the whole flow on a CPU:  DEVICE=cpu SCALE=tiny N_ARCHS=3 OUT=/tmp/gpu_rehearsal bash scripts/gpu_profile.sh
#
# Stages (budgets in seconds, checked between chunks of architectures; a hard timeout sends SIGINT 30 s later):
#   latency  repeats=10, CUDA events, batch 1, seq_len 1024 (block size), fp32     LAT_S   (default 100)
#   memory   torch.cuda.max_memory_allocated over one forward                     MEM_S   (default 60)
#   energy   NVML total-energy counter, 3 observations of >= 0.25 s loops each    ENERGY_S (default 200)
# The architecture set (smallest, largest, sample_unique(N_ARCHS, seed=0)) equals the CPU runs' set, so tables join.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "${1:-}" = "prepare" ]; then
    mkdir -p .git/info && { grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude; }
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 -d .whl hydra-core==1.3.8 omegaconf==2.3.1 || exit 1
    "$PY" -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3 || exit 1  # sdist only: build it here
    ls -la .whl
    exit 0
fi

OUT=${OUT:-/tmp/hwgpt_gpu_out}
DEVICE=${DEVICE:-h200}
SCALE=${SCALE:-s}
N_ARCHS=${N_ARCHS:-300}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PROJECT_ROOT=${PROJECT_ROOT:-/tmp/hwgpt_root} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import hydra, omegaconf" 2>/dev/null; then
    if [ ! -d .whl ]; then
        echo "hydra-core/omegaconf missing and no .whl/ here: run 'bash scripts/gpu_profile.sh prepare' and carry .whl"
        exit 2
    fi
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 2
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
{ nvidia-smi || true; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } \
    > "$OUT/env.txt" 2>&1

STORE="$OUT/${DEVICE}_${SCALE}.sqlite"
COMMON=(scale="$SCALE" device="$DEVICE" n_archs="$N_ARCHS" seed=0 batch=1 dtype=float32 store="$STORE" progress=false)
stage() {  # stage <budget seconds> <overrides...>
    local budget=$1; shift
    echo "=== $* (budget ${budget}s, at ${SECONDS}s)" | tee -a "$OUT/log.txt"
    timeout --signal=INT --kill-after=15 $((budget + 30)) \
        "$PY" profile.py "${COMMON[@]}" max_seconds="$budget" "$@" >> "$OUT/log.txt" 2>&1
    echo "    exit $? at ${SECONDS}s" | tee -a "$OUT/log.txt"
}
stage "${LAT_S:-100}" metric=latency repeats=10
stage "${MEM_S:-60}" metric=memory
stage "${ENERGY_S:-200}" metric=energy repeats=3 metric.min_seconds=0.25

"$PY" - "$STORE" <<'PYEOF' 2>&1 | tee -a "$OUT/log.txt"
import sys
from pathlib import Path
from hwgpt.profiling import Store
store = Store(sys.argv[1])
df = store.observations()
print(store.devices().to_string())
if len(df):
    print(df.groupby(["metric", "unit"])["value"].describe(percentiles=[0.05, 0.5, 0.95]).to_string())
    print(df.groupby("metric")["arch_id"].nunique().rename("archs").to_string())
    print("flags:", df["flags"].value_counts().to_dict())
    store.export(Path(sys.argv[1]).with_suffix(".parquet"))
PYEOF
echo "done in ${SECONDS}s; files in $OUT:"; ls -la "$OUT"
