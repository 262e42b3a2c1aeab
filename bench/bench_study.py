"""Wall time of the paper's two optimizer comparisons run as one command each (issue 19, item 3).

Runs ``python search.py -m +experiment=study_2obj`` and ``... +experiment=study_3obj`` (8 optimizers x 5
seeds each, Hydra's joblib launcher, ``--jobs`` processes) into a scratch directory, one study after the
other, and prints per study: the budget, the wall time of the whole command (start-up, every job, the
report), its CPU time (all its processes; divided by the cores, the wall time an otherwise idle machine
would take), and per optimizer the mean evaluations per run and the mean wall seconds per run (the run's own
``timing``: setup + search). Target: both studies together <= 15 minutes on 2 cores.

Usage: ``python bench/bench_study.py [--hours-2obj 0.02] [--hours-3obj 0.02] [--jobs 2] [--seeds 5]
[--optimizers rs,...] [--logger none|wandb] [--keep DIR] [--json PATH]``. Pass ``--keep DIR`` to keep the
runs (their report.md is the comparison table); otherwise a temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIMIZERS = "rs,morea,nsga2,ls,rsbo,lsbo,ehvi,moasha"
STUDIES = {"study_2obj": "s_a100_energy", "study_3obj": "s_3obj"}


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished descendant process (the command, its joblib workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_study(name: str, hours: float, args: argparse.Namespace, project_root: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "search.py"), "-m", f"+experiment={name}", f"budget.simulated_hours={hours}",
           f"optimizer={args.optimizers}", "seed=" + ",".join(str(s) for s in range(args.seeds)),
           f"hydra.launcher.n_jobs={args.jobs}", f"logger={args.logger}"]
    env = {**os.environ, "PROJECT_ROOT": str(project_root)}
    t0, cpu0, load0 = time.perf_counter(), _children_cpu(), os.getloadavg()
    p = subprocess.run(cmd, cwd=project_root, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-5000:])
        raise SystemExit(f"{name} failed (exit {p.returncode})")
    root = project_root / "outputs" / "study" / STUDIES[name]
    per: dict[str, list[dict]] = {}
    for f in sorted(root.glob("*/results.json")):
        r = json.loads(f.read_text())
        t = r.get("timing", {})
        per.setdefault(r["optimizer"], []).append({"evals": r["n_evals"], "wall_s": t.get("total_s", 0.0)
                                                   + t.get("setup_s", 0.0), "optimizer_s": t.get("optimizer_s")})
    rows = {opt: {"runs": len(v), "evals": sum(x["evals"] for x in v) / len(v),
                  "wall_s": sum(x["wall_s"] for x in v) / len(v),
                  "optimizer_s": sum(x["optimizer_s"] or 0.0 for x in v) / len(v)} for opt, v in per.items()}
    return {"study": name, "simulated_hours": hours, "wall_s": wall, "cpu_s": cpu, "jobs": args.jobs,
            "load_average_before": load0, "load_average_after": os.getloadavg(), "cpus": os.cpu_count(),
            "seeds": args.seeds, "optimizers": rows, "report": str(root / "report.md")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours-2obj", type=float, default=0.02, help="budget per run of study_2obj (simulated hours)")
    p.add_argument("--hours-3obj", type=float, default=0.02, help="budget per run of study_3obj (simulated hours)")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs (hydra.launcher.n_jobs)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--optimizers", default=OPTIMIZERS)
    p.add_argument("--studies", default=",".join(STUDIES))
    p.add_argument("--logger", default="none", help="none (the plain files) or wandb (offline W&B runs too)")
    p.add_argument("--keep", type=Path, default=None, help="keep the runs under this directory")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="hwgpt-bench-study-"))
    scratch.mkdir(parents=True, exist_ok=True)
    out = []
    load0 = f"{os.getloadavg()[0]:.1f}"
    try:
        for name in args.studies.split(","):
            hours = args.hours_2obj if name == "study_2obj" else args.hours_3obj
            res = run_study(name, hours, args, scratch)
            out.append(res)
            print(f"\n{name}: {hours:g} simulated hours per run, {args.seeds} seeds, {args.jobs} jobs: "
                  f"{res['wall_s'] / 60:.1f} min wall for the whole command, {res['cpu_s'] / 60:.1f} CPU-minutes "
                  f"(= {res['cpu_s'] / 60 / args.jobs:.1f} min on {args.jobs} idle cores) (report: {res['report']})")
            print("| optimizer | runs | evals/run | wall s/run | optimizer s/run |\n|---|---|---|---|---|")
            for opt, r in sorted(res["optimizers"].items(), key=lambda kv: -kv[1]["wall_s"]):
                print(f"| {opt} | {r['runs']} | {r['evals']:.0f} | {r['wall_s']:.1f} | {r['optimizer_s']:.1f} |")
            sys.stdout.flush()
            if args.json:  # after each study: a long bench keeps what it measured
                args.json.write_text(json.dumps({"studies": out, "total_wall_s": sum(r["wall_s"] for r in out)},
                                                indent=1))
        total, cpu = sum(r["wall_s"] for r in out), sum(r["cpu_s"] for r in out)
        print(f"\nboth studies: {total / 60:.1f} min wall on {args.jobs} jobs (target <= 15 min), {cpu / 60:.1f} "
              f"CPU-minutes (= {cpu / 60 / args.jobs:.1f} min on {args.jobs} idle cores); load average before/after: "
              f"{load0} / {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs: a busy machine inflates the wall time)")
        if args.json:
            args.json.write_text(json.dumps({"studies": out, "total_wall_s": total}, indent=1))
    finally:
        if args.keep is None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
