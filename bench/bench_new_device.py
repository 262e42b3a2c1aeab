"""New-device benchmark: wall time from the command's start to a usable surrogate, measuring vs fitting.

Runs, as a user would, in a fresh ``$HWGPT_HOME`` and store (temporary unless given)::

    python profile.py scale=<scale> device=local metric=latency n_archs=<k> repeats=5 fit=true

as a subprocess, timing it end to end, then reads the split from its log: measuring (the
runner's ``seconds``: set-up of the first model included), fitting (the transfer fit and save),
and the rest (interpreter, imports, Hydra). Finally it loads ``hwgpt.Benchmark(scale,
device="local")`` and answers one query, so "usable" means it really was. Targets: tiny with
k = 20 within 2 minutes. Latencies taken on a busy shared core are noisier, not faster.

Usage: ``python bench/bench_new_device.py [--scales tiny,s] [--k 20] [--repeats 5] [--out results.json]``
(run it under ``taskset -c <core>`` to keep it off a core used for other measurements).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench_new_device")
ROOT = Path(__file__).resolve().parents[1]


def run_once(scale: str, k: int, repeats: int, workdir: Path, timeout: float) -> dict:
    """One timed run of the command in ``workdir`` (store, Hydra dir, HWGPT_HOME all inside it)."""
    env = dict(os.environ, HWGPT_HOME=str(workdir / "home"), HYDRA_FULL_ERROR="1")
    cmd = [sys.executable, "profile.py", f"scale={scale}", "device=local", "metric=latency", f"n_archs={k}",
           f"repeats={repeats}", "fit=true", f"store={workdir / 'store.sqlite'}", f"hydra.run.dir={workdir / 'run'}",
           "progress=false"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    total = time.perf_counter() - t0
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{text[-3000:]}")
    measured = float(re.search(r"'seconds': ([0-9.]+)", text).group(1))
    fitted = float(re.search(r"fitted \[.*?\] for local at \S+ in ([0-9.]+) s", text).group(1))
    t1 = time.perf_counter()
    check = subprocess.run(
        [sys.executable, "-c", f"import hwgpt; b = hwgpt.Benchmark({scale!r}, device='local'); a = b.space.sample(0); "
         "print(b.query(a, ['latency'])['latency'], *b.interval(a, 'latency', 0.9))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    query_s = time.perf_counter() - t1
    if check.returncode != 0:
        raise RuntimeError(f"the fitted surrogate is not usable:\n{check.stderr[-2000:]}")
    med, lo, hi = (float(x) for x in check.stdout.split()[-3:])
    report = json.loads((workdir / "home" / "surrogates" / scale / "local" / "latency.meta.json").read_text())["report"]
    return {"scale": scale, "k": k, "n_archs": report["n_archs_train"], "repeats": repeats,
            "wall_s": round(total, 1), "measure_s": round(measured, 1), "fit_s": round(fitted, 2),
            "other_s": round(total - measured - fitted, 1), "first_query_process_s": round(query_s, 1),
            "method": report["method"], "sources": report["sources"],
            "cv_kendall_tau": report["kendall_tau"], "cv_coverage_0.9": report["coverage"].get("0.9"),
            "query": {"median": med, "interval_0.9": [lo, hi]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="tiny,s")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--workdir", type=Path, default=None, help="keep stores and surrogates here (default: temporary)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = []
    for scale in args.scales.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench_new_device_{scale}_") as tmp:
            wd = (args.workdir / scale) if args.workdir else Path(tmp)
            wd.mkdir(parents=True, exist_ok=True)
            r = run_once(scale, args.k, args.repeats, wd, args.timeout)
            results.append(r)
            log.info("%s k=%d (%d archs x %d repeats): %.1f s to a usable surrogate = measuring %.1f s + fitting "
                     "%.2f s + start-up/other %.1f s; %s from %s, cross-validated tau %.3f, 90%% coverage %.2f",
                     scale, r["k"], r["n_archs"], r["repeats"], r["wall_s"], r["measure_s"], r["fit_s"], r["other_s"],
                     r["method"], r["sources"] or "scratch", r["cv_kendall_tau"] or float("nan"),
                     r["cv_coverage_0.9"] or float("nan"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))  # noqa: T201 - a benchmark script's result


if __name__ == "__main__":
    main()
