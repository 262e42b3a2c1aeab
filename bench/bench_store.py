"""Concurrent profilers on one store: do two processes share the work (claims with leases)?

    python bench/bench_store.py [--archs 60] [--seconds 0.25] [--procs 2]

Runs :func:`hwgpt.profiling.runner.run` over the same architectures and the same store, first in
one process, then in ``--procs`` processes started together, and prints the wall time of each, the
ratio, how the architectures were split between the processes (from the ``run_id`` of each row)
and whether any row was duplicated. The metric is a stand-in whose ``measure`` sleeps
``--seconds`` per architecture (a device-bound measurement: a GPU, or a quiet core per process):
the bench measures how the runner divides the work, not how a shared CPU divides its cycles.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from hwgpt.profiling.base import Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch

ROOT = Path(__file__).resolve().parents[1]


class SleepMetric(Metric):
    """A measurement that takes ``seconds`` per architecture and writes its embedding width."""

    def __init__(self, seconds: float = 0.25) -> None:
        self.outputs, self.chunk_size, self.seconds = ("latency",), 1, float(seconds)

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:  # noqa: D102
        time.sleep(self.seconds * len(archs))
        return {a.id: [Observation("latency", float(a.embed_dim), "s")] for a in archs}


def config(store: Path, n_archs: int, seconds: float) -> dict:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        overrides = [f"paths.root_dir={store.parent}", f"paths.output_dir={store.parent}", f"store={store}",
                     f"n_archs={n_archs}", "progress=false", "metric=cost"]
        cfg = compose(config_name="profile", overrides=overrides)
    with open_dict(cfg):
        cfg.metric = OmegaConf.create({"_target_": "bench_store.SleepMetric", "seconds": seconds})
    return OmegaConf.to_container(cfg, resolve=True)


def _worker(cfg: dict, ready: mp.Queue, go: mp.Event) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    sys.path.insert(0, str(ROOT / "bench"))
    import hwgpt.surrogates.new_device  # noqa: F401 - imported lazily by run(); here, before the clock starts
    from hwgpt.profiling.runner import run

    ready.put(1)
    go.wait()
    run(OmegaConf.create(cfg))


def timed(cfg: dict, procs: int) -> float:
    """Seconds from the moment all ``procs`` processes are imported and released to the last one's end."""
    ctx = mp.get_context("spawn")
    ready, go = ctx.Queue(), ctx.Event()
    ps = [ctx.Process(target=_worker, args=(cfg, ready, go)) for _ in range(procs)]
    for p in ps:
        p.start()
    for _ in ps:
        ready.get(timeout=600)
    t = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a profiler exited with {p.exitcode}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=80)
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--procs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = {}
        for procs in (1, args.procs):
            store = Path(tmp) / f"store{procs}.sqlite"
            cfg = config(store, args.archs, args.seconds)
            times[procs] = timed(cfg, procs)
            with sqlite3.connect(store) as c:
                n = c.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
                dup = c.execute("SELECT COUNT(*) FROM (SELECT arch_id FROM observations GROUP BY arch_id "
                                "HAVING COUNT(*) > 1)").fetchone()[0]
                split = [r[0] for r in c.execute("SELECT COUNT(*) FROM observations GROUP BY run_id ORDER BY 1")]
            print(f"{procs} process(es): {times[procs]:6.2f} s, {n} archs written, split {split}, duplicates {dup}")
        ideal = args.archs * args.seconds
        print(f"the sleeps alone take {ideal + 2 * args.seconds:.1f} s in one process; "
              f"ratio {args.procs} vs 1: {times[args.procs] / times[1]:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    main()
