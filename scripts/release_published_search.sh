#!/usr/bin/env bash
# Optimizer comparison on the paper's devices (shipped surrogates of the published data), 5 seeds each:
#   (a) GPT-S, perplexity vs energy on the A100;
#   (b) GPT-S, the paper's 3-objective case: perplexity, latency on the RTX2080, energy on the A6000.
# Then the paper's ECDF-of-energy analysis on a GPU (S, A100). Resumable per case (a finished sweep is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
RES=docs/results; SWEEP=outputs/search/multirun
OPT=${OPTIMIZERS:-rs,morea,nsga2,ls,rsbo,lsbo,ehvi,moasha}
N=${N_EVALS:-100}
JOBS=${JOBS:-2}
run_case() {  # name, overrides...
  local name=$1; shift
  [ -e "$SWEEP/$name/.done" ] || {
    "$PY" search.py -m hydra/launcher=joblib hydra.launcher.n_jobs="$JOBS" optimizer="$OPT" seed=0,1,2,3,4 \
      n_evals="$N" logger=csv progress=false "$@" hydra.sweep.dir="$SWEEP/$name" && touch "$SWEEP/$name/.done"; }
  "$PY" -m hwgpt.search.report "$SWEEP/$name" --out "$RES/$name"
}
run_case search_s_a100_energy scale=s device=a100 'objectives=[perplexity,energy]'
run_case search_s_3obj scale=s 'objectives=[perplexity,latency,energy]' 'devices={latency:rtx2080,energy:a6000}'
"$PY" -m hwgpt.surrogates.analysis scale=s device=a100 stratify=energy hydra.run.dir=outputs/analysis/s_a100
