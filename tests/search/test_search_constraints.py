"""Hardware budgets (issue 17): parsing, bad input, every optimizer under a budget, noise-aware answers."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwgpt.errors import InvalidInput
from hwgpt.search import constraints as budgets
from hwgpt.search.constraints import Constraint, ConstraintSet, parse_constraints, probability_at_most
from hwgpt.search.objectives import parse_objectives
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.runner import run

ROOT = Path(__file__).resolve().parents[2]
TINY_PARAMS_BUDGET = 1.9e6  # about the median parameter count of the tiny space: half the archs break it


# ------------------------------------------------------------------------------------------ parsing
def test_parse_mapping_string_and_devices() -> None:
    cs = parse_constraints({"latency": 0.015, "memory@a100": "1e9", "params": 2e8}, device="rtx2080")
    assert cs == [Constraint("latency", "latency", 0.015, "rtx2080"), Constraint("memory@a100", "memory", 1e9, "a100"),
                  Constraint("params", "params", 2e8, None)]
    assert parse_constraints("memory@a100:1e9,params:2e8") == [Constraint("memory@a100", "memory", 1e9, "a100"),
                                                             Constraint("params", "params", 2e8, None)]
    assert parse_constraints(None) == [] and parse_constraints({}) == []


@pytest.mark.parametrize("bad", [math.nan, -1.0, 0, "abc", True, None, math.inf, [1]])
def test_bad_budget_values_refused(bad: object) -> None:
    with pytest.raises(InvalidInput, match="budget of 'latency' must be a positive"):
        parse_constraints({"latency": bad})


@pytest.mark.parametrize(("value", "match"), [
    ({"speed": 1.0}, r"unknown metric 'speed'.*budgets can be put on \['perplexity', 'latency'"),
    ({"accuracy": 0.5}, "accuracy' is maximised"),
    ({"params@a100": 1e6}, "params does not depend on the device"),
    ({"latency@": 1.0}, "must be followed by a device"),
    ({"latency": 1.0, "latency@cpu": 2.0}, "two budgets on the same device"),
    ("latency0.1", "constraints must map metrics to budgets"),
    (3.0, "constraints must map metrics to budgets"),
])
def test_bad_constraint_specs_refused(value: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_constraints(value, device="cpu")


def test_search_py_joins_brace_expanded_constraints() -> None:
    from hwgpt.cli import join_braces

    join_constraints = lambda argv: join_braces(argv, ("constraints",))  # noqa: E731
    argv = ["search.py", "scale=m", "constraints=memory@a100:1e9", "constraints=params:2e8", "n_evals=3"]
    assert join_constraints(argv) == ["search.py", "scale=m", "n_evals=3", "constraints={memory@a100:1e9,params:2e8}"]
    one = ["search.py", "constraints={latency:0.015}"]
    assert join_constraints(one) == one


# ------------------------------------------------------------------------------------------ checks on the benchmark
def _problem(fake, objectives=("perplexity",), scale="tiny", device="cpu") -> SurrogateProblem:  # noqa: ANN001
    return SurrogateProblem(fake, scale, parse_objectives(list(objectives), device), device, True, 0)


def test_budget_on_metric_or_device_without_surrogate_lists_what_exists(fake) -> None:  # noqa: ANN001
    p = _problem(fake)
    with pytest.raises(InvalidInput, match=r"no energy surrogate for device 'rtx2080'.*devices with one: \['cpu'\]"):
        ConstraintSet(parse_constraints({"energy@rtx2080": 1.0}), p)
    with pytest.raises(InvalidInput, match=r"unknown device 'h100'.*devices with surrogates: \['cpu', 'rtx2080'\]"):
        ConstraintSet(parse_constraints({"latency@h100": 1.0}), p)


def test_budget_below_any_arch_gives_smallest_achievable(fake) -> None:  # noqa: ANN001
    p = _problem(fake)
    smallest = fake(scale="tiny").query(p.space.smallest(), metrics=["params"])["params"]
    with pytest.raises(InvalidInput, match=f"smallest achievable is {smallest:g}"):
        ConstraintSet(parse_constraints({"params": smallest - 1}), p)
    ConstraintSet(parse_constraints({"params": smallest}), p)  # exactly achievable: accepted


def test_budget_below_lowest_quantile_of_real_surrogate() -> None:
    from hwgpt.benchmark import Benchmark

    p = SurrogateProblem(Benchmark, "tiny", parse_objectives(["perplexity"], "cpu"), "cpu", True, 0)
    with pytest.raises(InvalidInput, match=r"latency.*below what any architecture can meet.*smallest achievable is .*"
                                           r"0.025 quantile"):
        ConstraintSet(parse_constraints({"latency": 1e-9}, "cpu"), p)


def test_budget_on_the_only_objective_refused(fake) -> None:  # noqa: ANN001
    p = _problem(fake, objectives=("latency",))
    with pytest.raises(InvalidInput, match="bounds the only objective 'latency'.*Put budgets on other metrics"):
        ConstraintSet(parse_constraints({"latency": 1.0}, "cpu"), p)
    ConstraintSet(parse_constraints({"latency@rtx2080": 1.0}, "cpu"), p)  # another device's latency: fine


def test_bad_feasibility_probability(fake) -> None:  # noqa: ANN001
    for bad in (0, 1.5, "x", True):
        with pytest.raises(InvalidInput, match="feasibility_probability"):
            ConstraintSet(parse_constraints({"params": 5e6}), _problem(fake), bad)


def test_single_objective_needs_budgets_and_a_capable_optimizer() -> None:
    with pytest.raises(InvalidInput, match="or a single objective with budgets"):
        budgets.check_optimizer("rs", 1, [])
    with pytest.raises(InvalidInput, match="ehvi' needs at least 2 objectives"):
        budgets.check_optimizer("ehvi", 1, parse_constraints({"params": 1e6}))
    budgets.check_optimizer("nsga2", 1, parse_constraints({"params": 1e6}))


# ------------------------------------------------------------------------------------------ probability
def test_probability_matches_monte_carlo_of_the_benchmark_draws() -> None:
    """P(median of r draws <= b) from the quantiles equals the frequency of the benchmark's own draws."""
    from hwgpt.benchmark import Benchmark

    bench = Benchmark(scale="tiny", device="cpu")
    s = bench.surrogate("latency")
    from hwgpt.surrogates.features import arch_arrays, features

    archs = bench.space.sample_unique(3, 1)
    Q = s.from_fit_space(s.quantiles(features(arch_arrays(archs, bench.space), bench.space, s.spec)))
    seeds = np.arange(4000, dtype=np.uint64)
    for r in (1, 3, 10):
        for k, a in enumerate(archs):
            draws = bench.sample_observations([a] * len(seeds), "latency", seed=seeds, repeats=r)
            b = float(np.quantile(draws, 0.7))
            p = probability_at_most(s.levels, Q[k:k + 1], b, r)[0]
            assert abs(p - np.mean(draws <= b)) < 0.03, (r, k, p, np.mean(draws <= b))


# ------------------------------------------------------------------------------------------ every optimizer
OPTIMIZERS = {
    "rs": [], "ls": ["optimizer.searcher.num_init_random=5"], "morea": ["optimizer.searcher.population_size=6",
                                                                        "optimizer.searcher.sample_size=3"],
    "nsga2": ["optimizer.searcher.population_size=6"],
    "rsbo": ["optimizer.searcher.num_init_random=4", "optimizer.searcher.num_candidates=32",
             "optimizer.searcher.num_local=8", "optimizer.searcher.fit_maxiter=10"],
    "lsbo": ["optimizer.searcher.num_init_random=4", "optimizer.searcher.num_candidates=32",
             "optimizer.searcher.num_local=8", "optimizer.searcher.fit_maxiter=10"],
    "ehvi": ["optimizer.searcher.num_init_random=4", "optimizer.searcher.num_raw_samples=32"],
    "moasha": [],
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_optimizer_respects_a_params_budget(optimizer: str, search_cfg, monkeypatch) -> None:  # noqa: ANN001
    objectives = "[perplexity,latency]" if optimizer == "ehvi" else "[perplexity]"
    told: list[float] = []
    real_told = budgets.told_metrics
    monkeypatch.setattr(budgets, "told_metrics", lambda y, s, o, r=1.1: told.append(s) or real_told(y, s, o, r))
    slacks: list[float] = []
    if optimizer not in ("rs", "moasha"):
        import hwgpt.search.runner as runner_mod

        real_attach = runner_mod.budgets.attach

        def spy(searcher, name, cons):  # noqa: ANN001, ANN202
            real_attach(searcher, name, cons)
            real = searcher.observe_constraints
            searcher.observe_constraints = lambda c, s: slacks.append(s) or real(c, s)

        monkeypatch.setattr(runner_mod.budgets, "attach", spy)
    n = 10 if optimizer in ("rsbo", "lsbo", "ehvi") else 30
    cfg = search_cfg(f"optimizer={optimizer}", "scale=tiny", f"objectives={objectives}", f"n_evals={n}",
                     f"constraints={{params:{TINY_PARAMS_BUDGET}}}", *OPTIMIZERS[optimizer])
    res = run(cfg)
    params = [e["constraints"]["params"] for e in res["history"]]
    assert [e["feasible"] for e in res["history"]] == [p <= TINY_PARAMS_BUDGET for p in params]
    assert 0 < res["n_feasible_observed"] < len(params)  # both kinds were seen
    assert res["feasible_found"] and res["pareto_front"]
    assert all(e["constraints"]["params"] <= TINY_PARAMS_BUDGET and e["p_feasible"] == 1.0 for e in res["pareto_front"])
    if objectives == "[perplexity]":
        best = min(e["objectives"]["perplexity"] for e in res["history"] if e["feasible"])
        assert res["best"]["objectives"]["perplexity"] == best
        assert res["best"]["constraints"]["params"] <= TINY_PARAMS_BUDGET
    # the optimizer was told which evaluations broke the budget
    if optimizer == "moasha":
        assert any(s > 0 for s in told) and any(s <= 0 for s in told)
    elif optimizer != "rs":
        assert len(slacks) >= len(params)  # (duplicates answered from the history are told again)
        n_infeasible = sum(not e["feasible"] for e in res["history"])
        assert sum(s > 0 for s in slacks) >= n_infeasible and sum(s <= 0 for s in slacks) >= len(params) - n_infeasible
    on_disk = json.loads((Path(cfg.paths.output_dir) / "results.json").read_text())
    assert on_disk["constraints"] == {"params": {"metric": "params", "device": None, "budget": TINY_PARAMS_BUDGET}}
    assert (Path(cfg.paths.output_dir) / "pareto_front.png").is_file()


def test_local_search_parents_are_feasible_first() -> None:
    from hwgpt.search.optimizers.local_search import LocalSearcher
    from hwgpt.search_space import SearchSpace

    space = SearchSpace.from_name("tiny")
    ls = LocalSearcher(space.to_syne_tune(), random_seed=0, scale="tiny", num_init_random=1)
    ls.enable_constraints()
    a, b = (space.to_config(x) for x in space.sample_unique(2, 0))
    ls.observe_constraints(a, 0.5)  # infeasible and dominating
    ls.on_trial_complete(0, a, [0.0, 0.0])
    assert ls.front == [a]  # the least violating while nothing is feasible
    ls.observe_constraints(b, -0.1)
    ls.on_trial_complete(1, b, [1.0, 1.0])
    assert ls.front == [b]  # a feasible one replaces it though dominated


def test_morea_scores_infeasible_behind_feasible() -> None:
    from hwgpt.search.optimizers.morea import MOREA
    from hwgpt.search_space import SearchSpace

    space = SearchSpace.from_name("tiny")
    m = MOREA(space.to_syne_tune(), scale="tiny", population_size=4, sample_size=2, random_seed=0)
    m.enable_constraints()
    configs = [space.to_config(x) for x in space.sample_unique(3, 0)]
    for i, (c, s, y) in enumerate(zip(configs, [0.3, -0.1, 0.1], [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]], strict=True)):
        m.observe_constraints(c, s)
        m.on_trial_complete(i, c, y)
    scores = {m.key(p.config): p.score for p in m.population}
    feasible = scores[m.key(configs[1])]
    assert feasible < scores[m.key(configs[2])] < scores[m.key(configs[0])]


def test_nsga2_sets_constraint_values_on_its_population() -> None:
    from hwgpt.search.optimizers.nsga2 import NSGA2Searcher
    from hwgpt.search_space import SearchSpace

    space = SearchSpace.from_name("tiny")
    s = NSGA2Searcher(space.to_syne_tune(), random_seed=0, scale="tiny", population_size=4)
    s.enable_constraints()
    assert s.algorithm.problem.n_ieq_constr == 1
    gen = []
    for i in range(4):
        c = s.suggest()
        gen.append(c)
        s.observe_constraints(c, 0.2 if i % 2 else -0.2)
        s.on_trial_complete(i, c, [float(i), float(-i)])
    pop = s.algorithm.pop
    G = pop.get("G")[:, 0]
    assert sorted(G.tolist()) == [-0.2, -0.2, 0.2, 0.2]
    assert (pop.get("CV")[:, 0] == np.maximum(G, 0)).all()


def test_penalties_rank_infeasible_last() -> None:
    assert budgets.told_metrics([0.2, 0.3], -0.1, "ehvi") == [0.2, 0.3]
    assert budgets.told_metrics([0.2, 0.3], 0.5, "ehvi", 1.1) == [1.6, 1.6]
    assert min(budgets.told_metrics([0.0, 0.0], 1e-6, "moasha")) > 10


# ------------------------------------------------------------------------------------------ results
def test_no_feasible_arch_warns_and_keeps_least_violating(search_cfg, caplog) -> None:  # noqa: ANN001
    smallest = 674304.0  # params of the tiny space's smallest arch: only it is feasible
    cfg = search_cfg("optimizer=rs", "objectives=[perplexity]", "n_evals=10", f"constraints={{params:{smallest}}}")
    with caplog.at_level("WARNING"):
        res = run(cfg)
    assert not res["feasible_found"] and res["hypervolume"] == 0.0
    assert 0 < len(res["pareto_front"]) <= 5
    ratios = sorted(e["constraints"]["params"] / smallest for e in res["history"])
    assert [e["constraints"]["params"] / smallest for e in res["pareto_front"]] == ratios[:len(res["pareto_front"])]
    assert "no evaluated architecture meets the budgets" in caplog.text
    assert (Path(cfg.paths.output_dir) / "results.json").is_file()


def test_final_rule_uses_probability_not_the_observation() -> None:
    """Real surrogates: the front holds only archs with P >= threshold; an observed-feasible arch near the
    budget can be dropped, and the hypervolume counts only the final feasible ones."""
    from hwgpt.benchmark import Benchmark

    p = SurrogateProblem(Benchmark, "tiny", parse_objectives(["perplexity"], "cpu"), "cpu", True, 0)
    archs = p.space.sample_unique(300, 3)
    med = Benchmark(scale="tiny", device="cpu").query(archs, metrics=["latency"])["latency"]
    budget = float(np.median(med))
    cs = ConstraintSet(parse_constraints({"latency": budget}, "cpu"), p, 0.9)
    P = cs.joint_probability(archs)
    assert ((P > 0.01) & (P < 0.99)).any()  # some are uncertain
    assert (P[med < budget * 0.8] > 0.99).all() and (P[med > budget * 1.25] < 0.01).all()
    p_single = cs.joint_probability(archs, repeats=1)
    near = (P > 0.5) & (P < 0.99)
    assert (p_single[near] < P[near]).all()  # a median of 10 forwards is less noisy than one forward


@pytest.mark.slow
def test_issue_commands_run_as_typed(tmp_path: Path) -> None:
    for cmd in ("scale=s device=a100 objectives=[perplexity] constraints={latency:0.015}",
                "scale=m objectives=[perplexity,energy] devices={energy:a100} "
                "constraints={memory@a100:1e9,params:2e8}"):
        out = tmp_path / str(abs(hash(cmd)))
        r = subprocess.run(["bash", "-c", f"python search.py {cmd} n_evals=20 logger=none hydra.run.dir={out}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        res = json.loads((out / "results.json").read_text())
        assert res["constraints"] and res["feasible_found"]


def test_csv_log_and_report_carry_budgets(search_cfg) -> None:  # noqa: ANN001
    import csv

    from hwgpt.search.report import problem_of

    cfg = search_cfg("optimizer=rs", "objectives=[perplexity,latency]", "n_evals=12", "logger=csv",
                     f"constraints={{params:{TINY_PARAMS_BUDGET}}}")
    res = run(cfg)
    rows = list(csv.reader(open(Path(cfg.paths.output_dir) / "history.csv")))
    assert rows[0] == ["n_evals", "arch", "perplexity", "latency", "params", "feasible", "p_feasible", "hypervolume"]
    assert [r[5] == "True" for r in rows[1:]] == [e["feasible"] for e in res["history"]]
    assert problem_of(res).startswith(f"tiny: perplexity,latency@cpu, params <= {TINY_PARAMS_BUDGET:g}")
