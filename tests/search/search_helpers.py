"""Constants shared by the search tests (a module with a unique name, not conftest)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
FAKE = "hwgpt.search.analytic.AnalyticBenchmark"
OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
BO = ("ehvi", "lsbo", "rsbo")
MULTI_FIDELITY = ("moasha",)  # Syne Tune schedulers on the simulator backend (no ask/tell searcher)
SEARCHERS = [o for o in OPTIMIZERS if o not in MULTI_FIDELITY]

# Small settings per optimizer so that a 12-evaluation run exercises its model-based phase.
SMALL: dict[str, list[str]] = {
    "rs": [],
    "moasha": [],
    "morea": ["optimizer.searcher.population_size=5", "optimizer.searcher.sample_size=3"],
    "nsga2": ["optimizer.searcher.population_size=4"],
    "ls": ["optimizer.searcher.num_init_random=4"],
    "rsbo": ["optimizer.searcher.num_init_random=6", "optimizer.searcher.num_candidates=32",
             "optimizer.searcher.num_local=8", "optimizer.searcher.fit_maxiter=20"],
    "lsbo": ["optimizer.searcher.num_init_random=6", "optimizer.searcher.num_candidates=32",
             "optimizer.searcher.num_local=8", "optimizer.searcher.fit_maxiter=20"],
    "ehvi": ["optimizer.searcher.num_init_random=6", "optimizer.searcher.num_raw_samples=32",
             "optimizer.searcher.mc_samples=16"],
}
