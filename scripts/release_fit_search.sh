#!/usr/bin/env bash
# Release, part 2: fit and validate the shipped surrogates from the store, run the paper analyses and
# the optimizer comparison, and export the store. Run after scripts/release_cpu.sh.
#
#   bash scripts/release_fit_search.sh            (figures and tables: docs/figures, docs/results)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export OMP_WAIT_POLICY=PASSIVE
FIG=docs/figures; RES=docs/results; mkdir -p "$FIG" "$RES"
STAMP=$(date +%Y-%m-%d_%H-%M-%S)

# Surrogates into the package (hwgpt/artifacts/surrogates/<scale>/cpu/), plots into the run dirs.
"$PY" -m hwgpt.surrogates.fit scale=tiny device=cpu hydra.run.dir=outputs/fit/tiny_$STAMP
"$PY" -m hwgpt.surrogates.fit scale=s device=cpu hydra.run.dir=outputs/fit/s_$STAMP
cp outputs/fit/tiny_$STAMP/reports.json "$RES/surrogates_tiny_cpu.json"
cp outputs/fit/s_$STAMP/reports.json "$RES/surrogates_s_cpu.json"

# Paper analyses on the fitted surrogates (correlations, ECDF per architectural choice).
"$PY" -m hwgpt.surrogates.analysis scale=tiny device=cpu metric=energy hydra.run.dir=outputs/analysis/tiny_$STAMP
"$PY" -m hwgpt.surrogates.analysis scale=s device=cpu metric=energy hydra.run.dir=outputs/analysis/s_$STAMP

# Optimizer comparison: 7 optimizers x 5 seeds, perplexity vs CPU latency on tiny, 2 jobs at a time.
"$PY" search.py -m optimizer=rs,morea,nsga2,ls,rsbo,lsbo,ehvi seed=0,1,2,3,4 n_evals=100 logger=csv \
  progress=false hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=outputs/search/multirun/release_$STAMP
"$PY" -m hwgpt.search.report outputs/search/multirun/release_$STAMP --out "$RES/search_tiny"

# The store, exported (shipped when small).
mkdir -p hwgpt/artifacts/measurements
"$PY" -c "from hwgpt.profiling import Store; Store('outputs/store/measurements.sqlite').export('hwgpt/artifacts/measurements/cpu.parquet')"
