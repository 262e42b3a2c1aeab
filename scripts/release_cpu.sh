#!/usr/bin/env bash
# Release measurements on this CPU kind, in the order the release used, resumable: rerun the same
# script after a kill or Ctrl-C and every stage skips what the store already holds.
#
#   bash scripts/release_cpu.sh <tiny supernet .safetensors>      (store: outputs/store/measurements.sqlite)
#
# Timed metrics run in two lanes pinned to one core each (taskset), one torch thread per lane, so the
# lanes do not wait for each other's CPU; deterministic metrics (cost, memory) need no quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?usage: bash scripts/release_cpu.sh <tiny supernet .safetensors>}
PY=${PYTHON:-python}
LOG=outputs/release; mkdir -p "$LOG"
p() { "$PY" profile.py device=cpu progress=false "$@"; }

# Exact and deterministic (no quiet machine needed).
p scale=tiny metric=cost   n_archs=2000
p scale=s    metric=cost   n_archs=500 seq_len=256
p scale=tiny metric=memory n_archs=2000
p scale=s    metric=memory n_archs=500 seq_len=256

# Lane A (core 0): tiny latency (10 observations), S latency (5 observations, 256 tokens).
( taskset -c 0 "$PY" profile.py device=cpu progress=false scale=tiny metric=latency n_archs=2000 repeats=10 &&
  taskset -c 0 "$PY" profile.py device=cpu progress=false scale=s    metric=latency n_archs=500 repeats=5 seq_len=256
) > "$LOG/lane_a.log" 2>&1 &
# Lane B (core 1): tiny perplexity/accuracy (inherited weights), tiny energy, S energy.
( taskset -c 1 "$PY" profile.py device=cpu progress=false scale=tiny metric=quality n_archs=2000 checkpoint="$CKPT" &&
  taskset -c 1 "$PY" profile.py device=cpu progress=false scale=tiny metric=energy  n_archs=2000 repeats=2 metric.min_seconds=0.1 &&
  taskset -c 1 "$PY" profile.py device=cpu progress=false scale=s    metric=energy  n_archs=500 repeats=2 seq_len=256 metric.min_seconds=0.1
) > "$LOG/lane_b.log" 2>&1 &
wait
"$PY" -c "from hwgpt.profiling import Store; Store('outputs/store/measurements.sqlite').export('$LOG/measurements.parquet')"
