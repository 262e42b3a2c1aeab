#!/usr/bin/env bash
# Issue 13's done-when, sequential protocol, in this checkout (its .venv): the new-device command into an empty
# $HWGPT_HOME and a new store, then 30 other fresh archs in a second run, then the check of both surrogates
# (shipped `cpu`, adapted `local`) on the fresh archs. Writes <out>/fresh_tiny.json (default: a temp dir).
# Run it on a quiet machine: a surrogate describes the machine under the load it was measured with.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
work=$(mktemp -d)
out=${1:-$work/out}
export HWGPT_HOME=$work/home WANDB_MODE=offline
uptime
python profile.py scale=tiny device=local metric=latency n_archs=20 repeats=5 fit=true store="$work/design.sqlite"
python profile.py scale=tiny device=local device.name=fresh n_archs=30 seed=1000 repeats=5 store="$work/fresh.sqlite"
uptime
python -m hwgpt.surrogates.transfer_validation fresh --store "$work/fresh.sqlite" --scale tiny --measured-as fresh \
    --devices cpu,local --exclude-store "$work/design.sqlite" --out "$out"
cat "$out/fresh_tiny.json"
