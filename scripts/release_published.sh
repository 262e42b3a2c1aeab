#!/usr/bin/env bash
# Fit, calibrate and validate a surrogate for every (scale, device, metric) of the imported published
# HW-GPT-Bench data, into the shipped package directory; resumable (a finished (scale, device) is skipped).
#
#   python -m hwgpt.importers.hwgptbench source=<upstream git dir>    # first: the import
#   bash scripts/release_published.sh                                 # then: the fits (JOBS=2 in parallel)
#
# Hardware metrics: 4,000 archs per series (2,400 train / 800 calibration / 800 test), at most 10
# observations per arch (energy has 49 after the warm-up one, which is excluded), a 9-level quantile grid,
# depth-3 trees: files small enough that every device and scale ships in under 40 MB.
# Perplexity/accuracy: every arch upstream evaluated (S 10,000, M ~5,200, L ~430).
# Rows the import's drift scan flagged `drift` (measurement-session regimes outside a file's majority regime,
# hwgpt/importers/drift.py; e.g. the first ~356 archs of every s/rtx2080 latency file) are left out; the import
# report (report.json, drift.json) lists them per file. python scripts/refit_drifted.py refits and evaluates
# the affected series alone (kept and excluded regimes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
IMPORT=${IMPORT_DIR:-outputs/import/hwgptbench}
JOBS=${JOBS:-2}
LOG=outputs/release/fits; mkdir -p "$LOG"
COMMON=(store="$IMPORT" plots=true 'settings.exclude_flags=[contended,warmup,drift]' settings.quantile.folds=3
        'settings.quantile.levels=[0.025,0.05,0.1,0.25,0.5,0.75,0.9,0.95,0.975]'
        'boost.max_depth=[3]' boost.learning_rate=0.25 boost.max_rounds=80 boost.early_stopping_rounds=15)
fit_one() {
  local scale=${1%%/*} dev=${1#*/}
  [ -e "$LOG/$scale-$dev.done" ] && return 0
  local extra=(device="$dev" settings.max_archs=4000 settings.max_obs_per_arch=10)
  # device-independent perplexity/accuracy (<scale>/any/): every arch; `any` is a directory, not a device config
  [ "$dev" = any ] && extra=(device=cpu device.name=any)
  "$PY" -m hwgpt.surrogates.fit into_package=true scale="$scale" "${COMMON[@]}" "${extra[@]}" \
      hydra.run.dir="$LOG/$scale-$dev" > "$LOG/$scale-$dev.log" 2>&1 && touch "$LOG/$scale-$dev.done"
}
export -f fit_one; export PY IMPORT LOG; export COMMON_STR="${COMMON[*]}"
# every <scale>/<device> directory of the import that holds a consolidated series
( cd "$IMPORT" && ls -d [sml]/*/ | sed 's#/$##' ) > "$LOG/series.txt"
# bash arrays do not cross xargs: re-declare COMMON inside each worker
xargs -a "$LOG/series.txt" -P "$JOBS" -I{} bash -c "$(declare -p COMMON); $(declare -f fit_one); fit_one {}"
