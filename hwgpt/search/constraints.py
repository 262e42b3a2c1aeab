"""Hardware budgets of a search: "the best perplexity under 15 ms on an A100".

A budget is an upper bound ``metric[@device] <= budget`` on any minimised metric the benchmark
knows (``latency``, ``energy``, ``memory`` on a device with a surrogate; ``perplexity``;
the exact ``params`` and ``flops``). ``python search.py ... constraints={latency:0.015}`` or
``constraints={memory@a100:1e9,params:2e8}``; in Python :func:`parse_constraints`.

Two judgements, on purpose different:

* **During the search** a budget is judged on what the optimizer observes: the noisy
  measurement of that evaluation (keyed like the objectives' draws, so a budget on an
  objective's own metric sees the very same measurement). Each evaluation gets a *slack*
  ``max_c log(value_c / budget_c)`` (``<= 0``: feasible), which every optimizer uses in its own
  way (:data:`HANDLING`).
* **The answer** is judged on the calibrated predictive distribution: for every evaluated
  architecture, the probability that a fresh measurement under the run's protocol (the median of
  ``simulation.repeats`` forwards, as the search measured) meets every budget
  (:meth:`ConstraintSet.probability`, from the surrogate's conformally calibrated quantiles; budgets
  on different metrics are independent draws, so their probabilities multiply). Only architectures
  with probability ``>= feasibility_probability`` (0.9 by default) are feasible in the reported
  front and its hypervolume (:func:`apply_to_results`). Exact metrics and perplexity have no
  measurement noise here: their probability is 0 or 1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput
from hwgpt.search.budget import (  # noqa: F401 - re-exported: the budgets' spec lives in hwgpt.search.budget
    BUDGET_METRICS,
    PREFIX,
    Constraint,
    parse_constraints,
)
from hwgpt.search.objectives import EXACT_METRICS, Objective
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)

HANDLING: dict[str, str] = {
    "rs": "uniform suggestions (they never depend on results); feasibility-first in the answer",
    "ls": "feasibility-first parent selection: the non-dominated feasible observations, else the least violating",
    "morea": "feasibility-first scores: every infeasible member ranks behind every feasible one, by violation",
    "nsga2": "pymoo's constraint domination: G = slack on every individual (feasible first, then by CV)",
    "rsbo": "constrained EI: log EI of the best feasible scalarization + log probability of feasibility "
            "from a second GP on the slack (Gardner et al., 2014); no feasible point yet: probability only",
    "lsbo": "constrained EI, as rsbo",
    "ehvi": "penalty (botorch's constrained EHVI is not reachable through Syne Tune's searcher): an infeasible "
            "observation is told as max(y, reference) + slack, outside the reference box, so it adds no "
            "hypervolume and the GPs learn the region is poor",
    "moasha": "infeasible results rank last: told as y + 10 + slack in every objective, dominated by any feasible",
}
"""How each optimizer handles budgets (docs/guide/constraints.md)."""

SINGLE_OBJECTIVE = ("rs", "ls", "morea", "nsga2", "rsbo", "lsbo", "moasha")
"""Optimizers that run a single objective under budgets (ehvi: Syne Tune's EHVI needs >= 2 objectives)."""

PENALTY = 10.0
"""Offset (normalised units) that ranks an infeasible MOASHA result behind every feasible one."""


# ------------------------------------------------------------------------------------------ probability
def probability_at_most(levels: np.ndarray, quantiles: np.ndarray, budget: float, repeats: int = 1,
                        grid: int = 2000) -> np.ndarray:
    """P(median of ``repeats`` i.i.d. draws <= ``budget``) per row of a quantile table.

    Args:
        levels: ``(K,)`` quantile levels.
        quantiles: ``(n, K)`` quantiles in the metric's units (non-decreasing per row).
        budget: The bound, in the same units.
        repeats: Draws a measurement takes the median of (the protocol's ``repeats``); an even
            count averages the two middle ones, as :meth:`hwgpt.Benchmark.sample_observation` does.
        grid: Points of the midpoint rule over ``u`` in (0, 1).

    The quantile function is the benchmark's (linear between levels, exponential tails; see
    :mod:`hwgpt.surrogates.distribution`), evaluated on a ``u`` grid; its inverse is the CDF ``F``.
    Odd ``r = 2k+1``: ``P = P(Binomial(r, F(b)) >= k+1)``. Even ``r = 2k``: the two middle order
    statistics ``U_(k) = u < U_(k+1) = v`` have density ``c u^(k-1) (1-v)^(k-1)``; integrating ``v``
    up to ``F(2b - Q(u))`` in closed form leaves one integral over ``u``.
    """
    Q = np.atleast_2d(np.asarray(quantiles, dtype=np.float64))
    if len(Q) > 128:  # bounded memory: (rows x grid) at a time
        return np.concatenate([probability_at_most(levels, Q[i:i + 128], budget, repeats, grid)
                               for i in range(0, len(Q), 128)])
    from scipy.stats import binom

    from hwgpt.surrogates.distribution import inverse_cdf

    n = len(Q)
    u = (np.arange(grid) + 0.5) / grid
    Qu = inverse_cdf(levels, np.repeat(Q, grid, axis=0), np.tile(u, n)).reshape(n, grid)
    Qu = np.maximum.accumulate(Qu, axis=1)

    def cdf(row: int, y: np.ndarray) -> np.ndarray:
        return np.interp(y, Qu[row], u, left=0.0, right=1.0)

    F = np.array([float(cdf(i, np.asarray(budget))) for i in range(n)])
    r = int(repeats)
    if r <= 1:
        return F
    if r % 2:
        return binom.sf(r // 2, r, F)
    k = r // 2
    c = math.exp(math.lgamma(r + 1) - 2 * math.lgamma(k))  # r! / ((k-1)! (k-1)!)
    out = np.empty(n)
    for i in range(n):
        w = np.maximum(cdf(i, 2.0 * budget - Qu[i]), u)
        inner = ((1.0 - u) ** k - (1.0 - w) ** k) / k
        out[i] = c * np.mean(u ** (k - 1) * inner)
    return np.clip(out, 0.0, 1.0)


# ------------------------------------------------------------------------------------------ the set
class ConstraintSet:
    """The budgets of a run, checked against its benchmark.

    Args:
        constraints: Parsed budgets (:func:`parse_constraints`).
        problem: The run's :class:`~hwgpt.search.problem.SurrogateProblem` (its benchmarks answer
            the budgets' metrics; checked here, before any evaluation).
        feasibility_probability: Final rule: an architecture is feasible when a fresh measurement
            meets every budget with at least this probability.
        n_check: Sampled architectures (plus the smallest and largest) behind the "achievable" check.

    Raises:
        InvalidInput: a budget on a metric or device without a surrogate (listing what exists), a
            budget below what any architecture can meet (giving the smallest achievable value), a
            budget on the only objective's own metric, or a probability outside (0, 1].
    """

    def __init__(self, constraints: Sequence[Constraint], problem: Any, feasibility_probability: float = 0.9,
                 n_check: int = 500) -> None:
        p = feasibility_probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise InvalidInput(f"feasibility_probability must be a number in (0, 1], got {p!r}")
        self.threshold = float(p)
        self.problem = problem
        run_device = getattr(problem._benches[None], "device", None)  # noqa: SLF001
        self.constraints = tuple(
            Constraint(c.name, c.metric, c.budget, (c.device or run_device) if c.hardware else None)
            for c in constraints
        )
        self._benches = {c.name: self._bench_for(c) for c in self.constraints}
        self._check_objectives(problem.objectives)
        self.minimum = self._achievable(n_check)

    def __len__(self) -> int:
        return len(self.constraints)

    def __iter__(self):  # noqa: ANN204
        return iter(self.constraints)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {c.name: c.to_dict() for c in self.constraints}

    # ------------------------------------------------------------------ checks
    def _bench_for(self, c: Constraint) -> Any:
        problem = self.problem
        default = problem._benches[None]  # noqa: SLF001
        if not c.hardware:
            if c.metric not in EXACT_METRICS and c.metric not in default.metrics:
                raise InvalidInput(f"constraint {c.name!r}: no {c.metric} surrogate at scale {problem.scale!r}; "
                                   f"metrics with one: {list(default.metrics)}")
            return default
        allowed = list(default.devices)
        if c.device not in allowed:
            raise InvalidInput(f"constraint {c.name!r}: unknown device {c.device!r} for scale {problem.scale!r}; "
                               f"devices with surrogates: {allowed}")
        bench = problem._benches.get(c.device)  # noqa: SLF001
        if bench is None:
            bench = problem._benches[c.device] = problem._factory(scale=problem.scale, device=c.device)  # noqa: SLF001
        if c.metric not in bench.metrics:
            having = [d for d in allowed if c.metric in problem._factory(scale=problem.scale, device=d).metrics]  # noqa: SLF001
            raise InvalidInput(f"constraint {c.name!r}: no {c.metric} surrogate for device {c.device!r} "
                               f"(scale {problem.scale!r}); devices with one: {having}; metrics on "
                               f"{c.device!r}: {list(bench.metrics)}")
        return bench

    def _check_objectives(self, objectives: Sequence[Objective]) -> None:
        if len(objectives) != 1:
            return
        o = objectives[0]
        for c in self.constraints:
            same_device = not c.hardware or c.device == self.problem.device_of(o)
            if c.metric == o.metric and same_device:
                others = [m for m in BUDGET_METRICS if m != o.metric]
                raise InvalidInput(
                    f"constraint {c.name!r} bounds the only objective {o.name!r}: it cannot change which "
                    f"architecture is best. Put budgets on other metrics ({others}) or other devices, "
                    f"or add a second objective"
                )

    def _achievable(self, n_check: int) -> dict[str, float]:
        """Smallest value any architecture can meet per budget; a budget below it is refused."""
        space = self.problem.space
        archs = [space.smallest(), space.largest(), *space.sample_unique(n_check, 12345)]
        out = {}
        for c in self.constraints:
            bench = self._benches[c.name]
            table = self._quantiles(bench, c, archs)
            if table is None:
                values = np.asarray(bench.query(archs, metrics=[self._metric(c)])[self._metric(c)], dtype=float)
                lowest, what = float(values.min()), "exact value" if c.metric in EXACT_METRICS else "median"
            else:
                levels, Q = table
                lowest, what = float(Q[:, 0].min()), f"{levels[0]:g} quantile"
            out[c.name] = lowest
            if c.budget < lowest:
                raise InvalidInput(
                    f"constraint {c.name!r}: budget {c.budget:g} is below what any architecture can meet at scale "
                    f"{self.problem.scale!r}{'' if c.device is None else f' on {c.device}'}: the smallest "
                    f"achievable is {lowest:g} (lowest {what} over the smallest, the largest and {n_check} "
                    f"sampled architectures)"
                )
        return out

    # --------------------------------------------------------------- values
    @staticmethod
    def _metric(c: Constraint) -> str:
        """The metric as asked of the budget's own benchmark (one per device: its default device)."""
        return c.metric

    @staticmethod
    def _quantiles(bench: Any, c: Constraint, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(levels, quantiles in metric units)`` of a noisy surrogate, else None (exact or noise-free)."""
        if c.metric in EXACT_METRICS or not hasattr(bench, "surrogate"):
            return None
        from hwgpt.surrogates.features import arch_arrays, features

        s = bench.surrogate(ConstraintSet._metric(c))
        if not getattr(s, "observation_noise", False):
            return None
        Q = s.quantiles(features(arch_arrays(list(archs), bench.space), bench.space, s.spec))
        return np.asarray(s.levels, dtype=np.float64), np.asarray(s.from_fit_space(Q), dtype=np.float64)

    def observe(self, arch: Arch, seed: int, rounds: int, noise: bool = True) -> dict[str, float]:
        """Observed value of every budget's metric for one evaluation (keyed as the objectives' draws)."""
        out = {}
        for c in self.constraints:
            bench, m = self._benches[c.name], self._metric(c)
            if c.metric in EXACT_METRICS or not noise or not c.hardware:
                v = bench.median(arch, m) if hasattr(bench, "median") and c.metric not in EXACT_METRICS \
                    else bench.query(arch, metrics=[m])[m]
            else:
                v = bench.sample_observation(arch, m, seed=seed, repeats=rounds)
            out[c.key] = float(v)
        return out

    def values(self, raw: Mapping[str, float]) -> dict[str, float]:
        """``{budget name: observed value}`` from an evaluation's raw dict."""
        return {c.name: float(raw[c.key]) for c in self.constraints}

    def slack(self, raw: Mapping[str, float]) -> float:
        """``max_c log(value_c / budget_c)``: ``<= 0`` when every budget is met (scale-free)."""
        return max(math.log(max(float(raw[c.key]), 1e-300) / c.budget) for c in self.constraints)

    def feasible(self, raw: Mapping[str, float]) -> bool:
        """Every budget met by this observation (the search's judgement)."""
        return all(float(raw[c.key]) <= c.budget for c in self.constraints)

    def medians(self, archs: Sequence[Arch]) -> dict[str, np.ndarray]:
        """Noise-free value of every budget's metric, batched."""
        archs = list(archs)
        out = {}
        for c in self.constraints:
            m = self._metric(c)
            out[c.name] = (np.asarray(self._benches[c.name].query(archs, metrics=[m])[m], dtype=np.float64)
                           if archs else np.zeros(0))
        return out

    def probability(self, archs: Sequence[Arch], repeats: int | None = None) -> dict[str, np.ndarray]:
        """Per budget, the probability that a fresh measurement (median of ``repeats`` forwards; None:
        the run's protocol) of each arch meets it; see :func:`probability_at_most`."""
        archs = list(archs)
        r = self.problem.protocol.repeats if repeats is None else int(repeats)
        out = {}
        for c in self.constraints:
            bench = self._benches[c.name]
            table = self._quantiles(bench, c, archs) if archs and self.problem.noise else None
            if table is None:
                v = self.medians(archs)[c.name] if archs else np.zeros(0)
                out[c.name] = (v <= c.budget).astype(np.float64)
            else:
                out[c.name] = probability_at_most(table[0], table[1], c.budget, r)
        return out

    def joint_probability(self, archs: Sequence[Arch], repeats: int | None = None) -> np.ndarray:
        """Probability that a fresh measurement meets every budget (independent draws per metric)."""
        per = self.probability(archs, repeats)
        return np.prod(np.stack(list(per.values())), axis=0) if per else np.ones(len(list(archs)))


# ------------------------------------------------------------------------------------------ searchers
def attach(searcher: Any, optimizer: str, constraints: ConstraintSet | None) -> None:
    """Tell a searcher that the run has budgets (before its first suggestion).

    Searchers with budget handling have ``enable_constraints()`` and ``observe_constraints(config,
    slack)``; random search needs neither. Anything else is refused: no optimizer ignores a budget.
    """
    if constraints is None or not len(constraints):
        return
    if hasattr(searcher, "enable_constraints"):
        searcher.enable_constraints()
    elif optimizer != "rs":
        raise InvalidInput(f"optimizer {optimizer!r} has no budget handling; optimizers with one: {sorted(HANDLING)}")


def check_optimizer(optimizer: str, n_objectives: int, constraints: Sequence[Constraint]) -> None:
    """Single-objective search is allowed under budgets for :data:`SINGLE_OBJECTIVE`."""
    if n_objectives >= 2:
        return
    if not constraints:
        raise InvalidInput(f"optimizer {optimizer!r} is multi-objective: needs at least 2 objectives, or a single "
                           f"objective with budgets (constraints={{...}})")
    if optimizer not in SINGLE_OBJECTIVE:
        raise InvalidInput(f"optimizer {optimizer!r} needs at least 2 objectives (Syne Tune's EHVI is "
                           f"multi-objective only); single-objective search under budgets runs with "
                           f"{list(SINGLE_OBJECTIVE)}")


def told_metrics(normalised: Sequence[float], slack: float, optimizer: str, reference: float = 1.1) -> list[float]:
    """What a penalty-based optimizer is told for an observation with ``slack`` (``> 0``: infeasible)."""
    y = [float(v) for v in normalised]
    if slack <= 0:
        return y
    if optimizer == "moasha":
        return [v + PENALTY + slack for v in y]
    return [max(v, reference) + slack for v in y]


# ------------------------------------------------------------------------------------------ results
def apply_to_results(results: dict[str, Any], constraints: ConstraintSet, archs: Sequence[Arch],
                     observed: Sequence[Mapping[str, float]], normalization: Any) -> dict[str, Any]:
    """Add budgets, per-evaluation feasibility and final probabilities to ``results``; the front and
    its hypervolumes count only architectures feasible with probability ``>= feasibility_probability``.

    The unconstrained numbers stay as ``hypervolume_unconstrained`` (and ``..._median``). With no
    feasible architecture the front holds the least-violating ones (``feasible_found: false``) and a
    warning says so.
    """
    from hwgpt.search.hypervolume import hypervolume, hypervolume_curve, pareto_mask

    names = list(results["objectives"])
    n = len(archs)
    prob = constraints.probability(archs)
    joint = np.prod(np.stack(list(prob.values())), axis=0) if n else np.zeros(0)
    med = constraints.medians(archs)
    ok = joint >= constraints.threshold
    for i, e in enumerate(results["history"]):
        e["constraints"] = constraints.values(observed[i])
        e["feasible"] = constraints.feasible(observed[i])
        e["slack"] = constraints.slack(observed[i])
        e["p_feasible"] = float(joint[i])
        e["p_feasible_per_budget"] = {k: float(v[i]) for k, v in prob.items()}
    ref = np.asarray(results["reference_point"], dtype=np.float64)
    F = normalization({k: np.array([o[k] for o in observed], dtype=np.float64) for k in names}).reshape(n, len(names))
    F_med = normalization(constraints.problem.medians(archs)).reshape(n, len(names)) if n else F
    Ff, Fmf = F.copy(), F_med.copy()
    Ff[~ok], Fmf[~ok] = np.inf, np.inf
    results["hypervolume_unconstrained"] = results["hypervolume"]
    results["hypervolume_median_unconstrained"] = results.get("hypervolume_median", 0.0)
    results["hypervolume"] = hypervolume(F[ok], ref) if ok.any() else 0.0
    results["hypervolume_curve"] = [[k, hv] for k, hv in hypervolume_curve(Ff, ref)] if n else []
    results["hypervolume_median"] = hypervolume(F_med[ok], ref) if ok.any() else 0.0
    results["hypervolume_median_curve"] = [[k, hv] for k, hv in hypervolume_curve(Fmf, ref)] if n else []
    feasible_found = bool(ok.any())
    if feasible_found:
        idx = np.flatnonzero(ok)
        front = idx[pareto_mask(F[idx])]
    else:
        rel = np.max(np.stack([med[c.name] / c.budget for c in constraints]), axis=0) if n else np.zeros(0)
        front = np.argsort(rel, kind="stable")[:5]
        if n:
            log.warning("no evaluated architecture meets the budgets %s with probability >= %g; the results hold "
                        "the %d least violating (medians at %s x their budget)", constraints.to_dict(),
                        constraints.threshold, len(front), np.round(rel[front], 3).tolist())
    results["pareto_front"] = [dict(results["history"][int(i)]) for i in front]
    results["constraints"] = constraints.to_dict()
    results["feasibility_probability"] = constraints.threshold
    results["feasible_found"] = feasible_found
    results["n_feasible_observed"] = int(sum(e["feasible"] for e in results["history"]))
    results["n_feasible_final"] = int(ok.sum())
    if len(names) == 1 and feasible_found:
        best = int(front[np.argmin(F[front, 0])])
        results["best"] = dict(results["history"][best])
        results["best"]["median"] = float(constraints.problem.medians([archs[best]])[names[0]][0])
    log.info("budgets %s: %d of %d evaluations feasible as observed, %d with P >= %g%s", constraints.to_dict(),
             results["n_feasible_observed"], n, results["n_feasible_final"], constraints.threshold,
             f"; best {names[0]} {results['best']['objectives'][names[0]]:.6g} ({results['best']['constraints']})"
             if "best" in results else "")
    return results
