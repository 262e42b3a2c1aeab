#!/usr/bin/env bash
# Release, part 2: fit and validate the shipped surrogates from the store, run the optimizer comparison and
# the paper analyses, and export the store. Run after scripts/release_cpu.sh (the release ran the search
# comparison on core 0 while core 1 was still measuring energy, hence the taskset).
#
#   bash scripts/release_fit_search.sh        (tables: docs/results, figures: docs/figures)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export OMP_WAIT_POLICY=PASSIVE
RES=docs/results; mkdir -p "$RES" docs/figures

# Surrogates into the package (hwgpt/artifacts/surrogates/<scale>/cpu/); Q-Q/calibration plots in the run dirs.
taskset -c 0 "$PY" -m hwgpt.surrogates.fit into_package=true scale=tiny device=cpu 'metrics=[latency,perplexity,accuracy,memory]' \
  hydra.run.dir=outputs/fit/tiny_main
# Optimizer comparison: 7 optimizers x 5 seeds x 100 evaluations, perplexity vs CPU latency on tiny.
taskset -c 0 "$PY" search.py -m optimizer=rs,morea,nsga2,ls,rsbo,lsbo,ehvi seed=0,1,2,3,4 n_evals=100 logger=csv \
  progress=false hydra.sweep.dir=outputs/search/multirun/release
"$PY" -m hwgpt.search.report outputs/search/multirun/release --out "$RES/search_tiny"

# Energy (tiny) and every S surrogate, once those measurements are complete.
"$PY" -m hwgpt.surrogates.fit into_package=true scale=tiny device=cpu 'metrics=[energy]' hydra.run.dir=outputs/fit/tiny_energy
"$PY" -m hwgpt.surrogates.fit into_package=true scale=s device=cpu hydra.run.dir=outputs/fit/s
# Paper analyses on the fitted surrogates (correlation matrix, ECDF per architectural choice).
"$PY" -m hwgpt.surrogates.analysis scale=tiny device=cpu stratify=energy hydra.run.dir=outputs/analysis/tiny
"$PY" -m hwgpt.surrogates.analysis scale=s device=cpu stratify=energy hydra.run.dir=outputs/analysis/s

# The store, exported and shipped (small).
mkdir -p hwgpt/artifacts/measurements
"$PY" -c "from hwgpt.profiling import Store; Store('outputs/store/measurements.sqlite').export('hwgpt/artifacts/measurements/cpu.parquet')"
