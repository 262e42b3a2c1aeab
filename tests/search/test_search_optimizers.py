"""Contract over every optimizer in conf/optimizer/: ask/tell loop, seeded determinism, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from search_helpers import BO, OPTIMIZERS, SEARCHERS, SMALL

from hwgpt.search import parse_objectives, run
from hwgpt.search.optimizers import LinearScalarizationBO, LocalSearcher, NSGA2Searcher
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.results import validate_results
from hwgpt.search.runner import optimize, seeded


def test_every_documented_optimizer_has_a_config() -> None:
    assert OPTIMIZERS == ["ehvi", "ls", "lsbo", "moasha", "morea", "nsga2", "rs", "rsbo"]


@pytest.mark.parametrize("name", [o for o in OPTIMIZERS if o not in BO] + ["rsbo"])
def test_contract_seeded_and_schema(name: str, search_cfg, tmp_path) -> None:
    n = 12
    a = run(search_cfg(f"optimizer={name}", f"n_evals={n}", *SMALL[name], run_dir=tmp_path / "a"))
    b = run(search_cfg(f"optimizer={name}", f"n_evals={n}", *SMALL[name], run_dir=tmp_path / "b"))
    c = run(search_cfg(f"optimizer={name}", f"n_evals={n}", "seed=1", *SMALL[name], run_dir=tmp_path / "c"))
    validate_results(a)
    assert a["optimizer"] == name and a["n_evals"] == n and len(a["history"]) == n
    assert a["history"] == b["history"] and a["hypervolume"] == b["hypervolume"]
    assert a["history"] != c["history"]
    assert (tmp_path / "a" / "results.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ehvi", "lsbo"])
def test_contract_slow_bo(name: str, search_cfg, tmp_path) -> None:
    a = run(search_cfg(f"optimizer={name}", "n_evals=10", *SMALL[name], run_dir=tmp_path / "a"))
    b = run(search_cfg(f"optimizer={name}", "n_evals=10", *SMALL[name], run_dir=tmp_path / "b"))
    validate_results(a)
    assert a["history"] == b["history"]


def _problem(fake, noise: bool = True) -> SurrogateProblem:
    return SurrogateProblem(fake, "tiny", parse_objectives(["perplexity", "latency"], "cpu"), "cpu", noise, seed=0)


@pytest.mark.parametrize("name", SEARCHERS)
def test_searcher_pickles_mid_run_and_continues_identically(name: str, search_cfg, fake) -> None:
    cfg = search_cfg(f"optimizer={name}", *SMALL[name])
    problem = _problem(fake)
    norm = problem.normalization(200)
    cs = problem.space.to_syne_tune()
    with seeded(0, threads=1):
        searcher = instantiate(cfg.optimizer.searcher)(config_space=cs, random_seed=0)
        optimize(problem, norm, searcher, 7 if name not in BO else 6, progress=False)
        clone = pickle.loads(pickle.dumps(searcher))
        state = np.random.get_state(), torch.get_rng_state()  # Syne Tune's searchers draw from the globals
        first = searcher.suggest()
        np.random.set_state(state[0])
        torch.set_rng_state(state[1])
        assert clone.suggest() == first


def test_local_search_mutates_a_pareto_member(fake) -> None:
    problem = _problem(fake, noise=False)
    norm = problem.normalization(200)
    s = LocalSearcher(problem.space.to_syne_tune(), random_seed=0, scale="tiny", num_init_random=5)
    optimize(problem, norm, s, 5, progress=False)
    configs, Y = s.observations()
    child = s.suggest()
    from hwgpt.search.hypervolume import pareto_mask

    parents = [configs[i] for i in np.flatnonzero(pareto_mask(Y))]
    space = problem.space
    canon = lambda c: space.to_config(space.from_config(c))
    # exactly one hyperparameter differs from some front member, and the architecture is new
    assert any(sum(canon(child)[k] != canon(p)[k] for k in child) >= 1 for p in parents)
    assert any(sum(child[k] != p[k] for k in child) == 1 for p in parents)
    assert s.key(child) not in {s.key(c) for c in configs}


def test_nsga2_tells_pymoo_a_full_generation(fake) -> None:
    problem = _problem(fake)
    s = NSGA2Searcher(problem.space.to_syne_tune(), random_seed=0, scale="tiny", population_size=4)
    told: list[int] = []
    tell = s.algorithm.tell
    s.algorithm.tell = lambda infills: (told.append(len(infills)), tell(infills=infills))[1]
    optimize(problem, problem.normalization(200), s, 7, progress=False)
    assert told == [4]  # the initial population; the next generation is still pending
    optimize(problem, problem.normalization(200), s, 1, progress=False)  # (a fresh scheduler, same searcher)
    assert told == [4, 4] and np.isfinite(s.algorithm.pop.get("F")).all()
    assert len(s.algorithm.pop) == 4


def test_lsbo_weights_are_checked() -> None:
    cs = {"x": __import__("syne_tune.config_space", fromlist=["choice"]).choice([1, 2, 3])}
    with pytest.raises(ValueError, match="non-negative"):
        LinearScalarizationBO(cs, weights=[-1.0, 2.0])
    assert LinearScalarizationBO(cs, weights=[3, 1]).weights(2).tolist() == [0.75, 0.25]


def test_ehvi_reference_point_lands_on_the_run_reference() -> None:
    """Syne Tune's EHVI counts a point when -y > 2 (fixed); the shift puts that boundary at y < reference."""
    from syne_tune.config_space import choice

    from hwgpt.search.optimizers.ehvi import EHVISearcher

    s = EHVISearcher({"x": choice([1, 2, 3])}, reference=1.1, random_seed=0)
    s.on_trial_complete(0, {"x": 1}, [0.0, 1.0])
    s.on_trial_complete(1, {"x": 2}, [1.09, 1.2])
    Y = -s.objectives()  # what Syne Tune hands botorch (maximisation)
    assert (Y[0] > 2).all() and Y[1, 0] > 2 > Y[1, 1]


def test_ehvi_scores_candidates_in_chunks_with_the_same_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """3 objectives: the acquisition sees at most acq_batch candidates per call, and picks what one call would."""
    import numpy as np
    import torch
    from syne_tune.config_space import randint

    from hwgpt.search.optimizers import ehvi

    cs = {"a": randint(0, 50), "b": randint(0, 50)}
    rng = np.random.default_rng(0)
    data = [({"a": int(a), "b": int(b)}, rng.random(3).tolist()) for a, b in rng.integers(0, 50, (14, 2))]
    sizes: list[int] = []
    real = ehvi._Chunked.__call__

    def spy(self, X):  # noqa: ANN001, ANN202
        sizes.append(min(len(X), self.size))
        return real(self, X)

    monkeypatch.setattr(ehvi._Chunked, "__call__", spy)
    picks = []
    for batch in (7, 64):
        s = ehvi.EHVISearcher(cs, reference=1.1, acq_batch=batch, random_seed=3, num_init_random=2,
                              optimization_strategy="random", num_raw_samples=64, mc_samples=16)
        for i, (config, y) in enumerate(data):
            s.trial_configs[i] = config  # what suggest() records
            s.on_trial_complete(i, config, y)
        torch.manual_seed(0)  # the raw candidates come from torch's global generator
        picks.append(s._sample_next_candidate())
    assert picks[0] == picks[1] and sizes == [7, 64]
    with pytest.raises(ValueError, match="acq_batch must be >= 1"):
        ehvi.EHVISearcher(cs, acq_batch=0)
