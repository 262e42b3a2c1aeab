#!/usr/bin/env bash
# S hardware metrics on this CPU kind for the corrected GPT-S space (embed 192/384/768), resumable:
# rerun after a kill and every stage skips what the store already holds.
#
#   bash scripts/release_s_cpu.sh            (store: outputs/store/measurements.sqlite)
#
# One lane pinned to core 0 (taskset), one torch thread: the other core stays free for other work.
# Settings as the earlier S release: 256 tokens, batch 1, fp32; latency 5 observations, energy 2 (estimate).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
N=${N_ARCHS:-500}
p() { taskset -c 0 "$PY" profile.py device=cpu progress=false scale=s seq_len=256 n_archs="$N" "$@"; }
p metric=cost
p metric=memory
p metric=latency repeats=5
p metric=energy repeats=2 metric.min_seconds=0.1
