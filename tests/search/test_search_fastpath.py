"""Issue 19, the fast path: searchers say what they suggest next, the runner evaluates it ahead in one
batch, and the run is the same bit for bit; bulk random sampling has Syne Tune's distribution; local
search keeps its front incrementally; MOASHA's non-dominated sort is O(n log n) and ranks as before."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare
from search_helpers import SMALL

from hwgpt.search import parse_objectives
from hwgpt.search.optimizers.base import MOSearcher, random_configs
from hwgpt.search.optimizers.local_search import LocalSearcher
from hwgpt.search.optimizers.morea import MOREA
from hwgpt.search.optimizers.nsga2 import NSGA2Searcher
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.runner import optimize, seeded
from hwgpt.search_space import SearchSpace


def _searcher(name: str, cs: dict, seed: int):  # noqa: ANN202
    if name == "nsga2":
        return NSGA2Searcher(cs, random_seed=seed, scale="tiny", population_size=8)
    if name == "morea":
        return MOREA(cs, scale="tiny", population_size=8, sample_size=3, batch_size=5, random_seed=seed)
    return LocalSearcher(cs, random_seed=seed, scale="tiny", num_init_random=6, batch_size=7)


@pytest.mark.parametrize("name", ["nsga2", "morea", "ls"])
def test_evaluating_ahead_equals_one_at_a_time(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same archs, observations and simulated seconds with and without the batches (shipped tiny
    surrogates, noisy draws keyed by evaluation index); and the batches really happen."""
    from hwgpt.benchmark import Benchmark

    batches: list[int] = []
    real = SurrogateProblem.prefetch

    def counting(self, archs, start=None):  # noqa: ANN001, ANN202
        if start is not None:
            batches.append(len(archs))
        return real(self, archs, start)

    monkeypatch.setattr(SurrogateProblem, "prefetch", counting)
    runs = []
    for prefetch in (0, 1024):
        problem = SurrogateProblem(Benchmark, "tiny", parse_objectives(["perplexity", "latency", "energy"], "cpu"),
                                   "cpu", True, 3)
        norm = problem.normalization(100, 0)
        problem.prepare()
        with seeded(3, 1):
            searcher = _searcher(name, problem.space.to_syne_tune(), 3)
            runs.append(optimize(problem, norm, searcher, 120, 3, False, prefetch=prefetch))
    a, b = runs
    assert len(a.archs) == 120
    assert (a.archs, a.observed, a.seconds, a.n_duplicates) == (b.archs, b.observed, b.seconds, b.n_duplicates)
    assert batches and max(batches) >= 5 and sum(batches) >= 120  # evaluated ahead, several at a time


def test_upcoming_is_what_suggest_returns() -> None:
    cs = SearchSpace.from_name("tiny").to_syne_tune()
    rng = np.random.RandomState(0)
    for name in ("nsga2", "morea", "ls"):
        s = _searcher(name, cs, 1)
        for t in range(60):
            ahead = s.upcoming(100)
            assert ahead, name
            config = s.suggest()
            assert config == ahead[0], (name, t)
            s.on_trial_complete(t, config, rng.random_sample(2).tolist())


def test_bulk_random_configs_have_syne_tunes_distribution() -> None:
    """Each hyperparameter uniform over its categories, pairs independent (chi-square), seeded."""
    cs = SearchSpace.from_name("tiny").to_syne_tune()
    n = 30_000
    configs = random_configs(cs, np.random.RandomState(7), n)
    assert configs == random_configs(cs, np.random.RandomState(7), n)  # seeded, deterministic
    assert configs[:50] != random_configs(cs, np.random.RandomState(8), n)[:50]
    for k, dom in cs.items():
        cats = list(dom.categories)
        counts = [sum(1 for c in configs if c[k] == v) for v in cats]
        assert sum(counts) == n and chisquare(counts).pvalue > 1e-4, (k, counts)
    # independence of two hyperparameters: the joint table against the product of the marginals
    a, b = "embed_dim", "n_head_0"
    joint = np.zeros((len(cs[a].categories), len(cs[b].categories)))
    for c in configs:
        joint[cs[a].categories.index(c[a]), cs[b].categories.index(c[b])] += 1
    assert chisquare(joint.ravel()).pvalue > 1e-4
    # the searchers' random_config draws from the same buffered stream
    s = MOSearcher(cs, random_seed=7, scale="tiny")
    assert [s.random_config() for _ in range(70)] == random_configs(cs, np.random.RandomState(7), 64) + \
        random_configs(cs, _after(7, cs, 64), 64)[:6]


def _after(seed: int, cs: dict, n: int) -> np.random.RandomState:
    rng = np.random.RandomState(seed)
    random_configs(cs, rng, n)
    return rng


def test_local_search_front_is_the_non_dominated_set_and_has_no_duplicates(fake) -> None:
    from hwgpt.search.hypervolume import pareto_mask

    problem = SurrogateProblem(fake, "tiny", parse_objectives(["perplexity", "latency"], "cpu"), "cpu", True, 0)
    s = LocalSearcher(problem.space.to_syne_tune(), random_seed=0, scale="tiny", num_init_random=10, batch_size=16)
    state = optimize(problem, problem.normalization(200), s, 400, progress=False, prefetch=64)
    configs, Y = s.observations()
    front = {s.key(c) for c, m in zip(configs, pareto_mask(Y), strict=True) if m}
    assert {s.key(c) for c in s.front} == front
    assert state.n_duplicates == 0 and len(set(state.archs)) == 400


def test_neighbours_change_the_architecture() -> None:
    space = SearchSpace.from_name("tiny")
    s = MOSearcher(space.to_syne_tune(), random_seed=0, scale="tiny")
    config = space.to_config(space.sample(3))
    ns = s.neighbours(config)
    keys = {s.key(c) for c in ns}
    assert len(keys) == len(ns) and s.key(config) not in keys
    assert all(sum(c[k] != config[k] for k in config) == 1 for c in ns)
    n = config["n_layer"]
    expected = sum(len(v.categories) - 1 for k, v in space.to_syne_tune().items()
                   if not (k.startswith(("n_head_", "mlp_ratio_")) and int(k.rsplit("_", 1)[1]) >= n))
    assert len(ns) == expected


def test_small_settings_cover_the_fast_searchers() -> None:
    assert {"nsga2", "morea", "ls"} <= set(SMALL)


def test_moasha_fast_sort_equals_syne_tunes() -> None:
    """The last item of Syne Tune's non-dominated sort, and every rung decision, on random inputs with ties."""
    from syne_tune.optimizer.schedulers.asha import Bracket
    from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority
    from syne_tune.optimizer.schedulers.multiobjective.non_dominated_priority import (
        compute_epsilon_net,
        nondominated_sort,
    )

    from hwgpt.search.optimizers.moasha import FastBracket, epsilon_net_order, last_in_nondominated_sort

    rng = np.random.RandomState(0)
    for trial in range(300):
        n, m = int(rng.randint(1, 60)), int(rng.choice([2, 3]))
        X = rng.rand(n, m) if trial % 2 else rng.randint(0, 4, size=(n, m)).astype(float)  # integers: ties
        assert last_in_nondominated_sort(X) == nondominated_sort(X, dim=0)[-1]
        ranks = compute_epsilon_net(X, dim=0)
        assert epsilon_net_order(X) == np.argsort(ranks).tolist()
    for rf in (2, 3):
        old = Bracket(1, 27, rf, 0, NonDominatedPriority())
        new = FastBracket.of(Bracket(1, 27, rf, 0, NonDominatedPriority()))
        decisions = []
        for t in range(400):
            metrics = {"a": float(rng.randint(0, 6)), "b": float(rng.rand())}
            cur = int(rng.choice([1, 3, 9, 27]))
            decisions.append(old.on_result(t, cur, dict(metrics)))
            assert new.on_result(t, cur, dict(metrics)) == decisions[-1], t
        assert len(set(decisions)) == 2  # both decisions happened


def test_moasha_config_uses_the_fast_brackets(search_cfg) -> None:
    from hydra.utils import instantiate

    from hwgpt.search.optimizers.moasha import MOASHA, FastBracket

    cfg = search_cfg("optimizer=moasha")
    s = instantiate(cfg.optimizer.scheduler)(config_space=SearchSpace.from_name("tiny").to_syne_tune(),
                                             metrics=["a", "b"], time_attr="rounds", max_t=10)
    assert isinstance(s, MOASHA) and all(isinstance(b, FastBracket) for b in s.brackets)
    assert [r for r, _ in s.brackets[0].rungs] == [9, 3, 1]


def test_ehvi_fast_partitioning_scores_as_syne_tunes() -> None:
    """Both box decompositions cover the same region (equal hypervolume) and give the same Monte Carlo
    EHVI of every candidate, and botorch's smoothed log-EHVI within 1% at the top, with the same best
    candidate (3 objectives, where they differ in the number of boxes); the config picks one."""
    import torch
    from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
    from botorch.acquisition.multi_objective.monte_carlo import qExpectedHypervolumeImprovement
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
        NondominatedPartitioning,
    )

    from hwgpt.errors import InvalidInput
    from hwgpt.search.optimizers.ehvi import PARTITIONINGS, EHVISearcher

    rng = np.random.RandomState(0)
    X = torch.as_tensor(rng.rand(30, 4))
    Y = torch.as_tensor(-rng.rand(30, 3) - 2.5)  # maximised, as Syne Tune tells botorch
    ref = torch.full((3,), -3.6, dtype=torch.float64)
    exact, fast = NondominatedPartitioning(ref_point=ref, Y=Y), FastNondominatedPartitioning(ref_point=ref, Y=Y)
    assert torch.allclose(exact.compute_hypervolume(), fast.compute_hypervolume())
    assert exact.get_hypercell_bounds().shape[1] > fast.get_hypercell_bounds().shape[1]
    model = ModelListGP(*[SingleTaskGP(X, Y[:, j:j + 1]) for j in range(3)])  # not fitted: any model will do
    cand = torch.as_tensor(rng.rand(32, 1, 4))
    values: dict[str, list] = {"q": [], "log": []}
    for part in (exact, fast):
        for kind, cls in (("q", qExpectedHypervolumeImprovement), ("log", qLogExpectedHypervolumeImprovement)):
            acq = cls(model=model, ref_point=ref, partitioning=part, sampler=SobolQMCNormalSampler(torch.Size([32]),
                                                                                                 seed=0))
            with torch.no_grad():
                values[kind].append(acq(cand))
    q, log = values["q"], values["log"]
    assert torch.allclose(q[0], q[1], rtol=1e-9, atol=1e-12)  # the Monte Carlo EHVI: the same numbers
    # botorch's log-EHVI smooths each box's max/min: close, and the same ranking at the top
    top = torch.argsort(log[0], descending=True)[:5]
    assert torch.allclose(log[0][top].exp(), log[1][top].exp(), rtol=1e-2)
    assert int(log[0].argmax()) == int(log[1].argmax()) == int(q[0].argmax())
    assert PARTITIONINGS["fast"]() is FastNondominatedPartitioning
    assert PARTITIONINGS["exact"]() is NondominatedPartitioning
    with pytest.raises(InvalidInput, match="partitioning"):
        EHVISearcher(SearchSpace.from_name("tiny").to_syne_tune(), partitioning="quick")


def test_fast_nondominated_priority_equals_syne_tunes() -> None:
    """morea's population ranking: every priority equal to Syne Tune's, on random inputs with ties."""
    from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority

    from hwgpt.search.optimizers.moasha import FastNonDominatedPriority

    rng = np.random.RandomState(3)
    for trial in range(300):
        n, m = int(rng.randint(1, 40)), int(rng.choice([2, 3]))
        X = rng.rand(n, m) if trial % 2 else rng.randint(0, 4, size=(n, m)).astype(float)
        assert FastNonDominatedPriority()(X).tolist() == NonDominatedPriority()(X).tolist()
    s = MOREA(SearchSpace.from_name("tiny").to_syne_tune(), scale="tiny", random_seed=0)
    assert isinstance(s._multiobjective_priority, FastNonDominatedPriority)


def test_observation_seeds_equal_one_at_a_time() -> None:
    from hwgpt.search.problem import observation_seed, observation_seeds

    for seed in (0, 3, 2**40 + 7, 2**64 - 1):
        idx = np.array([0, 1, 5, 999, 2**31, 2**62], dtype=np.uint64)
        assert observation_seeds(seed, idx).tolist() == [observation_seed(seed, int(i)) for i in idx]


def test_values_computed_ahead_equal_one_at_a_time_and_never_depend_on_the_guess() -> None:
    """prefetch(start=...) computes full-fidelity values in a batch; observe returns the same bits as
    without the batch, also when the arch at an index is not the guessed one, or at another index."""
    from hwgpt.benchmark import Benchmark

    objectives = parse_objectives(["perplexity", "latency", "energy", "params"], "cpu")
    space = SearchSpace.from_name("tiny")
    archs = space.sample_unique(40, seed=11)
    plain = SurrogateProblem(Benchmark, "tiny", objectives, "cpu", True, 5)
    expected = [plain.observe(a, 100 + i) for i, a in enumerate(archs)]
    other = plain.observe(archs[0], 103)
    ahead = SurrogateProblem(Benchmark, "tiny", objectives, "cpu", True, 5)
    ahead.prefetch(archs, start=100)
    assert len(ahead._ready) == 40
    assert ahead.observe(archs[0], 103) == other  # another arch at index 103 than the guess: computed now
    got = [ahead.observe(a, 100 + i) for i, a in enumerate(archs)]
    assert got[:3] == expected[:3] and got[4:] == expected[4:] and got[3] == expected[3]
    assert not ahead._ready


@pytest.mark.parametrize("noise", [True, False])
def test_every_fidelity_computed_ahead_equals_one_at_a_time(noise: bool) -> None:
    """observe_rounds_many (MOASHA's guessed trials, as arrays) holds the bits of observe_rounds of each trial,
    for draws, perplexity at fewer windows, exact metrics and the seconds; a few archs are left to it."""
    from hwgpt.benchmark import Benchmark
    from hwgpt.search.problem import BATCH_VALUES

    objectives = parse_objectives(["perplexity", "latency", "energy", "params"], "cpu")
    archs = SearchSpace.from_name("tiny").sample_unique(40, seed=12)
    plain = SurrogateProblem(Benchmark, "tiny", objectives, "cpu", noise, 7)
    expected = [plain.observe_rounds(a, 50 + i) for i, a in enumerate(archs)]
    assert expected[1] == [plain.observe(archs[1], 51, r) for r in range(1, 11)]  # (what observe_rounds is)
    ahead = SurrogateProblem(Benchmark, "tiny", objectives, "cpu", noise, 7)
    values, secs = ahead.observe_rounds_many(archs, start=50)
    assert values.shape == (40, 10, 4) and secs.shape == (40, 10)
    got = [[(dict(zip(ahead.names, v, strict=True)), t) for v, t in zip(vals.tolist(), ss.tolist(), strict=True)]
           for vals, ss in zip(values, secs, strict=True)]
    assert got == expected  # floats compared exactly
    assert [ahead.observe_rounds(a, 50 + i) for i, a in enumerate(archs)] == expected  # (after the batch too)
    assert ahead.observe_rounds_many(archs[:BATCH_VALUES - 1], start=50) is None  # a few: one at a time


def test_seconds_at_every_fidelity_in_one_call_equal_one_at_a_time() -> None:
    """Multi-fidelity (MOASHA): the simulated seconds at 1..R rounds come from one call with an array of
    repeats, bit for bit the scalar formula's; and observe() at every fidelity is unchanged by it."""
    from hwgpt.benchmark import Benchmark
    from hwgpt.simulation.protocol import MeasurementProtocol

    p = MeasurementProtocol(repeats=10, warmup=2, perplexity_windows=32, overhead_seconds=0.125)
    hw, fw = [(0.0123456789, 2), (0.5e-3, 1)], (0.00731, 12.5)
    arr = p.seconds(hw, fw, np.arange(1, 11))
    assert arr.tolist() == [p.seconds(hw, fw, r) for r in range(1, 11)]
    with pytest.raises(ValueError):
        p.seconds(hw, fw, np.array([0, 1]))
    objectives = parse_objectives(["perplexity", "latency", "energy"], "cpu")
    a, b = (SurrogateProblem(Benchmark, "tiny", objectives, "cpu", True, 9) for _ in range(2))
    for i, arch in enumerate(SearchSpace.from_name("tiny").sample_unique(12, seed=4)):
        got = [a.observe(arch, i, r) for r in range(1, 11)]
        assert got == [(b.evaluate(arch, i, r), b.seconds(arch, r)) for r in range(1, 11)]


def test_epsilon_net_order_same_with_and_without_the_pairwise_distances(monkeypatch: pytest.MonkeyPatch) -> None:
    from hwgpt.search.optimizers import moasha

    rng = np.random.RandomState(5)
    cases = [rng.rand(int(rng.randint(1, 80)), int(rng.choice([2, 3]))) for _ in range(40)]
    cases += [rng.randint(0, 3, size=(int(rng.randint(1, 80)), 2)).astype(float) for _ in range(40)]  # ties
    pairwise = [moasha.epsilon_net_order(X, d) for X in cases for d in (0, 1)]
    monkeypatch.setattr(moasha, "PAIRWISE_MAX", 0)
    assert [moasha.epsilon_net_order(X, d) for X in cases for d in (0, 1)] == pairwise


def test_nsga2_hashed_duplicates_and_row_keys_equal_pymoos_and_the_configs() -> None:
    """NSGA-II's duplicate elimination by hashing rows flags the rows pymoo's all-pairs distances flag
    (within a population: later copies; against another: any copy), and keys_of_rows is key(decode(row))."""
    from pymoo.core.duplicate import DefaultDuplicateElimination
    from pymoo.core.population import Population

    from hwgpt.search.optimizers.nsga2 import _NotSeen

    cs = SearchSpace.from_name("tiny").to_syne_tune()
    searcher = NSGA2Searcher(cs, random_seed=0, scale="tiny")
    ours, theirs = _NotSeen(searcher), DefaultDuplicateElimination()
    rng = np.random.default_rng(3)
    counts = np.array([len(v.categories) for v in cs.values()])
    for trial in range(20):
        X = rng.integers(0, counts, size=(30, len(counts)))
        X[rng.integers(0, 30, 8)] = X[rng.integers(0, 30, 8)]  # copies within
        Y = rng.integers(0, counts, size=(25, len(counts)))
        Y[:6] = X[rng.integers(0, 30, 6)]  # copies across
        Xf = X.astype(float) if trial % 2 else X  # (pymoo's rounding repair leaves floats)
        pop, other = Population.new(X=Xf), Population.new(X=Y)
        for o in (None, other):
            want = theirs._do(pop, o, np.full(len(pop), False))
            got = ours._do(pop, o, np.full(len(pop), False))
            assert want.any() and (got == want).all()
        assert searcher.keys_of_rows(X) == [searcher.key(searcher.decode(x)) for x in X]
    plain = NSGA2Searcher({**cs, "n_head_0": cs["n_head_1"]}, random_seed=0)  # no scale: the configs' keys
    assert plain.keys_of_rows(X) == [plain.key(plain.decode(x)) for x in X]
