"""Check hwgpt.importers.upstream_model against every published params/macs/flops record.

Usage: python bench/check_upstream_counts.py <upstream git dir> [dir ...]
(default dirs: latency_a100, latency_a100_m, latency_a100_l). Reads the pickles from git objects
with the project's restricted unpickler; prints, per directory, records checked, mismatches and
records whose flops/macs upstream stored as 0 (its FLOP profiler failed on them).
"""

from __future__ import annotations

import subprocess
import sys

from hwgpt.importers import safe_pickle
from hwgpt.importers.upstream_model import COMMIT, published_flops, published_macs, published_params

QUARTERS = ("0_2500", "2500_5000", "5000_7500", "7500_10000")


def main(argv: list[str]) -> int:
    git_dir, dirs = argv[0], argv[1:] or ["latency_a100", "latency_a100_m", "latency_a100_l"]
    bad_total = 0
    for d in dirs:
        n = bad = zero = 0
        for q in QUARTERS:
            path = f"raw_results_hw/{d}/efficiency_observations_{q}.pkl"
            cmd = ["git", "-C", git_dir, "show", f"{COMMIT}:{path}"]
            blob = subprocess.run(cmd, capture_output=True, check=True).stdout
            for r in safe_pickle.loads(blob):
                a = r["arch"]
                n += 1
                if r["macs"] == 0 and r["flops"] == 0 and published_params(a) == r["params"]:
                    zero += 1  # DeepSpeed's profiled forward raised; upstream stored 0 (flop_utils.py:20-23)
                    continue
                got = (published_params(a), published_macs(a), published_flops(a))
                if got != (r["params"], r["macs"], r["flops"]):
                    bad += 1
        print(f"{d:22s} records {n:6d}  mismatches {bad}  zero flops/macs {zero}")
        bad_total += bad
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
